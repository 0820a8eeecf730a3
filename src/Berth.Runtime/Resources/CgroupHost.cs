namespace Berth.Runtime.Resources;

public enum CgroupVersion { V1 = 1, V2 = 2 }

/// <summary>The host's cgroup layout, found once at start: v2 when /sys/fs/cgroup is the unified hierarchy, else
/// v1 (a hybrid host keeps v2 at /sys/fs/cgroup/unified, without controllers). What the kernel offers decides which
/// limits reach the runtime and what `info` reports.</summary>
public sealed record CgroupHost(CgroupVersion Version, string Root, CgroupFeatures Features)
{
    public const string DefaultRoot = "/sys/fs/cgroup";

    private static readonly Lazy<CgroupHost> Current = new(() => Detect());

    /// <summary>This host's, detected once.</summary>
    public static CgroupHost Host => Current.Value;

    public static CgroupHost Detect(string root = DefaultRoot)
    {
        if (File.Exists(Path.Combine(root, "cgroup.controllers")))
        {
            var controllers = File.ReadAllText(Path.Combine(root, "cgroup.controllers"))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
            bool memory = controllers.Contains("memory"), cpu = controllers.Contains("cpu");
            return new CgroupHost(CgroupVersion.V2, root, new CgroupFeatures(
                MemoryLimit: memory,
                SwapLimit: memory && HasAny(root, "memory.swap.max"),
                CpuCfs: cpu, CpuShares: cpu,
                CpuSet: controllers.Contains("cpuset"),
                PidsLimit: controllers.Contains("pids"),
                // cgroup v2 has no switch to turn the OOM killer off, nor swappiness.
                OomKillDisable: false, Swappiness: false,
                BlkioWeight: controllers.Contains("io") && HasAny(root, "io.bfq.weight", "io.weight")));
        }
        string M(string controller, string file) => Path.Combine(root, controller, file);
        return new CgroupHost(CgroupVersion.V1, root, new CgroupFeatures(
            MemoryLimit: File.Exists(M("memory", "memory.limit_in_bytes")),
            SwapLimit: File.Exists(M("memory", "memory.memsw.limit_in_bytes")),
            CpuCfs: File.Exists(M("cpu", "cpu.cfs_quota_us")),
            CpuShares: File.Exists(M("cpu", "cpu.shares")),
            CpuSet: File.Exists(M("cpuset", "cpuset.cpus")),
            PidsLimit: File.Exists(M("pids", "pids.max")) || Directory.Exists(Path.Combine(root, "pids")),
            OomKillDisable: File.Exists(M("memory", "memory.oom_control")),
            Swappiness: File.Exists(M("memory", "memory.swappiness")),
            BlkioWeight: File.Exists(M("blkio", "blkio.weight")) || File.Exists(M("blkio", "blkio.bfq.weight"))));
    }

    /// <summary>A v2 interface file shows only in child cgroups: look in the root and its first child.</summary>
    private static bool HasAny(string root, params string[] files)
    {
        var places = new List<string> { root };
        try { places.AddRange(Directory.EnumerateDirectories(root).Take(8)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return places.Any(dir => files.Any(f => File.Exists(Path.Combine(dir, f))));
    }

    /// <summary>The directories of a process's cgroups, from /proc/PID/cgroup: controller name → directory (v1),
    /// or "" → the unified directory (v2).</summary>
    public IReadOnlyDictionary<string, string> DirectoriesOf(int pid)
    {
        var result = new Dictionary<string, string>();
        string unifiedRoot = Version == CgroupVersion.V2 ? Root : Path.Combine(Root, "unified");
        foreach (string line in File.ReadLines($"/proc/{pid}/cgroup"))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            string relative = parts[2].TrimStart('/');
            if (parts[0] == "0" && parts[1] == "")
            {
                result[""] = Path.Combine(unifiedRoot, relative);
                continue;
            }
            // v1 lines may join controllers (cpu,cpuacct); the mount is named after one of them or the pair.
            foreach (string controller in parts[1].Split(','))
            {
                string mount = Directory.Exists(Path.Combine(Root, parts[1])) ? parts[1] : controller;
                result[controller] = Path.Combine(Root, mount, relative);
            }
        }
        return result;
    }
}

/// <summary>Which limits this host's kernel can enforce (dockerd's sysinfo, shown by `info`).</summary>
public sealed record CgroupFeatures(bool MemoryLimit, bool SwapLimit, bool CpuCfs, bool CpuShares, bool CpuSet,
    bool PidsLimit, bool OomKillDisable, bool Swappiness, bool BlkioWeight);
