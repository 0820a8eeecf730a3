using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Store;

namespace Berth.Api.Views;

/// <summary>What dockerd 28's inspect carries that Berth's stored records may not: every HostConfig field with
/// dockerd's value when unset (clients index them without checking), and State.Health.</summary>
public static class InspectDefaults
{
    /// <summary>HostConfig fields as dockerd shows them unset (cgroup v2 host: pointers null, lists empty); the
    /// omitempty ones (Annotations, Init, Mounts) stay out.</summary>
    private static readonly (string Name, Func<JsonNode?> Value)[] HostConfigFields =
    [
        ("BlkioWeight", () => 0), ("BlkioWeightDevice", () => new JsonArray()),
        ("BlkioDeviceReadBps", () => new JsonArray()), ("BlkioDeviceWriteBps", () => new JsonArray()),
        ("BlkioDeviceReadIOps", () => new JsonArray()), ("BlkioDeviceWriteIOps", () => new JsonArray()),
        ("CpuPeriod", () => 0), ("CpuQuota", () => 0), ("CpuRealtimePeriod", () => 0), ("CpuRealtimeRuntime", () => 0),
        ("CpusetCpus", () => ""), ("CpusetMems", () => ""), ("Devices", () => new JsonArray()),
        ("DeviceCgroupRules", () => null), ("DeviceRequests", () => null), ("MemoryReservation", () => 0),
        ("MemorySwap", () => 0), ("MemorySwappiness", () => null), ("OomKillDisable", () => null),
        ("Ulimits", () => new JsonArray()), ("CpuCount", () => 0), ("CpuPercent", () => 0),
        ("IOMaximumIOps", () => 0), ("IOMaximumBandwidth", () => 0),
    ];

    public static void Complete(JsonObject inspect, ContainerRecord c)
    {
        if (inspect["HostConfig"] is JsonObject hostConfig)
            foreach (var (name, value) in HostConfigFields)
                if (!hostConfig.ContainsKey(name)) hostConfig[name] = value();
        if (inspect["State"] is JsonObject state && c.State.Health is { } health)
            state["Health"] = System.Text.Json.JsonSerializer.SerializeToNode(health, EngineJson.Options);
    }

    /// <summary>The health part of `ps`'s Status: "(healthy)", "(unhealthy)", "(health: starting)".</summary>
    public static string HealthSuffix(ContainerState state) => state.Health?.Status switch
    {
        null => "",
        HealthState.Starting => " (health: starting)",
        var status => $" ({status})",
    };
}
