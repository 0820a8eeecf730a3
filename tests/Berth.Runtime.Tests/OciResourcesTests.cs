using System.Text.Json.Nodes;
using Berth.Runtime.Containers;
using Berth.Runtime.Oci;
using Berth.Runtime.Resources;
using Berth.Runtime.Security;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>config.json's limits for cgroup v1 and v2 hosts, and the parsers of the kernel's figures.</summary>
public sealed class OciResourcesTests
{
    private static readonly CgroupFeatures All = new(true, true, true, true, true, true, true, true, true);
    private static readonly CgroupHost V1 = new(CgroupVersion.V1, "/sys/fs/cgroup", All);
    /// <summary>A v2 host as Detect reports one: no OOM-killer switch, no swappiness.</summary>
    private static readonly CgroupHost V2 = new(CgroupVersion.V2, "/sys/fs/cgroup",
        All with { OomKillDisable = false, Swappiness = false });

    private static readonly ResourceLimits Limits = new()
    {
        Memory = 32 << 20, MemorySwap = 64 << 20, MemoryReservation = 16 << 20, MemorySwappiness = 10,
        OomKillDisable = true, NanoCpus = 1_500_000_000, CpuShares = 512, CpusetCpus = "0", CpusetMems = "0",
        PidsLimit = 50, BlkioWeight = 300,
        Ulimits = [new Ulimit("nofile", 100, 200), new Ulimit("nproc", 10, 20)],
        Devices = [new DeviceMapping("/dev/null", "/dev/mynull", "rw")],
        DeviceCgroupRules = ["c 1:* rm"],
        Sysctls = new Dictionary<string, string> { ["net.ipv4.ip_forward"] = "1" },
        CgroupParent = "/custom",
    };

    private static JsonObject Build(CgroupHost host, ResourceLimits limits) =>
        JsonNode.Parse(OciSpecBuilder.Build(new ContainerSpec
        {
            Id = "abc", BundleDirectory = "/tmp/x", Resources = limits,
            DeviceNodes = limits.Devices.Select(d => new DeviceNode(d.PathInContainer, 'c', 1, 3, 0x1b6, 0, 0)).ToList(),
        }, "/rootfs", hostNofileHardLimit: 4096, cgroups: host))!.AsObject();

    [Fact]
    public void Cgroup_v1_gets_every_limit()
    {
        var linux = Build(V1, Limits)["linux"]!;
        var r = linux["resources"]!;
        Assert.Equal("""{"limit":33554432,"reservation":16777216,"swap":67108864,"swappiness":10,"disableOOMKiller":true}""",
            r["memory"]!.ToJsonString());
        Assert.Equal("""{"shares":512,"period":100000,"quota":150000,"cpus":"0","mems":"0"}""", r["cpu"]!.ToJsonString());
        Assert.Equal(50, (long)r["pids"]!["limit"]!);
        Assert.Equal(300, (int)r["blockIO"]!["weight"]!);
        Assert.Equal("/custom/abc", (string?)linux["cgroupsPath"]);
        Assert.Equal("1", (string?)linux["sysctl"]!["net.ipv4.ip_forward"]);
    }

    [Fact]
    public void Cgroup_v2_leaves_out_what_it_cannot_enforce()
    {
        var memory = Build(V2, Limits)["linux"]!["resources"]!["memory"]!;
        Assert.Equal("""{"limit":33554432,"reservation":16777216,"swap":67108864}""", memory.ToJsonString());
        var noSwap = new CgroupHost(CgroupVersion.V2, "/", V2.Features with { SwapLimit = false, CpuCfs = false });
        var resources = Build(noSwap, Limits)["linux"]!["resources"]!;
        Assert.Null(resources["memory"]!["swap"]);
        Assert.Equal("""{"shares":512,"cpus":"0","mems":"0"}""", resources["cpu"]!.ToJsonString());
    }

    [Fact]
    public void Devices_rules_and_ulimits_are_added_to_the_defaults()
    {
        var root = Build(V1, Limits);
        var rules = root["linux"]!["resources"]!["devices"]!.AsArray();
        Assert.Equal("""{"allow":false,"access":"rwm"}""", rules[0]!.ToJsonString());
        Assert.Equal("""{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}""", rules[1]!.ToJsonString());
        Assert.Equal("""{"allow":true,"type":"c","major":1,"access":"rm"}""", rules[2]!.ToJsonString());
        Assert.Equal("/dev/mynull", (string?)root["linux"]!["devices"]![0]!["path"]);
        var rlimits = root["process"]!["rlimits"]!.AsArray().Select(r => r!.ToJsonString()).ToList();
        Assert.Equal(
        [
            """{"type":"RLIMIT_NOFILE","hard":200,"soft":100}""", """{"type":"RLIMIT_NPROC","hard":20,"soft":10}""",
        ], rlimits);
    }

    [Fact]
    public void No_limits_keep_the_default_spec()
    {
        var root = Build(V1, ResourceLimits.None);
        Assert.Equal("/berth/abc", (string?)root["linux"]!["cgroupsPath"]);
        Assert.Equal("""{"devices":[{"allow":false,"access":"rwm"}]}""", root["linux"]!["resources"]!.ToJsonString());
        Assert.Null(root["linux"]!["sysctl"]);
        Assert.Equal("""[{"type":"RLIMIT_NOFILE","hard":4096,"soft":4096}]""", root["process"]!["rlimits"]!.ToJsonString());
    }

    [Theory]
    [InlineData("c 1:3 r")]
    [InlineData("a *:* rwm")]
    [InlineData("b 8:* w")]
    public void Device_cgroup_rules_in_dockers_form_parse(string rule) => OciResources.ParseDeviceCgroupRule(rule);

    [Theory]
    [InlineData("x 1:3 r")]
    [InlineData("c 1 r")]
    [InlineData("c 1:3 q")]
    [InlineData("c a:3 r")]
    [InlineData("")]
    public void Malformed_device_cgroup_rules_are_refused(string rule) =>
        Assert.Throws<ArgumentException>(() => OciResources.ParseDeviceCgroupRule(rule));

    [Fact]
    public void Host_hard_limits_come_from_proc_limits()
    {
        string[] limits =
        [
            "Limit                     Soft Limit           Hard Limit           Units     ",
            "Max processes             63704                63704                processes ",
            "Max open files            1024                 524288               files     ",
            "Max locked memory         8388608              unlimited            bytes     ",
        ];
        Assert.Equal(524288UL, HostRlimits.HardLimit("nofile", limits));
        Assert.Equal(63704UL, HostRlimits.HardLimit("nproc", limits));
        Assert.Null(HostRlimits.HardLimit("memlock", limits));
    }

    [Fact]
    public void Kernel_figures_parse_as_dockerd_reads_them()
    {
        var v1 = ContainerStatsReader.ParseBlkioV1("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n");
        Assert.Equal([new BlkioEntry(8, 0, "Read", 4096), new BlkioEntry(8, 0, "Write", 8192), new BlkioEntry(8, 0, "Sync", 0)], v1);
        var (bytes, serviced) = ContainerStatsReader.ParseIoStatV2("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        Assert.Equal([new BlkioEntry(259, 0, "read", 10), new BlkioEntry(259, 0, "write", 20)], bytes);
        Assert.Equal([new BlkioEntry(259, 0, "read", 1), new BlkioEntry(259, 0, "write", 2)], serviced);
        var net = ContainerStatsReader.ParseNetDev(
            "Inter-|   Receive                                                |  Transmit\n" +
            " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
            "    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n" +
            "  eth0:    1500      12    1    2    0     0          0         0      900       7    3    4    0     0       0          0\n");
        Assert.Equal(["eth0"], net.Keys);
        Assert.Equal(new NetworkSample(1500, 12, 1, 2, 900, 7, 3, 4), net["eth0"]);
        var (system, online) = ContainerStatsReader.HostCpu(
            "cpu  10 0 20 70 0 0 0 0 0 0\ncpu0 5 0 10 35 0 0 0 0 0 0\ncpu1 5 0 10 35 0 0 0 0 0 0\nintr 1\n");
        Assert.Equal(100UL * 10_000_000, system);
        Assert.Equal(2, online);
    }

    [Fact]
    public void The_cgroup_layout_of_this_host_is_detected()
    {
        var host = CgroupHost.Detect();
        Assert.Equal(File.Exists("/sys/fs/cgroup/cgroup.controllers") ? CgroupVersion.V2 : CgroupVersion.V1, host.Version);
        Assert.True(host.Features.MemoryLimit);
        Assert.True(host.DirectoriesOf(Environment.ProcessId).Count > 0);
    }
}
