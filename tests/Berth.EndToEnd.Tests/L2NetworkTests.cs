using System.Diagnostics;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>macvlan and ipvlan networks through the docker CLI on the real kernel. The parent is one end of a veth
/// pair the test makes; the other end sits in a "segment" namespace of the test's own, a host on the same L2 segment
/// with an address of the network's subnet.</summary>
public sealed class L2NetworkTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    /// <summary>A namespace on the other end of a veth pair whose host end (<see cref="Parent"/>, no address) is the
    /// networks' parent; it serves a file over HTTP at <see cref="Address"/>.</summary>
    private sealed class Segment : IDisposable
    {
        private readonly Process? _httpd;
        private readonly string _root = Path.Combine("/tmp", TestNames.Unique("berth-seg-", 20));

        public string Namespace { get; } = TestNames.Unique("bsg", 12);
        /// <summary>Short, so that a VLAN sub-interface "parent.42" fits in 15 characters.</summary>
        public string Parent { get; } = TestNames.Unique("bpa", 10);
        public string Subnet { get; } = EngineProcess.FreeTestSubnet();
        public string Prefix => Subnet[..Subnet.LastIndexOf('.')];
        public string Address => Prefix + ".250";
        /// <summary>The segment's unique local /64 (its host is ::250 in it) for dual-stack networks.</summary>
        public string Subnet6 { get; } = EngineProcess.FreeTestSubnetV6();
        public string Address6 => Subnet6.Replace("::/64", "::250", StringComparison.Ordinal);
        public string Marker { get; } = TestNames.Unique("seg", 20);

        public Segment()
        {
            try
            {
                Check(Sh.Bash($"""
                    set -e
                    ip netns add {Namespace}
                    ip link add {Parent} type veth peer name seg0 netns {Namespace}
                    ip link set {Parent} up
                    ip -n {Namespace} link set lo up
                    ip -n {Namespace} addr add {Address}/24 dev seg0
                    ip -n {Namespace} addr add {Address6}/64 dev seg0 nodad
                    ip -n {Namespace} link set seg0 up
                    """));
                Directory.CreateDirectory(_root);
                File.WriteAllText(Path.Combine(_root, "index.html"), Marker + "\n");
                _httpd = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", Namespace, "busybox", "httpd", "-f", "-p", "80", "-h", _root])
                    { RedirectStandardOutput = true, RedirectStandardError = true });
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>An HTTP GET from the segment's host (curl exit 0 and the body when answered).</summary>
        public ShResult Curl(string address) =>
            Sh.Bash($"ip netns exec {Namespace} curl -g -s -m 3 --noproxy '*' http://{(address.Contains(':') ? $"[{address}]" : address)}/",
                TimeSpan.FromSeconds(20));

        public void Dispose()
        {
            try { _httpd?.Kill(); } catch (InvalidOperationException) { }
            _httpd?.Dispose();
            Sh.Bash($"ip netns del {Namespace} 2>/dev/null; ip link del {Parent} 2>/dev/null; true");
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }

        private static void Check(ShResult r)
        {
            if (r.ExitCode != 0) throw new InvalidOperationException($"exit {r.ExitCode}: {r.Stderr}{r.Stdout}");
        }
    }

    private string AddressOn(string container, string net) =>
        Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", container)).Stdout.Trim();

    /// <summary>An HTTP GET with busybox nc from inside a container: the body, or nothing.</summary>
    private ShResult Get(string from, string address) =>
        Engine.Docker("exec", from, "sh", "-c", $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} 80");

    private static ShResult Has(ShResult result, string text) => result.Stdout.Contains(text) ? result : result with { ExitCode = 1 };

    private void Cleanup(string[] containers, params string[] networks)
    {
        foreach (string c in containers) Engine.Docker("rm", "-f", c);
        foreach (string n in networks) Engine.Docker("network", "rm", n);
    }

    private static bool LinkExists(string name) => Directory.Exists($"/sys/class/net/{name}");

    /// <summary>Whether this kernel makes links of <paramref name="type"/> on <paramref name="parent"/> (ipvlan and
    /// 802.1Q are often left out of small kernels); the probe link is removed again.</summary>
    private static bool KernelMakes(string parent, string type)
    {
        string probe = TestNames.Unique("bkp", 12);
        bool made = Sh.Run("ip", ["link", "add", "link", parent, "name", probe, "type", .. type.Split(' ')]).ExitCode == 0;
        Sh.Run("ip", ["link", "del", probe]);
        return made;
    }

    [Fact]
    public void Macvlan_containers_reach_each_other_and_the_segment_which_reaches_them_at_their_own_addresses()
    {
        using var segment = new Segment();
        string net = TestNames.Unique("mv", 12), a = TestNames.Unique("ma", 12), b = TestNames.Unique("mb", 12);
        int port = Ports.Free();
        try
        {
            Ok(Engine.Docker("network", "create", "-d", "macvlan", "--subnet", segment.Subnet, "-o", $"parent={segment.Parent}", net));
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "-p", $"{port}:80", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "webapp:noexpose"));
            string ipA = AddressOn(a, net), ipB = AddressOn(b, net);
            Assert.StartsWith(segment.Prefix + ".", ipA);

            // The segment's host reaches each container at its own address and is seen with its own (no NAT).
            Assert.Contains($"Remote IP:</b> {segment.Address}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(ipA))).Stdout);
            Assert.Contains("Hostname", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(ipB))).Stdout);
            // Containers reach the segment's host, and each other by name (the embedded resolver, as on bridges).
            Assert.Contains(segment.Marker, WaitFor.UntilSuccess(() => Has(Get(a, segment.Address), segment.Marker)).Stdout);
            Assert.Contains($"Remote IP:</b> {ipA}", WaitFor.UntilSuccess(() => LocalHttp.Answered(Get(a, b))).Stdout);
            // Their default route is the network's gateway, their MACs are their own (not the parent's).
            Assert.Contains($"default via {segment.Prefix}.1", Ok(Engine.Docker("exec", a, "ip", "route")).Stdout);
            string parentMac = File.ReadAllText($"/sys/class/net/{segment.Parent}/address").Trim();
            Assert.NotEqual(parentMac, Ok(Engine.Docker("exec", a, "cat", "/sys/class/net/eth0/address")).Stdout.Trim());

            // -p is ignored on macvlan, as dockerd does; inspect and ls show the driver; no bridge and no NAT rules.
            Assert.Equal("", Ok(Engine.Docker("port", a)).Stdout.Trim());
            Assert.Equal("macvlan", Ok(Engine.Docker("network", "inspect", "-f", "{{.Driver}}", net)).Stdout.Trim());
            Assert.Equal(segment.Parent, Ok(Engine.Docker("network", "inspect", "-f", "{{index .Options \"parent\"}}", net)).Stdout.Trim());
            Assert.Contains(net, Ok(Engine.Docker("network", "ls", "--filter", "driver=macvlan", "--format", "{{.Name}} {{.Driver}}")).Stdout);
            Assert.DoesNotContain(ipA, Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout);

            // A port leaves with its container, the parent stays (it is not Berth's).
            Ok(Engine.Docker("network", "disconnect", net, b));
            Assert.NotEqual(0, Engine.Docker("exec", b, "cat", "/sys/class/net/eth0/address").ExitCode);
            Assert.NotEqual(0, segment.Curl(ipB).ExitCode);
        }
        finally { Cleanup([a, b], net); }
        Assert.True(LinkExists(segment.Parent));
    }

    /// <summary>A dual-stack macvlan network with two subnets per family: the v4 range of the first pool holds one
    /// address, so the second container's goes to the next pool, as dockerd's IPAM allocates; `--ip6` names an address of
    /// the second v6 pool. Each container routes through its own pool's gateways, and the segment's host talks to the
    /// first one over IPv6 at their own addresses.</summary>
    [Fact]
    public void Macvlan_dual_stack_with_several_subnets_reaches_the_segment_over_ipv6()
    {
        using var segment = new Segment();
        string net = TestNames.Unique("m6", 12), a = TestNames.Unique("6a", 12), b = TestNames.Unique("6b", 12), c = TestNames.Unique("6c", 12);
        string second4 = EngineProcess.FreeTestSubnet(), second6 = EngineProcess.FreeTestSubnetV6();
        string prefix2 = second4[..second4.LastIndexOf('.')];
        string v6Base = segment.Subnet6.Replace("::/64", "::", StringComparison.Ordinal), v6Base2 = second6.Replace("::/64", "::", StringComparison.Ordinal);
        try
        {
            // Through the API: the docker CLI sends several --subnet in Go map order (random), and the pools' order matters.
            string body = JsonSerializer.Serialize(new
            {
                Name = net, Driver = "macvlan", EnableIPv6 = true, Options = new Dictionary<string, string> { ["parent"] = segment.Parent },
                IPAM = new { Config = new object[]
                {
                    new { Subnet = segment.Subnet, IPRange = segment.Prefix + ".4/32" }, new { Subnet = second4 },
                    new { Subnet = segment.Subnet6 }, new { Subnet = second6 },
                } },
            });
            var created = Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath, "-H", "Content-Type: application/json", "-d", body,
                "http://localhost/v1.47/networks/create"]);
            Assert.Contains("\"Id\"", created.Stdout);
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "--link-local-ip", "fe80::7:7", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "--ip6", v6Base2 + "9", "webapp:noexpose"));

            string Field(string container, string field) =>
                Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}", container)).Stdout.Trim();
            // Right after start the v6 address is usable: added without duplicate detection, never "tentative".
            string pid = Ok(Engine.Docker("inspect", "-f", "{{.State.Pid}}", a)).Stdout.Trim();
            string addresses = Ok(Sh.Run("nsenter", ["-t", pid, "-n", "ip", "-6", "addr", "show", "dev", "eth0"])).Stdout;
            string global = addresses.Split('\n').Single(l => l.Contains(v6Base + "2/64"));
            Assert.Contains("nodad", global);
            Assert.DoesNotContain("tentative", global);
            Assert.Contains("nodad", addresses.Split('\n').Single(l => l.Contains("inet6 fe80::7:7/64"))); // --link-local-ip
            Assert.Matches(@"inet6 fe80::(?!7:7/)\S+/64 scope link", addresses); // and the kernel's own

            // inspect: the address, prefix and gateway of each family as dockerd shows them.
            Assert.Equal([segment.Prefix + ".4", segment.Prefix + ".1", v6Base + "2", "64", v6Base + "1"],
                new[] { "IPAddress", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPv6Gateway" }.Select(f => Field(a, f)));
            Assert.Equal([prefix2 + ".2", prefix2 + ".1", v6Base2 + "9", v6Base2 + "1"],
                new[] { "IPAddress", "Gateway", "GlobalIPv6Address", "IPv6Gateway" }.Select(f => Field(b, f)));
            Assert.Contains($"default via {prefix2}.1", Ok(Engine.Docker("exec", b, "ip", "route")).Stdout);
            Assert.Contains($"default via {v6Base2}1", Ok(Engine.Docker("exec", b, "ip", "-6", "route")).Stdout);
            Assert.Contains($"default via {v6Base}1", Ok(Engine.Docker("exec", a, "ip", "-6", "route")).Stdout);
            Assert.Equal("true", Ok(Engine.Docker("network", "inspect", "-f", "{{.EnableIPv6}}", net)).Stdout.Trim());
            Assert.Equal($"{segment.Subnet}={segment.Prefix}.1 {second4}={prefix2}.1 {segment.Subnet6}={v6Base}1 {second6}={v6Base2}1",
                Ok(Engine.Docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", net)).Stdout.Trim());

            // Over IPv6 on the segment, both ways, each side seen at its own address.
            Assert.Contains($"Remote IP:</b> {segment.Address6}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(v6Base + "2"))).Stdout);
            Assert.Contains(segment.Marker, WaitFor.UntilSuccess(() => Has(Get(a, segment.Address6), segment.Marker)).Stdout);
            // IPv4 still answers on the same port.
            Assert.Contains($"Remote IP:</b> {segment.Address}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(segment.Prefix + ".4"))).Stdout);

            // connect --ip6 (berth's CLI): a running container's new port answers the segment at that address at once.
            Ok(Engine.Docker("network", "disconnect", net, b));
            Ok(Engine.Client("berth", "network", "connect", "--ip6", v6Base + "77", net, b));
            Assert.Equal(v6Base + "77", Field(b, "GlobalIPv6Address"));
            Assert.Contains($"Remote IP:</b> {segment.Address6}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(v6Base + "77"))).Stdout);

            // --ip6 outside every v6 subnet: dockerd's 400 at create.
            var outside = Engine.Docker("run", "-d", "--name", c, "--network", net, "--ip6", "fd00:1:2:3::9", "webapp:noexpose");
            Assert.NotEqual(0, outside.ExitCode);
            Assert.Contains("no configured subnet contains IP address fd00:1:2:3::9", outside.Stderr);

            // docker-py 7.1: a dual-stack macvlan network from an IPAMPool of each family on the same parent.
            string script = Path.Combine(AppContext.BaseDirectory, "py", "macvlan_ipv6.py");
            var py = Sh.Run("python3", [script, Engine.DockerHost, TestNames.Unique("pm", 10), segment.Parent, EngineProcess.FreeTestSubnet(),
                EngineProcess.FreeTestSubnetV6()], TimeSpan.FromSeconds(120));
            Assert.True(py.ExitCode == 0, py.Stdout + py.Stderr);
            Assert.Contains("ok", py.Stdout);
        }
        finally { Cleanup([a, b, c], net); }
    }

    [Fact]
    public void Ipvlan_l2_shares_the_parents_mac_and_reaches_the_segment()
    {
        using var segment = new Segment();
        string net = TestNames.Unique("iv", 12), a = TestNames.Unique("va", 12), m = TestNames.Unique("vm", 12);
        try
        {
            Ok(Engine.Docker("network", "create", "-d", "ipvlan", "--subnet", segment.Subnet, "--ipv6", "--subnet", segment.Subnet6,
                "-o", $"parent={segment.Parent}", net));
            var mac = Engine.Docker("run", "-d", "--name", m, "--network", net, "--mac-address", "02:42:0a:0b:0c:0d", "webapp:noexpose");
            Assert.NotEqual(0, mac.ExitCode);
            Assert.Contains("do not support custom mac address", mac.Stderr);
            if (!KernelMakes(segment.Parent, "ipvlan mode l2"))
            {
                // A kernel without ipvlan: a clear refusal at start, as a 4xx (docker exits 125).
                var refused = Engine.Docker("run", "-d", "--name", a, "--network", net, "webapp:noexpose");
                Assert.Equal(125, refused.ExitCode);
                Assert.Contains("this kernel has no ipvlan support", refused.Stderr);
                return;
            }
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "webapp:noexpose"));
            string ip = AddressOn(a, net);
            Assert.Contains($"Remote IP:</b> {segment.Address}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(ip))).Stdout);
            Assert.Contains(segment.Marker, WaitFor.UntilSuccess(() => Has(Get(a, segment.Address), segment.Marker)).Stdout);
            string ip6 = Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}", a)).Stdout.Trim();
            Assert.Contains($"Remote IP:</b> {segment.Address6}", WaitFor.UntilSuccess(() => LocalHttp.Answered(segment.Curl(ip6))).Stdout);
            string parentMac = File.ReadAllText($"/sys/class/net/{segment.Parent}/address").Trim();
            Assert.Equal(parentMac, Ok(Engine.Docker("exec", a, "cat", "/sys/class/net/eth0/address")).Stdout.Trim());
            Assert.Equal("ipvlan", Ok(Engine.Docker("network", "inspect", "-f", "{{.Driver}}", net)).Stdout.Trim());
            // One ipvlan network per parent, as dockerd.
            var second = Engine.Docker("network", "create", "-d", "ipvlan", "--subnet", EngineProcess.FreeTestSubnet(), "-o", $"parent={segment.Parent}",
                TestNames.Unique("i2", 12));
            Assert.Contains("already using parent interface", second.Stderr);
        }
        finally { Cleanup([a, m], net); }
    }

    [Fact]
    public void Vlan_and_dummy_parents_are_made_and_removed_with_their_networks_and_bad_options_are_refused()
    {
        using var segment = new Segment();
        string vlanParent = segment.Parent + ".42";
        string vlan = TestNames.Unique("vl", 12), dummy = TestNames.Unique("dm", 12), inside = TestNames.Unique("di", 12);
        try
        {
            if (KernelMakes(segment.Parent, "vlan id 9"))
            {
                Ok(Engine.Docker("network", "create", "-d", "macvlan", "--subnet", EngineProcess.FreeTestSubnet(), "-o", $"parent={vlanParent}", vlan));
                Assert.Contains("vlan protocol 802.1Q id 42", Ok(Sh.Run("ip", ["-d", "link", "show", vlanParent])).Stdout);
                Ok(Engine.Docker("network", "rm", vlan));
                Assert.False(LinkExists(vlanParent));
            }
            else
            {
                var refused = Engine.Docker("network", "create", "-d", "macvlan", "-o", $"parent={vlanParent}", vlan);
                Assert.Contains("no 802.1Q VLAN support", refused.Stderr);
                Assert.NotEqual(0, Engine.Docker("network", "inspect", vlan).ExitCode);
            }

            // No parent: a dummy named after the network, and no way out (no default route).
            // With --ipv6 and no v6 subnet, a /64 from the default pools (dockerd 28 allocates one too). As with dockerd 28
            // (GetSkipGwAlloc), neither pool has a gateway, so the first addresses go to containers, and no default route.
            string subnet = EngineProcess.FreeTestSubnet();
            string id = Ok(Engine.Docker("network", "create", "-d", "macvlan", "--subnet", subnet, "--ipv6", dummy)).Stdout.Trim();
            Assert.True(LinkExists("dm-" + id[..12]));
            string pools = Ok(Engine.Docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", dummy)).Stdout.Trim();
            Assert.Matches(@"^10\.\S+/24= fd[0-9a-f:]+::/64=$", pools);
            Ok(Engine.Docker("run", "-d", "--name", inside, "--network", dummy, "webapp:noexpose"));
            Assert.DoesNotContain("default", Ok(Engine.Docker("exec", inside, "ip", "route")).Stdout);
            Assert.DoesNotContain("default", Ok(Engine.Docker("exec", inside, "ip", "-6", "route")).Stdout);
            Assert.Equal($"{subnet[..subnet.LastIndexOf('.')]}.1 {pools.Split(' ')[1].Split("/")[0]}1 gw= gw6=",
                Ok(Engine.Docker("inspect", "-f", $"{{{{with index .NetworkSettings.Networks \"{dummy}\"}}}}{{{{.IPAddress}}}} {{{{.GlobalIPv6Address}}}} gw={{{{.Gateway}}}} gw6={{{{.IPv6Gateway}}}}{{{{end}}}}", inside)).Stdout.Trim());
            Ok(Engine.Docker("rm", "-f", inside));
            Ok(Engine.Docker("network", "rm", dummy));
            Assert.False(LinkExists("dm-" + id[..12]));

            foreach (var (options, message) in new[]
                     {
                         (new[] { "-d", "macvlan", "-o", "macvlan_mode=sideways" }, "requested macvlan mode 'sideways' is not valid"),
                         (new[] { "-d", "ipvlan", "-o", "ipvlan_mode=l4" }, "requested ipvlan mode 'l4' is not valid"),
                         (new[] { "-d", "macvlan", "-o", "parent=lo" }, "loopback interface is not a valid macvlan parent link"),
                         (new[] { "-d", "macvlan", "-o", "parent=nosuchlink0" }, "invalid subinterface vlan name nosuchlink0"),
                         (new[] { "-d", "macvlan", "-o", $"parent={segment.Parent}.5000" }, "vlan id must be between 1-4094"),
                     })
            {
                var refused = Engine.Docker(["network", "create", .. options, TestNames.Unique("nb", 12)]);
                Assert.NotEqual(0, refused.ExitCode);
                Assert.Contains(message, refused.Stderr);
            }
        }
        finally { Cleanup([inside], vlan, dummy); }
    }
}
