using System.Text.Json.Serialization;

namespace Berth.Runtime.Images;

public sealed class EmptyObject { }

/// <summary>An image's runtime config with Docker's JSON names.</summary>
public sealed class ImageConfig
{
    public string Hostname { get; set; } = "";
    public string Domainname { get; set; } = "";
    public string User { get; set; } = "";
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, EmptyObject>? ExposedPorts { get; set; }
    public bool Tty { get; set; }
    public bool OpenStdin { get; set; }
    public bool StdinOnce { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public string Image { get; set; } = "";
    public Dictionary<string, EmptyObject>? Volumes { get; set; }
    public string WorkingDir { get; set; } = "";
    public List<string>? Entrypoint { get; set; }
    public List<string>? OnBuild { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StopSignal { get; set; }
}

/// <summary>The image config document as stored (OCI/Docker image JSON); its sha256 is the image id.</summary>
public sealed class ImageDocument
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "amd64";
    [JsonPropertyName("os")] public string Os { get; set; } = "linux";
    [JsonPropertyName("created")] public DateTimeOffset Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("docker_version")] public string? DockerVersion { get; set; }
    [JsonPropertyName("config")] public ImageConfig? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFsSection RootFs { get; set; } = new();

    public sealed class RootFsSection
    {
        [JsonPropertyName("type")] public string Type { get; set; } = "layers";
        [JsonPropertyName("diff_ids")] public List<string> DiffIds { get; set; } = new();
    }
}

public sealed record ImageRecord
{
    public required string Id { get; init; }
    public IReadOnlyList<string> RepoTags { get; init; } = [];
    public string Parent { get; init; } = "";
    public string Comment { get; init; } = "";
    public DateTimeOffset Created { get; init; }
    public string DockerVersion { get; init; } = "";
    public string Author { get; init; } = "";
    public ImageConfig Config { get; init; } = new();
    public string Architecture { get; init; } = "amd64";
    public string Os { get; init; } = "linux";
    public long Size { get; init; }
    public IReadOnlyList<string> LayerDiffIds { get; init; } = [];
}

public sealed record ImageDeleteItem(string? Untagged, string? Deleted);

public class ImageException(string message) : Exception(message);
public sealed class ImageNotFoundException(string message) : ImageException(message);
public sealed class ImageConflictException(string message) : ImageException(message);
