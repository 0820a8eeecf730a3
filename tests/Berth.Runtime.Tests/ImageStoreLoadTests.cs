using Berth.Runtime.Images;
using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.Runtime.Tests;

/// <summary>`docker load` and `docker import` through the image store on the real filesystem: digests and diff ids
/// checked, nothing kept from a refused archive, a full disk stopping the import cleanly.</summary>
public sealed class ImageStoreLoadTests : IDisposable
{
    private readonly string _root = Path.Combine("/tmp", TestNames.Unique("berth-store-", 24));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task A_docker_save_archive_and_an_oci_layout_load_when_every_digest_matches()
    {
        var store = new ImageStore(_root);
        var lines = await Load(store, DockerSave("saved:1", [SmallLayer()]));
        Assert.Equal(["Loaded image: saved:1"], lines);
        lines = await Load(store, OciLayout("oci:1", [SmallLayer("other\n")]));
        Assert.Equal(["Loaded image: oci:1"], lines);
        lines = await Load(store, DockerSave("blobs:1", [SmallLayer("third\n")], blobs: true));
        Assert.Equal(["Loaded image: blobs:1"], lines);
        Assert.Equal(3, store.List().Count);
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(_root, "layers")).Length);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "tmp")));
    }

    public static TheoryData<string> TamperedArchives() =>
        new("docker-save-layer", "docker-save-layer-count", "docker-save-config-name", "docker-save-blob",
            "oci-layer", "oci-config", "oci-manifest");

    [Theory]
    [MemberData(nameof(TamperedArchives))]
    public async Task A_tampered_archive_is_refused_and_nothing_of_it_is_kept(string kind)
    {
        var store = new ImageStore(_root);
        await Load(store, DockerSave("kept:1", [SmallLayer("kept\n")]));
        string before = Listing();
        byte[] good = SmallLayer(), evil = SmallLayer("evil\n");
        byte[] archive = kind switch
        {
            // The second layer's bytes are not the ones the config's diff_ids name; the first is fine (and must go too).
            "docker-save-layer" => DockerSave("bad:1", [SmallLayer("first\n"), evil], [Sha256(SmallLayer("first\n")), Sha256(good)]),
            "docker-save-layer-count" => DockerSave("bad:1", [good, evil], [Sha256(good)]),
            "docker-save-config-name" => Rename(DockerSave("bad:1", [good])),
            "docker-save-blob" => DockerSave("bad:1", [good], blobs: true, stored: [evil]),
            "oci-layer" => OciLayout("bad:1", [good], (k, b) => k == "layer" ? evil : b),
            "oci-config" => OciLayout("bad:1", [good], (k, b) => k == "config" ? Flip(b) : b),
            _ => OciLayout("bad:1", [good], (k, b) => k == "manifest" ? Flip(b) : b),
        };
        var error = await Assert.ThrowsAsync<ImageException>(() => Load(store, archive));
        Assert.Contains("invalid archive", error.Message);
        Assert.Contains(kind.EndsWith("count") ? "diff_ids" : "sha256:", error.Message);
        Assert.Equal(before, Listing());
        Assert.Null(store.Find("bad:1"));
        Assert.NotNull(store.Find("kept:1"));
    }

    [Fact]
    public async Task A_load_archive_cannot_name_files_outside_itself()
    {
        var store = new ImageStore(_root);
        string victim = Path.Combine(_root, "..", TestNames.Unique("victim-", 20));
        Directory.CreateDirectory(victim);
        try
        {
            byte[] config = Config(Sha256(SmallLayer()));
            File.WriteAllBytes(Path.Combine(victim, "config.json"), config);
            // manifest.json names a config by a symlink to an outside file, and a layer by "..".
            byte[] archive = Tar(Symlink("c.json", Path.Combine(victim, "config.json")),
                Blob("manifest.json", $$"""[{"Config":"c.json","RepoTags":["esc:1"],"Layers":["../../../../../../{{victim}}/layer.tar"]}]"""));
            var error = await Assert.ThrowsAsync<ImageException>(() => Load(store, archive));
            Assert.Contains("is missing", error.Message);
            Assert.Null(store.Find("esc:1"));
        }
        finally { Directory.Delete(victim, recursive: true); }
    }

    [Fact]
    public async Task A_full_disk_stops_an_import_cleanly_and_keeps_nothing()
    {
        string mount = Path.Combine("/tmp", TestNames.Unique("berth-tmpfs-", 24));
        Directory.CreateDirectory(mount);
        var mounted = Sh.Run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount]);
        Assert.True(mounted.ExitCode == 0, mounted.Stderr);
        try
        {
            var store = new ImageStore(Path.Combine(mount, "image"));
            byte[] big = Tar(Dir("data", 0x1ed), Regular("data/big", new string('x', 3 << 20)));
            var error = await Assert.ThrowsAsync<ImageStorageException>(() =>
                store.ImportAsync(new MemoryStream(big), "big:1", [], null, CancellationToken.None));
            Assert.Contains("no space left on device", error.Message);
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(mount, "image", "layers")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(mount, "image", "images")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(mount, "image", "tmp")));
            Assert.Empty(store.List());
            // The same load of a small image then works: the space was given back.
            await Load(store, DockerSave("small:1", [SmallLayer()]));
            Assert.NotNull(store.Find("small:1"));
        }
        finally
        {
            Sh.Run("umount", [mount]);
            Directory.Delete(mount);
        }
    }

    private static async Task<IReadOnlyList<string>> Load(ImageStore store, byte[] archive) =>
        await store.LoadAsync(new MemoryStream(archive), CancellationToken.None);

    /// <summary>Every node of the store, files with size and mtime: equal listings mean nothing was added or removed.</summary>
    private string Listing()
    {
        // Directories' times change with any temp entry made and removed inside; their names must not.
        var result = Sh.Run("find", [_root, "(", "-type", "d", "-printf", "%p d\\n", ")", "-o", "-printf", "%p %y %s %T@\\n"]);
        return string.Join('\n', result.Stdout.Split('\n').Order(StringComparer.Ordinal));
    }

    /// <summary>The docker-save archive with its config renamed to another digest (manifest updated to match).</summary>
    private static byte[] Rename(byte[] archive)
    {
        var entries = new List<System.Formats.Tar.PaxTarEntry>();
        using var reader = new System.Formats.Tar.TarReader(new MemoryStream(archive));
        string fake = new('a', 64);
        string? oldName = null;
        while (reader.GetNextEntry(copyData: true) is { } entry)
        {
            byte[] bytes = new byte[entry.Length];
            entry.DataStream?.ReadExactly(bytes);
            string name = entry.Name;
            if (name.EndsWith(".json") && name != "manifest.json") { oldName = name; name = fake + ".json"; }
            if (name == "manifest.json") bytes = System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(bytes).Replace(oldName!, fake + ".json"));
            entries.Add(Blob(name, bytes));
        }
        return Tar(entries.ToArray());
    }

    private static System.Formats.Tar.PaxTarEntry Blob(string name, string text) => Blob(name, System.Text.Encoding.UTF8.GetBytes(text));

    private static System.Formats.Tar.PaxTarEntry Blob(string name, byte[] bytes) =>
        new(System.Formats.Tar.TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream(bytes) };
}
