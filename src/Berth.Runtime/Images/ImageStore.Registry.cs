using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Berth.Linux;
using Berth.Runtime.Files;

namespace Berth.Runtime.Images;

/// <summary>What pulls and pushes need of the store: layers committed one by one as they arrive (so a pull cut short
/// keeps what it finished and the next one skips it), the registry blob each layer came from, repository digests
/// ("name@sha256:...") and the manifests they name.</summary>
public sealed partial class ImageStore
{
    private Dictionary<string, string>? _digests;
    private readonly Dictionary<string, int> _pulling = new();

    private string DigestsFile => Path.Combine(_root, "repodigests.json");
    private string Manifests => Path.Combine(_root, "manifests");

    /// <summary>repo@sha256:... → image id hex, loaded on first use.</summary>
    private Dictionary<string, string> Digests =>
        _digests ??= File.Exists(DigestsFile) ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(DigestsFile)) ?? new() : new();

    public bool HasLayer(string diffId) => Directory.Exists(Path.Combine(Layers, diffId[7..], "diff"));

    /// <summary>Extracts a registry blob as one layer, checks its digest and diff id, and moves it into the store at
    /// once, guarded from garbage collection until <see cref="ReleasePull"/>.</summary>
    public async Task ExtractPulledLayerAsync(Stream blob, LayerBlob source, string diffId, CancellationToken ct)
    {
        using var layer = await ExtractLayerAsync(blob, source.Digest, diffId, ct, source.Digest);
        WriteAtomic(Path.Combine(layer.Directory, BlobFile), JsonSerializer.SerializeToUtf8Bytes(source));
        // As import and load: the contents reach the disk before the rename publishes the layer (outside the lock).
        using (var pending = Interop.Open(layer.Directory, Interop.O_RDONLY | Interop.O_DIRECTORY))
            _hooks.SyncFilesystem(pending, layer.Directory);
        lock (_lock)
        {
            string final = Path.Combine(Layers, diffId[7..]);
            Guard(diffId[7..]);
            if (Directory.Exists(final)) return; // another pull was quicker
            Directory.Move(layer.Directory, final);
            Interop.FsyncDirectory(Layers);
        }
    }

    /// <summary>Keeps layers a pull has found present from garbage collection while it runs.</summary>
    public void GuardLayer(string diffId)
    {
        lock (_lock) Guard(diffId[7..]);
    }

    private void Guard(string hex) => _pulling[hex] = _pulling.GetValueOrDefault(hex) + 1;

    public void ReleasePull(IEnumerable<string> diffIds)
    {
        lock (_lock)
            foreach (string hex in diffIds.Select(d => d[7..]))
                if (_pulling.TryGetValue(hex, out int n)) { if (n <= 1) _pulling.Remove(hex); else _pulling[hex] = n - 1; }
    }

    private bool IsGuarded(string hex) => _pulling.ContainsKey(hex);

    /// <summary>Writes the pulled image's config (its id), tag and repository digest, and keeps the manifest bytes so a
    /// push of the same image sends them unchanged. Every layer must be in the store already.</summary>
    public ImageRecord CommitPulled(byte[] configBytes, string? tag, string repoDigest, byte[] manifest, string manifestType)
    {
        var document = ParseDocument(configBytes);
        foreach (string diffId in document.RootFs?.DiffIds ?? [])
            if (!HasLayer(diffId)) throw new ImageException($"layer {diffId} of the pulled image is missing");
        Directory.CreateDirectory(Manifests);
        string manifestHex = repoDigest[(repoDigest.LastIndexOf('@') + 8)..];
        WriteAtomic(Path.Combine(Manifests, manifestHex + ".json"), manifest);
        WriteAtomic(Path.Combine(Manifests, manifestHex + ".type"), System.Text.Encoding.ASCII.GetBytes(manifestType));
        string id = Commit([new PendingImage(document, configBytes, [], tag is null ? [] : [tag])])[0];
        AddRepoDigest(repoDigest, id);
        return Find(id)!;
    }

    public void AddRepoDigest(string repoDigest, string imageId)
    {
        lock (_lock)
        {
            var digests = new Dictionary<string, string>(Digests);
            string hex = imageId.StartsWith("sha256:", StringComparison.Ordinal) ? imageId[7..] : imageId;
            // One digest per repository and image, as dockerd keeps them: a newer manifest replaces the older.
            string repo = repoDigest[..repoDigest.LastIndexOf('@')];
            foreach (string old in digests.Where(kv => kv.Value == hex && kv.Key.StartsWith(repo + "@", StringComparison.Ordinal)).Select(kv => kv.Key).ToList())
                digests.Remove(old);
            digests[repoDigest] = hex;
            WriteAtomic(DigestsFile, JsonSerializer.SerializeToUtf8Bytes(digests));
            _digests = digests;
        }
    }

    private IReadOnlyList<string> RepoDigestsOf(string hex) =>
        Digests.Where(kv => kv.Value == hex).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();

    /// <summary>"name@sha256:..." (familiar or full name) → the image's id hex, when the store knows that digest.</summary>
    private string? FindByDigest(string reference)
    {
        int at = reference.LastIndexOf('@');
        if (at <= 0) return null;
        string? familiar;
        try { familiar = ImageReference.ParseRemote(reference).ToString(); }
        catch (ImageException) { return null; }
        return Digests.TryGetValue(familiar, out var hex) ? hex : null;
    }

    /// <summary>`rmi name@sha256:...` of an image with other references only forgets that digest (as dockerd); the
    /// last reference removes the image like its id (null here).</summary>
    private List<ImageDeleteItem>? RemoveDigestReference(string reference, string hex, bool force, Func<string, string?> usedBy)
    {
        if (!reference.Contains('@') || FindByDigest(reference) is null) return null;
        string key = ImageReference.ParseRemote(reference).ToString();
        bool others = _tags.ContainsValue(hex) || Digests.Count(kv => kv.Value == hex) > 1;
        if (!others) return null;
        ForgetDigests(hex, [key]);
        return [new ImageDeleteItem(key, null)];
    }

    private void ForgetDigests(string hex, IEnumerable<string>? only = null)
    {
        var digests = new Dictionary<string, string>(Digests);
        foreach (string key in (only ?? digests.Where(kv => kv.Value == hex).Select(kv => kv.Key)).ToList()) digests.Remove(key);
        if (digests.Count == Digests.Count) return;
        WriteAtomic(DigestsFile, JsonSerializer.SerializeToUtf8Bytes(digests));
        _digests = digests;
    }

    /// <summary>The manifest a repository digest names, with its media type, when kept.</summary>
    public (byte[] Bytes, string MediaType)? StoredManifest(string digest)
    {
        string hex = digest[7..];
        string path = Path.Combine(Manifests, hex + ".json");
        if (!File.Exists(path)) return null;
        return (File.ReadAllBytes(path), File.ReadAllText(Path.Combine(Manifests, hex + ".type")).Trim());
    }

    // ------------------------------------------------------------------ layers as registry blobs

    private const string BlobFile = "blob.json";

    /// <summary>The registry blob a layer was pulled as (or pushed as), when known.</summary>
    public LayerBlob? BlobOf(string diffId)
    {
        string path = Path.Combine(Layers, diffId[7..], BlobFile);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<LayerBlob>(File.ReadAllBytes(path)); }
        catch (JsonException) { return null; }
    }

    /// <summary>Remembers where a layer's blob lives (after a push), so the next push can skip or mount it.</summary>
    public void RememberBlob(string diffId, LayerBlob blob)
    {
        string dir = Path.Combine(Layers, diffId[7..]);
        lock (_lock)
            if (Directory.Exists(dir)) WriteAtomic(Path.Combine(dir, BlobFile), JsonSerializer.SerializeToUtf8Bytes(blob));
    }

    /// <summary>The layer's content as a tar stream (whiteouts turned back into .wh. entries), for a push.</summary>
    public async Task WriteLayerTarAsync(string diffId, Stream output, CancellationToken ct)
    {
        string layer = Path.Combine(Layers, diffId[7..]);
        if (await TarSplit.TryWriteAsync(layer, output, ct)) return;
        using var root = RootedDirectory.Open(Path.Combine(layer, "diff"));
        await using var archive = new DirectoryArchive(output, new ArchiveOptions { OverlayWhiteouts = true });
        await archive.AddTreeAsync(root.Handle, "", ct);
    }

    /// <summary>The stored config bytes of an image: what a push uploads as its config blob.</summary>
    public byte[] ConfigBytes(ImageRecord image) => File.ReadAllBytes(Path.Combine(Images, image.Id[7..] + ".json"));

    internal static string Sha256Of(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>A layer's registry blob: digest, media type, size, the repositories ("host/path") known to hold it, and
/// the digest of its uncompressed tar when that is not the layer's own diff id (a layer imported from a tar Berth no
/// longer has is written anew for a push: same files, other bytes).</summary>
public sealed record LayerBlob(
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("mediaType")] string MediaType,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sources")] IReadOnlyList<string> Sources,
    [property: JsonPropertyName("diffId")] string? DiffId = null);
