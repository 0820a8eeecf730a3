using System.Formats.Tar;
using System.Text;
using Berth.Runtime.Images;
using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.Runtime.Tests;

/// <summary>A layer goes out (push, save) as the very bytes it came in as, whatever tool wrote them; a record that no
/// longer matches the files, or that a hostile archive planted a symlink under, falls back to a fresh archive of the
/// layer and never reads anything outside it.</summary>
public sealed class TarSplitTests : IDisposable
{
    private readonly string _root = Path.Combine("/tmp", TestNames.Unique("berth-split-", 24));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private async Task<(ImageStore Store, string DiffId)> ImportAsync(byte[] tar)
    {
        var store = new ImageStore(_root);
        var image = await store.ImportAsync(new MemoryStream(tar), "split:" + TestNames.Unique("t", 8), [], null, CancellationToken.None);
        return (store, Assert.Single(image.LayerDiffIds));
    }

    private static async Task<byte[]> WrittenAsync(ImageStore store, string diffId)
    {
        var output = new MemoryStream();
        await store.WriteLayerTarAsync(diffId, output, CancellationToken.None);
        return output.ToArray();
    }

    [Theory]
    [InlineData(TarEntryFormat.Gnu, 0)]
    [InlineData(TarEntryFormat.Ustar, 9216)] // GNU tar pads the archive to its 10 KiB record
    [InlineData(TarEntryFormat.Pax, 0)]
    public async Task A_layer_is_written_back_byte_for_byte(TarEntryFormat format, int trailingZeros)
    {
        var bytes = new MemoryStream();
        using (var tar = new TarWriter(bytes, format, leaveOpen: true))
        {
            tar.WriteEntry(Entry(format, TarEntryType.Directory, "etc/", null, 0x1ed));
            tar.WriteEntry(Entry(format, TarEntryType.RegularFile, "etc/big", new byte[70_001].Select((_, i) => (byte)i).ToArray(), 0x1a4));
            tar.WriteEntry(Entry(format, TarEntryType.RegularFile, "etc/empty", [], 0x180));
            tar.WriteEntry(Entry(format, TarEntryType.RegularFile, "etc/" + new string('n', format == TarEntryFormat.Ustar ? 99 : 120), "long name\n"u8.ToArray(), 0x1a4));
            var link = Entry(format, TarEntryType.SymbolicLink, "etc/link", null, 0x1ff);
            link.LinkName = "big";
            tar.WriteEntry(link);
            var hard = Entry(format, TarEntryType.HardLink, "etc/hard", null, 0x1a4);
            hard.LinkName = "etc/big";
            tar.WriteEntry(hard);
        }
        bytes.Write(new byte[trailingZeros]);
        byte[] input = bytes.ToArray();

        var (store, diffId) = await ImportAsync(input);
        Assert.Equal(Sha256(input), diffId);
        Assert.Equal(input, await WrittenAsync(store, diffId));
    }

    [Fact]
    public async Task A_path_written_twice_drops_the_record_and_the_layer_is_archived_anew()
    {
        byte[] input = Tar(Dir("etc", 0x1ed), Regular("etc/a", "first\n"), Regular("etc/a", "second, longer\n"));
        var (store, diffId) = await ImportAsync(input);
        Assert.False(File.Exists(Path.Combine(_root, "layers", diffId[7..], "tar-split.gz")));
        byte[] output = await WrittenAsync(store, diffId);
        Assert.NotEqual(input, output);
        Assert.Contains("second, longer", Encoding.ASCII.GetString(output));
    }

    [Fact]
    public async Task A_symlink_planted_over_a_recorded_directory_never_reads_the_hosts_file()
    {
        // etc/passwd's bytes are recorded as the layer's file "x/passwd"; then x becomes a symlink to /etc. Reading
        // "x/passwd" by string would read the host's /etc/passwd into the pushed layer.
        string hostPasswd = File.ReadAllText("/etc/passwd");
        byte[] input = Tar(Dir("x", 0x1ed), Regular("x/passwd", new string('p', hostPasswd.Length)), Symlink("x", "/etc"));
        var (store, diffId) = await ImportAsync(input);
        byte[] output = await WrittenAsync(store, diffId);
        Assert.DoesNotContain(hostPasswd, Encoding.ASCII.GetString(output));
    }

    [Fact]
    public async Task A_file_changed_in_the_store_falls_back_to_a_fresh_archive()
    {
        byte[] input = Tar(Dir("etc", 0x1ed), Regular("etc/a", "recorded\n"));
        var (store, diffId) = await ImportAsync(input);
        File.WriteAllText(Path.Combine(_root, "layers", diffId[7..], "diff", "etc", "a"), "changed, longer\n");
        byte[] output = await WrittenAsync(store, diffId);
        Assert.Contains("changed, longer", Encoding.ASCII.GetString(output));
    }

    private static TarEntry Entry(TarEntryFormat format, TarEntryType type, string name, byte[]? data, int mode)
    {
        TarEntry entry = format switch
        {
            TarEntryFormat.Gnu => new GnuTarEntry(type, name),
            TarEntryFormat.Ustar => new UstarTarEntry(type, name),
            _ => new PaxTarEntry(type, name),
        };
        entry.Mode = (UnixFileMode)mode;
        entry.ModificationTime = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);
        if (data is not null) entry.DataStream = new MemoryStream(data);
        return entry;
    }
}
