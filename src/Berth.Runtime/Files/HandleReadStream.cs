using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>A read-only stream over a file opened by fd whose async reads are plain preads on the calling thread.
/// A FileStream over a handle not opened for async I/O sends every ReadAsync through the thread pool: one hop per
/// file when a tar writer archives a tree of small files (see <see cref="HandleWriter"/>).
/// The length is the file's when the stream is made, and reads give exactly that many bytes: a tar writer takes an
/// entry's size from it and copies to the end, so a file that a running container grows or truncates meanwhile
/// (commit --pause=false, cp out) would otherwise write more or fewer bytes than its header says and corrupt every
/// entry after it. A file that shrank is padded with zeros, as GNU tar pads it.</summary>
public sealed class HandleReadStream(SafeFileHandle handle) : Stream
{
    private readonly long _length = RandomAccess.GetLength(handle);
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true; // the tar writer takes an entry's size from a seekable stream's Length
    public override bool CanWrite => false;
    public override long Length => _length;
    public override long Position { get => _position; set => _position = value; }

    public override int Read(Span<byte> buffer)
    {
        if (_position >= _length) return 0;
        var wanted = buffer[..(int)Math.Min(buffer.Length, _length - _position)];
        int read = RandomAccess.Read(handle, wanted, _position);
        if (read == 0)
        {
            wanted.Clear(); // the file shrank after its size was taken
            read = wanted.Length;
        }
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
