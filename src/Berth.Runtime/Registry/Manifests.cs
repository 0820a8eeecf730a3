using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Runtime.Images;

namespace Berth.Runtime.Registry;

/// <summary>The manifest and index formats a registry serves: Docker schema 2 and OCI, their media types, and the
/// choice of one platform's manifest from an index.</summary>
public static class MediaTypes
{
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    public const string OciNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

    /// <summary>The Accept header of a manifest request: every format Berth reads, as dockerd sends.</summary>
    public static readonly string[] Accepted = [DockerManifest, DockerManifestList, OciManifest, OciIndex];

    public static bool IsIndex(string? mediaType) => mediaType is DockerManifestList or OciIndex;
    public static bool IsManifest(string? mediaType) => mediaType is DockerManifest or OciManifest;

    public static bool IsLayer(string? mediaType) => mediaType is DockerLayerGzip or OciLayer or OciLayerGzip
        or OciLayerZstd or DockerForeignLayer or OciNondistributableGzip
        or "application/vnd.docker.image.rootfs.diff.tar" or "application/vnd.oci.image.layer.nondistributable.v1.tar";
}

/// <summary>A content descriptor: media type, digest, size, and for index entries the platform.</summary>
public sealed record Descriptor(string MediaType, string Digest, long Size, Platform? Platform = null,
    IReadOnlyList<string>? Urls = null);

/// <summary>os/architecture[/variant].</summary>
public sealed record Platform(string Os, string Architecture, string? Variant = null)
{
    public static readonly Platform Default = new("linux", "amd64");

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>"linux/arm64/v8", "linux/amd64", "linux" (this machine's architecture), as --platform takes them.</summary>
    public static Platform Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return Default;
        var parts = text.Trim().ToLowerInvariant().Split('/');
        if (parts.Length > 3 || parts.Any(p => p.Length == 0))
            throw new ImageException($"\"{text}\": unknown operating system or architecture: invalid argument");
        string arch = parts.Length > 1 ? Normalize(parts[1]) : Default.Architecture;
        string? variant = parts.Length > 2 ? parts[2] : null;
        if (arch == "arm64" && variant == "v8") variant = null;
        return new Platform(parts[0], arch, variant);
    }

    private static string Normalize(string arch) => arch switch
    {
        "x86_64" or "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" => "386",
        _ => arch,
    };

    public bool Matches(Platform other) =>
        Os == other.Os && Architecture == other.Architecture
        && (Variant is null || other.Variant is null || Variant == other.Variant || Architecture == "arm64" && (Variant ?? "v8") == (other.Variant ?? "v8"));
}

/// <summary>An image manifest: its config and layers, bottom first.</summary>
public sealed record ImageManifest(string MediaType, Descriptor Config, IReadOnlyList<Descriptor> Layers);

public static class ManifestParser
{
    private const int MaxDescriptors = 4096;

    /// <summary>The media type of a manifest document: the response's Content-Type, or the document's own
    /// mediaType field, or the shape (OCI manifests may leave it out).</summary>
    public static string MediaTypeOf(JsonNode document, string? contentType)
    {
        string? own = (document["mediaType"] as JsonValue)?.GetValue<string>();
        if (own is not null) return own;
        if (contentType is not null && (MediaTypes.IsIndex(contentType) || MediaTypes.IsManifest(contentType))) return contentType;
        if (document["manifests"] is JsonArray) return MediaTypes.OciIndex;
        if (document["config"] is JsonObject) return MediaTypes.OciManifest;
        int schema = (document["schemaVersion"] as JsonValue)?.GetValue<int>() ?? 0;
        throw new RegistryException(schema == 1
            ? "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Push your image to a registry with a newer manifest format"
            : $"unsupported manifest media type {contentType ?? "(none)"}", RegistryErrorKind.Unsupported);
    }

    public static JsonNode ParseJson(byte[] bytes)
    {
        try { return JsonNode.Parse(bytes) ?? throw new RegistryException("invalid manifest: empty document"); }
        catch (JsonException e) { throw new RegistryException($"invalid manifest: {e.Message}"); }
    }

    public static IReadOnlyList<Descriptor> IndexEntries(JsonNode index) =>
        (index["manifests"] as JsonArray ?? []).Take(MaxDescriptors).Select(ReadDescriptor).ToList();

    public static ImageManifest Manifest(JsonNode document, string mediaType)
    {
        var config = ReadDescriptor(document["config"]);
        var layers = (document["layers"] as JsonArray ?? []).Select(ReadDescriptor).ToList();
        if (layers.Count > MaxDescriptors) throw new RegistryException($"invalid manifest: {layers.Count} layers");
        foreach (var layer in layers)
            if (!MediaTypes.IsLayer(layer.MediaType))
                throw new RegistryException($"unsupported layer media type {layer.MediaType}", RegistryErrorKind.Unsupported);
        return new ImageManifest(mediaType, config, layers);
    }

    /// <summary>The entry for <paramref name="wanted"/>, or a clear error naming what the index offers.</summary>
    public static Descriptor Select(IReadOnlyList<Descriptor> entries, Platform wanted, string reference)
    {
        var candidates = entries.Where(e => e.Platform is not null && wanted.Matches(e.Platform)
            && MediaTypes.IsManifest(e.MediaType)).ToList();
        // An exact variant first; then the first match, as containerd's platform matcher orders them.
        var best = candidates.FirstOrDefault(c => c.Platform!.Variant == wanted.Variant) ?? candidates.FirstOrDefault();
        return best ?? throw new RegistryException(
            $"no matching manifest for {wanted} in the manifest list entries (offered: {string.Join(", ", entries.Where(e => e.Platform is not null).Select(e => e.Platform!.ToString()))})",
            RegistryErrorKind.NotFound);
    }

    private static Descriptor ReadDescriptor(JsonNode? node)
    {
        string? digest = (node?["digest"] as JsonValue)?.GetValue<string>();
        if (digest is null || !ImageReference.DigestPattern().IsMatch(digest))
            throw new RegistryException($"invalid manifest: unsupported or malformed digest \"{digest}\"", RegistryErrorKind.Unsupported);
        long size = (node!["size"] as JsonValue)?.GetValue<long>() ?? -1;
        if (size < 0) throw new RegistryException($"invalid manifest: descriptor {digest} has no size");
        string mediaType = (node["mediaType"] as JsonValue)?.GetValue<string>() ?? "";
        Platform? platform = node["platform"] is JsonObject p
            ? new Platform(p["os"]?.GetValue<string>() ?? "", p["architecture"]?.GetValue<string>() ?? "", p["variant"]?.GetValue<string>())
            : null;
        var urls = (node["urls"] as JsonArray)?.Select(u => u?.GetValue<string>() ?? "").ToList();
        return new Descriptor(mediaType, digest, size, platform, urls);
    }
}

public enum RegistryErrorKind { Other, NotFound, Unauthorized, Unsupported, DigestMismatch, Unreachable }

/// <summary>A registry operation that failed; the kind picks the HTTP status the API answers with.</summary>
public sealed class RegistryException(string message, RegistryErrorKind kind = RegistryErrorKind.Other, Exception? inner = null)
    : Exception(message, inner)
{
    public RegistryErrorKind Kind { get; } = kind;
}
