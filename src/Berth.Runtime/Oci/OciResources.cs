using System.Text.Json.Nodes;
using Berth.Runtime.Resources;
using Berth.Runtime.Security;

namespace Berth.Runtime.Oci;

/// <summary>The cgroup and process limits of config.json: linux.resources (memory, cpu, pids, blockIO, device
/// rules), linux.sysctl, `--device` nodes, `--ulimit` rlimits and the cgroup path. The same OCI fields serve cgroup
/// v1 and v2 (runc turns them into either's files); what the host's kernel cannot enforce is left out, as dockerd
/// drops it with a warning.</summary>
public static class OciResources
{
    /// <summary>CFS period dockerd uses for `--cpus`.</summary>
    public const long NanoCpusPeriod = 100_000;

    public static string CgroupsPath(string id, string cgroupParent) =>
        string.IsNullOrEmpty(cgroupParent) ? $"/berth/{id}" : cgroupParent.TrimEnd('/') + "/" + id;

    /// <summary>linux.resources without the devices list: also the body of `runc update --resources`.</summary>
    public static JsonObject Resources(ResourceLimits limits, CgroupHost host)
    {
        var features = host.Features;
        var resources = new JsonObject();
        var memory = new JsonObject();
        if (limits.Memory > 0 && features.MemoryLimit) memory["limit"] = limits.Memory;
        if (limits.MemoryReservation > 0 && features.MemoryLimit) memory["reservation"] = limits.MemoryReservation;
        if (limits.MemorySwap != 0 && features.SwapLimit) memory["swap"] = limits.MemorySwap;
        if (limits.MemorySwappiness is long swappiness && swappiness >= 0 && features.Swappiness)
            memory["swappiness"] = swappiness;
        if (limits.OomKillDisable && features.OomKillDisable) memory["disableOOMKiller"] = true;
        if (memory.Count > 0) resources["memory"] = memory;

        var cpu = new JsonObject();
        if (limits.CpuShares > 0 && features.CpuShares) cpu["shares"] = limits.CpuShares;
        if (features.CpuCfs)
        {
            if (limits.NanoCpus > 0)
            {
                cpu["period"] = NanoCpusPeriod;
                cpu["quota"] = limits.NanoCpus * NanoCpusPeriod / 1_000_000_000;
            }
            else
            {
                if (limits.CpuPeriod > 0) cpu["period"] = limits.CpuPeriod;
                if (limits.CpuQuota != 0) cpu["quota"] = limits.CpuQuota;
            }
        }
        if (features.CpuSet && limits.CpusetCpus.Length > 0) cpu["cpus"] = limits.CpusetCpus;
        if (features.CpuSet && limits.CpusetMems.Length > 0) cpu["mems"] = limits.CpusetMems;
        if (cpu.Count > 0) resources["cpu"] = cpu;

        if (limits.PidsLimit > 0 && features.PidsLimit) resources["pids"] = new JsonObject { ["limit"] = limits.PidsLimit };
        if (limits.BlkioWeight > 0 && features.BlkioWeight)
            resources["blockIO"] = new JsonObject { ["weight"] = limits.BlkioWeight };
        return resources;
    }

    /// <summary>Adds the limits to a built config.json (<paramref name="root"/>): resources next to the devices
    /// rule already there, the device nodes, sysctls and rlimits (a `--ulimit` replaces the default of its kind).</summary>
    public static void Apply(JsonObject root, string id, ResourceLimits limits, CgroupHost host,
        IReadOnlyList<DeviceNode> deviceNodes)
    {
        var linux = root["linux"]!.AsObject();
        linux["cgroupsPath"] = CgroupsPath(id, limits.CgroupParent);
        var resources = linux["resources"]!.AsObject();
        foreach (var (key, value) in Resources(limits, host)) resources[key] = value?.DeepClone();

        var rules = resources["devices"]!.AsArray();
        foreach (var (node, mapping) in deviceNodes.Zip(limits.Devices))
            rules.Add(DeviceRule(true, node.Type.ToString(), node.Major, node.Minor, mapping.CgroupPermissions));
        foreach (string rule in limits.DeviceCgroupRules)
            rules.Add(ParseDeviceCgroupRule(rule));
        if (deviceNodes.Count > 0)
        {
            var devices = linux["devices"] as JsonArray ?? [];
            foreach (var d in deviceNodes)
            {
                devices.Add(new JsonObject
                {
                    ["path"] = d.Path, ["type"] = d.Type.ToString(), ["major"] = d.Major, ["minor"] = d.Minor,
                    ["fileMode"] = d.FileMode, ["uid"] = d.Uid, ["gid"] = d.Gid,
                });
            }
            linux["devices"] = devices;
        }
        if (limits.Sysctls.Count > 0)
        {
            var sysctl = new JsonObject();
            foreach (var (key, value) in limits.Sysctls) sysctl[key] = value;
            linux["sysctl"] = sysctl;
        }
        if (limits.Ulimits.Count > 0)
        {
            var rlimits = root["process"]!["rlimits"]!.AsArray();
            foreach (var ulimit in limits.Ulimits)
            {
                string type = HostRlimits.Known[ulimit.Name].Type;
                var existing = rlimits.FirstOrDefault(r => (string?)r?["type"] == type);
                if (existing is not null) rlimits.Remove(existing);
                rlimits.Add(new JsonObject { ["type"] = type, ["hard"] = ulimit.Hard, ["soft"] = ulimit.Soft });
            }
        }
    }

    /// <summary>`--device-cgroup-rule "c 1:3 mr"`: type (a, b, c), major:minor (each a number or *), access (rwm).</summary>
    public static JsonObject ParseDeviceCgroupRule(string rule)
    {
        string[] parts = rule.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[0] is not ("a" or "b" or "c") || parts[1].Split(':') is not [var major, var minor]
            || !IsDeviceNumber(major) || !IsDeviceNumber(minor)
            || parts[2].Length == 0 || parts[2].Any(ch => ch is not ('r' or 'w' or 'm')))
            throw new ArgumentException($"invalid device cgroup rule format: '{rule}'");
        return DeviceRule(true, parts[0], major == "*" ? null : uint.Parse(major), minor == "*" ? null : uint.Parse(minor),
            parts[2]);
    }

    private static bool IsDeviceNumber(string s) => s == "*" || (s.Length is > 0 and < 10 && s.All(char.IsAsciiDigit));

    private static JsonObject DeviceRule(bool allow, string type, uint? major, uint? minor, string access)
    {
        var rule = new JsonObject { ["allow"] = allow, ["type"] = type };
        if (major is not null) rule["major"] = major;
        if (minor is not null) rule["minor"] = minor;
        rule["access"] = access;
        return rule;
    }
}
