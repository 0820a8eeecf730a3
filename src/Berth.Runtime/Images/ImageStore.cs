using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Runtime.Images;

/// <summary>Content-addressed images: layers extracted once per diff id under layers/&lt;hex&gt;/diff, image configs under
/// images/&lt;id hex&gt;.json (the id is the sha256 of those bytes), tags in repositories.json. Every write is a temp
/// file or directory renamed into place, so a SIGKILL leaves the store consistent.</summary>
public sealed partial class ImageStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never };

    private readonly string _root;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly ImageStoreHooks _hooks;
    private Dictionary<string, string> _tags;

    public ImageStore(string root, ILogger<ImageStore>? logger = null, ImageStoreHooks? hooks = null)
    {
        _root = root;
        _logger = logger ?? NullLogger<ImageStore>.Instance;
        _hooks = hooks ?? new ImageStoreHooks();
        foreach (string dir in new[] { Layers, Images, Temp }) Directory.CreateDirectory(dir);
        foreach (string stale in Directory.EnumerateFileSystemEntries(Temp))
            try { RootedDirectory.RemoveTree(stale); } catch (Exception e) when (e is IOException or LinuxException) { }
        foreach (string stale in Directory.EnumerateFiles(Images, "*.tmp")) File.Delete(stale);
        _tags = File.Exists(TagsFile) ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(TagsFile)) ?? new() : new();
    }

    private string Layers => Path.Combine(_root, "layers");
    private string Images => Path.Combine(_root, "images");
    private string Temp => Path.Combine(_root, "tmp");
    private string TagsFile => Path.Combine(_root, "repositories.json");

    // ------------------------------------------------------------------ import and load
    // Layers are extracted into tmp/ and checked first; only then, under the store's lock (which garbage collection
    // of layers also takes), are they moved into layers/ together with the image record and tags. A failure before
    // that leaves nothing behind.

    public async Task<ImageRecord> ImportAsync(Stream tar, string? repoTag, IReadOnlyList<string> changes, string? message, CancellationToken ct)
    {
        string? tag = repoTag is null ? null : NormalizeTag(repoTag);
        var config = new ImageConfig();
        foreach (string change in changes) ImageChanges.Apply(config, change);
        using var layer = await ExtractLayerAsync(tar, null, null, ct);
        var created = DateTimeOffset.UtcNow;
        string comment = message ?? "Imported from -";
        var document = new ImageDocument
        {
            // The host's platform, as dockerd writes it: a registry and a pulling engine check these.
            Architecture = "amd64", Os = "linux",
            Created = created, Comment = comment, Config = config,
            RootFs = new() { DiffIds = [layer.DiffId] },
            // As dockerd: one history line for the imported layer, with the comment and no CreatedBy.
            History = [new ImageDocument.HistoryEntry { Created = created, Comment = comment }],
        };
        string id = Commit([new PendingImage(document, null, [layer], tag is null ? [] : [tag])])[0];
        return Find(id)!;
    }

    public async Task<IReadOnlyList<string>> LoadAsync(Stream archive, CancellationToken ct)
    {
        string dir = Path.Combine(Temp, "load-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        var pending = new List<PendingImage>();
        try
        {
            await ArchiveUnpacker.UnpackAsync(await Decompress(archive, ct), dir, ct);
            using var root = RootedDirectory.Open(dir);
            var lines = new List<string>();
            if (ArchiveUnpacker.Exists(root, "manifest.json")) await ReadDockerSave(root, pending, lines, ct);
            else if (ArchiveUnpacker.Exists(root, "index.json")) await ReadOciLayout(root, pending, lines, ct);
            else throw new ImageException("invalid archive: neither a docker save archive (manifest.json) nor an OCI image layout (index.json)");
            Commit(pending);
            return lines;
        }
        catch (Exception e) when (e is JsonException || e is InvalidOperationException && e.Source == "System.Text.Json")
        {
            throw new ImageException($"invalid archive: {e.Message}"); // JSON of the wrong shape
        }
        finally
        {
            foreach (var layer in pending.SelectMany(p => p.Layers)) layer.Dispose();
            RootedDirectory.RemoveTree(dir);
        }
    }

    private async Task ReadDockerSave(RootedDirectory root, List<PendingImage> pending, List<string> lines,
        CancellationToken ct)
    {
        var manifest = ParseJson(root, "manifest.json")?.AsArray() ?? throw new ImageException("invalid manifest.json");
        foreach (var entry in manifest)
        {
            string configName = entry?["Config"]?.GetValue<string>()
                ?? throw new ImageException("invalid archive: manifest entry without Config");
            byte[] configBytes = ArchiveUnpacker.ReadAll(root, configName, MaxJsonBytes);
            // Docker names the config by its digest ("<hex>.json", or "blobs/sha256/<hex>" since Docker 25).
            if (DigestInName().Match(configName) is { Success: true } named)
                VerifyDigest(configBytes, "sha256:" + named.Groups[1].Value, configName);
            var document = ParseDocument(configBytes);
            var layerNames = entry!["Layers"]?.AsArray().Select(l => l!.GetValue<string>()).ToList() ?? [];
            var diffIds = ExpectedDiffIds(document, layerNames.Count);
            var image = new PendingImage(document, configBytes, [], []);
            pending.Add(image);
            for (int i = 0; i < layerNames.Count; i++)
            {
                // A "blobs/sha256/<hex>" layer is named by the digest of its bytes; "<id>/layer.tar" names only an id.
                string? blobDigest = layerNames[i].StartsWith("blobs/", StringComparison.Ordinal)
                    && DigestInName().Match(layerNames[i]) is { Success: true } m ? "sha256:" + m.Groups[1].Value : null;
                await using var stream = ArchiveUnpacker.OpenRead(root, layerNames[i]);
                image.Layers.Add(await ExtractLayerAsync(stream, blobDigest, diffIds[i], ct, layerNames[i]));
            }
            var tags = entry["RepoTags"]?.AsArray().Select(t => NormalizeTag(t!.GetValue<string>())).ToList() ?? [];
            image.Tags.AddRange(tags);
            foreach (string tag in tags) lines.Add($"Loaded image: {tag}");
            if (tags.Count == 0) lines.Add($"Loaded image ID: sha256:{Sha256Hex(configBytes)}");
        }
    }

    private async Task ReadOciLayout(RootedDirectory root, List<PendingImage> pending, List<string> lines,
        CancellationToken ct)
    {
        var index = ParseJson(root, "index.json");
        foreach (var descriptor in index?["manifests"]?.AsArray() ?? [])
        {
            var manifest = JsonNode.Parse(ReadBlob(root, descriptor?["digest"]?.GetValue<string>()));
            if (manifest?["manifests"] is JsonArray) continue; // nested index: not supported here
            byte[] configBytes = ReadBlob(root, manifest?["config"]?["digest"]?.GetValue<string>());
            var document = ParseDocument(configBytes);
            var layers = manifest!["layers"]?.AsArray() ?? [];
            var diffIds = ExpectedDiffIds(document, layers.Count);
            var image = new PendingImage(document, configBytes, [], []);
            pending.Add(image);
            for (int i = 0; i < layers.Count; i++)
            {
                string digest = CheckDigest(layers[i]?["digest"]?.GetValue<string>());
                await using var stream = ArchiveUnpacker.OpenRead(root, BlobName(digest));
                image.Layers.Add(await ExtractLayerAsync(stream, digest, diffIds[i], ct, BlobName(digest)));
            }
            var annotations = descriptor!["annotations"];
            string? name = annotations?["io.containerd.image.name"]?.GetValue<string>() ?? annotations?["org.opencontainers.image.ref.name"]?.GetValue<string>();
            if (name is not null && !name.Contains(':') && !name.Contains('/') && annotations?["io.containerd.image.name"] is null) name = null; // a bare ref name is only a tag
            if (name is not null) { image.Tags.Add(NormalizeTag(name)); lines.Add($"Loaded image: {NormalizeTag(name)}"); }
            else lines.Add($"Loaded image ID: sha256:{Sha256Hex(configBytes)}");
        }
    }

    private const int MaxJsonBytes = 16 << 20;

    private static JsonNode? ParseJson(RootedDirectory root, string name)
    {
        try { return JsonNode.Parse(ArchiveUnpacker.ReadAll(root, name, MaxJsonBytes)); }
        catch (JsonException e) { throw new ImageException($"invalid archive: {name}: {e.Message}"); }
    }

    private static ImageDocument ParseDocument(byte[] bytes)
    {
        try
        {
            return JsonSerializer.Deserialize<ImageDocument>(bytes) ?? throw new ImageException("invalid image config");
        }
        catch (JsonException e) { throw new ImageException($"invalid image config: {e.Message}"); }
    }

    /// <summary>The config's rootfs.diff_ids, one per layer the manifest lists.</summary>
    private static List<string> ExpectedDiffIds(ImageDocument document, int layers)
    {
        var diffIds = document.RootFs?.DiffIds ?? [];
        if (diffIds.Count != layers)
            throw new ImageException(
                $"invalid archive: the manifest lists {layers} layers, the image config's rootfs.diff_ids {diffIds.Count}");
        return diffIds.Select(CheckDigest).ToList();
    }

    /// <summary>An OCI blob, its bytes checked against its digest.</summary>
    private static byte[] ReadBlob(RootedDirectory root, string? digest)
    {
        string name = BlobName(CheckDigest(digest));
        byte[] bytes = ArchiveUnpacker.ReadAll(root, name, MaxJsonBytes);
        VerifyDigest(bytes, digest!, name);
        return bytes;
    }

    private static string BlobName(string digest) => "blobs/sha256/" + digest[7..];

    private static string CheckDigest(string? digest) =>
        digest is not null && DigestPattern().IsMatch(digest) ? digest
            : throw new ImageException(
                $"invalid archive: unsupported or malformed digest \"{digest}\" (sha256:<64 hex> expected)");

    private static void VerifyDigest(byte[] bytes, string digest, string name)
    {
        string actual = "sha256:" + Sha256Hex(bytes);
        if (actual != digest)
            throw new ImageException($"invalid archive: {name} has digest {actual}, expected {digest}");
    }

    private static string Sha256Hex(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();

    /// <summary>Extracts a layer tar (plain or gzip) into tmp/, hashing the uncompressed bytes for its diff id and the
    /// stored bytes for the blob digest; both are checked when expected values are given.</summary>
    private async Task<PendingLayer> ExtractLayerAsync(Stream input, string? blobDigest, string? diffId,
        CancellationToken ct, string? name = null)
    {
        var layer = new PendingLayer(Path.Combine(Temp, "layer-" + Guid.NewGuid().ToString("N")[..12]));
        try
        {
            string diff = Path.Combine(layer.Directory, "diff");
            Directory.CreateDirectory(diff);
            await using var raw = new HashingStream(input);
            await using var hashing = new HashingStream(await Decompress(raw, ct));
            await using (var recorder = new TarSplit.Recorder(hashing, Path.Combine(layer.Directory, TarSplit.FileName)))
            {
                layer.Size = await LayerExtractor.ExtractAsync(recorder, diff, _logger, ct, recorder.FileContent);
                await recorder.CopyToAsync(Stream.Null, ct); // trailing blocks count in the digest
                recorder.Complete();
            }
            await raw.CopyToAsync(Stream.Null, ct);
            layer.DiffId = "sha256:" + Convert.ToHexString(hashing.Hash()).ToLowerInvariant();
            string blob = "sha256:" + Convert.ToHexString(raw.Hash()).ToLowerInvariant();
            if (blobDigest is not null && blob != blobDigest)
                throw new ImageException($"invalid archive: layer {name} has digest {blob}, expected {blobDigest}");
            if (diffId is not null && layer.DiffId != diffId)
                throw new ImageException(
                    $"invalid archive: layer {name} has diff id {layer.DiffId}, the image config says {diffId}");
            byte[] size = System.Text.Encoding.ASCII.GetBytes(layer.Size.ToString());
            WriteAtomic(Path.Combine(layer.Directory, "size"), size);
            return layer;
        }
        catch (Exception e)
        {
            layer.Dispose();
            if (ArchiveDecompression.IsCorruptData(e))
                throw new ImageException($"invalid tar archive: {e.Message}");
            if (LayerExtractor.IsNoSpace(e) && e is not ImageException)
                throw new ImageStorageException($"no space left on device: {e.Message}");
            throw;
        }
    }

    /// <summary>Moves the images' layers into place and writes their records and tags, all under the lock that
    /// garbage collection takes: no layer is ever seen without the image that uses it. Returns the image ids.</summary>
    private List<string> Commit(IReadOnlyList<PendingImage> images)
    {
        WriteOutLayers(images);
        lock (_lock)
        {
            var ids = new List<string>();
            var movedLayers = new List<string>();
            var newRecords = new List<string>();
            try
            {
                foreach (var layer in images.SelectMany(i => i.Layers))
                {
                    string final = Path.Combine(Layers, layer.DiffId[7..]);
                    if (Directory.Exists(final)) continue; // shared with an image already here
                    Directory.Move(layer.Directory, final);
                    movedLayers.Add(final);
                }
                Interop.FsyncDirectory(Layers);
                _hooks.Checkpoint(ImageStoreHooks.AfterLayersMoved);
                var tags = new Dictionary<string, string>(_tags);
                foreach (var image in images)
                {
                    bool existed = false;
                    string id = SaveDocument(image.Document, image.Original, ref existed);
                    if (!existed) newRecords.Add(Path.Combine(Images, id + ".json"));
                    ids.Add(id);
                    foreach (string tag in image.Tags) tags[tag] = id;
                }
                if (images.Any(i => i.Tags.Count > 0)) SaveTags(tags);
                return ids;
            }
            catch
            {
                // Undo in reverse: records first, so no record ever names a missing layer.
                foreach (string record in newRecords) File.Delete(record);
                foreach (string layer in movedLayers) RootedDirectory.RemoveTree(layer);
                throw;
            }
        }
    }

    /// <summary>The layers' file contents reach the disk before the rename that publishes them (a power loss must not
    /// leave a layer in layers/ with empty or torn files). tmp/ is on the store's filesystem: one syncfs covers them
    /// all, and it runs outside the lock, so readers and garbage collection do not wait for the disk.</summary>
    private void WriteOutLayers(IReadOnlyList<PendingImage> images)
    {
        if (!images.Any(i => i.Layers.Count > 0)) return;
        using var temp = Interop.Open(Temp, Interop.O_RDONLY | Interop.O_DIRECTORY);
        _hooks.SyncFilesystem(temp, Temp);
    }

    /// <summary>An image read from an archive, with its layers extracted into tmp/ and not yet committed.</summary>
    private sealed record PendingImage(ImageDocument Document, byte[]? Original, List<PendingLayer> Layers,
        List<string> Tags);

    /// <summary>A layer extracted into tmp/; removed on disposal unless it was moved into layers/.</summary>
    private sealed class PendingLayer(string directory) : IDisposable
    {
        public string Directory { get; } = directory;
        public string DiffId { get; set; } = "";
        public long Size { get; set; }

        public void Dispose()
        {
            if (Path.Exists(Directory)) RootedDirectory.RemoveTree(Directory);
        }
    }

    private static Task<Stream> Decompress(Stream input, CancellationToken ct) =>
        ArchiveDecompression.OpenAsync(new BufferedStream(input, 65536), ct);

    // ------------------------------------------------------------------ lookup and tags

    public ImageRecord? Find(string reference)
    {
        if (string.IsNullOrEmpty(reference)) return null;
        lock (_lock)
        {
            string hex = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference[7..] : reference;
            if (HexPattern().IsMatch(hex) && File.Exists(Path.Combine(Images, hex + ".json"))) return Load(hex);
            if (TryNormalizeTag(reference) is { } tag && _tags.TryGetValue(tag, out var id)) return Load(id);
            if (FindByDigest(reference) is { } pulled) return Load(pulled);
            if (HexPattern().IsMatch(hex) && hex.Length < 64)
            {
                var matches = Directory.EnumerateFiles(Images, hex + "*.json").Take(2).ToList();
                if (matches.Count == 1) return Load(Path.GetFileNameWithoutExtension(matches[0]));
            }
            return null;
        }
    }

    public IReadOnlyList<ImageRecord> List()
    {
        lock (_lock)
            return Directory.EnumerateFiles(Images, "*.json").Select(f => Load(Path.GetFileNameWithoutExtension(f))).OfType<ImageRecord>().ToList();
    }

    public void Tag(string sourceReference, string repo, string? tag)
    {
        var image = Find(sourceReference) ?? throw new ImageNotFoundException($"No such image: {sourceReference}");
        SetTag(NormalizeTag(string.IsNullOrEmpty(tag) ? repo : $"{repo}:{tag}"), image.Id[7..]);
    }

    public IReadOnlyList<ImageDeleteItem> Remove(string reference, bool force, Func<string, string?> usedBy)
    {
        var image = Find(reference) ?? throw new ImageNotFoundException($"No such image: {reference}");
        lock (_lock)
        {
            string hex = image.Id[7..];
            if (RemoveDigestReference(reference, hex, force, usedBy) is { } byDigest) return byDigest;
            var tags = _tags.Where(kv => kv.Value == hex).Select(kv => kv.Key).ToList();
            string? tag = TryNormalizeTag(reference);
            bool byTag = tag is not null && tags.Contains(tag);
            string? container = usedBy(image.Id);
            if (byTag && tags.Count > 1)
            {
                var untagged = new Dictionary<string, string>(_tags);
                untagged.Remove(tag!);
                SaveTags(untagged);
                return [new ImageDeleteItem(tag, null)];
            }
            if (container is not null && !force)
                throw new ImageConflictException(byTag
                    ? $"conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {hex[..12]}"
                    : $"conflict: unable to delete {hex[..12]} (must be forced) - image is being used by stopped container {container}");
            if (!byTag && tags.Count > 1 && !force)
                throw new ImageConflictException($"conflict: unable to delete {hex[..12]} (must be forced) - image is referenced in multiple repositories");
            var result = tags.Select(t => new ImageDeleteItem(t, null)).ToList();
            var remaining = new Dictionary<string, string>(_tags);
            foreach (string t in tags) remaining.Remove(t);
            SaveTags(remaining);
            if (container is null)
            {
                File.Delete(Path.Combine(Images, hex + ".json"));
                result.AddRange(RepoDigestsOf(hex).Select(d => new ImageDeleteItem(d, null)));
                ForgetDigests(hex);
                result.Add(new ImageDeleteItem(null, image.Id));
                RemoveUnusedLayers();
            }
            return result;
        }
    }

    public IReadOnlyList<string> LayerDirectories(ImageRecord image) =>
        image.LayerDiffIds.Reverse().Select(d => Path.Combine(Layers, d[7..], "diff")).ToList();

    /// <summary>Called under the lock only: layers an import is committing are moved in under the same lock, together
    /// with the record that uses them.</summary>
    private void RemoveUnusedLayers()
    {
        var used = List().SelectMany(i => i.LayerDiffIds).Select(d => d[7..]).ToHashSet();
        foreach (string dir in Directory.EnumerateDirectories(Layers))
            if (!used.Contains(Path.GetFileName(dir)) && !IsGuarded(Path.GetFileName(dir))) RootedDirectory.RemoveTree(dir);
    }

    private string SaveDocument(ImageDocument document, byte[]? original, ref bool existed)
    {
        byte[] bytes = original ?? JsonSerializer.SerializeToUtf8Bytes(document, Json);
        string hex = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        string path = Path.Combine(Images, hex + ".json");
        existed = File.Exists(path);
        if (!existed) WriteAtomic(path, bytes);
        return hex;
    }

    private ImageRecord? Load(string hex)
    {
        string path = Path.Combine(Images, hex + ".json");
        if (!File.Exists(path)) return null;
        var document = JsonSerializer.Deserialize<ImageDocument>(File.ReadAllBytes(path))!;
        var diffIds = document.RootFs?.DiffIds ?? [];
        long size = diffIds.Sum(d => long.TryParse(TryRead(Path.Combine(Layers, d[7..], "size")), out long s) ? s : 0);
        return new ImageRecord
        {
            Id = "sha256:" + hex,
            RepoTags = _tags.Where(kv => kv.Value == hex).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList(),
            RepoDigests = RepoDigestsOf(hex),
            Comment = document.Comment ?? "",
            Created = document.Created ?? DateTimeOffset.UnixEpoch,
            DockerVersion = document.DockerVersion ?? "",
            Author = document.Author ?? "",
            Config = document.Config ?? new ImageConfig(),
            Architecture = document.Architecture ?? "amd64",
            Os = document.Os ?? "linux",
            Size = size,
            LayerDiffIds = diffIds,
            Parent = document.Parent ?? "",
            History = document.History?.Select(h => new ImageHistoryLine(h.Created ?? DateTimeOffset.UnixEpoch, h.CreatedBy ?? "",
                h.Comment ?? "", h.EmptyLayer)).ToList() ?? [],
        };
    }

    private static string? TryRead(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    private void SetTag(string tag, string hex)
    {
        lock (_lock)
        {
            string id = hex.StartsWith("sha256:", StringComparison.Ordinal) ? hex[7..] : hex;
            var tags = new Dictionary<string, string>(_tags) { [tag] = id };
            SaveTags(tags);
        }
    }

    /// <summary>Writes the tags index, then makes it the current one (a failed write changes nothing).</summary>
    private void SaveTags(Dictionary<string, string> tags)
    {
        WriteAtomic(TagsFile, JsonSerializer.SerializeToUtf8Bytes(tags));
        _tags = tags;
    }

    /// <summary>temp file, fsync, rename over, fsync of the directory: after a crash the file is old or new,
    /// whole.</summary>
    private static void WriteAtomic(string path, byte[] bytes)
    {
        string temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
            {
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            Interop.FsyncDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception e) when (e is IOException or LinuxException)
        {
            File.Delete(temp);
            if (LayerExtractor.IsNoSpace(e))
                throw new ImageStorageException($"no space left on device writing {path}: {e.Message}");
            throw;
        }
    }

    /// <summary>"webapp" → "webapp:latest"; "docker.io/library/webapp:v1" → "webapp:v1"; invalid → ImageException.</summary>
    public static string NormalizeTag(string reference) =>
        TryNormalizeTag(reference) ?? throw new ImageException($"invalid reference format: repository name ({reference}) must be lowercase and valid");

    private static string? TryNormalizeTag(string reference)
    {
        string r = reference;
        foreach (string prefix in new[] { "docker.io/library/", "index.docker.io/library/", "docker.io/" })
            if (r.StartsWith(prefix, StringComparison.Ordinal)) { r = r[prefix.Length..]; break; }
        int slash = r.LastIndexOf('/');
        if (r.IndexOf(':', slash + 1) < 0) r += ":latest";
        return ReferencePattern().IsMatch(r) ? r : null;
    }

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestPattern();

    [GeneratedRegex("^(?:blobs/sha256/)?([0-9a-f]{64})(?:\\.json)?$")]
    private static partial Regex DigestInName();

    [GeneratedRegex("^[0-9a-f]{1,64}$")]
    private static partial Regex HexPattern();

    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex ReferencePattern();
}

/// <summary>Reads through to an inner stream while hashing what passes (and telling <paramref name="counted"/> how
/// many bytes each read brought, for progress).</summary>
internal sealed class HashingStream(Stream inner, Action<int>? counted = null) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    private byte[]? _final;

    /// <summary>The hash of everything read; also after disposal (an HTTP upload disposes its body before the
    /// digest is asked for).</summary>
    public byte[] Hash() => _final ??= _hash.GetHashAndReset();
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        counted?.Invoke(n);
        return n;
    }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct);
        _hash.AppendData(buffer.Span[..n]);
        counted?.Invoke(n);
        return n;
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    protected override void Dispose(bool disposing)
    {
        if (disposing) { _final ??= _hash.GetHashAndReset(); _hash.Dispose(); inner.Dispose(); }
        base.Dispose(disposing);
    }
}
