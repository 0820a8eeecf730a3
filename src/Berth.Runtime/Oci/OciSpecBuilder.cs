using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Runtime.Containers;
using Berth.Runtime.Security;

namespace Berth.Runtime.Oci;

/// <summary>config.json for a container, with Docker's defaults: capabilities, masked and read-only paths, mounts,
/// namespaces (the network one by path, made by Berth before start), the seccomp filter, AppArmor profile and
/// devices the host gives it (<see cref="Isolation"/>), and no rlimit above the host's hard limit
/// (runtimes without CAP_SYS_RESOURCE, as in this sandbox, fail on a higher one).</summary>
public static class OciSpecBuilder
{
    public static IReadOnlyList<string> DefaultCapabilities => Security.Capabilities.Default;

    /// <summary>Docker 28's masked paths (moby's oci defaults); the thermal_throttle directory of each CPU is added
    /// where it exists (<see cref="DefaultMaskedPaths"/>).</summary>
    public static readonly string[] MaskedPaths =
    [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ];

    public static readonly string[] ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    private static readonly Lazy<IReadOnlyList<string>> DefaultMasked = new(() =>
    [
        .. MaskedPaths,
        .. ThermalThrottleDirectories(),
    ]);

    /// <summary><see cref="MaskedPaths"/> and this host's /sys/devices/system/cpu/cpuN/thermal_throttle.</summary>
    public static IReadOnlyList<string> DefaultMaskedPaths => DefaultMasked.Value;

    public static string Build(ContainerSpec spec, string rootfsPath, uint uid = 0, uint gid = 0, IReadOnlyList<uint>? additionalGids = null,
        ulong? hostNofileHardLimit = null, Isolation? isolation = null)
    {
        isolation ??= Isolation.None;
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
            ["noNewPrivileges"] = spec.Security.NoNewPrivileges,
        };
        if (isolation.AppArmorProfile is { } appArmor) process["apparmorProfile"] = appArmor;
        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
            Mount("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", spec.Privileged ? "rw" : "ro"]),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup",
                ["nosuid", "noexec", "nodev", "relatime",
                    (spec.Security.WritableCgroups ?? spec.Privileged) ? "rw" : "ro"]),
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
        };
        if (!spec.HostNetwork)
            namespaces.Add(string.IsNullOrEmpty(spec.NetworkNamespacePath)
                ? new JsonObject { ["type"] = "network" }
                : new JsonObject { ["type"] = "network", ["path"] = spec.NetworkNamespacePath });
        var linux = new JsonObject
        {
            ["namespaces"] = namespaces,
            ["cgroupsPath"] = $"/berth/{spec.Id}",
            ["resources"] = new JsonObject { ["devices"] = new JsonArray(new JsonObject { ["allow"] = spec.Privileged, ["access"] = "rwm" }) },
        };
        var (masked, readOnly) = SystemPaths(spec);
        if (masked.Count > 0) linux["maskedPaths"] = Strings(masked);
        if (readOnly.Count > 0) linux["readonlyPaths"] = Strings(readOnly);
        if (isolation.Seccomp is { } seccomp) linux["seccomp"] = seccomp;
        if (isolation.Devices.Count > 0)
            linux["devices"] = new JsonArray(isolation.Devices.Select(d => (JsonNode?)new JsonObject
            {
                ["path"] = d.Path, ["type"] = d.Type.ToString(), ["major"] = d.Major, ["minor"] = d.Minor,
                ["fileMode"] = d.FileMode, ["uid"] = d.Uid, ["gid"] = d.Gid,
            }).ToArray());
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

    /// <summary>The container's capabilities as dockerd computes them (CapAdd/CapDrop with ALL, privileged).</summary>
    public static List<string> Capabilities(ContainerSpec spec) =>
        Security.Capabilities.Effective(spec.Privileged, spec.CapAdd, spec.CapDrop);

    /// <summary>Masked and read-only paths: HostConfig's lists when given, else Docker's defaults (none for a
    /// privileged container); `systempaths=unconfined` clears both, `mask=` adds, `unmask=` removes.</summary>
    public static (List<string> Masked, List<string> ReadOnly) SystemPaths(ContainerSpec spec,
        IReadOnlyList<string>? defaultMasked = null)
    {
        var options = spec.Security;
        if (options.SystemPathsUnconfined) return ([.. options.Mask], []);
        var masked = spec.MaskedPaths?.ToList()
            ?? (spec.Privileged ? [] : (defaultMasked ?? DefaultMaskedPaths).ToList());
        var readOnly = spec.ReadonlyPaths?.ToList() ?? (spec.Privileged ? [] : ReadonlyPaths.ToList());
        foreach (string path in options.Mask)
            if (!masked.Contains(path)) masked.Add(path);
        if (options.UnmaskAll)
        {
            masked.Clear();
            readOnly.Clear();
        }
        masked.RemoveAll(options.Unmask.Contains);
        readOnly.RemoveAll(options.Unmask.Contains);
        return (masked, readOnly);
    }

    private static IEnumerable<string> ThermalThrottleDirectories()
    {
        const string cpus = "/sys/devices/system/cpu";
        if (!Directory.Exists(cpus)) return [];
        try
        {
            return Directory.EnumerateDirectories(cpus, "cpu*")
                .Where(d => Path.GetFileName(d)[3..] is { Length: > 0 } n && n.All(char.IsAsciiDigit))
                .OrderBy(d => int.Parse(Path.GetFileName(d)[3..]))
                .Select(d => d + "/thermal_throttle")
                .Where(Directory.Exists)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
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
