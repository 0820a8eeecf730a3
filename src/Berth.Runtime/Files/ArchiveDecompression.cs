using System.ComponentModel;
using System.Diagnostics;
using System.IO.Compression;

namespace Berth.Runtime.Files;

/// <summary>An archive that may be compressed, recognised by its magic as moby's DecompressStream does (gzip, bzip2,
/// xz, zstd; anything else is taken as it is): `docker load`, `docker import`, layers and `docker cp`'s PUT bodies.
/// Every read stays asynchronous (a request body refuses synchronous reads) and nothing is held whole. Corrupt
/// compressed data is an <see cref="InvalidDataException"/>.</summary>
public static class ArchiveDecompression
{
    private const int MagicLength = 6;

    /// <summary>xz's window is whatever the stream declares (up to 4 GiB): a 40 KB upload could make a decoder hold a
    /// gigabyte. xz -9 needs 65 MiB to decompress; a stream that needs more than this limit is refused.</summary>
    public const string XzMemoryLimit = "256MiB";

    public enum Format { None, Gzip, Bzip2, Xz, Zstd }

    /// <summary>What a broken archive or broken compressed data throws while it is read.</summary>
    public static bool IsCorruptData(Exception e) =>
        e is InvalidDataException or FormatException or EndOfStreamException or ZstdSharp.ZstdException;

    /// <summary>moby's DetectCompression on the first bytes of a stream.</summary>
    public static Format Detect(ReadOnlySpan<byte> head) => head switch
    {
        [0x1f, 0x8b, 0x08, ..] => Format.Gzip,
        [0x42, 0x5a, 0x68, ..] => Format.Bzip2,
        [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ..] => Format.Xz,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Format.Zstd,
        _ => Format.None,
    };

    /// <summary>The content of <paramref name="input"/>, decompressed when its magic says so. Disposing the returned
    /// stream leaves <paramref name="input"/> open.</summary>
    public static async Task<Stream> OpenAsync(Stream input, CancellationToken ct)
    {
        var head = new byte[MagicLength];
        int read = await input.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        var whole = new PrefixedStream(head.AsMemory(0, read), input);
        return Detect(head.AsSpan(0, read)) switch
        {
            Format.Gzip => new GZipStream(whole, CompressionMode.Decompress),
            Format.Zstd => new ZstdSharp.DecompressionStream(whole),
            // As moby runs xz: a separate process, here with a memory limit; bzip2 likewise (one way for both).
            Format.Xz => ExternalDecompressor.Start("xz", ["-d", "-c", "-q", "--memlimit-decompress=" + XzMemoryLimit], whole),
            Format.Bzip2 => ExternalDecompressor.Start("bzip2", ["-d", "-c", "-q"], whole),
            _ => whole,
        };
    }
}

/// <summary>Bytes already read from a stream (its magic), then the rest of it.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = TakePrefix(buffer);
        return n > 0 ? n : rest.Read(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = TakePrefix(buffer.Span);
        return n > 0 ? n : await rest.ReadAsync(buffer, ct);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int TakePrefix(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, _prefix.Length);
        if (n == 0) return 0;
        _prefix.Span[..n].CopyTo(buffer);
        _prefix = _prefix[n..];
        return n;
    }

}

/// <summary>A decompressing filter process (xz, bzip2): <c>input</c> is fed to its stdin while its stdout is read.
/// The end of its output is only the end of the data when it exits with 0; otherwise what it said on stderr is an
/// <see cref="InvalidDataException"/>. Disposing kills it when it is still running.</summary>
internal sealed class ExternalDecompressor : ReadOnlyStream
{
    private const int MaxErrorChars = 2048;

    private readonly Process _process;
    private readonly string _tool;
    private readonly Stream _output;
    private readonly Task _feed;
    private readonly Task<string> _error;
    private readonly CancellationTokenSource _stop = new();
    private bool _ended;

    private ExternalDecompressor(Process process, string tool, Stream input)
    {
        _process = process;
        _tool = tool;
        _output = process.StandardOutput.BaseStream;
        _feed = FeedAsync(input, process.StandardInput.BaseStream, _stop.Token);
        _error = ReadErrorAsync(process.StandardError);
    }

    public static ExternalDecompressor Start(string tool, IEnumerable<string> args, Stream input)
    {
        var info = new ProcessStartInfo(tool)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        try { return new ExternalDecompressor(Process.Start(info)!, tool, input); }
        catch (Win32Exception e)
        {
            throw new InvalidDataException($"{tool}-compressed data cannot be read here: {tool} did not start ({e.Message})");
        }
    }

    /// <summary>The filter may stop reading early (corrupt data): its broken pipe is not the error, its exit code is.</summary>
    private static async Task FeedAsync(Stream input, Stream stdin, CancellationToken ct)
    {
        try { await input.CopyToAsync(stdin, 128 * 1024, ct); }
        catch (IOException) { }
        catch (OperationCanceledException) { }
        finally
        {
            try { await stdin.DisposeAsync(); }
            catch (IOException) { }
        }
    }

    private static async Task<string> ReadErrorAsync(StreamReader stderr)
    {
        var buffer = new char[MaxErrorChars];
        int total = 0, n;
        while ((n = await stderr.ReadAsync(buffer.AsMemory(total, buffer.Length - total))) > 0)
        {
            total += n;
            if (total == buffer.Length) { await stderr.BaseStream.CopyToAsync(Stream.Null); break; }
        }
        return new string(buffer, 0, total).Trim();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (_ended || buffer.Length == 0) return 0;
        int n = await _output.ReadAsync(buffer, ct);
        if (n > 0) return n;
        _ended = true;
        await _process.WaitForExitAsync(ct);
        await _feed;
        if (_process.ExitCode != 0)
        {
            string error = await _error;
            throw new InvalidDataException(
                $"{_tool} could not decompress the data (exit {_process.ExitCode}){(error.Length > 0 ? ": " + error : "")}");
        }
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            try
            {
                if (!_process.HasExited) _process.Kill();
                _process.WaitForExit();
            }
            catch (InvalidOperationException) { } // already gone
            _process.Dispose();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }
}
