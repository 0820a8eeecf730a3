using Berth.Runtime.Files;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>Archives compressed by the real gzip, bzip2 and xz tools come back byte for byte through asynchronous
/// reads only (a request body refuses synchronous ones); broken data and an xz stream that declares a huge window are
/// <see cref="InvalidDataException"/>s, never a hang or a gigabyte held.</summary>
public sealed class ArchiveDecompressionTests : IDisposable
{
    private readonly string _dir = Path.Combine("/tmp", TestNames.Unique("berth-decomp-", 24));
    private readonly byte[] _data;

    public ArchiveDecompressionTests()
    {
        Directory.CreateDirectory(_dir);
        // Half text (compresses, back references), half random (stored chunks): 3 MB, several bzip2 blocks.
        var text = System.Text.Encoding.ASCII.GetBytes(string.Join('\n', Enumerable.Range(0, 150_000)));
        var random = new byte[2_000_000];
        new Random(16).NextBytes(random);
        _data = [.. text, .. random];
        File.WriteAllBytes(Path.Combine(_dir, "data"), _data);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private byte[] Compressed(string tool, params string[] args)
    {
        var result = Sh.Run("sh", ["-c", $"cd {_dir} && {tool} {string.Join(' ', args)} -c < data > data.{tool}"]);
        Assert.Equal(0, result.ExitCode);
        return File.ReadAllBytes(Path.Combine(_dir, "data." + tool));
    }

    private static async Task<byte[]> ReadAllAsync(byte[] input)
    {
        await using var stream = await ArchiveDecompression.OpenAsync(new AsyncOnlyStream(input), CancellationToken.None);
        var output = new MemoryStream();
        await stream.CopyToAsync(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData("gzip", ArchiveDecompression.Format.Gzip)]
    [InlineData("bzip2", ArchiveDecompression.Format.Bzip2)]
    [InlineData("xz", ArchiveDecompression.Format.Xz)]
    public async Task A_compressed_stream_is_recognised_by_its_magic_and_read_back_whole(string tool,
        ArchiveDecompression.Format format)
    {
        byte[] compressed = Compressed(tool);
        Assert.Equal(format, ArchiveDecompression.Detect(compressed));
        Assert.Equal(_data, await ReadAllAsync(compressed));
    }

    [Fact]
    public async Task Plain_data_and_tiny_inputs_pass_through_as_they_are()
    {
        Assert.Equal(_data, await ReadAllAsync(_data));
        Assert.Equal(new byte[] { 0x1f }, await ReadAllAsync([0x1f]));
        Assert.Empty(await ReadAllAsync([]));
        // Several xz streams one after the other are one content (as xz -d reads them).
        byte[] twice = [.. Compressed("xz"), .. Compressed("xz")];
        byte[] both = [.. _data, .. _data];
        Assert.Equal(both, await ReadAllAsync(twice));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("bzip2")]
    [InlineData("xz")]
    public async Task Corrupt_or_cut_data_is_invalid_data(string tool)
    {
        byte[] compressed = Compressed(tool);
        byte[] flipped = compressed.ToArray();
        for (int i = flipped.Length / 2; i < flipped.Length / 2 + 64; i++) flipped[i] ^= 0x5a;
        await Assert.ThrowsAsync<InvalidDataException>(() => ReadAllAsync(flipped));
        // .NET's GZipStream ends quietly where a gzip stream is cut; the tar reader then refuses the half entry.
        if (tool != "gzip")
            await Assert.ThrowsAsync<InvalidDataException>(() => ReadAllAsync(compressed[..(compressed.Length / 3)]));
    }

    [Fact]
    public async Task An_xz_stream_that_declares_a_3_GiB_window_is_refused()
    {
        // A valid xz stream of 200 MB of zeros (about 30 KB) whose block header is rewritten to declare a 3 GiB
        // dictionary: an unbounded decoder grows its window with the output, close to the whole 200 MB.
        var zeros = Sh.Run("sh", ["-c", $"head -c 200000000 /dev/zero | xz -1 > {_dir}/zeros.xz"]);
        Assert.Equal(0, zeros.ExitCode);
        byte[] xz = File.ReadAllBytes(Path.Combine(_dir, "zeros.xz"));
        int headerSize = (xz[12] + 1) * 4; // the block header follows the 12-byte stream header
        var header = xz.AsSpan(12, headerSize);
        int filter = header.IndexOf((byte)0x21); // LZMA2's filter id, then its one-byte properties size and the size
        header[filter + 2] = 39; // 3 GiB
        BitConverter.TryWriteBytes(header[^4..], Crc32(header[..^4]));
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ReadAllAsync(xz));
        Assert.Contains("limit", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xffffffff;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320 & (uint)-(int)(crc & 1));
        }
        return ~crc;
    }

    /// <summary>A request body as Kestrel gives it: synchronous reads throw.</summary>
    private sealed class AsyncOnlyStream(byte[] data) : ReadOnlyStream
    {
        private readonly MemoryStream _data = new(data);

        public override int Read(byte[] buffer, int offset, int count) =>
            throw new InvalidOperationException("synchronous read");

        public override int Read(Span<byte> buffer) => throw new InvalidOperationException("synchronous read");

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            ValueTask.FromResult(_data.Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            Task.FromResult(_data.Read(buffer, offset, count));
    }
}
