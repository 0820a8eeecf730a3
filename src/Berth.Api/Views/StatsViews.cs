using System.Buffers;
using System.Text.Json;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Runtime.Resources;

namespace Berth.Api.Views;

/// <summary>GET /containers/{id}/stats objects in dockerd's shape for cgroup v1 and v2 (the docker CLI computes CPU %
/// from cpu_stats and precpu_stats, memory use from usage minus (total_)inactive_file). Written straight to the
/// response: a stream sends one of these per container a second.</summary>
public static class StatsViews
{
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = EngineJson.Options.Encoder };

    private static readonly string[] OtherBlkioLists =
    [
        "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive",
    ];

    /// <summary>One stats object, as a whole JSON document.</summary>
    public static byte[] Render(ContainerRecord c, StatsSample? now, StatsSample? before, CgroupVersion version)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions)) Write(writer, c, now, before, version);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(Utf8JsonWriter w, ContainerRecord c, StatsSample? now, StatsSample? before,
        CgroupVersion version)
    {
        bool v1 = version == CgroupVersion.V1;
        w.WriteStartObject();
        w.WriteString("name", "/" + c.Name);
        w.WriteString("id", c.Id);
        w.WriteString("read", Time(now?.Read));
        w.WriteString("preread", Time(before?.Read));
        w.WriteStartObject("pids_stats");
        w.WriteNumber("current", now?.PidsCurrent ?? 0);
        if (now is { PidsLimit: > 0 and < ulong.MaxValue }) w.WriteNumber("limit", now.PidsLimit);
        w.WriteEndObject();
        w.WriteStartObject("blkio_stats");
        Blkio(w, "io_service_bytes_recursive", now?.IoServiceBytes);
        Blkio(w, "io_serviced_recursive", now?.IoServiced);
        foreach (string list in OtherBlkioLists) Blkio(w, list, v1 && now is not null ? [] : null);
        w.WriteEndObject();
        w.WriteNumber("num_procs", 0);
        w.WriteStartObject("storage_stats");
        w.WriteEndObject();
        Cpu(w, "cpu_stats", now?.Cpu);
        Cpu(w, "precpu_stats", before?.Cpu);
        Memory(w, now?.Memory, v1);
        if (now is not null)
        {
            w.WriteStartObject("networks");
            foreach (var (name, n) in now.Networks)
            {
                w.WriteStartObject(name);
                w.WriteNumber("rx_bytes", n.RxBytes);
                w.WriteNumber("rx_packets", n.RxPackets);
                w.WriteNumber("rx_errors", n.RxErrors);
                w.WriteNumber("rx_dropped", n.RxDropped);
                w.WriteNumber("tx_bytes", n.TxBytes);
                w.WriteNumber("tx_packets", n.TxPackets);
                w.WriteNumber("tx_errors", n.TxErrors);
                w.WriteNumber("tx_dropped", n.TxDropped);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static string Time(DateTimeOffset? time) =>
        time is { } t ? DockerTimeConverter.Format(t) : "0001-01-01T00:00:00Z";

    /// <summary>A blkio list, or null (dockerd's nil slice) when there is none.</summary>
    private static void Blkio(Utf8JsonWriter w, string name, IReadOnlyList<BlkioEntry>? entries)
    {
        if (entries is null)
        {
            w.WriteNull(name);
            return;
        }
        w.WriteStartArray(name);
        foreach (var e in entries)
        {
            w.WriteStartObject();
            w.WriteNumber("major", e.Major);
            w.WriteNumber("minor", e.Minor);
            w.WriteString("op", e.Op);
            w.WriteNumber("value", e.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Cpu(Utf8JsonWriter w, string name, CpuSample? cpu)
    {
        w.WriteStartObject(name);
        w.WriteStartObject("cpu_usage");
        w.WriteNumber("total_usage", cpu?.Total ?? 0);
        w.WriteNumber("usage_in_kernelmode", cpu?.Kernel ?? 0);
        w.WriteNumber("usage_in_usermode", cpu?.User ?? 0);
        if (cpu?.PerCpu is { Count: > 0 } perCpu)
        {
            w.WriteStartArray("percpu_usage");
            foreach (ulong value in perCpu) w.WriteNumberValue(value);
            w.WriteEndArray();
        }
        w.WriteEndObject();
        if (cpu is not null)
        {
            w.WriteNumber("system_cpu_usage", cpu.System);
            w.WriteNumber("online_cpus", cpu.OnlineCpus);
        }
        w.WriteStartObject("throttling_data");
        w.WriteNumber("periods", cpu?.Periods ?? 0);
        w.WriteNumber("throttled_periods", cpu?.ThrottledPeriods ?? 0);
        w.WriteNumber("throttled_time", cpu?.ThrottledTime ?? 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Memory(Utf8JsonWriter w, MemorySample? memory, bool v1)
    {
        w.WriteStartObject("memory_stats");
        if (memory is not null)
        {
            w.WriteNumber("usage", memory.Usage);
            if (v1) w.WriteNumber("max_usage", memory.MaxUsage);
            w.WriteStartObject("stats");
            foreach (var (key, value) in memory.Stats) w.WriteNumber(key, value);
            w.WriteEndObject();
            if (v1) w.WriteNumber("failcnt", memory.Failcnt);
            w.WriteNumber("limit", memory.Limit);
        }
        w.WriteEndObject();
    }
}
