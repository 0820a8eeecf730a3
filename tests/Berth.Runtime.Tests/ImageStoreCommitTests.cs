using Berth.Linux;
using Berth.Runtime.Images;
using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.Runtime.Tests;

/// <summary>The commit of an import or load: layer contents durable before they are published, and garbage
/// collection kept out of the window where a layer is in the store but its image record is not.</summary>
public sealed class ImageStoreCommitTests : IDisposable
{
    private readonly string _root = Path.Combine("/tmp", TestNames.Unique("berth-commit-", 24));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string[] Dirs(string under, string pattern = "*") =>
        Directory.GetDirectories(Path.Combine(_root, under), pattern);

    [Fact]
    public async Task Layer_contents_are_synced_before_the_layer_moves_into_the_store()
    {
        var seen = new List<string>();
        var store = new ImageStore(_root, hooks: new ImageStoreHooks
        {
            SyncFilesystem = (fd, what) =>
            {
                string pending = Assert.Single(Dirs("tmp", "layer-*"));
                seen.Add($"{what}: {Dirs("layers").Length} in the store, " +
                    $"pending file there: {File.Exists(Path.Combine(pending, "diff", "etc", "hello"))}");
                Interop.SyncFilesystem(fd, what);
            },
        });
        string temp = Path.Combine(_root, "tmp");

        await store.LoadAsync(new MemoryStream(DockerSave("loaded:1", [SmallLayer()])), CancellationToken.None);
        Assert.Equal([$"{temp}: 0 in the store, pending file there: True"], seen);
        await store.ImportAsync(new MemoryStream(SmallLayer("imported\n")), "imported:1", [], null, CancellationToken.None);
        Assert.Equal($"{temp}: 1 in the store, pending file there: True", seen[^1]);
        Assert.Equal(2, seen.Count);
        Assert.Equal(2, Dirs("layers").Length);
    }

    [Fact]
    public async Task A_pulled_layer_is_synced_before_it_moves_into_the_store()
    {
        var seen = new List<string>();
        var store = new ImageStore(_root, hooks: new ImageStoreHooks
        {
            SyncFilesystem = (fd, what) =>
            {
                seen.Add($"{Dirs("layers").Length} in the store, pending file there: {File.Exists(Path.Combine(what, "diff", "etc", "hello"))}");
                Interop.SyncFilesystem(fd, what);
            },
        });
        byte[] blob = SmallLayer("pulled\n");
        string digest = "sha256:" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(blob)).ToLowerInvariant();
        await store.ExtractPulledLayerAsync(new MemoryStream(blob), new LayerBlob(digest, "application/vnd.oci.image.layer.v1.tar", blob.Length, []),
            digest, CancellationToken.None);
        Assert.Equal(["0 in the store, pending file there: True"], seen);
        Assert.True(store.HasLayer(digest));
    }

    [Fact]
    public async Task Garbage_collection_never_removes_a_layer_an_import_is_committing()
    {
        ImageStore store = null!;
        Task? removal = null;
        bool armed = false;
        store = new ImageStore(_root, hooks: new ImageStoreHooks
        {
            Checkpoint = point =>
            {
                if (!armed || point != ImageStoreHooks.AfterLayersMoved || removal is not null) return;
                // The new layer is in layers/, its image record is not written yet: an rmi of another image runs its
                // garbage collection now, from another thread. It must wait for this commit to end; given the
                // chance, it would take the new layer for an unused one.
                removal = Task.Run(() => store.Remove("old:1", force: false, _ => null));
                removal.Wait(TimeSpan.FromSeconds(3));
            },
        });
        await store.LoadAsync(new MemoryStream(DockerSave("old:1", [SmallLayer("old\n")])), CancellationToken.None);
        string oldLayer = Assert.Single(Dirs("layers"));
        armed = true;

        await store.LoadAsync(new MemoryStream(DockerSave("new:1", [SmallLayer("new\n")])), CancellationToken.None);
        Assert.NotNull(removal);
        await removal;

        Assert.Null(store.Find("old:1"));
        Assert.False(Directory.Exists(oldLayer), "the removed image's layer was not collected");
        var image = store.Find("new:1");
        Assert.NotNull(image);
        string newLayer = Assert.Single(Dirs("layers"));
        Assert.Equal(image.LayerDiffIds.Single()[7..], Path.GetFileName(newLayer));
        Assert.Equal("new\n", File.ReadAllText(Path.Combine(newLayer, "diff", "etc", "hello")));
    }
}
