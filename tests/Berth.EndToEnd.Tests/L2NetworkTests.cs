using System.Diagnostics;
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
            Sh.Bash($"ip netns exec {Namespace} curl -s -m 3 --noproxy '*' http://{address}/", TimeSpan.FromSeconds(20));

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

    [Fact]
    public void Ipvlan_l2_shares_the_parents_mac_and_reaches_the_segment()
    {
        using var segment = new Segment();
        string net = TestNames.Unique("iv", 12), a = TestNames.Unique("va", 12), m = TestNames.Unique("vm", 12);
        try
        {
            Ok(Engine.Docker("network", "create", "-d", "ipvlan", "--subnet", segment.Subnet, "-o", $"parent={segment.Parent}", net));
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
            string id = Ok(Engine.Docker("network", "create", "-d", "macvlan", "--subnet", EngineProcess.FreeTestSubnet(), dummy)).Stdout.Trim();
            Assert.True(LinkExists("dm-" + id[..12]));
            Ok(Engine.Docker("run", "-d", "--name", inside, "--network", dummy, "webapp:noexpose"));
            Assert.DoesNotContain("default", Ok(Engine.Docker("exec", inside, "ip", "route")).Stdout);
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
