using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>A read-only stream over a file opened by fd whose async reads are plain preads on the calling thread.
/// A FileStream over a handle not opened for async I/O sends every ReadAsync through the thread pool: one hop per
/// file when a tar writer archives a tree of small files (see <see cref="HandleWriter"/>).</summary>
public sealed class HandleReadStream(SafeFileHandle handle) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true; // the tar writer takes an entry's size from a seekable stream's Length
    public override bool CanWrite => false;
    public override long Length => RandomAccess.GetLength(handle);
    public override long Position { get => _position; set => _position = value; }

    public override int Read(Span<byte> buffer)
    {
        int read = RandomAccess.Read(handle, buffer, _position);
        _position += read;
        return read;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
