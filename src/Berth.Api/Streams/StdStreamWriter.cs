using System.Buffers.Binary;
using Berth.Runtime.Containers;

namespace Berth.Api.Streams;

/// <summary>Writes container output to a client: raw bytes with a TTY, otherwise Docker's multiplexed frames
/// (8-byte header: stream type, three zero bytes, big-endian payload length).</summary>
public sealed class StdStreamWriter(Stream output, bool multiplexed)
{
    public const string MultiplexedType = "application/vnd.docker.multiplexed-stream";
    public const string RawType = "application/vnd.docker.raw-stream";

    private readonly byte[] _header = new byte[8];

    public async ValueTask WriteAsync(StdStream stream, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (data.IsEmpty) return;
        if (multiplexed)
        {
            _header[0] = (byte)stream;
            BinaryPrimitives.WriteUInt32BigEndian(_header.AsSpan(4), (uint)data.Length);
            await output.WriteAsync(_header, ct);
        }
        await output.WriteAsync(data, ct);
        await output.FlushAsync(ct);
    }
}
