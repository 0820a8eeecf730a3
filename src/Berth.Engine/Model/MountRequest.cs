namespace Berth.Engine.Model;

/// <summary>One item of HostConfig.Mounts (`--mount`), as the Docker API carries it.</summary>
public sealed class MountRequest
{
    public string Type { get; set; } = "";
    public string? Source { get; set; }
    public string Target { get; set; } = "";
    public bool ReadOnly { get; set; }
    public string? Consistency { get; set; }
    public MountBindOptions? BindOptions { get; set; }
    public MountVolumeOptions? VolumeOptions { get; set; }
    public MountTmpfsOptions? TmpfsOptions { get; set; }
}

public sealed class MountBindOptions
{
    public string? Propagation { get; set; }
    public bool NonRecursive { get; set; }
    public bool CreateMountpoint { get; set; }
    public bool ReadOnlyNonRecursive { get; set; }
    public bool ReadOnlyForceRecursive { get; set; }
}

public sealed class MountVolumeOptions
{
    public bool NoCopy { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    public string? Subpath { get; set; }
    public MountDriverConfig? DriverConfig { get; set; }
}

public sealed class MountDriverConfig
{
    public string? Name { get; set; }
    public Dictionary<string, string>? Options { get; set; }
}

public sealed class MountTmpfsOptions
{
    public long SizeBytes { get; set; }
    public uint Mode { get; set; }
    public List<List<string>>? Options { get; set; }
}
