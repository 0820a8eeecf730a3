using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Store;

namespace Berth.Engine.Resources;

/// <summary>`docker update`'s body over a container's HostConfig, as dockerd merges it: a field changes only when
/// given non-zero; `--cpus` and `--cpu-period/--cpu-quota` replace each other.</summary>
public static class ResourceUpdate
{
    public static HostConfig Apply(HostConfig current, HostConfig update, JsonObject body)
    {
        var hc = JsonSerializer.Deserialize<HostConfig>(JsonSerializer.Serialize(current, EngineJson.Options),
            EngineJson.Options)!;
        if (update.Memory != 0 && update.MemorySwap == 0 && hc.MemorySwap > 0 && update.Memory > hc.MemorySwap)
            throw new BadRequestException(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
        if (update.Memory != 0) hc.Memory = update.Memory;
        if (update.MemorySwap != 0) hc.MemorySwap = update.MemorySwap;
        if (update.MemoryReservation != 0) hc.MemoryReservation = update.MemoryReservation;
        if (update.KernelMemory != 0) hc.KernelMemory = update.KernelMemory;
        if (update.CpuShares != 0) hc.CpuShares = update.CpuShares;
        if (update.NanoCpus != 0)
        {
            hc.NanoCpus = update.NanoCpus;
            hc.CpuPeriod = 0;
            hc.CpuQuota = 0;
        }
        if (update.CpuPeriod != 0 || update.CpuQuota != 0) hc.NanoCpus = 0;
        if (update.CpuPeriod != 0) hc.CpuPeriod = update.CpuPeriod;
        if (update.CpuQuota != 0) hc.CpuQuota = update.CpuQuota;
        if (!string.IsNullOrEmpty(update.CpusetCpus)) hc.CpusetCpus = update.CpusetCpus;
        if (!string.IsNullOrEmpty(update.CpusetMems)) hc.CpusetMems = update.CpusetMems;
        if (update.BlkioWeight != 0) hc.BlkioWeight = update.BlkioWeight;
        // PidsLimit is a pointer in Docker's API: present (even 0 or -1, meaning unlimited) is a change.
        if (body.ContainsKey("PidsLimit") && body["PidsLimit"] is not null) hc.PidsLimit = update.PidsLimit;
        return hc;
    }
}
