using System.Globalization;
using Berth.Engine.Model;
using Berth.Runtime.Containers;
using Berth.Runtime.Resources;
using Berth.Runtime.Security;

namespace Berth.Engine.Resources;

/// <summary>A container's resource settings between the API and the runtime: settled and checked at create and
/// update as dockerd does (a bad value is a 400 then, not a failed start), turned into runtime limits at start.</summary>
public static class ContainerResources
{
    /// <summary>Docker's floor for `--memory`.</summary>
    public const long MinimumMemory = 6 * 1024 * 1024;

    /// <summary>Sysctls that belong to a namespace the container has of its own (IPC, network), as dockerd allows.</summary>
    private static readonly HashSet<string> NamespacedKernelSysctls =
    [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
        "kernel.shmmni", "kernel.shm_rmid_forced",
    ];

    /// <summary>Where docker-init comes from: Docker's own name on PATH, else Debian's static tini.</summary>
    private static readonly string[] InitCandidates = ["/usr/bin/docker-init", "/usr/local/bin/docker-init",
        "/usr/bin/tini-static", "/usr/bin/tini"];

    public const string InitPathInContainer = "/sbin/docker-init";

    /// <summary>Checks every resource field and fills in dockerd's derived values (swap twice the memory).</summary>
    public static void Validate(HostConfig hc, CgroupHost host, int cpuCount)
    {
        ValidateLimits(hc, cpuCount);
        if (hc.Memory > 0 && hc.MemorySwap == 0 && host.Features.SwapLimit) hc.MemorySwap = hc.Memory * 2;
        if (hc.ShmSize < 0) throw new BadRequestException("SHM size can not be less than 0");
        foreach (var ulimit in hc.Ulimits ?? []) CheckUlimit(ulimit);
        foreach (var (key, _) in hc.Sysctls ?? new()) CheckSysctl(key);
        foreach (var device in hc.Devices ?? []) Node(device);
        foreach (string rule in hc.DeviceCgroupRules ?? [])
        {
            try { Runtime.Oci.OciResources.ParseDeviceCgroupRule(rule); }
            catch (ArgumentException e) { throw new BadRequestException(e.Message, e); }
        }
        if (hc.CgroupParent.Split('/').Contains(".."))
            throw new BadRequestException($"invalid cgroup parent \"{hc.CgroupParent}\": it may not contain \"..\"");
        if (hc.Init == true && InitBinary() is null)
            throw new BadRequestException("docker-init binary not found: install Debian's tini package (tini-static)");
    }

    /// <summary>The limits `docker update` may change, checked as at create (shared by both).</summary>
    public static void ValidateLimits(HostConfig hc, int cpuCount)
    {
        if (hc.Memory != 0 && hc.Memory < MinimumMemory)
            throw new BadRequestException("Minimum memory limit allowed is 6MB");
        if (hc.MemorySwap > 0 && hc.Memory == 0)
            throw new BadRequestException("You should always set the Memory limit when using Memoryswap limit, see usage");
        if (hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory)
            throw new BadRequestException("Minimum memoryswap limit should be larger than memory limit, see usage");
        if (hc.Memory > 0 && hc.MemoryReservation > hc.Memory)
            throw new BadRequestException("Minimum memory limit can not be less than memory reservation limit, see usage");
        // -1 is the docker CLI's "not set": dockerd keeps it as null (inspect shows null).
        if (hc.MemorySwappiness == -1) hc.MemorySwappiness = null;
        if (hc.MemorySwappiness is long sw && sw is < 0 or > 100)
            throw new BadRequestException($"Invalid value: {sw}, valid memory swappiness range is 0-100");
        if (hc.NanoCpus > 0 && hc.CpuPeriod > 0)
            throw new BadRequestException("Conflicting options: Nano CPUs and CPU Period cannot both be set");
        if (hc.NanoCpus > 0 && hc.CpuQuota > 0)
            throw new BadRequestException("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
        if (hc.NanoCpus < 0 || hc.NanoCpus > cpuCount * 1_000_000_000L)
            throw new BadRequestException(
                $"Range of CPUs is from 0.01 to {cpuCount}.00, as there are only {cpuCount} CPUs available");
        if (hc.CpuPeriod != 0 && hc.CpuPeriod is < 1000 or > 1_000_000)
            throw new BadRequestException(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)");
        if (hc.CpuQuota > 0 && hc.CpuQuota < 1000)
            throw new BadRequestException("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        if (hc.CpuShares < 0) throw new BadRequestException("invalid CPU shares: it can not be negative");
        if (hc.BlkioWeight != 0 && hc.BlkioWeight is < 10 or > 1000)
            throw new BadRequestException("Range of blkio weight is from 10 to 1000");
        CheckCpuset(hc.CpusetCpus, cpuCount, "CPUs");
        CheckCpuset(hc.CpusetMems, 1 + HighestNode(), "memory nodes");
    }

    /// <summary>"0-2,4": every listed number must exist on the host.</summary>
    private static void CheckCpuset(string list, int available, string what)
    {
        if (string.IsNullOrEmpty(list)) return;
        foreach (string part in list.Split(','))
        {
            string[] range = part.Split('-');
            if (range.Length > 2 || !range.All(r => int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new BadRequestException($"Invalid value {list} for cpuset cpus");
            if (range.Select(int.Parse).Any(n => n >= available))
                throw new BadRequestException(
                    $"Requested {what} are not available - requested {list}, available: {(available > 1 ? $"0-{available - 1}" : "0")}");
        }
    }

    private static int HighestNode()
    {
        try
        {
            string online = File.ReadAllText("/sys/devices/system/node/online").Trim();
            return int.Parse(online.Split(',', '-')[^1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { return 0; }
    }

    private static void CheckUlimit(UlimitConfig ulimit)
    {
        if (!HostRlimits.Known.ContainsKey(ulimit.Name))
            throw new BadRequestException($"invalid ulimit type: {ulimit.Name}");
        if (ulimit.Soft > ulimit.Hard)
            throw new BadRequestException(
                $"ulimit soft limit must be less than or equal to hard limit: {ulimit.Soft} > {ulimit.Hard}");
        if (HostRlimits.HardLimit(ulimit.Name) is ulong hostHard && (ulong)ulimit.Hard > hostHard
            && !HostRlimits.CanRaiseHardLimits())
            throw new BadRequestException(
                $"ulimit {ulimit.Name}: hard limit {ulimit.Hard} is above the host's hard limit {hostHard}, which the " +
                "engine cannot raise (it lacks CAP_SYS_RESOURCE)");
    }

    private static void CheckSysctl(string key)
    {
        if (NamespacedKernelSysctls.Contains(key) || key.StartsWith("fs.mqueue.", StringComparison.Ordinal)
            || key.StartsWith("net.", StringComparison.Ordinal))
            return;
        throw new BadRequestException(
            $"sysctl '{key}' is not allowed: only namespaced sysctls can be set in a container " +
            "(kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)");
    }

    private static DeviceNode Node(DeviceMappingConfig device)
    {
        string inContainer = string.IsNullOrEmpty(device.PathInContainer) ? device.PathOnHost : device.PathInContainer;
        if (!device.PathOnHost.StartsWith('/') || !inContainer.StartsWith('/'))
            throw new BadRequestException($"invalid device path {device.PathOnHost}:{inContainer}: paths must be absolute");
        string permissions = string.IsNullOrEmpty(device.CgroupPermissions) ? "rwm" : device.CgroupPermissions;
        if (permissions.Any(ch => ch is not ('r' or 'w' or 'm')))
            throw new BadRequestException($"invalid device permissions {permissions}: only r, w and m are allowed");
        try { return HostDevices.Node(device.PathOnHost, inContainer); }
        catch (Exception e) when (e is ArgumentException or Linux.LinuxException)
        {
            throw new BadRequestException(e.Message, e);
        }
    }

    /// <summary>The runtime's limits from the stored HostConfig.</summary>
    public static ResourceLimits ToLimits(HostConfig hc) => new()
    {
        Memory = hc.Memory, MemoryReservation = hc.MemoryReservation, MemorySwap = hc.MemorySwap,
        MemorySwappiness = hc.MemorySwappiness, OomKillDisable = hc.OomKillDisable == true,
        NanoCpus = hc.NanoCpus, CpuShares = hc.CpuShares, CpuQuota = hc.CpuQuota, CpuPeriod = hc.CpuPeriod,
        CpusetCpus = hc.CpusetCpus ?? "", CpusetMems = hc.CpusetMems ?? "", PidsLimit = hc.PidsLimit,
        BlkioWeight = hc.BlkioWeight,
        Ulimits = (hc.Ulimits ?? []).Select(u => new Ulimit(u.Name, u.Soft, u.Hard)).ToList(),
        Devices = (hc.Devices ?? []).Select(d => new DeviceMapping(d.PathOnHost,
            string.IsNullOrEmpty(d.PathInContainer) ? d.PathOnHost : d.PathInContainer,
            string.IsNullOrEmpty(d.CgroupPermissions) ? "rwm" : d.CgroupPermissions)).ToList(),
        DeviceCgroupRules = hc.DeviceCgroupRules ?? [],
        Sysctls = hc.Sysctls ?? new(),
        CgroupParent = hc.CgroupParent ?? "",
    };

    /// <summary>The device nodes of the stored `--device`s, looked up again at each start.</summary>
    public static IReadOnlyList<DeviceNode> DeviceNodes(HostConfig hc) => (hc.Devices ?? []).Select(Node).ToList();

    public static string? InitBinary() => InitCandidates.FirstOrDefault(File.Exists);

    /// <summary>With `--init`, docker-init runs first and the command under it, bound in read-only.</summary>
    public static (IReadOnlyList<string> Args, IReadOnlyList<MountSpec> Mounts) WithInit(HostConfig hc,
        IReadOnlyList<string> args, IReadOnlyList<MountSpec> mounts)
    {
        if (hc.Init != true || InitBinary() is not string init) return (args, mounts);
        return ([InitPathInContainer, "--", .. args], [.. mounts, new MountSpec(init, InitPathInContainer, true)]);
    }
}
