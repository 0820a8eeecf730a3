using System.Buffers.Binary;
using Berth.Linux;

namespace Berth.Networking.Netlink;

/// <summary>A netlink socket with request/acknowledge and dump semantics. Not thread-safe: callers lock.
/// The socket stays bound to the network namespace of the thread that opened it.</summary>
public sealed class NetlinkSocket : IDisposable
{
    public const ushort NLMSG_ERROR = 2, NLMSG_DONE = 3;

    private readonly SafeFdHandle _fd;
    private readonly byte[] _receive = new byte[64 * 1024];
    private uint _sequence = (uint)Environment.TickCount;

    private NetlinkSocket(SafeFdHandle fd) => _fd = fd;

    public static NetlinkSocket Open(int protocol) => new(Interop.OpenNetlink(protocol));

    /// <summary>Sends a request with NLM_F_ACK and waits for the acknowledgement; a negative errno becomes
    /// a LinuxException naming <paramref name="what"/>.</summary>
    public void Request(NetlinkMessageWriter message, string what)
    {
        uint sequence = ++_sequence;
        Interop.Send(_fd, message.ToArray(sequence), what);
        while (true)
        {
            int received = Interop.Receive(_fd, _receive, what);
            foreach (var (type, seq, payload) in Messages(_receive.AsSpan(0, received).ToArray()))
            {
                if (seq != sequence) continue;
                if (type == NLMSG_ERROR)
                {
                    int errno = -BinaryPrimitives.ReadInt32LittleEndian(payload);
                    if (errno == 0) return;
                    throw new LinuxException(what, errno);
                }
                if (type == NLMSG_DONE) return;
            }
        }
    }

    /// <summary>Sends a dump request and returns the payload (after the netlink header) of each answer.</summary>
    public List<(ushort Type, byte[] Payload)> Dump(NetlinkMessageWriter message, string what)
    {
        uint sequence = ++_sequence;
        Interop.Send(_fd, message.ToArray(sequence), what);
        var results = new List<(ushort, byte[])>();
        while (true)
        {
            int received = Interop.Receive(_fd, _receive, what);
            foreach (var (type, seq, payload) in Messages(_receive.AsSpan(0, received).ToArray()))
            {
                if (seq != sequence) continue;
                if (type == NLMSG_DONE) return results;
                if (type == NLMSG_ERROR)
                {
                    int errno = -BinaryPrimitives.ReadInt32LittleEndian(payload);
                    if (errno == 0) return results;
                    throw new LinuxException(what, errno);
                }
                results.Add((type, payload));
            }
        }
    }

    /// <summary>Splits a datagram into (type, sequence, payload) messages.</summary>
    public static IEnumerable<(ushort Type, uint Sequence, byte[] Payload)> Messages(byte[] datagram)
    {
        int offset = 0;
        while (offset + 16 <= datagram.Length)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram.AsSpan(offset));
            if (length < 16 || offset + length > datagram.Length) yield break;
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(datagram.AsSpan(offset + 4));
            uint sequence = BinaryPrimitives.ReadUInt32LittleEndian(datagram.AsSpan(offset + 8));
            yield return (type, sequence, datagram.AsSpan(offset + 16, length - 16).ToArray());
            offset += NetlinkMessageWriter.Align(length);
        }
    }

    public void Dispose() => _fd.Dispose();
}
