using System.Buffers;
using System.IO.Compression;
using System.Text;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Images;

/// <summary>A layer tar's bytes apart from its files' contents (headers, padding, the end blocks), kept beside the
/// extracted layer so the very same tar can be written again for a push or a save: the layer keeps its diff id and
/// the image its id, as dockerd keeps them with its tar-split files. The record is a gzip stream of
/// 'R' (int32 length, raw bytes) and 'F' (int64 length, string path: that many bytes of the layer's file) items.</summary>
internal static class TarSplit
{
    public const string FileName = "tar-split.gz";
    private const byte Raw = (byte)'R', FileData = (byte)'F';

    /// <summary>Reads through to the tar stream and records every byte except the file contents the extractor
    /// announces (<see cref="FileContent"/>) as it reaches them.</summary>
    public sealed class Recorder : ReadOnlyStream
    {
        private const int FlushAt = 64 * 1024;
        private readonly Stream _inner;
        private readonly string _path;
        private readonly BinaryWriter _out;
        private readonly ArrayBufferWriter<byte> _pending = new();
        private readonly HashSet<string> _files = new(StringComparer.Ordinal);
        private long _skip;
        private bool _broken;

        public Recorder(Stream inner, string path)
        {
            _inner = inner;
            _path = path;
            _out = new BinaryWriter(new GZipStream(File.Create(path), CompressionLevel.Fastest), Encoding.UTF8);
        }

        /// <summary>The next <paramref name="length"/> bytes of the tar are the content of <paramref name="relative"/>
        /// (the extractor calls this before it reads them). A path written twice cannot be read back as both: the
        /// record is then dropped and the layer is archived anew when it goes out.</summary>
        public void FileContent(string relative, long length)
        {
            if (length == 0) return;
            if (_skip != 0 || !_files.Add(relative)) _broken = true;
            if (_broken) return;
            FlushRaw();
            _out.Write(FileData);
            _out.Write(length);
            _out.Write(relative);
            _skip = length;
        }

        /// <summary>Closes the record; keeps it only when it is whole.</summary>
        public void Complete()
        {
            if (!_broken) FlushRaw();
            _out.Dispose();
            if (_broken || _skip != 0) File.Delete(_path);
        }

        private void Observe(ReadOnlySpan<byte> data)
        {
            if (_broken) return;
            if (_skip > 0)
            {
                int n = (int)Math.Min(_skip, data.Length);
                _skip -= n;
                data = data[n..];
            }
            _pending.Write(data);
            if (_pending.WrittenCount >= FlushAt) FlushRaw();
        }

        private void FlushRaw()
        {
            if (_pending.WrittenCount == 0) return;
            _out.Write(Raw);
            _out.Write(_pending.WrittenCount);
            _out.Write(_pending.WrittenSpan);
            _pending.Clear();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = _inner.Read(buffer);
            Observe(buffer[..n]);
            return n;
        }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            int n = await _inner.ReadAsync(buffer, ct);
            Observe(buffer.Span[..n]);
            return n;
        }
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
        protected override void Dispose(bool disposing)
        {
            if (disposing) _out.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Writes the recorded tar of the layer in <paramref name="layerDirectory"/> to <paramref name="output"/>.
    /// False, with nothing written, when there is no record or a file it names is no longer a regular file of the
    /// recorded size (the caller then archives the directory). Files are opened inside the layer's root only.</summary>
    public static async Task<bool> TryWriteAsync(string layerDirectory, Stream output, CancellationToken ct)
    {
        string record = Path.Combine(layerDirectory, FileName);
        if (!File.Exists(record)) return false;
        using var root = RootedDirectory.Open(Path.Combine(layerDirectory, "diff"));
        if (!FilesMatch(record, root)) return false;
        using var reader = Open(record);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            while (reader.BaseStream.ReadByte() is int tag and >= 0)
            {
                if (tag == Raw)
                {
                    int length = reader.ReadInt32();
                    while (length > 0)
                    {
                        int n = reader.Read(buffer, 0, Math.Min(length, buffer.Length));
                        if (n == 0) throw new EndOfStreamException($"tar-split record of {layerDirectory} ends early");
                        await output.WriteAsync(buffer.AsMemory(0, n), ct);
                        length -= n;
                    }
                    continue;
                }
                long size = reader.ReadInt64();
                using var file = root.OpenInRoot(reader.ReadString(), Interop.O_RDONLY | Interop.O_NOFOLLOW);
                for (long offset = 0; offset < size;)
                {
                    int n = RandomAccess.Read(file, buffer.AsSpan(0, (int)Math.Min(buffer.Length, size - offset)), offset);
                    if (n == 0) throw new EndOfStreamException($"a file of layer {layerDirectory} shrank while it was archived");
                    await output.WriteAsync(buffer.AsMemory(0, n), ct);
                    offset += n;
                }
            }
            return true;
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    /// <summary>Every file the record names is still a regular file of its recorded size.</summary>
    private static bool FilesMatch(string record, RootedDirectory root)
    {
        using var reader = Open(record);
        try
        {
            while (reader.BaseStream.ReadByte() is int tag and >= 0)
            {
                if (tag == Raw)
                {
                    int length = reader.ReadInt32();
                    Discard(reader.BaseStream, length);
                    continue;
                }
                long size = reader.ReadInt64();
                using var file = root.OpenInRoot(reader.ReadString(), Interop.O_RDONLY | Interop.O_NOFOLLOW);
                if (RandomAccess.GetLength(file) != size) return false;
            }
            return true;
        }
        catch (Exception e) when (e is LinuxException or IOException or EndOfStreamException) { return false; }
    }

    private static void Discard(Stream stream, int count)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Min(count, 64 * 1024));
        try
        {
            while (count > 0)
            {
                int n = stream.Read(buffer, 0, Math.Min(count, buffer.Length));
                if (n == 0) throw new EndOfStreamException();
                count -= n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    private static BinaryReader Open(string record) =>
        new(new GZipStream(File.OpenRead(record), CompressionMode.Decompress), Encoding.UTF8);
}
