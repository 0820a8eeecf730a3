using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Runtime.Files;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Images;

/// <summary>What a new image made from another (a build step, a commit) adds to it.</summary>
public sealed record ImageChild
{
    public required ImageConfig Config { get; init; }
    /// <summary>Writes the new layer as a tar; null for a step that changes only the config (an empty layer).</summary>
    public Func<Stream, CancellationToken, Task>? WriteLayer { get; init; }
    public required string CreatedBy { get; init; }
    public string? Comment { get; init; }
    public string? Author { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
}

public sealed partial class ImageStore
{
    /// <summary>A new image on top of <paramref name="parent"/> (null: FROM scratch): the parent's layers and history
    /// plus one entry, and the layer the child writes (streamed through a pipe into extraction, never held whole).</summary>
    public async Task<ImageRecord> CreateChildAsync(ImageRecord? parent, ImageChild child, CancellationToken ct)
    {
        var parentDocument = parent is null ? null : ReadDocument(parent.Id[7..]);
        var now = DateTimeOffset.UtcNow;
        PendingLayer? layer = null;
        try
        {
            if (child.WriteLayer is not null)
            {
                var pipe = new Pipe();
                var writer = Task.Run(async () =>
                {
                    await using var output = pipe.Writer.AsStream();
                    try { await child.WriteLayer(output, ct); }
                    catch (Exception e) { await pipe.Writer.CompleteAsync(e); throw; }
                }, ct);
                try { layer = await ExtractLayerAsync(pipe.Reader.AsStream(), null, null, ct); }
                finally { await pipe.Reader.CompleteAsync(); }
                await writer;
            }
            var history = new List<ImageDocument.HistoryEntry>(parentDocument?.History ?? []);
            history.Add(new ImageDocument.HistoryEntry
            {
                Created = now, CreatedBy = child.CreatedBy, Comment = child.Comment, Author = child.Author,
                EmptyLayer = layer is null,
            });
            var document = new ImageDocument
            {
                Architecture = parentDocument?.Architecture ?? "amd64", Os = parentDocument?.Os ?? "linux",
                Created = now, Author = child.Author, Comment = child.Comment, DockerVersion = "berth",
                Parent = parent?.Id, Config = child.Config,
                RootFs = new() { DiffIds = [.. parentDocument?.RootFs?.DiffIds ?? [], .. layer is null ? Array.Empty<string>() : [layer.DiffId]] },
                History = history,
            };
            var tags = child.Tags.Select(NormalizeTag).ToList();
            string id = Commit([new PendingImage(document, null, layer is null ? [] : [layer], tags)])[0];
            return Find(id)!;
        }
        finally { layer?.Dispose(); }
    }

    /// <summary>A deep copy of an image's config, to change for a child.</summary>
    public static ImageConfig CopyConfig(ImageConfig config) =>
        JsonSerializer.Deserialize<ImageConfig>(JsonSerializer.SerializeToUtf8Bytes(config, Json))!;

    private ImageDocument? ReadDocument(string hex)
    {
        string path = Path.Combine(Images, hex + ".json");
        return File.Exists(path) ? JsonSerializer.Deserialize<ImageDocument>(File.ReadAllBytes(path), ImageDocument.ReadOptions) : null;
    }

    /// <summary>Adds tags to an image (after a build: every -t at once, only when the build succeeded).</summary>
    public void AddTags(string imageId, IEnumerable<string> tags)
    {
        lock (_lock)
        {
            var updated = new Dictionary<string, string>(_tags);
            foreach (string tag in tags) updated[NormalizeTag(tag)] = imageId.StartsWith("sha256:", StringComparison.Ordinal) ? imageId[7..] : imageId;
            // A cached rebuild re-tags what the tags already name: nothing to write (and fsync).
            if (updated.Count == _tags.Count && updated.All(t => _tags.TryGetValue(t.Key, out var id) && id == t.Value)) return;
            SaveTags(updated);
        }
    }

    // ------------------------------------------------------------------ build cache

    private string CacheDirectory => Path.Combine(_root, "buildcache");

    private static string CacheFile(string dir, string parentId, string key) =>
        Path.Combine(dir, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(parentId + "\n" + key))).ToLowerInvariant());

    /// <summary>The image an earlier build made from <paramref name="parentId"/> with the step <paramref name="key"/>
    /// (instruction, build args, content hash of what was copied), when it still exists.</summary>
    public ImageRecord? FindCached(string parentId, string key)
    {
        string file = CacheFile(CacheDirectory, parentId, key);
        return File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } id ? Find(id) : null;
    }

    public void RememberCached(string parentId, string key, string imageId)
    {
        Directory.CreateDirectory(CacheDirectory);
        WriteAtomic(CacheFile(CacheDirectory, parentId, key), Encoding.ASCII.GetBytes(imageId));
    }

    /// <summary>Forgets every cached step, then removes the step images only the cache kept (untagged, no child, no
    /// container of <paramref name="inUse"/>); returns their ids and the bytes of the layers that went with them.</summary>
    public (IReadOnlyList<string> Deleted, long Reclaimed) PruneCache(Func<string, bool> inUse)
    {
        if (!Directory.Exists(CacheDirectory)) return ([], 0);
        var cached = new HashSet<string>();
        foreach (string file in Directory.EnumerateFiles(CacheDirectory))
        {
            if (TryRead(file)?.Trim() is { Length: > 0 } id) cached.Add(id.StartsWith("sha256:", StringComparison.Ordinal) ? id : "sha256:" + id);
            File.Delete(file);
        }
        long before = StoredLayerBytes();
        var removed = PruneUnused(id => inUse(id) || !cached.Contains(id), all: false);
        return (removed.Where(r => r.Deleted is not null).Select(r => r.Deleted!).ToList(), before - StoredLayerBytes());
    }

    private long StoredLayerBytes() => List().SelectMany(i => i.LayerDiffIds).Distinct().Sum(LayerSize);

    /// <summary>`docker image prune`: untagged images (every image with <paramref name="all"/>) that no other image
    /// names as parent and no container uses, removed until none is left; their tags and ids in Docker's order.</summary>
    public IReadOnlyList<ImageDeleteItem> PruneUnused(Func<string, bool> inUse, bool all)
    {
        var removed = new List<ImageDeleteItem>();
        while (true)
        {
            var images = List();
            var parents = images.Select(i => i.Parent).Where(p => p.Length > 0).ToHashSet();
            var victims = images.Where(i => (all || i.RepoTags.Count == 0) && !parents.Contains(i.Id) && !inUse(i.Id)).ToList();
            if (victims.Count == 0) return removed;
            lock (_lock)
            {
                var tags = new Dictionary<string, string>(_tags);
                foreach (var image in victims)
                {
                    foreach (string tag in image.RepoTags) { tags.Remove(tag); removed.Add(new ImageDeleteItem(tag, null)); }
                    File.Delete(Path.Combine(Images, image.Id[7..] + ".json"));
                    removed.Add(new ImageDeleteItem(null, image.Id));
                }
                SaveTags(tags);
                RemoveUnusedLayers();
            }
        }
    }
}

public sealed partial class ImageStore
{
    /// <summary>A build context (tar, plain or gzip) unpacked into <paramref name="directory"/> by the layer
    /// extractor: modes kept, every path checked to stay inside.</summary>
    public static async Task ExtractContextAsync(Stream tar, string directory, CancellationToken ct) =>
        await LayerExtractor.ExtractAsync(await Decompress(tar, ct), directory, null, ct);

    /// <summary>A build context (tar, plain or compressed) written uncompressed to <paramref name="file"/>.</summary>
    public static async Task SpoolContextAsync(Stream tar, SafeFileHandle file, CancellationToken ct) =>
        await HandleWriter.CopyAsync(await Decompress(tar, ct), file, ct);
}

public sealed partial class ImageStore
{
    /// <summary>Bytes of one stored layer's regular files (0 when unknown).</summary>
    public long LayerSize(string diffId) =>
        long.TryParse(TryRead(Path.Combine(Layers, diffId[7..], "size")), out long size) ? size : 0;
}
