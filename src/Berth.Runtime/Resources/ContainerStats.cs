using System.Globalization;

namespace Berth.Runtime.Resources;

public sealed record CpuSample(ulong Total, ulong Kernel, ulong User, IReadOnlyList<ulong>? PerCpu, ulong System,
    int OnlineCpus, ulong Periods, ulong ThrottledPeriods, ulong ThrottledTime);

public sealed record MemorySample(ulong Usage, ulong MaxUsage, ulong Limit, ulong Failcnt,
    IReadOnlyDictionary<string, ulong> Stats);

/// <summary>One row of blkio_stats: device, operation (v1: "Read", "Write", ...; v2: "read", "write"), value.</summary>
public sealed record BlkioEntry(ulong Major, ulong Minor, string Op, ulong Value);

public sealed record NetworkSample(ulong RxBytes, ulong RxPackets, ulong RxErrors, ulong RxDropped, ulong TxBytes,
    ulong TxPackets, ulong TxErrors, ulong TxDropped);

/// <summary>What `docker stats` shows of one container at one moment, read from the kernel's own files.</summary>
public sealed record StatsSample(DateTimeOffset Read, CpuSample Cpu, MemorySample Memory,
    IReadOnlyList<BlkioEntry> IoServiceBytes, IReadOnlyList<BlkioEntry> IoServiced, ulong PidsCurrent, ulong PidsLimit,
    IReadOnlyDictionary<string, NetworkSample> Networks);

/// <summary>What a stats stream keeps between samples: the cgroup directories of the process it last read.</summary>
public sealed class StatsSource
{
    internal int Pid { get; set; }
    internal IReadOnlyDictionary<string, string>? Directories { get; set; }
}

/// <summary>Reads a container's figures from its cgroup (v1 controllers or the v2 directory, found through the
/// init's /proc/PID/cgroup), the host's /proc/stat and the container's own network namespace (/proc/PID/net/dev
/// shows the namespace of that process).</summary>
public sealed class ContainerStatsReader(CgroupHost host)
{
    /// <summary>USER_HZ: /proc/stat and cpuacct.stat count in 1/100 s on Linux.</summary>
    private const ulong NanosPerTick = 10_000_000;

    public StatsSample Read(int pid) => Read(pid, HostCpu(), null);

    /// <param name="hostCpu">The host's figures, read once per round for every container (as dockerd's collector).</param>
    /// <param name="source">A stream's memory of where the container's cgroup files are, found once per process.</param>
    public StatsSample Read(int pid, (ulong SystemNanos, int OnlineCpus) hostCpu, StatsSource? source)
    {
        IReadOnlyDictionary<string, string> dirs;
        if (source is { Directories: { } known } && source.Pid == pid) dirs = known;
        else
        {
            dirs = host.DirectoriesOf(pid);
            if (source is not null) (source.Pid, source.Directories) = (pid, dirs);
        }
        var (system, online) = hostCpu;
        var sample = host.Version == CgroupVersion.V2 && dirs.TryGetValue("", out var unified)
            ? ReadV2(unified, system, online)
            : ReadV1(dirs, system, online);
        return sample with { Networks = Networks(pid) };
    }

    private static StatsSample ReadV1(IReadOnlyDictionary<string, string> dirs, ulong system, int online)
    {
        string Dir(string controller) => dirs.TryGetValue(controller, out var d) ? d : "/nonexistent";
        string cpuacct = Dir("cpuacct"), memory = Dir("memory"), blkio = Dir("blkio"), pids = Dir("pids");
        var ticks = KeyValues(Path.Combine(cpuacct, "cpuacct.stat"));
        var throttling = KeyValues(Path.Combine(Dir("cpu"), "cpu.stat"));
        var perCpu = Text(Path.Combine(cpuacct, "cpuacct.usage_percpu"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToList();
        var cpu = new CpuSample(Number(Path.Combine(cpuacct, "cpuacct.usage")),
            ticks.GetValueOrDefault("system") * NanosPerTick, ticks.GetValueOrDefault("user") * NanosPerTick,
            perCpu, system, online, throttling.GetValueOrDefault("nr_periods"),
            throttling.GetValueOrDefault("nr_throttled"), throttling.GetValueOrDefault("throttled_time"));
        var memoryStats = KeyValues(Path.Combine(memory, "memory.stat"));
        var mem = new MemorySample(Number(Path.Combine(memory, "memory.usage_in_bytes")),
            Number(Path.Combine(memory, "memory.max_usage_in_bytes")),
            Math.Min(Number(Path.Combine(memory, "memory.limit_in_bytes")), HostMemory()),
            Number(Path.Combine(memory, "memory.failcnt")), memoryStats);
        // CFQ's recursive files when the scheduler keeps them, else the throttle policy's (always there).
        string bytes = Path.Combine(blkio, "blkio.io_service_bytes_recursive");
        string serviced = Path.Combine(blkio, "blkio.io_serviced_recursive");
        if (BlkioV1(bytes).Count == 0)
        {
            bytes = Path.Combine(blkio, "blkio.throttle.io_service_bytes");
            serviced = Path.Combine(blkio, "blkio.throttle.io_serviced");
        }
        return new StatsSample(DateTimeOffset.UtcNow, cpu, mem, BlkioV1(bytes), BlkioV1(serviced),
            Number(Path.Combine(pids, "pids.current")), Number(Path.Combine(pids, "pids.max")),
            new Dictionary<string, NetworkSample>());
    }

    private static StatsSample ReadV2(string dir, ulong system, int online)
    {
        var cpuStat = KeyValues(Path.Combine(dir, "cpu.stat"));
        var cpu = new CpuSample(cpuStat.GetValueOrDefault("usage_usec") * 1000,
            cpuStat.GetValueOrDefault("system_usec") * 1000, cpuStat.GetValueOrDefault("user_usec") * 1000, null,
            system, online, cpuStat.GetValueOrDefault("nr_periods"), cpuStat.GetValueOrDefault("nr_throttled"),
            cpuStat.GetValueOrDefault("throttled_usec") * 1000);
        var mem = new MemorySample(Number(Path.Combine(dir, "memory.current")), 0,
            Math.Min(Number(Path.Combine(dir, "memory.max")), HostMemory()), 0,
            KeyValues(Path.Combine(dir, "memory.stat")));
        var (bytes, serviced) = IoStatV2(Path.Combine(dir, "io.stat"));
        return new StatsSample(DateTimeOffset.UtcNow, cpu, mem, bytes, serviced,
            Number(Path.Combine(dir, "pids.current")), Number(Path.Combine(dir, "pids.max")),
            new Dictionary<string, NetworkSample>());
    }

    /// <summary>v1 blkio lines: "8:0 Read 4096" (and a "Total N" line, skipped).</summary>
    public static List<BlkioEntry> BlkioV1(string path) => ParseBlkioV1(Text(path));

    public static List<BlkioEntry> ParseBlkioV1(string text)
    {
        var entries = new List<BlkioEntry>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length != 3 || f[0].Split(':') is not [var major, var minor]) continue;
            entries.Add(new BlkioEntry(Parse(major), Parse(minor), f[1], Parse(f[2])));
        }
        return entries;
    }

    /// <summary>v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", as dockerd maps it.</summary>
    public static (List<BlkioEntry> Bytes, List<BlkioEntry> Serviced) ParseIoStatV2(string text)
    {
        List<BlkioEntry> bytes = [], serviced = [];
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2 || f[0].Split(':') is not [var majorText, var minorText]) continue;
            ulong major = Parse(majorText), minor = Parse(minorText);
            foreach (string pair in f[1..])
            {
                if (pair.Split('=') is not [var key, var value]) continue;
                var entry = key switch
                {
                    "rbytes" => (bytes, "read"), "wbytes" => (bytes, "write"),
                    "rios" => (serviced, "read"), "wios" => (serviced, "write"),
                    _ => ((List<BlkioEntry>?)null, ""),
                };
                entry.Item1?.Add(new BlkioEntry(major, minor, entry.Item2, Parse(value)));
            }
        }
        return (bytes, serviced);
    }

    private static (List<BlkioEntry>, List<BlkioEntry>) IoStatV2(string path) => ParseIoStatV2(Text(path));

    /// <summary>/proc/PID/net/dev of the container's namespace, loopback left out as dockerd does.</summary>
    public static Dictionary<string, NetworkSample> Networks(int pid) => ParseNetDev(Text($"/proc/{pid}/net/dev"));

    public static Dictionary<string, NetworkSample> ParseNetDev(string text)
    {
        var result = new Dictionary<string, NetworkSample>();
        foreach (string line in text.Split('\n').Skip(2))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            string name = line[..colon].Trim();
            var f = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();
            if (name == "lo" || f.Length < 12) continue;
            result[name] = new NetworkSample(f[0], f[1], f[2], f[3], f[8], f[9], f[10], f[11]);
        }
        return result;
    }

    /// <summary>The host's CPU time in ns (the first line of /proc/stat, all fields) and the online CPU count.</summary>
    public static (ulong SystemNanos, int OnlineCpus) HostCpu(string? procStat = null)
    {
        ulong total = 0;
        int online = 0;
        foreach (string line in (procStat ?? Text("/proc/stat")).Split('\n'))
        {
            if (line.StartsWith("cpu ", StringComparison.Ordinal))
                foreach (string field in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8))
                    total += Parse(field);
            else if (line.StartsWith("cpu", StringComparison.Ordinal)) online++;
            else break;
        }
        return (total * NanosPerTick, online);
    }

    /// <summary>The host's memory does not change while the daemon runs: read once.</summary>
    private static ulong HostMemory() => MemTotal.Value;

    private static readonly Lazy<ulong> MemTotal = new(ReadMemTotal);

    private static ulong ReadMemTotal()
    {
        foreach (string line in Text("/proc/meminfo").Split('\n'))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                return Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return ulong.MaxValue;
    }

    /// <summary>"key value" lines (memory.stat, cpu.stat, cpuacct.stat).</summary>
    public static Dictionary<string, ulong> KeyValues(string path)
    {
        var result = new Dictionary<string, ulong>();
        foreach (string line in Text(path).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int space = line.IndexOf(' ');
            if (space > 0) result[line[..space]] = Parse(line[(space + 1)..]);
        }
        return result;
    }

    /// <summary>A one-number file; "max" (v2's unlimited) and a missing file read as 0 or the largest value.</summary>
    private static ulong Number(string path)
    {
        string text = Text(path).Trim();
        return text == "max" ? ulong.MaxValue : Parse(text);
    }

    private static ulong Parse(string s) =>
        ulong.TryParse(s.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : 0;

    private static string Text(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ""; }
    }
}
