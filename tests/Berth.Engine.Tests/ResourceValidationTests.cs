using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Resources;
using Berth.Runtime.Resources;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>Resource settings checked at create and update with dockerd's messages, and `docker top`'s ps parsing.</summary>
public sealed class ResourceValidationTests
{
    private static readonly CgroupHost Host = new(CgroupVersion.V1, "/sys/fs/cgroup",
        new CgroupFeatures(true, true, true, true, true, true, true, true, true));

    private static string Refusal(HostConfig hc) =>
        Assert.Throws<BadRequestException>(() => ContainerResources.Validate(hc, Host, 2)).Message;

    [Fact]
    public void Bad_values_are_400s_with_dockerds_messages()
    {
        Assert.Equal("Minimum memory limit allowed is 6MB", Refusal(new HostConfig { Memory = 1 << 20 }));
        Assert.Contains("should always set the Memory limit", Refusal(new HostConfig { MemorySwap = 64 << 20 }));
        Assert.Contains("memoryswap limit should be larger", Refusal(new HostConfig { Memory = 64 << 20, MemorySwap = 32 << 20 }));
        Assert.Contains("memory reservation", Refusal(new HostConfig { Memory = 16 << 20, MemoryReservation = 32 << 20 }));
        Assert.Equal("Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            Refusal(new HostConfig { NanoCpus = 3_000_000_000 }));
        Assert.Contains("Nano CPUs and CPU Period", Refusal(new HostConfig { NanoCpus = 1, CpuPeriod = 100000 }));
        Assert.Contains("CPU cfs period", Refusal(new HostConfig { CpuPeriod = 10 }));
        Assert.Contains("blkio weight", Refusal(new HostConfig { BlkioWeight = 5 }));
        Assert.Contains("Requested CPUs are not available", Refusal(new HostConfig { CpusetCpus = "0-2" }));
        Assert.Contains("invalid ulimit type", Refusal(new HostConfig { Ulimits = [new UlimitConfig { Name = "bogus" }] }));
        Assert.Contains("soft limit must be less", Refusal(new HostConfig
            { Ulimits = [new UlimitConfig { Name = "nofile", Soft = 10, Hard = 5 }] }));
        Assert.Contains("sysctl 'kernel.panic' is not allowed", Refusal(new HostConfig
            { Sysctls = new() { ["kernel.panic"] = "1" } }));
        Assert.Contains("..", Refusal(new HostConfig { CgroupParent = "/a/../b" }));
        Assert.Contains("error gathering device information", Refusal(new HostConfig
            { Devices = [new DeviceMappingConfig { PathOnHost = "/dev/does-not-exist" }] }));
        Assert.Contains("not a device node", Refusal(new HostConfig
            { Devices = [new DeviceMappingConfig { PathOnHost = "/etc/hostname" }] }));
    }

    [Fact]
    public void Good_values_pass_and_swap_defaults_to_twice_the_memory()
    {
        var hc = new HostConfig
        {
            Memory = 32 << 20, NanoCpus = 500_000_000, CpusetCpus = "0-1", BlkioWeight = 500,
            Sysctls = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.shmmax"] = "1", ["fs.mqueue.msg_max"] = "5" },
            Devices = [new DeviceMappingConfig { PathOnHost = "/dev/null" }],
            Ulimits = [new UlimitConfig { Name = "nofile", Soft = 10, Hard = 20 }],
        };
        ContainerResources.Validate(hc, Host, 2);
        Assert.Equal(64 << 20, hc.MemorySwap);
        var limits = ContainerResources.ToLimits(hc);
        Assert.Equal("/dev/null", limits.Devices[0].PathInContainer);
        Assert.Equal("rwm", limits.Devices[0].CgroupPermissions);
    }

    [Fact]
    public void Update_changes_only_what_is_given_and_cpus_replace_quota()
    {
        var current = new HostConfig { Memory = 32 << 20, MemorySwap = 64 << 20, CpuQuota = 50000, CpuPeriod = 100000, PidsLimit = 10 };
        var updated = ResourceUpdate.Apply(current, new HostConfig { NanoCpus = 1_000_000_000 },
            new JsonObject { ["NanoCpus"] = 1_000_000_000 });
        Assert.Equal((0L, 0L, 1_000_000_000L, 32L << 20, 10L),
            (updated.CpuQuota, updated.CpuPeriod, updated.NanoCpus, updated.Memory, updated.PidsLimit));
        Assert.Equal(50000, current.CpuQuota);
        var pids = ResourceUpdate.Apply(current, new HostConfig { PidsLimit = 0 }, new JsonObject { ["PidsLimit"] = 0 });
        Assert.Equal(0, pids.PidsLimit);
        var e = Assert.Throws<BadRequestException>(() =>
            ResourceUpdate.Apply(current, new HostConfig { Memory = 128 << 20 }, new JsonObject()));
        Assert.Contains("update the memoryswap at the same time", e.Message);
    }

    [Fact]
    public void Ps_output_is_filtered_to_the_containers_pids_with_the_command_kept_whole()
    {
        const string output =
            "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
            "root           1       0  0 00:01 ?        00:00:01 /sbin/init splash\n" +
            "root         420       1  0 00:02 ?        00:00:00 sleep 300 --flag\n";
        var (titles, processes) = PsOutput.Filter(output, new HashSet<int> { 420 });
        Assert.Equal(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], titles);
        Assert.Equal(["root", "420", "1", "0", "00:02", "?", "00:00:00", "sleep 300 --flag"], Assert.Single(processes));
        Assert.Throws<FormatException>(() => PsOutput.Filter("COMMAND\nsleep\n", new HashSet<int>()));
    }
}
