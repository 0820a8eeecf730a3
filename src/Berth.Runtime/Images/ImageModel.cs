using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Berth.Runtime.Images;

/// <summary>Serialized as {} (Docker's struct{} values in ExposedPorts and Volumes).</summary>
public sealed class EmptyObject { }

/// <summary>An image's runtime config with Docker's JSON names; null wherever Docker shows null.</summary>
public sealed class ImageConfig
{
    [JsonPropertyName("Hostname")] public string Hostname { get; set; } = "";
    [JsonPropertyName("Domainname")] public string Domainname { get; set; } = "";
    [JsonPropertyName("User")] public string User { get; set; } = "";
    [JsonPropertyName("AttachStdin")] public bool AttachStdin { get; set; }
    [JsonPropertyName("AttachStdout")] public bool AttachStdout { get; set; }
    [JsonPropertyName("AttachStderr")] public bool AttachStderr { get; set; }

    // Docker omits ExposedPorts, Healthcheck and StopSignal when unset (omitempty) but shows the others as null.
    [JsonPropertyName("ExposedPorts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, EmptyObject>? ExposedPorts { get; set; }

    [JsonPropertyName("Tty")] public bool Tty { get; set; }
    [JsonPropertyName("OpenStdin")] public bool OpenStdin { get; set; }
    [JsonPropertyName("StdinOnce")] public bool StdinOnce { get; set; }
    [JsonPropertyName("Env")] public List<string>? Env { get; set; }
    [JsonPropertyName("Cmd")] public List<string>? Cmd { get; set; }

    [JsonPropertyName("Healthcheck"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public HealthConfig? Healthcheck { get; set; }

    [JsonPropertyName("Image")] public string Image { get; set; } = "";
    [JsonPropertyName("Volumes")] public Dictionary<string, EmptyObject>? Volumes { get; set; }
    [JsonPropertyName("WorkingDir")] public string WorkingDir { get; set; } = "";
    [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; set; }
    [JsonPropertyName("OnBuild")] public List<string>? OnBuild { get; set; }
    [JsonPropertyName("Labels")] public Dictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("StopSignal"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StopSignal { get; set; }

    /// <summary>Fields of loaded images this class does not model (ArgsEscaped, Shell, StopTimeout...), kept as they were.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherFields { get; set; }
}

/// <summary>HEALTHCHECK settings; durations in nanoseconds as Docker stores them, zero meaning "inherit".</summary>
public sealed class HealthConfig
{
    [JsonPropertyName("Test"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Test { get; set; }
    [JsonPropertyName("Interval"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Interval { get; set; }
    [JsonPropertyName("Timeout"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long Timeout { get; set; }
    [JsonPropertyName("StartPeriod"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long StartPeriod { get; set; }
    [JsonPropertyName("StartInterval"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public long StartInterval { get; set; }
    [JsonPropertyName("Retries"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Retries { get; set; }
}

/// <summary>The image config document as stored (Docker/OCI image JSON); the sha256 of its bytes is the image id.</summary>
internal sealed class ImageDocument
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("created"), JsonConverter(typeof(GoTimeConverter))] public DateTimeOffset? Created { get; set; }
    [JsonPropertyName("author"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Author { get; set; }
    [JsonPropertyName("comment"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Comment { get; set; }
    [JsonPropertyName("docker_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? DockerVersion { get; set; }
    [JsonPropertyName("parent"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Parent { get; set; }
    [JsonPropertyName("config")] public ImageConfig? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFsSection? RootFs { get; set; }
    [JsonPropertyName("history"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<HistoryEntry>? History { get; set; }

    public sealed class RootFsSection
    {
        [JsonPropertyName("type")] public string Type { get; set; } = "layers";
        [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; set; }
    }

    public sealed class HistoryEntry
    {
        [JsonPropertyName("created"), JsonConverter(typeof(GoTimeConverter))] public DateTimeOffset? Created { get; set; }
        [JsonPropertyName("author"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Author { get; set; }
        [JsonPropertyName("created_by"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? CreatedBy { get; set; }
        [JsonPropertyName("comment"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Comment { get; set; }
        [JsonPropertyName("empty_layer"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool EmptyLayer { get; set; }
    }

    /// <summary>Go's encoding/json matches keys case-insensitively, so image JSON written by others is read that way.</summary>
    public static readonly JsonSerializerOptions ReadOptions = new() { PropertyNameCaseInsensitive = true };
    public static readonly JsonSerializerOptions WriteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>RFC 3339 times as Go writes them: up to nine fractional digits (truncated to .NET's 100 ns) and "Z".</summary>
internal sealed class GoTimeConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        string text = reader.GetString() ?? "";
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) return parsed;
        // More than seven fractional digits: drop the extra ones.
        int dot = text.IndexOf('.');
        if (dot > 0)
        {
            int end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            if (end - dot - 1 > 7 && DateTimeOffset.TryParse(text[..(dot + 8)] + text[end..], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out parsed))
                return parsed;
        }
        throw new JsonException($"invalid time \"{text}\"");
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        if (value is null) writer.WriteNullValue();
        else writer.WriteStringValue(value.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
    }
}

public sealed record ImageRecord
{
    /// <summary>"sha256:&lt;64 hex&gt;", the digest of the stored config JSON.</summary>
    public required string Id { get; init; }
    public IReadOnlyList<string> RepoTags { get; init; } = [];
    /// <summary>"name@sha256:..." of the manifests the image was pulled or pushed as.</summary>
    public IReadOnlyList<string> RepoDigests { get; init; } = [];
    public string Parent { get; init; } = "";
    public string Comment { get; init; } = "";
    public DateTimeOffset Created { get; init; }
    public string DockerVersion { get; init; } = "";
    public string Author { get; init; } = "";
    public ImageConfig Config { get; init; } = new();
    public string Architecture { get; init; } = "amd64";
    public string Os { get; init; } = "linux";
    /// <summary>Bytes of the regular files in all layers (hard links counted once).</summary>
    public long Size { get; init; }
    /// <summary>"sha256:..." digests of the uncompressed layer tars, bottom layer first.</summary>
    public IReadOnlyList<string> LayerDiffIds { get; init; } = [];
    /// <summary>The config's history, oldest first (what `docker history` shows, newest first).</summary>
    public IReadOnlyList<ImageHistoryLine> History { get; init; } = [];
}

/// <summary>One history entry of an image config: the instruction that made a layer (or an empty one).</summary>
public sealed record ImageHistoryLine(DateTimeOffset Created, string CreatedBy, string Comment, bool EmptyLayer);

/// <summary>One line of `docker rmi` output: {"Untagged":"webapp:latest"} or {"Deleted":"sha256:..."}.</summary>
public sealed record ImageDeleteItem(string? Untagged, string? Deleted);

/// <summary>A bad request about images (HTTP 400).</summary>
public class ImageException(string message) : Exception(message);

/// <summary>No image by that reference (HTTP 404).</summary>
public sealed class ImageNotFoundException(string message) : ImageException(message)
{
    /// <summary>Docker's wording: "No such image: nope:latest" for names, "sha256:&lt;hex&gt;" for full ids.</summary>
    public static ImageNotFoundException For(string reference) =>
        new($"No such image: {(ImageReference.IsFullId(reference) ? "sha256:" + reference : ImageReference.TryNormalize(reference) ?? reference)}");
}

/// <summary>Removal refused because of tags or containers (HTTP 409).</summary>
public sealed class ImageConflictException(string message) : ImageException(message);

/// <summary>The store could not take the image: the disk or quota is full (HTTP 500). Nothing of it is kept.</summary>
public sealed class ImageStorageException(string message) : ImageException(message);
