using System.Buffers.Text;
using System.Text;

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

/// <summary>What a stats stream keeps between samples: the cgroup directories of the process it last read, and its
/// cgroup files held open.</summary>
public sealed class StatsSource : IDisposable
{
    internal int Pid { get; set; }
    internal IReadOnlyDictionary<string, string>? Directories { get; set; }
    internal KernelFiles Files { get; private set; } = new();

    /// <summary>Another process (a restart): its cgroup may be another, so its files are opened anew.</summary>
    internal void Reset(int pid, IReadOnlyDictionary<string, string> directories)
    {
        Files.Dispose();
        Files = new KernelFiles();
        (Pid, Directories) = (pid, directories);
    }

    /// <summary>The stream ended: its files are closed and stay so.</summary>
    internal bool Disposed { get; private set; }

    public void Dispose()
    {
        Disposed = true;
        Files.Dispose();
    }
}

/// <summary>Reads a container's figures from its cgroup (v1 controllers or the v2 directory, found through the
/// init's /proc/PID/cgroup), the host's /proc/stat and the container's own network namespace (/proc/PID/net/dev
/// shows the namespace of that process). Parsing works on the files' bytes: a sample a second per container
/// allocates only what it hands on.</summary>
public sealed class ContainerStatsReader(CgroupHost host)
{
    /// <summary>USER_HZ: /proc/stat and cpuacct.stat count in 1/100 s on Linux.</summary>
    private const ulong NanosPerTick = 10_000_000;

    public StatsSample Read(int pid) => Read(pid, HostCpu(), null);

    /// <param name="hostCpu">The host's figures, read once per round for every container (as dockerd's collector).</param>
    /// <param name="source">A stream's memory of where the container's cgroup files are, found once per process.</param>
    public StatsSample Read(int pid, (ulong SystemNanos, int OnlineCpus) hostCpu, StatsSource? source)
    {
        if (source is null)
        {
            using var once = new StatsSource();
            return Read(pid, hostCpu, once);
        }
        if (source.Directories is null || source.Pid != pid) source.Reset(pid, host.DirectoriesOf(pid));
        var dirs = source.Directories!;
        var (system, online) = hostCpu;
        var networks = Networks(pid);
        return host.Version == CgroupVersion.V2 && dirs.TryGetValue("", out var unified)
            ? ReadV2(source.Files, unified, system, online, networks)
            : ReadV1(source.Files, dirs, system, online, networks);
    }

    private static StatsSample ReadV1(KernelFiles files, IReadOnlyDictionary<string, string> dirs, ulong system, int online,
        IReadOnlyDictionary<string, NetworkSample> networks)
    {
        string Dir(string controller) => dirs.TryGetValue(controller, out var d) ? d : "/nonexistent";
        string cpuacct = Dir("cpuacct"), memory = Dir("memory"), blkio = Dir("blkio"), pids = Dir("pids");
        var ticks = KeyValues(files.Read(Path.Combine(cpuacct, "cpuacct.stat")));
        var throttling = KeyValues(files.Read(Path.Combine(Dir("cpu"), "cpu.stat")));
        var perCpu = Numbers(files.Read(Path.Combine(cpuacct, "cpuacct.usage_percpu")));
        var cpu = new CpuSample(Number(files.Read(Path.Combine(cpuacct, "cpuacct.usage"))),
            ticks.GetValueOrDefault("system") * NanosPerTick, ticks.GetValueOrDefault("user") * NanosPerTick,
            perCpu, system, online, throttling.GetValueOrDefault("nr_periods"),
            throttling.GetValueOrDefault("nr_throttled"), throttling.GetValueOrDefault("throttled_time"));
        var memoryStats = KeyValues(files.Read(Path.Combine(memory, "memory.stat")));
        var mem = new MemorySample(Number(files.Read(Path.Combine(memory, "memory.usage_in_bytes"))),
            Number(files.Read(Path.Combine(memory, "memory.max_usage_in_bytes"))),
            Math.Min(Number(files.Read(Path.Combine(memory, "memory.limit_in_bytes"))), HostMemory()),
            Number(files.Read(Path.Combine(memory, "memory.failcnt"))), memoryStats);
        // CFQ's recursive files when the scheduler keeps them, else the throttle policy's (always there).
        var bytes = ParseBlkioV1(files.Read(Path.Combine(blkio, "blkio.io_service_bytes_recursive")));
        var serviced = bytes.Count > 0
            ? ParseBlkioV1(files.Read(Path.Combine(blkio, "blkio.io_serviced_recursive")))
            : ParseBlkioV1(files.Read(Path.Combine(blkio, "blkio.throttle.io_serviced")));
        if (bytes.Count == 0) bytes = ParseBlkioV1(files.Read(Path.Combine(blkio, "blkio.throttle.io_service_bytes")));
        return new StatsSample(DateTimeOffset.UtcNow, cpu, mem, bytes, serviced,
            Number(files.Read(Path.Combine(pids, "pids.current"))), Number(files.Read(Path.Combine(pids, "pids.max"))),
            networks);
    }

    private static StatsSample ReadV2(KernelFiles files, string dir, ulong system, int online,
        IReadOnlyDictionary<string, NetworkSample> networks)
    {
        var cpuStat = KeyValues(files.Read(Path.Combine(dir, "cpu.stat")));
        var cpu = new CpuSample(cpuStat.GetValueOrDefault("usage_usec") * 1000,
            cpuStat.GetValueOrDefault("system_usec") * 1000, cpuStat.GetValueOrDefault("user_usec") * 1000, null,
            system, online, cpuStat.GetValueOrDefault("nr_periods"), cpuStat.GetValueOrDefault("nr_throttled"),
            cpuStat.GetValueOrDefault("throttled_usec") * 1000);
        var mem = new MemorySample(Number(files.Read(Path.Combine(dir, "memory.current"))), 0,
            Math.Min(Number(files.Read(Path.Combine(dir, "memory.max"))), HostMemory()), 0,
            KeyValues(files.Read(Path.Combine(dir, "memory.stat"))));
        var (bytes, serviced) = ParseIoStatV2(files.Read(Path.Combine(dir, "io.stat")));
        return new StatsSample(DateTimeOffset.UtcNow, cpu, mem, bytes, serviced,
            Number(files.Read(Path.Combine(dir, "pids.current"))), Number(files.Read(Path.Combine(dir, "pids.max"))),
            networks);
    }

    /// <summary>v1 blkio lines: "8:0 Read 4096" (and a "Total N" line, skipped).</summary>
    public static List<BlkioEntry> ParseBlkioV1(string text) => ParseBlkioV1(Encoding.UTF8.GetBytes(text));

    public static List<BlkioEntry> ParseBlkioV1(ReadOnlySpan<byte> text)
    {
        var entries = new List<BlkioEntry>();
        foreach (var line in text.Split((byte)'\n'))
        {
            var fields = new Fields(text[line]);
            if (!fields.Next(out var device) || !fields.Next(out var op) || !fields.Next(out var value) || fields.Next(out _)
                || !Device(device, out ulong major, out ulong minor)) continue;
            entries.Add(new BlkioEntry(major, minor, Intern(op), Parse(value)));
        }
        return entries;
    }

    /// <summary>v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", as dockerd maps it.</summary>
    public static (List<BlkioEntry> Bytes, List<BlkioEntry> Serviced) ParseIoStatV2(string text) =>
        ParseIoStatV2(Encoding.UTF8.GetBytes(text));

    public static (List<BlkioEntry> Bytes, List<BlkioEntry> Serviced) ParseIoStatV2(ReadOnlySpan<byte> text)
    {
        List<BlkioEntry> bytes = [], serviced = [];
        foreach (var line in text.Split((byte)'\n'))
        {
            var fields = new Fields(text[line]);
            if (!fields.Next(out var device) || !Device(device, out ulong major, out ulong minor)) continue;
            while (fields.Next(out var pair))
            {
                int eq = pair.IndexOf((byte)'=');
                if (eq < 0) continue;
                var (list, op) = pair[..eq] switch
                {
                    var k when k.SequenceEqual("rbytes"u8) => (bytes, "read"),
                    var k when k.SequenceEqual("wbytes"u8) => (bytes, "write"),
                    var k when k.SequenceEqual("rios"u8) => (serviced, "read"),
                    var k when k.SequenceEqual("wios"u8) => (serviced, "write"),
                    _ => ((List<BlkioEntry>?)null, ""),
                };
                list?.Add(new BlkioEntry(major, minor, op, Parse(pair[(eq + 1)..])));
            }
        }
        return (bytes, serviced);
    }

    private static bool Device(ReadOnlySpan<byte> text, out ulong major, out ulong minor)
    {
        int colon = text.IndexOf((byte)':');
        major = minor = 0;
        if (colon < 0 || text[(colon + 1)..].IndexOf((byte)':') >= 0) return false;
        major = Parse(text[..colon]);
        minor = Parse(text[(colon + 1)..]);
        return true;
    }

    /// <summary>/proc/PID/net/dev of the container's namespace, loopback left out as dockerd does. Opened for each
    /// sample: an open file there would hold the namespace alive after the container.</summary>
    public static Dictionary<string, NetworkSample> Networks(int pid) =>
        ParseNetDev(ReadBytes($"/proc/{pid}/net/dev"));

    public static Dictionary<string, NetworkSample> ParseNetDev(string text) => ParseNetDev(Encoding.UTF8.GetBytes(text));

    public static Dictionary<string, NetworkSample> ParseNetDev(ReadOnlySpan<byte> text)
    {
        var result = new Dictionary<string, NetworkSample>();
        int lineNumber = 0;
        Span<ulong> f = stackalloc ulong[16];
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            if (lineNumber++ < 2) continue;
            int colon = line.IndexOf((byte)':');
            if (colon < 0) continue;
            var name = line[..colon].Trim((byte)' ');
            var fields = new Fields(line[(colon + 1)..]);
            int count = 0;
            while (count < f.Length && fields.Next(out var field)) f[count++] = Parse(field);
            if (name.SequenceEqual("lo"u8) || count < 12) continue;
            result[Intern(name)] = new NetworkSample(f[0], f[1], f[2], f[3], f[8], f[9], f[10], f[11]);
        }
        return result;
    }

    /// <summary>The host's CPU time in ns (the first line of /proc/stat, all fields) and the online CPU count.</summary>
    public static (ulong SystemNanos, int OnlineCpus) HostCpu(string? procStat = null) =>
        HostCpu(procStat is null ? ReadBytes("/proc/stat") : Encoding.UTF8.GetBytes(procStat));

    public static (ulong SystemNanos, int OnlineCpus) HostCpu(ReadOnlySpan<byte> procStat)
    {
        ulong total = 0;
        int online = 0;
        foreach (var range in procStat.Split((byte)'\n'))
        {
            var line = procStat[range];
            if (line.StartsWith("cpu "u8))
            {
                var fields = new Fields(line);
                fields.Next(out _);
                for (int i = 0; i < 8 && fields.Next(out var field); i++) total += Parse(field);
            }
            else if (line.StartsWith("cpu"u8)) online++;
            else break;
        }
        return (total * NanosPerTick, online);
    }

    /// <summary>The host's memory does not change while the daemon runs: read once.</summary>
    private static ulong HostMemory() => MemTotal.Value;

    private static readonly Lazy<ulong> MemTotal = new(ReadMemTotal);

    private static ulong ReadMemTotal()
    {
        ulong kib = KeyValues(ReadBytes("/proc/meminfo"), ':').GetValueOrDefault("MemTotal");
        return kib == 0 ? ulong.MaxValue : kib * 1024;
    }

    /// <summary>"key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events).</summary>
    public static Dictionary<string, ulong> KeyValues(string path) => KeyValues(ReadBytes(path));

    /// <summary>"key value" lines, or "key: value unit" with <paramref name="separator"/> ':' (meminfo).</summary>
    public static Dictionary<string, ulong> KeyValues(ReadOnlySpan<byte> text, char separator = ' ')
    {
        var result = new Dictionary<string, ulong>();
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            int end = line.IndexOf((byte)separator);
            if (end <= 0) continue;
            var value = new Fields(line[(end + 1)..]);
            result[Intern(line[..end])] = value.Next(out var number) ? Parse(number) : 0;
        }
        return result;
    }

    /// <summary>Space-separated numbers (cpuacct.usage_percpu).</summary>
    private static List<ulong> Numbers(ReadOnlySpan<byte> text)
    {
        var result = new List<ulong>();
        var fields = new Fields(text);
        while (fields.Next(out var field)) result.Add(Parse(field));
        return result;
    }

    /// <summary>A one-number file; "max" (v2's unlimited) and a missing file read as 0 or the largest value.</summary>
    private static ulong Number(ReadOnlySpan<byte> text)
    {
        text = text.Trim("\n \t"u8);
        return text.SequenceEqual("max"u8) ? ulong.MaxValue : Parse(text);
    }

    private static ulong Parse(ReadOnlySpan<byte> s)
    {
        s = s.Trim("\n \t"u8);
        return Utf8Parser.TryParse(s, out ulong v, out int used) && used == s.Length ? v : 0;
    }

    /// <summary>Names the kernel repeats every sample (memory.stat keys, devices): one string each, not one a read.
    /// </summary>
    private static string Intern(ReadOnlySpan<byte> name)
    {
        Span<char> chars = stackalloc char[Math.Min(name.Length, 256)];
        int length = Encoding.UTF8.GetChars(name[..chars.Length], chars);
        lock (Names)
        {
            var lookup = Names.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookup.TryGetValue(chars[..length], out string? known)) return known;
            string added = new(chars[..length]);
            if (Names.Count < 4096) Names.Add(added);
            return added;
        }
    }

    private static readonly HashSet<string> Names = new(StringComparer.Ordinal);

    private static byte[] ReadBytes(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>The space-separated fields of one line, without allocating.</summary>
    private ref struct Fields(ReadOnlySpan<byte> line)
    {
        private ReadOnlySpan<byte> _rest = line;

        public bool Next(out ReadOnlySpan<byte> field)
        {
            _rest = _rest.TrimStart(" \t"u8);
            int end = _rest.IndexOfAny(" \t"u8);
            if (_rest.IsEmpty)
            {
                field = default;
                return false;
            }
            field = end < 0 ? _rest : _rest[..end];
            _rest = end < 0 ? default : _rest[end..];
            return true;
        }
    }
}
