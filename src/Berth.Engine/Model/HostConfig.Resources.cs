using System.Text.Json.Serialization;

namespace Berth.Engine.Model;

/// <summary>HostConfig's resource fields (cgroup limits, devices, ulimits, sysctls, init) as Docker's API names
/// them; Memory, NanoCpus, CpuShares, PidsLimit and CgroupParent are declared with the rest of HostConfig.</summary>
public sealed partial class HostConfig
{
    public long MemoryReservation { get; set; }
    public long MemorySwap { get; set; }
    public long? MemorySwappiness { get; set; }
    public long KernelMemory { get; set; }
    public long CpuPeriod { get; set; }
    public long CpuQuota { get; set; }
    public long CpuRealtimePeriod { get; set; }
    public long CpuRealtimeRuntime { get; set; }
    public string CpusetCpus { get; set; } = "";
    public string CpusetMems { get; set; } = "";
    public long CpuCount { get; set; }
    public long CpuPercent { get; set; }
    public int BlkioWeight { get; set; }
    public List<DeviceMappingConfig>? Devices { get; set; } = new();
    public List<string>? DeviceCgroupRules { get; set; }
    public bool? OomKillDisable { get; set; }
    public List<UlimitConfig>? Ulimits { get; set; } = new();
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Sysctls { get; set; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Init { get; set; }
}

public sealed class DeviceMappingConfig
{
    public string PathOnHost { get; set; } = "";
    public string PathInContainer { get; set; } = "";
    public string CgroupPermissions { get; set; } = "";
}

public sealed class UlimitConfig
{
    public string Name { get; set; } = "";
    public long Hard { get; set; }
    public long Soft { get; set; }
}
