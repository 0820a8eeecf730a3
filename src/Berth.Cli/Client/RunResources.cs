using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`run`/`create`'s resource flags (--memory, --cpus, --ulimit, --device, --sysctl, --init, ...) turned into
/// HostConfig fields as the docker CLI sends them, with its parsing of sizes and its error messages.</summary>
public sealed class RunResources
{
    private readonly Option<string?> _memory = new("--memory", "-m") { Description = "Memory limit" };
    private readonly Option<string?> _swap = new("--memory-swap") { Description = "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" };
    private readonly Option<string?> _reservation = new("--memory-reservation") { Description = "Memory soft limit" };
    private readonly Option<long?> _swappiness = new("--memory-swappiness") { Description = "Tune container memory swappiness (0 to 100)" };
    private readonly Option<bool> _oomKillDisable = new("--oom-kill-disable") { Description = "Disable OOM Killer" };
    private readonly Option<string?> _cpus = new("--cpus") { Description = "Number of CPUs" };
    private readonly Option<long?> _shares = new("--cpu-shares", "-c") { Description = "CPU shares (relative weight)" };
    private readonly Option<long?> _period = new("--cpu-period") { Description = "Limit CPU CFS (Completely Fair Scheduler) period" };
    private readonly Option<long?> _quota = new("--cpu-quota") { Description = "Limit CPU CFS (Completely Fair Scheduler) quota" };
    private readonly Option<string?> _cpusetCpus = new("--cpuset-cpus") { Description = "CPUs in which to allow execution (0-3, 0,1)" };
    private readonly Option<string?> _cpusetMems = new("--cpuset-mems") { Description = "MEMs in which to allow execution (0-3, 0,1)" };
    private readonly Option<long?> _pids = new("--pids-limit") { Description = "Tune container pids limit (set -1 for unlimited)" };
    private readonly Option<int?> _blkio = new("--blkio-weight") { Description = "Block IO (relative weight), between 10 and 1000, or 0 to disable" };
    private readonly Option<string?> _shm = new("--shm-size") { Description = "Size of /dev/shm" };
    private readonly Option<string[]> _ulimit = new("--ulimit") { Description = "Ulimit options: name=soft[:hard] (repeatable)" };
    private readonly Option<string[]> _device = new("--device") { Description = "Add a host device to the container: HOST[:CONTAINER[:PERMISSIONS]] (repeatable)" };
    private readonly Option<string[]> _deviceRule = new("--device-cgroup-rule") { Description = "Add a rule to the cgroup allowed devices list (repeatable)" };
    private readonly Option<string[]> _sysctl = new("--sysctl") { Description = "Sysctl options k=v (repeatable)" };
    private readonly Option<string?> _cgroupParent = new("--cgroup-parent") { Description = "Optional parent cgroup for the container" };
    private readonly Option<bool> _init = new("--init") { Description = "Run an init inside the container that forwards signals and reaps processes" };

    public IEnumerable<Option> Options =>
    [
        _memory, _swap, _reservation, _swappiness, _oomKillDisable, _cpus, _shares, _period, _quota, _cpusetCpus,
        _cpusetMems, _pids, _blkio, _shm, _ulimit, _device, _deviceRule, _sysctl, _cgroupParent, _init,
    ];

    /// <summary>The flags `update` takes too.</summary>
    public IEnumerable<Option> UpdateOptions =>
        [_memory, _swap, _reservation, _cpus, _shares, _period, _quota, _cpusetCpus, _cpusetMems, _pids, _blkio];

    /// <summary>The HostConfig fields the flags given set (the rest keep the create body's defaults); flags the
    /// command does not have (update) count as not given.</summary>
    public JsonObject Read(ParseResult parse)
    {
        T? Get<T>(Option<T> option) => parse.GetResult(option) is null ? default : parse.GetValue(option);
        var hc = new JsonObject();
        if (Get(_memory) is { } m) hc["Memory"] = Bytes(m, "memory");
        if (Get(_swap) is { } sw) hc["MemorySwap"] = sw == "-1" ? -1 : Bytes(sw, "memory-swap");
        if (Get(_reservation) is { } r) hc["MemoryReservation"] = Bytes(r, "memory-reservation");
        if (Get(_swappiness) is { } swappiness) hc["MemorySwappiness"] = swappiness;
        if (Get(_oomKillDisable)) hc["OomKillDisable"] = true;
        if (Get(_cpus) is { } c) hc["NanoCpus"] = NanoCpus(c);
        if (Get(_shares) is { } shares) hc["CpuShares"] = shares;
        if (Get(_period) is { } period) hc["CpuPeriod"] = period;
        if (Get(_quota) is { } quota) hc["CpuQuota"] = quota;
        if (Get(_cpusetCpus) is { } cpus) hc["CpusetCpus"] = cpus;
        if (Get(_cpusetMems) is { } mems) hc["CpusetMems"] = mems;
        if (Get(_pids) is { } pids) hc["PidsLimit"] = pids;
        if (Get(_blkio) is { } weight) hc["BlkioWeight"] = weight;
        if (Get(_shm) is { } shm) hc["ShmSize"] = Bytes(shm, "shm-size");
        if (Get(_ulimit) is { Length: > 0 } ulimits) hc["Ulimits"] = new JsonArray(ulimits.Select(Ulimit).ToArray());
        if (Get(_device) is { Length: > 0 } devices) hc["Devices"] = new JsonArray(devices.Select(Device).ToArray());
        if (Get(_deviceRule) is { Length: > 0 } rules)
            hc["DeviceCgroupRules"] = new JsonArray(rules.Select(x => (JsonNode?)x).ToArray());
        if (Get(_sysctl) is { Length: > 0 } sysctls)
        {
            var map = new JsonObject();
            foreach (string s in sysctls)
            {
                string[] kv = s.Split('=', 2);
                if (kv.Length != 2) throw new CliException($"invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not allowed", 125);
                map[kv[0]] = kv[1];
            }
            hc["Sysctls"] = map;
        }
        if (Get(_cgroupParent) is { } parent) hc["CgroupParent"] = parent;
        if (Get(_init)) hc["Init"] = true;
        return hc;
    }

    /// <summary>go-units RAMInBytes: "512m", "1g", "1024" (bytes), binary multiples, case-insensitive.</summary>
    public static long Bytes(string text, string flag)
    {
        string s = text.Trim().ToLowerInvariant();
        int end = s.Length;
        while (end > 0 && char.IsAsciiLetter(s[end - 1])) end--;
        string unit = s[end..].TrimEnd('b');
        long multiplier = unit switch
        {
            "" => 1, "k" or "ki" => 1L << 10, "m" or "mi" => 1L << 20, "g" or "gi" => 1L << 30, "t" or "ti" => 1L << 40,
            "p" or "pi" => 1L << 50, _ => -1,
        };
        if (multiplier < 0 || !double.TryParse(s[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n < 0)
            throw new CliException($"invalid argument \"{text}\" for \"--{flag}\" flag: invalid size: '{text}'", 125);
        return (long)(n * multiplier);
    }

    /// <summary>"1.5" CPUs → 1500000000 nano-CPUs.</summary>
    public static long NanoCpus(string text)
    {
        if (!decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal cpus) || cpus < 0)
            throw new CliException($"invalid argument \"{text}\" for \"--cpus\" flag: failed to parse {text} as a rational number", 125);
        return (long)(cpus * 1_000_000_000m);
    }

    public static JsonObject RestartPolicy(string policy)
    {
        var (name, count) = RunRequest.ParseRestart(policy);
        return new JsonObject { ["Name"] = name, ["MaximumRetryCount"] = count };
    }

    /// <summary>"nofile=1024:2048" or "nproc=100" (soft = hard).</summary>
    private static JsonNode Ulimit(string text)
    {
        string[] kv = text.Split('=', 2);
        string[] values = kv.Length == 2 ? kv[1].Split(':') : [];
        if (kv.Length != 2 || values.Length is 0 or > 2
            || !long.TryParse(values[0], CultureInfo.InvariantCulture, out long soft)
            || !long.TryParse(values[^1], CultureInfo.InvariantCulture, out long hard))
            throw new CliException($"invalid argument \"{text}\" for \"--ulimit\" flag: invalid ulimit argument: {text}", 125);
        if (soft > hard)
            throw new CliException($"invalid argument \"{text}\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}", 125);
        return new JsonObject { ["Name"] = kv[0], ["Hard"] = hard, ["Soft"] = soft };
    }

    /// <summary>"/dev/x", "/dev/x:/dev/y", "/dev/x:rw" or "/dev/x:/dev/y:rwm".</summary>
    private static JsonNode Device(string text)
    {
        string[] parts = text.Split(':');
        string host = parts[0], container = host, permissions = "rwm";
        if (parts.Length == 2 && parts[1].All(ch => ch is 'r' or 'w' or 'm')) permissions = parts[1];
        else if (parts.Length >= 2) container = parts[1];
        if (parts.Length == 3) permissions = parts[2];
        if (parts.Length > 3) throw new CliException($"invalid argument \"{text}\" for \"--device\" flag: invalid device specification: {text}", 125);
        return new JsonObject { ["PathOnHost"] = host, ["PathInContainer"] = container, ["CgroupPermissions"] = permissions };
    }
}
