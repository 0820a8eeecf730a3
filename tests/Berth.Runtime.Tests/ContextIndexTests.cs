using System.Formats.Tar;
using Berth.Runtime.Build;
using Berth.Runtime.Images;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.Runtime.Tests;

/// <summary>The build context's index: COPY's cache key from the tar as it streams in, without extracting it.</summary>
public sealed class ContextIndexTests
{
    private static Task<ContextIndex> Index(byte[] tar, params string[] keep) =>
        ContextIndex.ReadAsync(new MemoryStream(tar), keep, CancellationToken.None);

    private static async Task<string> HashOf(byte[] tar, string pattern, string ignore = "")
    {
        var rules = new IgnoreRules(ignore);
        var index = await Index(tar);
        return index.Hash(index.Glob(pattern, rules)!, rules);
    }

    private static PaxTarEntry Timed(PaxTarEntry entry, int uid, long seconds)
    {
        entry.Uid = entry.Gid = uid;
        entry.ModificationTime = DateTimeOffset.FromUnixTimeSeconds(seconds);
        return entry;
    }

    [Fact]
    public async Task The_hash_follows_content_mode_names_and_the_ignore_rules_but_not_times_or_owners()
    {
        byte[] Tree(string content = "a", int mode = 0x1a4, string name = "f", int uid = 0, long time = 1000) => Tar(
            Dir("src", 0x1ed), Timed(Regular("src/" + name, content, mode), uid, time), Regular("src/sub/g", "g"));
        string baseline = await HashOf(Tree(), "src");
        Assert.Equal(baseline, await HashOf(Tree(uid: 1000, time: 2000), "src"));
        Assert.NotEqual(baseline, await HashOf(Tree(content: "b"), "src"));
        Assert.NotEqual(baseline, await HashOf(Tree(mode: 0x1ed), "src"));
        Assert.NotEqual(baseline, await HashOf(Tree(name: "h"), "src"));
        Assert.NotEqual(baseline, await HashOf(Tree(), "src", "src/sub"));
        Assert.Equal(baseline, await HashOf(Tree(), "src", "other"));
        // A file one level up is another tree, though the same names in the same order.
        Assert.NotEqual(await HashOf(Tar(Regular("d/a/b", "x")), "d"), await HashOf(Tar(Regular("d/a", ""), Regular("d/b", "x")), "d"));
    }

    [Fact]
    public async Task A_context_is_plain_only_when_its_entries_are_the_tree_and_its_entries_are_read_in_order()
    {
        byte[] plain = Tar(Dir("src", 0x1ed), Regular("src/a", "a"), Symlink("src/l", "a"), Regular("top", "t"));
        Assert.True((await Index(plain)).Plain);
        Assert.False((await Index(Tar(Regular("a", "1"), Regular("a", "2")))).Plain);
        Assert.False((await Index(Tar(Regular("a", "1"), HardLink("b", "a")))).Plain);
        Assert.False((await Index(Tar(Dir("d", 0x1ed), Whiteout("d/.wh.x")))).Plain);
        // A directory implied by its content and declared after it is still one path.
        Assert.True((await Index(Tar(Regular("d/x", "x"), Dir("d", 0x1c0)))).Plain);
        var seen = new List<string>();
        await ContextIndex.ReadEntriesAsync(new MemoryStream(plain), (entry, path) =>
        {
            seen.Add($"{path}:{entry.EntryType}");
            return Task.CompletedTask;
        }, CancellationToken.None);
        Assert.Equal(["src:Directory", "src/a:RegularFile", "src/l:SymbolicLink", "top:RegularFile"], seen);
    }

    [Fact]
    public async Task Later_entries_replace_earlier_ones_and_a_hard_link_keeps_the_content_it_was_made_with()
    {
        var index = await Index(Tar(Regular("a", "one"), HardLink("b", "a"), Regular("a", "two"), Dir("c", 0x1ed),
            Regular("c/x", "x"), Regular("c", "now a file")), "a");
        Assert.False(index.IsDirectory("c"));
        Assert.Empty(index.Glob("c/x", null)!);
        string linked = await HashOf(Tar(Regular("a", "one"), HardLink("b", "a")), "b");
        Assert.Equal(linked, await HashOf(Tar(Regular("a", "one"), HardLink("b", "a"), Regular("a", "two")), "b"));
        Assert.NotEqual(linked, await HashOf(Tar(Regular("a", "two"), HardLink("b", "a")), "b"));
        Assert.True(index.TryReadFile("./a", out var content));
        Assert.Equal("two", System.Text.Encoding.UTF8.GetString(content!));
    }

    [Fact]
    public async Task Globs_match_component_by_component_leave_ignored_paths_out_and_give_up_at_symlinks()
    {
        var index = await Index(Tar(Regular("a.txt", ""), Regular("b.txt", ""), Regular("c.md", ""), Regular("d/e.txt", ""),
            Symlink("link", "d"), Regular("implicit/parent/f", "")));
        var ignore = new IgnoreRules("b.txt");
        Assert.Equal(["a.txt"], index.Glob("*.txt", ignore));
        Assert.Equal(["d/e.txt"], index.Glob("?/*.txt", ignore));
        Assert.Equal(["implicit/parent/f"], index.Glob("implicit/parent/f", ignore));
        Assert.True(index.IsDirectory("implicit/parent"));
        Assert.Empty(index.Glob("b.txt", ignore)!);
        Assert.Empty(index.Glob("missing", ignore)!);
        Assert.Null(index.Glob("link/e.txt", ignore));
        Assert.Null(index.Glob("l*", ignore));
        Assert.Equal([""], index.Glob("", ignore));
    }

    [Fact]
    public async Task Kept_files_are_read_from_the_index_and_symlinks_are_left_to_the_extracted_context()
    {
        var index = await Index(Tar(Regular("Dockerfile", "FROM scratch\n"), Symlink("other", "Dockerfile"), Dir("dir", 0x1ed)),
            "Dockerfile", "other", "dir", "missing");
        Assert.True(index.TryReadFile("Dockerfile", out var dockerfile));
        Assert.Equal("FROM scratch\n", System.Text.Encoding.UTF8.GetString(dockerfile!));
        Assert.False(index.TryReadFile("other", out _));
        Assert.True(index.TryReadFile("dir", out var dir));
        Assert.Null(dir);
        Assert.True(index.TryReadFile("missing", out var missing));
        Assert.Null(missing);
    }

    /// <summary>The index refuses exactly the hostile archives the extractor refuses: a context the build would have
    /// refused at extraction is refused though the cache answers every step.</summary>
    [Fact]
    public async Task The_index_refuses_what_the_layer_extractor_refuses()
    {
        foreach (var archive in All("/victim"))
        {
            var error = await Record.ExceptionAsync(() => Index(archive.Tar));
            Assert.True(archive.Refused == error is ImageException, $"{archive.Name}: {error?.Message ?? "taken"}");
        }
    }
}
