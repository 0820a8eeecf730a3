using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Runtime.Resources;

namespace Berth.Api.Views;

/// <summary>GET /containers/{id}/stats objects in dockerd's shape for cgroup v1 and v2 (the docker CLI computes CPU %
/// from cpu_stats and precpu_stats, memory use from usage minus (total_)inactive_file).</summary>
public static class StatsViews
{
    private static readonly string[] OtherBlkioLists =
    [
        "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive",
    ];

    public static JsonObject Render(ContainerRecord c, StatsSample? now, StatsSample? before, CgroupVersion version)
    {
        bool v1 = version == CgroupVersion.V1;
        var blkio = new JsonObject
        {
            ["io_service_bytes_recursive"] = now is null ? null : Blkio(now.IoServiceBytes),
            ["io_serviced_recursive"] = now is null ? null : Blkio(now.IoServiced),
        };
        foreach (string list in OtherBlkioLists) blkio[list] = v1 && now is not null ? new JsonArray() : null;
        var pids = new JsonObject { ["current"] = now?.PidsCurrent ?? 0 };
        if (now is { PidsLimit: > 0 and < ulong.MaxValue }) pids["limit"] = now.PidsLimit;
        var view = new JsonObject
        {
            ["name"] = "/" + c.Name,
            ["id"] = c.Id,
            ["read"] = Time(now?.Read),
            ["preread"] = Time(before?.Read),
            ["pids_stats"] = pids,
            ["blkio_stats"] = blkio,
            ["num_procs"] = 0,
            ["storage_stats"] = new JsonObject(),
            ["cpu_stats"] = Cpu(now?.Cpu),
            ["precpu_stats"] = Cpu(before?.Cpu),
            ["memory_stats"] = Memory(now?.Memory, v1),
        };
        if (now is not null)
        {
            var networks = new JsonObject();
            foreach (var (name, n) in now.Networks)
                networks[name] = new JsonObject
                {
                    ["rx_bytes"] = n.RxBytes, ["rx_packets"] = n.RxPackets, ["rx_errors"] = n.RxErrors,
                    ["rx_dropped"] = n.RxDropped, ["tx_bytes"] = n.TxBytes, ["tx_packets"] = n.TxPackets,
                    ["tx_errors"] = n.TxErrors, ["tx_dropped"] = n.TxDropped,
                };
            view["networks"] = networks;
        }
        return view;
    }

    private static string Time(DateTimeOffset? time) =>
        time is { } t ? DockerTimeConverter.Format(t) : "0001-01-01T00:00:00Z";

    private static JsonArray Blkio(IReadOnlyList<BlkioEntry> entries) =>
        new(entries.Select(e => (JsonNode?)new JsonObject
        {
            ["major"] = e.Major, ["minor"] = e.Minor, ["op"] = e.Op, ["value"] = e.Value,
        }).ToArray());

    private static JsonObject Cpu(CpuSample? cpu)
    {
        var usage = new JsonObject
        {
            ["total_usage"] = cpu?.Total ?? 0,
            ["usage_in_kernelmode"] = cpu?.Kernel ?? 0,
            ["usage_in_usermode"] = cpu?.User ?? 0,
        };
        if (cpu?.PerCpu is { Count: > 0 } perCpu)
            usage["percpu_usage"] = new JsonArray(perCpu.Select(v => (JsonNode?)v).ToArray());
        var view = new JsonObject { ["cpu_usage"] = usage };
        if (cpu is not null)
        {
            view["system_cpu_usage"] = cpu.System;
            view["online_cpus"] = cpu.OnlineCpus;
        }
        view["throttling_data"] = new JsonObject
        {
            ["periods"] = cpu?.Periods ?? 0, ["throttled_periods"] = cpu?.ThrottledPeriods ?? 0,
            ["throttled_time"] = cpu?.ThrottledTime ?? 0,
        };
        return view;
    }

    private static JsonObject Memory(MemorySample? memory, bool v1)
    {
        if (memory is null) return new JsonObject();
        var stats = new JsonObject();
        foreach (var (key, value) in memory.Stats) stats[key] = value;
        var view = new JsonObject { ["usage"] = memory.Usage };
        if (v1) view["max_usage"] = memory.MaxUsage;
        view["stats"] = stats;
        if (v1) view["failcnt"] = memory.Failcnt;
        view["limit"] = memory.Limit;
        return view;
    }
}
