using System.Globalization;

namespace Berth.Runtime.Resources;

/// <summary>The rlimits `--ulimit` can set, by Docker's short names, and this process's hard limits (what the
/// runtime inherits: without CAP_SYS_RESOURCE it cannot raise a hard limit above them).</summary>
public static class HostRlimits
{
    /// <summary>Short name → (OCI type, the row's title in /proc/PID/limits).</summary>
    public static readonly IReadOnlyDictionary<string, (string Type, string Row)> Known =
        new Dictionary<string, (string, string)>
        {
            ["as"] = ("RLIMIT_AS", "Max address space"), ["core"] = ("RLIMIT_CORE", "Max core file size"),
            ["cpu"] = ("RLIMIT_CPU", "Max cpu time"), ["data"] = ("RLIMIT_DATA", "Max data size"),
            ["fsize"] = ("RLIMIT_FSIZE", "Max file size"), ["locks"] = ("RLIMIT_LOCKS", "Max file locks"),
            ["memlock"] = ("RLIMIT_MEMLOCK", "Max locked memory"), ["msgqueue"] = ("RLIMIT_MSGQUEUE", "Max msgqueue size"),
            ["nice"] = ("RLIMIT_NICE", "Max nice priority"), ["nofile"] = ("RLIMIT_NOFILE", "Max open files"),
            ["nproc"] = ("RLIMIT_NPROC", "Max processes"), ["rss"] = ("RLIMIT_RSS", "Max resident set"),
            ["rtprio"] = ("RLIMIT_RTPRIO", "Max realtime priority"), ["rttime"] = ("RLIMIT_RTTIME", "Max realtime timeout"),
            ["sigpending"] = ("RLIMIT_SIGPENDING", "Max pending signals"), ["stack"] = ("RLIMIT_STACK", "Max stack size"),
        };

    /// <summary>The hard limit of one rlimit in a /proc/PID/limits text; null is unlimited.</summary>
    public static ulong? HardLimit(string name, IEnumerable<string>? limitsLines = null)
    {
        string row = Known[name].Row;
        foreach (string line in limitsLines ?? File.ReadLines("/proc/self/limits"))
        {
            if (!line.StartsWith(row, StringComparison.Ordinal)) continue;
            // Columns after the title: soft, hard, units (titles are at most 26 characters wide).
            var columns = line[row.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (columns.Length < 2 || columns[1] == "unlimited") return null;
            return ulong.Parse(columns[1], CultureInfo.InvariantCulture);
        }
        return null;
    }

    /// <summary>CAP_SYS_RESOURCE (bit 24) in this process's effective set: then any hard limit may be raised.</summary>
    public static bool CanRaiseHardLimits()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                return (ulong.Parse(line[7..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1UL << 24)) != 0;
        return false;
    }
}
