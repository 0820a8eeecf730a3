namespace Berth.Runtime.Security;

/// <summary>A container's capability set as dockerd computes it: the default set, minus CapDrop, plus CapAdd;
/// `ALL` in CapAdd means every capability but the dropped ones, `ALL` in CapDrop means only the added ones;
/// privileged means every capability the daemon itself holds (its bounding set: a sandbox may lack some, and a
/// runtime asked for one it cannot give fails).</summary>
public static class Capabilities
{
    public static readonly IReadOnlyList<string> Default =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];

    /// <summary>Every capability by number (linux/capability.h).</summary>
    private static readonly string[] ByNumber =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    private static readonly Lazy<IReadOnlyList<string>> HostAll = new(() => FromMask(HostBoundingSet()));

    /// <summary>Every capability this daemon can give: its bounding set.</summary>
    public static IReadOnlyList<string> All => HostAll.Value;

    public static IReadOnlyList<string> AllUpTo(int lastCapability) =>
        ByNumber.Take(Math.Clamp(lastCapability + 1, 1, ByNumber.Length)).ToArray();

    /// <summary>The capabilities whose bits are set in a mask such as /proc/self/status's CapBnd.</summary>
    public static IReadOnlyList<string> FromMask(ulong mask) =>
        ByNumber.Where((_, bit) => (mask & (1UL << bit)) != 0).ToArray();

    /// <summary>Upper case with the CAP_ prefix; `ALL` stays. An unknown name is an error, as in dockerd, and so is
    /// one this daemon does not hold itself.</summary>
    public static List<string> Normalize(IEnumerable<string>? names, string field,
        IReadOnlyList<string>? available = null)
    {
        var result = new List<string>();
        foreach (string raw in names ?? [])
        {
            string name = raw.ToUpperInvariant();
            if (name != "ALL" && !name.StartsWith("CAP_", StringComparison.Ordinal)) name = "CAP_" + name;
            if (name != "ALL" && !ByNumber.Contains(name))
                throw new SecurityOptionException($"invalid {field}: unknown capability: \"{name}\"");
            if (name != "ALL" && !(available ?? All).Contains(name))
                throw new SecurityOptionException($"invalid {field}: capability not supported by your kernel or not "
                    + $"available in the current environment: \"{name}\"");
            result.Add(name);
        }
        return result;
    }

    public static List<string> Effective(bool privileged, IEnumerable<string>? add, IEnumerable<string>? drop,
        IReadOnlyList<string>? all = null)
    {
        all ??= All;
        if (privileged) return all.ToList();
        var adds = Normalize(add, "CapAdd", all);
        var drops = Normalize(drop, "CapDrop", all);
        IEnumerable<string> caps;
        if (adds.Contains("ALL")) caps = all.Where(c => !drops.Contains(c));
        else if (drops.Contains("ALL")) caps = adds;
        else caps = Default.Where(c => !drops.Contains(c)).Concat(adds);
        return caps.Distinct().ToList();
    }

    private static ulong HostBoundingSet()
    {
        try
        {
            string? line = File.ReadLines("/proc/self/status")
                .FirstOrDefault(l => l.StartsWith("CapBnd:", StringComparison.Ordinal));
            if (line is not null) return Convert.ToUInt64(line["CapBnd:".Length..].Trim(), 16);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { }
        return (1UL << (Array.IndexOf(ByNumber, "CAP_AUDIT_READ") + 1)) - 1;
    }
}
