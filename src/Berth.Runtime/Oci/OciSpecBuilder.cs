using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Runtime.Containers;

namespace Berth.Runtime.Oci;

/// <summary>config.json for a container, with Docker's defaults: capabilities, masked and read-only paths, mounts,
/// namespaces (the network one by path, made by Berth before start), and no rlimit above the host's hard limit
/// (runtimes without CAP_SYS_RESOURCE, as in this sandbox, fail on a higher one).</summary>
public static class OciSpecBuilder
{
    public static readonly string[] DefaultCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ];

    private static readonly string[] AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
        "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    ];

    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    public static readonly string[] ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    public static string Build(ContainerSpec spec, string rootfsPath, uint uid = 0, uint gid = 0, IReadOnlyList<uint>? additionalGids = null,
        ulong? hostNofileHardLimit = null)
    {
        var caps = Capabilities(spec);
        ulong nofile = Math.Min(1048576UL, hostNofileHardLimit ?? HostNofileHardLimit());
        var process = new JsonObject
        {
            ["terminal"] = spec.Tty,
            ["user"] = new JsonObject { ["uid"] = uid, ["gid"] = gid, ["additionalGids"] = Array((additionalGids ?? []).Select(g => (JsonNode)g)) },
            ["args"] = Strings(spec.Args),
            ["env"] = Strings(spec.Env),
            ["cwd"] = string.IsNullOrEmpty(spec.WorkingDir) ? "/" : spec.WorkingDir,
            ["capabilities"] = new JsonObject
            {
                ["bounding"] = Strings(caps), ["effective"] = Strings(caps), ["permitted"] = Strings(caps),
            },
            ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = nofile, ["soft"] = nofile }),
            ["noNewPrivileges"] = false,
        };
        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", spec.Privileged ? "rw" : "ro"]),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
            Mount("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
            Mount("/dev/shm", "shm", "tmpfs", ["nosuid", "noexec", "nodev", "mode=1777", $"size={spec.ShmSize}"]),
        };
        foreach (var (file, target) in new[] { (spec.ResolvConfFile, "/etc/resolv.conf"), (spec.HostnameFile, "/etc/hostname"), (spec.HostsFile, "/etc/hosts") })
            if (!string.IsNullOrEmpty(file)) mounts.Add(Mount(target, file, "bind", ["rbind", "rprivate"]));
        foreach (var m in spec.Mounts)
            mounts.Add(Mount(m.Destination, m.Source, "bind", m.ReadOnly ? ["rbind", "rprivate", "ro"] : ["rbind", "rprivate"]));

        var namespaces = new JsonArray
        {
            new JsonObject { ["type"] = "pid" }, new JsonObject { ["type"] = "ipc" }, new JsonObject { ["type"] = "uts" },
            new JsonObject { ["type"] = "mount" },
            string.IsNullOrEmpty(spec.NetworkNamespacePath)
                ? new JsonObject { ["type"] = "network" }
                : new JsonObject { ["type"] = "network", ["path"] = spec.NetworkNamespacePath },
        };
        var linux = new JsonObject
        {
            ["namespaces"] = namespaces,
            ["cgroupsPath"] = $"/berth/{spec.Id}",
            ["resources"] = new JsonObject { ["devices"] = new JsonArray(new JsonObject { ["allow"] = spec.Privileged, ["access"] = "rwm" }) },
        };
        if (!spec.Privileged)
        {
            linux["maskedPaths"] = Strings(MaskedPaths);
            linux["readonlyPaths"] = Strings(ReadonlyPaths);
        }
        var annotations = new JsonObject();
        foreach (var (k, v) in spec.Annotations) annotations[k] = v;
        var root = new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = process,
            ["root"] = new JsonObject { ["path"] = rootfsPath, ["readonly"] = spec.ReadonlyRootfs },
            ["hostname"] = spec.Hostname,
            ["domainname"] = spec.Domainname,
            ["mounts"] = mounts,
            ["annotations"] = annotations,
            ["linux"] = linux,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }

    public static List<string> Capabilities(ContainerSpec spec)
    {
        if (spec.Privileged) return AllCapabilities.ToList();
        static string Norm(string c) => c.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? c.ToUpperInvariant() : "CAP_" + c.ToUpperInvariant();
        var caps = spec.CapDrop.Any(c => c.Equals("ALL", StringComparison.OrdinalIgnoreCase)) ? new List<string>() : DefaultCapabilities.ToList();
        caps.RemoveAll(c => spec.CapDrop.Select(Norm).Contains(c));
        foreach (string add in spec.CapAdd)
        {
            if (add.Equals("ALL", StringComparison.OrdinalIgnoreCase)) { caps = AllCapabilities.ToList(); continue; }
            if (!caps.Contains(Norm(add))) caps.Add(Norm(add));
        }
        return caps;
    }

    /// <summary>The hard RLIMIT_NOFILE of this process, from /proc/self/limits.</summary>
    public static ulong HostNofileHardLimit()
    {
        foreach (string line in File.ReadLines("/proc/self/limits"))
            if (line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts[4] == "unlimited" ? 1048576UL : ulong.Parse(parts[4]);
            }
        return 1024;
    }

    private static JsonObject Mount(string destination, string source, string type, string[] options) => new()
    {
        ["destination"] = destination, ["type"] = type, ["source"] = source, ["options"] = Strings(options),
    };

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    private static JsonArray Array(IEnumerable<JsonNode> items) => new(items.ToArray());
}
