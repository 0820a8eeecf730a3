using System.Formats.Tar;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>`docker cp` extraction (noOverwriteDirNonDir): what is in the way keeps its kind, replacing a node of the
/// same kind still works, and a new name needs no look-up first.</summary>
public sealed class CopyExtractionTests : IDisposable
{
    private readonly string _root = Path.Combine("/tmp", TestNames.Unique("berth-cpx-", 26));

    public CopyExtractionTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "dir"));
        File.WriteAllText(Path.Combine(_root, "file"), "old");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private async Task Extract(bool noOverwriteDirNonDir, params (string Name, TarEntryType Type)[] entries)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var (name, type) in entries)
            {
                var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)0x1a4 };
                if (type == TarEntryType.SymbolicLink) entry.LinkName = "elsewhere";
                if (type == TarEntryType.RegularFile) entry.DataStream = new MemoryStream("new"u8.ToArray());
                writer.WriteEntry(entry);
            }
        tar.Position = 0;
        using var root = RootedDirectory.Open(_root);
        await LayerExtractor.ExtractCopyAsync(tar, root, new LayerExtractor.CopyOptions((0, 0), noOverwriteDirNonDir),
            null, CancellationToken.None);
    }

    [Theory]
    [InlineData("dir", TarEntryType.RegularFile, "cannot overwrite directory \"/dir\" with non-directory")]
    [InlineData("dir", TarEntryType.SymbolicLink, "cannot overwrite directory \"/dir\" with non-directory")]
    [InlineData("file", TarEntryType.Directory, "cannot overwrite non-directory \"/file\" with directory")]
    public async Task What_is_in_the_way_keeps_its_kind(string name, TarEntryType type, string message)
    {
        var error = await Assert.ThrowsAsync<ImageException>(() => Extract(true, (name, type)));
        Assert.Contains(message, error.Message);
        Assert.True(Directory.Exists(Path.Combine(_root, "dir")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(_root, "file")));
    }

    [Fact]
    public async Task Same_kinds_are_replaced_and_without_the_flag_any_kind_is()
    {
        await Extract(true, ("file", TarEntryType.RegularFile), ("dir", TarEntryType.Directory),
            ("dir/new", TarEntryType.RegularFile));
        Assert.Equal("new", File.ReadAllText(Path.Combine(_root, "file")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(_root, "dir", "new")));

        await Extract(false, ("dir", TarEntryType.RegularFile), ("file", TarEntryType.Directory));
        Assert.Equal("new", File.ReadAllText(Path.Combine(_root, "dir")));
        Assert.True(Directory.Exists(Path.Combine(_root, "file")));
    }
}
