namespace Berth.Engine.Volumes;

/// <summary>One volume as Berth keeps it (volumes/&lt;name&gt;/volume.json; the data in volumes/&lt;name&gt;/_data).
/// The persisted record, apart from the API's view of it.</summary>
public sealed class VolumeRecord
{
    /// <summary>Docker's label on volumes made without a name (23.0+): `volume prune` removes only these unless
    /// asked for all.</summary>
    public const string AnonymousLabel = "com.docker.volume.anonymous";

    public string Name { get; set; } = "";
    public string Driver { get; set; } = VolumeService.LocalDriver;
    public DateTimeOffset CreatedAt { get; set; }
    public Dictionary<string, string>? Labels { get; set; }
    /// <summary>The local driver's --opt: type, device, o (a filesystem mounted on the data directory while in use).</summary>
    public Dictionary<string, string>? Options { get; set; }

    public bool Anonymous => Labels?.ContainsKey(AnonymousLabel) == true;
    public bool HasMountOptions => Options is { Count: > 0 };
}

/// <summary>One mount of a container, resolved at create from Binds, Mounts, Tmpfs, Volumes and VolumesFrom and kept
/// in its record; inspect's Mounts shows the bind, volume and tmpfs-by---mount ones as Docker does.</summary>
public sealed class MountPointRecord
{
    public string Type { get; set; } = "volume";
    /// <summary>The volume's name (volumes only).</summary>
    public string? Name { get; set; }
    /// <summary>Host path: the bind source, the volume's data directory; empty for tmpfs.</summary>
    public string Source { get; set; } = "";
    public string Destination { get; set; } = "";
    public string? Driver { get; set; }
    public string Mode { get; set; } = "";
    public bool RW { get; set; } = true;
    public string Propagation { get; set; } = "";
    /// <summary>Fill an empty volume from the image's content at Destination at the first start.</summary>
    public bool CopyData { get; set; }
    /// <summary>A directory inside the volume to mount instead of its root (--mount volume-subpath).</summary>
    public string? Subpath { get; set; }
    /// <summary>tmpfs mount options (size=, mode=, exec...).</summary>
    public string? TmpfsOptions { get; set; }
    /// <summary>From HostConfig.Tmpfs (--tmpfs): mounted but, as in Docker, not listed in inspect's Mounts.</summary>
    public bool Hidden { get; set; }
    /// <summary>bind-nonrecursive: a plain bind instead of rbind.</summary>
    public bool NonRecursive { get; set; }
    /// <summary>A `-v` bind whose host directory is made at start when missing (as dockerd; `--mount` refuses).</summary>
    public bool CreateSource { get; set; }
}
