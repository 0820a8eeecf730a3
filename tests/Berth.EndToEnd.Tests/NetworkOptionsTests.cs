using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Bridge options and network management as Docker's, through the docker CLI against the real kernel:
/// enable_icc, bridge.name, driver.mtu, host_binding_ipv4, --ip-range, --aux-address, --mac-address; `network ls`
/// filters and `network prune` filters.</summary>
public sealed class NetworkOptionsTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private static HttpClient Http => LocalHttp.Client;
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private string Network(params string[] options)
    {
        string name = TestNames.Unique("no", 12);
        Ok(Engine.Docker(["network", "create", .. options, name]));
        return name;
    }

    private string AddressOn(string container, string net) =>
        Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", container)).Stdout.Trim();

    /// <summary>An HTTP GET with busybox nc from inside a container (busybox wget crashes in this image).</summary>
    private ShResult Get(string from, string address) =>
        Engine.Docker("exec", from, "sh", "-c", $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} 80");

    private void Cleanup(string[] containers, params string[] networks)
    {
        foreach (string c in containers) Engine.Docker("rm", "-f", c);
        foreach (string n in networks) Engine.Docker("network", "rm", n);
    }

    [Fact]
    public void Icc_false_isolates_containers_of_the_network_from_each_other_but_not_from_the_host()
    {
        string isolated = Network("--subnet", EngineProcess.FreeTestSubnet(), "-o", "com.docker.network.bridge.enable_icc=false");
        string open = Network("--subnet", EngineProcess.FreeTestSubnet());
        string a = TestNames.Unique("ia", 12), b = TestNames.Unique("ib", 12), c = TestNames.Unique("ic", 12), d = TestNames.Unique("id", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", isolated, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", isolated, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", c, "--network", open, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", d, "--network", open, "webapp:noexpose"));
            string ipA = AddressOn(a, isolated), ipC = AddressOn(c, open);
            // The same probe succeeds on a network with icc (so a failure below is the isolation, not the probe).
            Assert.Contains("Hostname", WaitFor.UntilSuccess(() => LocalHttp.Answered(Get(d, ipC))).Stdout);
            // The host still reaches the isolated container.
            Assert.Contains("Hostname", WaitFor.UntilSuccess(() => Sh.Run("curl", ["-s", "-m", "3", "--noproxy", "*", $"http://{ipA}/"])).Stdout);
            Assert.DoesNotContain("Hostname", Get(b, ipA).Stdout);
            Assert.Equal("false", Ok(Engine.Docker("network", "inspect", "-f",
                "{{index .Options \"com.docker.network.bridge.enable_icc\"}}", isolated)).Stdout.Trim());
        }
        finally { Cleanup([a, b, c, d], isolated, open); }
    }

    [Fact]
    public async Task Bridge_name_mtu_and_host_binding_options_are_applied()
    {
        string bridge = TestNames.Unique("bo", 12);
        string net = Network("--subnet", EngineProcess.FreeTestSubnet(), "-o", $"com.docker.network.bridge.name={bridge}",
            "-o", "com.docker.network.driver.mtu=1400", "-o", "com.docker.network.bridge.host_binding_ipv4=127.0.0.1");
        string name = TestNames.Unique("bm", 12);
        int port = Ports.Free();
        try
        {
            Assert.Equal("1400", File.ReadAllText($"/sys/class/net/{bridge}/mtu").Trim());
            Ok(Engine.Docker("run", "-d", "--name", name, "--network", net, "-p", $"{port}:80", "webapp:noexpose"));
            Assert.Equal("1400", Ok(Engine.Docker("exec", name, "cat", "/sys/class/net/eth0/mtu")).Stdout.Trim());
            Assert.Equal($"127.0.0.1:{port}", Ok(Engine.Docker("port", name, "80")).Stdout.Trim());
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            var bad = Engine.Docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=maybe", TestNames.Unique("nb", 12));
            Assert.Contains("strconv.ParseBool", bad.Stderr);
            var taken = Engine.Docker("network", "create", "-o", $"com.docker.network.bridge.name={bridge}", TestNames.Unique("nt", 12));
            Assert.Contains("already used", taken.Stderr);
        }
        finally { Cleanup([name], net); }
        Assert.False(Directory.Exists($"/sys/class/net/{bridge}"));
    }

    [Fact]
    public void Ip_range_aux_addresses_and_mac_addresses_shape_what_containers_get()
    {
        string subnet = EngineProcess.FreeTestSubnet();
        string prefix = subnet[..subnet.LastIndexOf('.')];
        string net = Network("--subnet", subnet, "--ip-range", $"{prefix}.128/25", "--aux-address", $"router={prefix}.128");
        string a = TestNames.Unique("ra", 12), b = TestNames.Unique("rb", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "--mac-address", "02:42:0a:0b:0c:0d", "webapp:noexpose"));
            Assert.Equal($"{prefix}.129", AddressOn(a, net));
            Assert.Equal("02:42:0a:0b:0c:0d", Ok(Engine.Docker("exec", a, "cat", "/sys/class/net/eth0/address")).Stdout.Trim());
            // An address asked for may lie outside the range, as in Docker.
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "--ip", $"{prefix}.5", "webapp:noexpose"));
            Assert.Equal($"{prefix}.5", AddressOn(b, net));
            var config = JsonNode.Parse(Ok(Engine.Docker("network", "inspect", "-f", "{{json .IPAM.Config}}", net)).Stdout)!.AsArray()[0]!;
            Assert.Equal($"{prefix}.128/25", config["IPRange"]!.GetValue<string>());
            Assert.Equal($"{prefix}.128", config["AuxiliaryAddresses"]!["router"]!.GetValue<string>());

            var outside = Engine.Docker("network", "create", "--subnet", subnet.Replace(".0/24", ".0/25"), "--ip-range", $"{prefix}.128/26",
                TestNames.Unique("nr", 12));
            Assert.NotEqual(0, outside.ExitCode);
        }
        finally { Cleanup([a, b], net); }
    }

    [Fact]
    public void Static_addresses_outside_every_subnet_are_refused_at_create_and_connect_as_dockerd()
    {
        string v4 = EngineProcess.FreeTestSubnet(), other = EngineProcess.FreeTestSubnet();
        string prefix = v4[..v4.LastIndexOf('.')], otherPrefix = other[..other.LastIndexOf('.')];
        string net = Network("--subnet", v4), net2 = Network("--subnet", other);
        string outside = TestNames.Unique("ipo", 12), stopped = TestNames.Unique("ips", 12), running = TestNames.Unique("ipr", 12);
        try
        {
            // At create (a 400 before any container exists), not at start; dockerd names the EndpointsConfig key.
            var refused = Engine.Docker("create", "--name", outside, "--network", net, "--ip", $"{otherPrefix}.5", "webapp:noexpose");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains($"invalid config for network {net}: invalid endpoint settings:\nno configured subnet contains IP address {otherPrefix}.5", refused.Stderr);
            refused = Engine.Docker("run", "-d", "--name", outside, "--network", net, "--ip6", "fd00:dead::5", "webapp:noexpose");
            Assert.Contains($"invalid config for network {net}: invalid endpoint settings:\nno configured subnet contains IP address fd00:dead::5", refused.Stderr);
            refused = Engine.Docker("create", "--name", outside, "--ip", Engine.Gateway[..Engine.Gateway.LastIndexOf('.')] + ".50", "webapp:noexpose");
            Assert.Contains("invalid endpoint settings:\nuser-specified IP address is supported on user-defined networks only", refused.Stderr);
            Assert.Equal("", Ok(Engine.Docker("ps", "-aq", "--filter", $"name={outside}")).Stdout.Trim());

            // At connect, for a stopped container too (it would only have failed at its next start).
            Ok(Engine.Docker("create", "--name", stopped, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", running, "--network", net, "webapp:noexpose"));
            foreach (string container in new[] { stopped, running })
            {
                refused = Engine.Docker("network", "connect", "--ip", $"{prefix}.9", net2, container);
                Assert.Contains($"invalid endpoint settings:\nno configured subnet contains IP address {prefix}.9", refused.Stderr);
                Assert.DoesNotContain("invalid config for network", refused.Stderr);
                Assert.DoesNotContain(net2, Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)).Stdout);
            }
            // An address inside the subnet still goes through.
            Ok(Engine.Docker("network", "connect", "--ip", $"{otherPrefix}.9", net2, running));
            Assert.Equal($"{otherPrefix}.9", AddressOn(running, net2));
        }
        finally { Cleanup([outside, stopped, running], net, net2); }
    }

    [Fact]
    public void Network_ls_filters_and_prune_filters_choose_as_dockerd()
    {
        string used = Network("--subnet", EngineProcess.FreeTestSubnet(), "--label", "suite=netfull");
        string unused = Network("--subnet", EngineProcess.FreeTestSubnet(), "--label", "suite=netfull", "--label", "keep=no");
        string kept = Network("--subnet", EngineProcess.FreeTestSubnet(), "--label", "suite=netfull", "--label", "keep=yes");
        string name = TestNames.Unique("fl", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--network", used, "webapp:noexpose"));
            string dangling = Ok(Engine.Docker("network", "ls", "-q", "--no-trunc", "--filter", "dangling=true", "--format", "{{.Name}}")).Stdout;
            Assert.Contains(unused, dangling);
            Assert.Contains(kept, dangling);
            Assert.DoesNotContain(used, dangling);
            Assert.DoesNotContain("bridge", dangling.Split('\n'));
            string inUse = Ok(Engine.Docker("network", "ls", "--filter", "dangling=false", "--format", "{{.Name}}")).Stdout;
            Assert.Contains(used, inUse);
            Assert.Contains("bridge", inUse.Split('\n'));
            string labelled = Ok(Engine.Docker("network", "ls", "--filter", "label=keep=yes", "--format", "{{.Name}}")).Stdout.Trim();
            Assert.Equal(kept, labelled);
            Assert.NotEqual(0, Engine.Docker("network", "ls", "--filter", "dangling=perhaps").ExitCode);
            Assert.Contains("invalid filter 'until'", Engine.Docker("network", "ls", "--filter", "until=1h").Stderr);
            Assert.Contains("invalid filter: 'type'='odd'", Engine.Docker("network", "ls", "--filter", "type=odd").Stderr);
            Assert.Equal("bridge\nhost\nnone", Ok(Engine.Docker("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}}")).Stdout.Trim());
            // id and name: exact, or a pattern found anywhere (dockerd's filters.Match), not just a prefix.
            string usedId = Ok(Engine.Docker("network", "inspect", "-f", "{{.Id}}", used)).Stdout.Trim();
            Assert.Equal(used, Ok(Engine.Docker("network", "ls", "--filter", $"id={usedId[20..40]}", "--format", "{{.Name}}")).Stdout.Trim());
            Assert.Equal(used, Ok(Engine.Docker("network", "ls", "--filter", $"name={used[3..]}$", "--filter", "type=custom",
                "--filter", "scope=local", "--filter", "driver=bridge", "--format", "{{.Name}}")).Stdout.Trim());
            Assert.Equal("", Ok(Engine.Docker("network", "ls", "--filter", "scope=swarm", "--format", "{{.Name}}")).Stdout.Trim());

            // until: nothing was created a day ago; then label!=keep=yes removes the unused one only.
            Assert.DoesNotContain(unused, Ok(Engine.Docker("network", "prune", "-f", "--filter", "until=24h")).Stdout);
            string pruned = Ok(Engine.Docker("network", "prune", "-f", "--filter", "label=suite=netfull", "--filter", "label!=keep=yes")).Stdout;
            Assert.Contains(unused, pruned);
            Assert.DoesNotContain(kept, pruned);
            Assert.DoesNotContain(used, pruned);
            Assert.NotEqual(0, Engine.Docker("network", "inspect", unused).ExitCode);
            Assert.Equal(0, Engine.Docker("network", "inspect", used).ExitCode);
            // until as dockerd's GetTimestamp reads it: 0 is the epoch (nothing is older), garbage in its words.
            Assert.DoesNotContain(kept, Ok(Engine.Docker("network", "prune", "-f", "--filter", "until=0")).Stdout);
            Assert.Contains("failed to parse value as time or duration: \"garbage\"",
                Engine.Docker("network", "prune", "-f", "--filter", "until=garbage").Stderr);
        }
        finally { Cleanup([name], used, unused, kept); }
    }

    [Fact]
    public void Connect_link_alias_and_link_local_ip_inspect_verbose_and_names_as_dockerd()
    {
        string net = Network("--subnet", EngineProcess.FreeTestSubnet());
        string spaced = "net " + TestNames.Unique("sp", 10);
        string a = TestNames.Unique("ca", 12), b = TestNames.Unique("cb", 12), legacy = TestNames.Unique("cl", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "webapp:noexpose"));
            Ok(Engine.Docker("network", "connect", "--link", $"{a}:dbalias", "--alias", "bee", "--link-local-ip", "169.254.7.7", net, b));
            string hostnameA = Ok(Engine.Docker("exec", a, "hostname")).Stdout.Trim();
            string hostnameB = Ok(Engine.Docker("exec", b, "hostname")).Stdout.Trim();
            // The link's alias names its target on that network; the alias names the connected container.
            Assert.Contains(hostnameA, WaitFor.UntilSuccess(() => LocalHttp.Answered(Get(b, "dbalias"))).Stdout);
            Assert.Contains(hostnameB, WaitFor.UntilSuccess(() => LocalHttp.Answered(Get(a, "bee"))).Stdout);
            Assert.DoesNotContain("Hostname", Get(a, "dbalias").Stdout);
            // The link-local address is on the new interface with dockerd's /16, and inspect shows it.
            Assert.Contains("169.254.7.7/16", Ok(Engine.Docker("exec", b, "ip", "addr", "show", "eth1")).Stdout);
            Assert.Contains("\"LinkLocalIPs\":[\"169.254.7.7\"]", Ok(Engine.Docker("inspect", "-f",
                $"{{{{json (index .NetworkSettings.Networks \"{net}\").IPAMConfig}}}}", b)).Stdout);
            Assert.NotEqual(0, Engine.Docker("network", "connect", "--link-local-ip", "0.0.0.0", net, a).ExitCode);
            // Links as dockerd shows them: the endpoint's as given; HostConfig's only the default bridge's legacy ones.
            Assert.Equal($"[\"{a}:dbalias\"] null", Ok(Engine.Docker("inspect", "-f",
                $"{{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}} {{{{json .HostConfig.Links}}}}", b)).Stdout.Trim());
            Ok(Engine.Docker("create", "--name", legacy, "--link", $"{a}:lk", "webapp:noexpose"));
            Assert.Equal($"[\"/{a}:/{legacy}/lk\"]", Ok(Engine.Docker("inspect", "-f", "{{json .HostConfig.Links}}", legacy)).Stdout.Trim());

            // inspect -v reads a local network the same; a verbose that is no boolean is refused.
            Assert.Equal(Ok(Engine.Docker("network", "inspect", "-f", "{{.Id}} {{.Driver}}", net)).Stdout,
                Ok(Engine.Docker("network", "inspect", "-v", "-f", "{{.Id}} {{.Driver}}", net)).Stdout);
            var bad = Sh.Run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", Engine.SocketPath,
                $"http://x/networks/{net}?verbose=maybe"]);
            Assert.Equal("400", bad.Stdout);
            // The berth CLI: inspect -v, and ls's CreatedAt as Go prints a time, as docker's.
            Assert.Equal(Ok(Engine.Docker("network", "inspect", "-v", net)).Stdout, Ok(Engine.Client("berth", "network", "inspect", "-v", net)).Stdout);
            string[] createdAt = ["network", "ls", "--filter", $"name=^{net}$", "--format", "{{.Name}} {{.CreatedAt}}"];
            Assert.Equal(Ok(Engine.Docker(createdAt)).Stdout, Ok(Engine.Client("berth", createdAt)).Stdout);

            // Names as dockerd: spaces kept, blank and predefined names refused.
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), spaced));
            Assert.Equal(spaced, Ok(Engine.Docker("network", "inspect", "-f", "{{.Name}}", spaced)).Stdout.Trim());
            Assert.Contains("already exists", Engine.Docker("network", "create", spaced).Stderr);
            Assert.Contains("operation is not permitted on predefined host network", Engine.Docker("network", "create", "host").Stderr);
            // --ipv4=false: dockerd 28's refusal without IPv6; an IPv6-only network is refused, not made dual-stack.
            Assert.Contains("IPv4 or IPv6 must be enabled", Engine.Docker("network", "create", "--ipv4=false", spaced + "4").Stderr);
            Assert.Contains("IPv4 or IPv6 must be enabled", Engine.Client("berth", "network", "create", "--ipv4=false", spaced + "4").Stderr);
            // rm and prune print what docker's print, a failure's "exit status 1" and prune's last empty line too.
            foreach (string cli in new[] { "docker", "berth" })
            {
                Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), "--label", $"gone={spaced}", spaced + "r"));
                var rm = Engine.Client(cli, "network", "rm", spaced + "r", spaced + "r");
                Assert.Equal((1, spaced + "r\n", $"Error response from daemon: network {spaced}r not found\nexit status 1\n"), (rm.ExitCode, rm.Stdout, rm.Stderr));
                Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), "--label", $"gone={spaced}", spaced + "p"));
                Assert.Equal($"Deleted Networks:\n{spaced}p\n\n", Ok(Engine.Client(cli, "network", "prune", "-f", "--filter", $"label=gone={spaced}")).Stdout);
            }
            Assert.Contains("IPv6-only networks (EnableIPv4=false) are not supported",
                Engine.Docker("network", "create", "--ipv4=false", "--ipv6", spaced + "6").Stderr);
            Assert.NotEqual(0, Engine.Docker("network", "inspect", spaced + "6").ExitCode);
        }
        finally { Cleanup([legacy, a, b], net, spaced, spaced + "r", spaced + "p"); }
    }

    [Fact]
    public void Several_subnets_put_every_gateway_on_the_bridge_and_under_masquerade_and_allocate_from_each()
    {
        string a = EngineProcess.FreeTestSubnet(), b = EngineProcess.FreeTestSubnet();
        string pa = a[..a.LastIndexOf('.')], pb = b[..b.LastIndexOf('.')];
        string small = pa + ".0/30";
        // Through the API: the docker CLI gathers --subnet flags in a Go map and sends them in random order, and the
        // pools' order is what this test is about (dockerd, too, keeps and allocates in the order it is sent).
        string net = TestNames.Unique("no", 12);
        Ok(Sh.Run("curl", ["-sf", "--unix-socket", Engine.SocketPath, "-H", "Content-Type: application/json", "-d",
            $$$"""{"Name":"{{{net}}}","IPAM":{"Config":[{"Subnet":"{{{small}}}"},{"Subnet":"{{{b}}}","Gateway":"{{{pb}}}.254","AuxiliaryAddresses":{"r":"{{{pb}}}.1"}}]}}""",
            "http://localhost/v1.44/networks/create"]));
        string first = TestNames.Unique("sa", 12), second = TestNames.Unique("sb", 12), pinned = TestNames.Unique("sc", 12);
        try
        {
            Assert.Equal($"[{{\"Subnet\":\"{small}\",\"Gateway\":\"{pa}.1\"}},{{\"Subnet\":\"{b}\",\"Gateway\":\"{pb}.254\",\"AuxiliaryAddresses\":{{\"r\":\"{pb}.1\"}}}}]",
                Ok(Engine.Docker("network", "inspect", "-f", "{{json .IPAM.Config}}", net)).Stdout.Trim());
            string bridge = "br-" + Ok(Engine.Docker("network", "inspect", "-f", "{{.Id}}", net)).Stdout.Trim()[..12];
            string addresses = Ok(Sh.Run("ip", ["-4", "addr", "show", bridge])).Stdout;
            Assert.Contains($"{pa}.1/30", addresses);
            Assert.Contains($"{pb}.254/24", addresses);
            string masquerade = Ok(Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable])).Stdout.Split('\n')
                .Single(l => l.Contains($"oifname != \"{bridge}\" masquerade"));
            Assert.Contains(small, masquerade); // nft lists the set's elements in its own order
            Assert.Contains(b, masquerade);

            // The /30 holds one container; the next comes from the second pool (not its aux address), --ip from either.
            Ok(Engine.Docker("run", "-d", "--name", first, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", second, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", pinned, "--network", net, "--ip", pb + ".99", "webapp:noexpose"));
            Assert.Equal($"{pa}.2", AddressOn(first, net));
            Assert.Equal($"{pb}.2 {pb}.254", Ok(Engine.Docker("inspect", "-f",
                $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}} {{{{(index .NetworkSettings.Networks \"{net}\").Gateway}}}}", second)).Stdout.Trim());
            Assert.Equal($"{pb}.99", AddressOn(pinned, net));
            // Across pools through the gateways on the one bridge.
            Assert.Contains($"Remote IP:</b> {pb}.2", WaitFor.UntilSuccess(() => LocalHttp.Answered(Get(second, $"{pa}.2"))).Stdout);

            var overlap = Engine.Docker("network", "create", "--subnet", pb + ".128/25", TestNames.Unique("ov", 12));
            Assert.Contains("Pool overlaps with other one on this address space", overlap.Stderr);
        }
        finally { Cleanup([first, second, pinned], net); }
    }

    [Fact]
    public void Docker_py_walks_several_pools_connect_list_filters_and_prune()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "networks_multi.py");
        var result = Sh.Run("python3", [script, Engine.DockerHost, TestNames.Unique("pm", 10), EngineProcess.FreeTestSubnet(),
            EngineProcess.FreeTestSubnet()], TimeSpan.FromSeconds(180));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("ok", result.Stdout);
    }
}
