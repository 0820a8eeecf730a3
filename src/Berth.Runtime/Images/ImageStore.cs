using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Linux;
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
    private Dictionary<string, string> _tags;

    public ImageStore(string root, ILogger<ImageStore>? logger = null)
    {
        _root = root;
        _logger = logger ?? NullLogger<ImageStore>.Instance;
        foreach (string dir in new[] { Layers, Images, Temp }) Directory.CreateDirectory(dir);
        foreach (string stale in Directory.EnumerateFileSystemEntries(Temp))
            try { if (Directory.Exists(stale)) Directory.Delete(stale, true); else File.Delete(stale); } catch (IOException) { }
        _tags = File.Exists(TagsFile) ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(TagsFile)) ?? new() : new();
    }

    private string Layers => Path.Combine(_root, "layers");
    private string Images => Path.Combine(_root, "images");
    private string Temp => Path.Combine(_root, "tmp");
    private string TagsFile => Path.Combine(_root, "repositories.json");

    // ------------------------------------------------------------------ import and load

    public async Task<ImageRecord> ImportAsync(Stream tar, string? repoTag, IReadOnlyList<string> changes, string? message, CancellationToken ct)
    {
        string? tag = repoTag is null ? null : NormalizeTag(repoTag);
        var config = new ImageConfig();
        foreach (string change in changes) ImageChanges.Apply(config, change);
        var (diffId, size) = await ExtractLayerAsync(tar, ct);
        var document = new ImageDocument
        {
            Created = DateTimeOffset.UtcNow, Comment = message ?? "Imported from -", Config = config,
            RootFs = new() { DiffIds = [diffId] },
        };
        string id = SaveDocument(document);
        if (tag is not null) SetTag(tag, id);
        return Find(id)!;
    }

    public async Task<IReadOnlyList<string>> LoadAsync(Stream archive, CancellationToken ct)
    {
        string dir = Path.Combine(Temp, "load-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        try
        {
            try { await TarFile.ExtractToDirectoryAsync(await Decompress(archive, ct), dir, overwriteFiles: true, ct); }
            catch (Exception e) when (e is InvalidDataException or FormatException or IOException)
            {
                throw new ImageException($"invalid archive: {e.Message}");
            }
            var lines = new List<string>();
            if (File.Exists(Path.Combine(dir, "manifest.json"))) await LoadDockerSave(dir, lines, ct);
            else if (File.Exists(Path.Combine(dir, "index.json"))) await LoadOciLayout(dir, lines, ct);
            else throw new ImageException("invalid archive: neither a docker save archive (manifest.json) nor an OCI image layout (index.json)");
            return lines;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private async Task LoadDockerSave(string dir, List<string> lines, CancellationToken ct)
    {
        var manifest = JsonNode.Parse(File.ReadAllBytes(Path.Combine(dir, "manifest.json")))?.AsArray()
            ?? throw new ImageException("invalid manifest.json");
        foreach (var entry in manifest)
        {
            string configPath = Inside(dir, entry?["Config"]?.GetValue<string>() ?? throw new ImageException("manifest entry without Config"));
            var document = JsonSerializer.Deserialize<ImageDocument>(File.ReadAllBytes(configPath)) ?? throw new ImageException("invalid image config");
            foreach (var layer in entry!["Layers"]?.AsArray() ?? [])
            {
                await using var stream = File.OpenRead(Inside(dir, layer!.GetValue<string>()));
                await ExtractLayerAsync(stream, ct);
            }
            string id = SaveDocument(document, File.ReadAllBytes(configPath));
            var tags = entry["RepoTags"]?.AsArray().Select(t => t!.GetValue<string>()).ToList() ?? [];
            foreach (string tag in tags) { SetTag(NormalizeTag(tag), id); lines.Add($"Loaded image: {NormalizeTag(tag)}"); }
            if (tags.Count == 0) lines.Add($"Loaded image ID: {id}");
        }
    }

    private async Task LoadOciLayout(string dir, List<string> lines, CancellationToken ct)
    {
        var index = JsonNode.Parse(File.ReadAllBytes(Path.Combine(dir, "index.json")));
        foreach (var descriptor in index?["manifests"]?.AsArray() ?? [])
        {
            var manifest = JsonNode.Parse(File.ReadAllBytes(Blob(dir, descriptor!["digest"]!.GetValue<string>())));
            if (manifest?["manifests"] is JsonArray) continue; // nested index: not supported here
            string configPath = Blob(dir, manifest!["config"]!["digest"]!.GetValue<string>());
            var document = JsonSerializer.Deserialize<ImageDocument>(File.ReadAllBytes(configPath)) ?? throw new ImageException("invalid image config");
            foreach (var layer in manifest["layers"]?.AsArray() ?? [])
            {
                await using var stream = File.OpenRead(Blob(dir, layer!["digest"]!.GetValue<string>()));
                await ExtractLayerAsync(stream, ct);
            }
            string id = SaveDocument(document, File.ReadAllBytes(configPath));
            var annotations = descriptor["annotations"];
            string? name = annotations?["io.containerd.image.name"]?.GetValue<string>() ?? annotations?["org.opencontainers.image.ref.name"]?.GetValue<string>();
            if (name is not null && !name.Contains(':') && !name.Contains('/') && annotations?["io.containerd.image.name"] is null) name = null; // a bare ref name is only a tag
            if (name is not null) { SetTag(NormalizeTag(name), id); lines.Add($"Loaded image: {NormalizeTag(name)}"); }
            else lines.Add($"Loaded image ID: {id}");
        }
    }

    private static string Blob(string dir, string digest) => Inside(dir, Path.Combine("blobs", digest.Replace(':', '/')));

    private static string Inside(string dir, string relative)
    {
        string full = Path.GetFullPath(Path.Combine(dir, relative));
        if (!full.StartsWith(dir + "/", StringComparison.Ordinal)) throw new ImageException($"invalid archive: {relative} points outside it");
        if (!File.Exists(full)) throw new ImageException($"invalid archive: {relative} is missing");
        return full;
    }

    /// <summary>Extracts a layer tar (plain or gzip), hashing the uncompressed bytes for its diff id; stored once.</summary>
    private async Task<(string DiffId, long Size)> ExtractLayerAsync(Stream input, CancellationToken ct)
    {
        string temp = Path.Combine(Temp, "layer-" + Guid.NewGuid().ToString("N")[..12]);
        string diff = Path.Combine(temp, "diff");
        Directory.CreateDirectory(diff);
        try
        {
            await using var hashing = new HashingStream(await Decompress(input, ct));
            long size = await LayerExtractor.ExtractAsync(hashing, diff, null, ct);
            await hashing.CopyToAsync(Stream.Null, ct); // trailing blocks count in the digest
            string hex = Convert.ToHexString(hashing.Hash()).ToLowerInvariant();
            string final = Path.Combine(Layers, hex);
            lock (_lock)
            {
                if (!Directory.Exists(final)) Directory.Move(temp, final);
            }
            File.WriteAllText(Path.Combine(final, "size"), size.ToString());
            return ("sha256:" + hex, size);
        }
        catch (InvalidDataException e) { throw new ImageException($"invalid tar archive: {e.Message}"); }
        catch (FormatException e) { throw new ImageException($"invalid tar archive: {e.Message}"); }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    private static async Task<Stream> Decompress(Stream input, CancellationToken ct)
    {
        var buffered = new BufferedStream(input, 65536);
        var head = new byte[2];
        int read = 0;
        // Peek at the gzip magic without consuming it.
        var peek = new MemoryStream();
        while (read < 2)
        {
            int n = await buffered.ReadAsync(head.AsMemory(read, 2 - read), ct);
            if (n == 0) break;
            read += n;
        }
        peek.Write(head, 0, read);
        peek.Position = 0;
        Stream joined = new ConcatStream(peek, buffered);
        return read == 2 && head[0] == 0x1f && head[1] == 0x8b ? new GZipStream(joined, CompressionMode.Decompress) : joined;
    }

    // ------------------------------------------------------------------ lookup and tags

    public ImageRecord? Find(string reference)
    {
        if (string.IsNullOrEmpty(reference)) return null;
        lock (_lock)
        {
            string hex = reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference[7..] : reference;
            if (HexPattern().IsMatch(hex) && File.Exists(Path.Combine(Images, hex + ".json"))) return Load(hex);
            if (TryNormalizeTag(reference) is { } tag && _tags.TryGetValue(tag, out var id)) return Load(id);
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
            var tags = _tags.Where(kv => kv.Value == hex).Select(kv => kv.Key).ToList();
            string? tag = TryNormalizeTag(reference);
            bool byTag = tag is not null && tags.Contains(tag);
            string? container = usedBy(image.Id);
            if (byTag && tags.Count > 1)
            {
                _tags.Remove(tag!);
                SaveTags();
                return [new ImageDeleteItem(tag, null)];
            }
            if (container is not null && !force)
                throw new ImageConflictException(byTag
                    ? $"conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {hex[..12]}"
                    : $"conflict: unable to delete {hex[..12]} (must be forced) - image is being used by stopped container {container}");
            if (!byTag && tags.Count > 1 && !force)
                throw new ImageConflictException($"conflict: unable to delete {hex[..12]} (must be forced) - image is referenced in multiple repositories");
            var result = tags.Select(t => new ImageDeleteItem(t, null)).ToList();
            foreach (string t in tags) _tags.Remove(t);
            SaveTags();
            if (container is null)
            {
                File.Delete(Path.Combine(Images, hex + ".json"));
                result.Add(new ImageDeleteItem(null, image.Id));
                RemoveUnusedLayers();
            }
            return result;
        }
    }

    public IReadOnlyList<string> LayerDirectories(ImageRecord image) =>
        image.LayerDiffIds.Reverse().Select(d => Path.Combine(Layers, d[7..], "diff")).ToList();

    private void RemoveUnusedLayers()
    {
        var used = List().SelectMany(i => i.LayerDiffIds).Select(d => d[7..]).ToHashSet();
        foreach (string dir in Directory.EnumerateDirectories(Layers))
            if (!used.Contains(Path.GetFileName(dir))) Directory.Delete(dir, recursive: true);
    }

    private string SaveDocument(ImageDocument document, byte[]? original = null)
    {
        byte[] bytes = original ?? JsonSerializer.SerializeToUtf8Bytes(document, Json);
        string hex = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        string path = Path.Combine(Images, hex + ".json");
        if (!File.Exists(path))
        {
            string temp = path + ".tmp";
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
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
            Comment = document.Comment ?? "",
            Created = document.Created ?? DateTimeOffset.UnixEpoch,
            DockerVersion = document.DockerVersion ?? "",
            Author = document.Author ?? "",
            Config = document.Config ?? new ImageConfig(),
            Architecture = document.Architecture ?? "amd64",
            Os = document.Os ?? "linux",
            Size = size,
            LayerDiffIds = diffIds,
        };
    }

    private static string? TryRead(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;

    private void SetTag(string tag, string hex)
    {
        lock (_lock)
        {
            _tags[tag] = hex.StartsWith("sha256:", StringComparison.Ordinal) ? hex[7..] : hex;
            SaveTags();
        }
    }

    private void SaveTags()
    {
        string temp = TagsFile + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(_tags));
        File.Move(temp, TagsFile, overwrite: true);
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

    [GeneratedRegex("^[0-9a-f]{1,64}$")]
    private static partial Regex HexPattern();

    [GeneratedRegex(@"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex ReferencePattern();
}

/// <summary>Reads through to an inner stream while hashing what passes.</summary>
internal sealed class HashingStream(Stream inner) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public byte[] Hash() => _hash.GetHashAndReset();
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        return n;
    }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct);
        _hash.AppendData(buffer.Span[..n]);
        return n;
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing)
    {
        if (disposing) { _hash.Dispose(); inner.Dispose(); }
        base.Dispose(disposing);
    }
}

/// <summary>Two streams read one after the other (the peeked bytes, then the rest).</summary>
internal sealed class ConcatStream(Stream first, Stream second) : Stream
{
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override int Read(Span<byte> buffer)
    {
        int n = first.Read(buffer);
        return n > 0 ? n : second.Read(buffer);
    }
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await first.ReadAsync(buffer, ct);
        return n > 0 ? n : await second.ReadAsync(buffer, ct);
    }
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
