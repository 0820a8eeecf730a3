namespace Berth.Runtime.Resources;

/// <summary>One `--ulimit`: the rlimit's short name (nofile, nproc, ...) with soft and hard values.</summary>
public sealed record Ulimit(string Name, long Soft, long Hard);

/// <summary>One `--device`: a host device node made at a path inside the container with cgroup permissions.</summary>
public sealed record DeviceMapping(string PathOnHost, string PathInContainer, string CgroupPermissions);

/// <summary>A container's cgroup limits and process limits as Docker's HostConfig holds them, already validated
/// (zero or null means "not set").</summary>
public sealed record ResourceLimits
{
    public static readonly ResourceLimits None = new();

    public long Memory { get; init; }
    public long MemoryReservation { get; init; }
    /// <summary>Memory plus swap; -1 is unlimited swap.</summary>
    public long MemorySwap { get; init; }
    public long? MemorySwappiness { get; init; }
    public bool OomKillDisable { get; init; }
    public long NanoCpus { get; init; }
    public long CpuShares { get; init; }
    public long CpuQuota { get; init; }
    public long CpuPeriod { get; init; }
    public string CpusetCpus { get; init; } = "";
    public string CpusetMems { get; init; } = "";
    /// <summary>Zero or negative: no limit.</summary>
    public long PidsLimit { get; init; }
    public int BlkioWeight { get; init; }
    public IReadOnlyList<Ulimit> Ulimits { get; init; } = [];
    public IReadOnlyList<DeviceMapping> Devices { get; init; } = [];
    public IReadOnlyList<string> DeviceCgroupRules { get; init; } = [];
    public IReadOnlyDictionary<string, string> Sysctls { get; init; } = new Dictionary<string, string>();
    /// <summary>The cgroup the container's own goes under; "" is Berth's (/berth).</summary>
    public string CgroupParent { get; init; } = "";
}
