using System.Net.Http;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Published ports seen from another host: a network namespace at 192.168.33.3 linked to the host at
/// 192.168.33.2, as in the seeds. DNAT keeps the client's address; host-address and loopback bindings hold.</summary>
public sealed class NeighbourTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(3) };

    private string Run(string name, params string[] args) => RunWith("docker", name, args);

    private string RunWith(string cli, string name, params string[] args) =>
        EngineFixture.Check(Engine.Client(cli, ["run", "-d", "--name", name, .. args])).Stdout.Trim();

    private string AddressOf(string name, string cli = "docker") =>
        Engine.Client(cli, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).Stdout.Trim();

    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public void A_neighbour_reaches_a_published_port_and_is_seen_with_its_own_address(string cli)
    {
        string name = TestNames.Unique("nb", 12);
        int port = Ports.Free();
        using var neighbour = Neighbour.Create();
        try
        {
            RunWith(cli, name, "-p", $"{port}:80", "webapp:noexpose");
            var answer = WaitFor.UntilSuccess(() => neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/"));
            output.WriteLine(answer.Stdout);
            Assert.Equal(0, answer.ExitCode);
            Assert.Contains($"<b>Remote IP:</b> {Neighbour.Address}", answer.Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public async Task A_port_bound_to_one_host_address_answers_on_that_address_only(string cli)
    {
        string name = TestNames.Unique("ha", 12);
        int port = Ports.Free();
        using var neighbour = Neighbour.Create();
        try
        {
            RunWith(cli, name, "-p", $"{Neighbour.HostAddress}:{port}:80", "webapp:noexpose");
            Assert.Equal($"{Neighbour.HostAddress}:{port}->80/tcp",
                Engine.Client(cli, "ps", "--filter", $"name={name}", "--format", "{{.Ports}}").Stdout.Trim());
            var answer = WaitFor.UntilSuccess(() => neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/"));
            Assert.Equal(0, answer.ExitCode);
            Assert.Contains($"<b>Remote IP:</b> {Neighbour.Address}", answer.Stdout);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{Neighbour.HostAddress}:{port}/"));
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => Http.GetStringAsync($"http://127.0.0.1:{port}/"));
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => Http.GetStringAsync($"http://{Engine.Gateway}:{port}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public async Task A_neighbour_with_a_route_reaches_no_container_address_directly_published_or_not(string cli)
    {
        string local = TestNames.Unique("lp", 12), plain = TestNames.Unique("pl", 12), open = TestNames.Unique("op", 12);
        int port = Ports.Free(), openPort = Ports.Free();
        using var neighbour = Neighbour.Create();
        try
        {
            RunWith(cli, local, "-p", $"127.0.0.1:{port}:80", "webapp:noexpose");
            RunWith(cli, plain, "webapp:expose");
            RunWith(cli, open, "-p", $"{openPort}:80", "webapp:noexpose");
            string localIp = AddressOf(local, cli), plainIp = AddressOf(plain, cli), openIp = AddressOf(open, cli);
            // The host reaches both at their addresses, so a refusal below is the firewall's doing.
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{localIp}/"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{plainIp}/"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            neighbour.RouteViaHost(Engine.Subnet);
            // The route works: the host's address in that subnet (the gateway) serves the published port, as any host address.
            var routed = WaitFor.UntilSuccess(() => neighbour.Curl($"http://{Engine.Gateway}:{openPort}/"));
            Assert.Contains($"<b>Remote IP:</b> {Neighbour.Address}", routed.Stdout);
            Assert.NotEqual(0, neighbour.Curl($"http://{localIp}/").ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://{plainIp}/").ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/").ExitCode);
            // As dockerd 28 without --allow-direct-routing: a published port is not reached at the container's own
            // address either (DirectRoutingTests has the flag).
            Assert.NotEqual(0, neighbour.Curl($"http://{openIp}/").ExitCode);
        }
        finally
        {
            Engine.Docker("rm", "-f", local, plain, open);
        }
    }

    [Fact]
    public async Task An_admin_rule_in_the_user_table_filters_a_published_port_and_berth_leaves_it_alone()
    {
        string name = TestNames.Unique("us", 12);
        int port = Ports.Free();
        string userTable = Engine.FirewallTable + "_user";
        using var neighbour = Neighbour.Create();
        try
        {
            Run(name, "-p", $"{port}:80", "webapp:noexpose");
            Assert.Equal(0, WaitFor.UntilSuccess(() => neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/")).ExitCode);

            EngineFixture.Check(Sh.Run("nft", ["add", "rule", "ip", userTable, "forward", "ip", "saddr", Neighbour.Address, "tcp", "dport", "80", "drop"]));
            Assert.NotEqual(0, neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/").ExitCode);
            // Berth re-applying its own table (a reload) keeps the admin's rule.
            EngineFixture.Check(Sh.Run("curl", ["-sf", "-X", "POST", "--unix-socket", Engine.SocketPath, "http://berth/berth/firewall/reload"]));
            Assert.Contains($"ip saddr {Neighbour.Address} tcp dport 80 drop", Sh.Run("nft", ["list", "table", "ip", userTable]).Stdout);
            Assert.NotEqual(0, neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/").ExitCode);
            // Loopback clients do not cross the forward hook.
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            EngineFixture.Check(Sh.Run("nft", ["flush", "chain", "ip", userTable, "forward"]));
            Assert.Equal(0, WaitFor.UntilSuccess(() => neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/")).ExitCode);
        }
        finally
        {
            Sh.Run("nft", ["flush", "chain", "ip", userTable, "forward"]);
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Next_to_dockerd_with_forward_policy_drop_a_neighbour_still_reaches_published_ports()
    {
        string name = TestNames.Unique("dk", 12), net = TestNames.Unique("dkn", 12);
        int port = Ports.Free();
        using var neighbour = Neighbour.Create();
        // What dockerd 28 leaves behind for both families (ip6tables is on by default since 27): its DOCKER-USER chain
        // jumped to from FORWARD, and the FORWARD policy DROP.
        var families = new[] { ("ip", "iptables"), ("ip6", "ip6tables") }.Select(f => new
        {
            Family = f.Item1, Tool = f.Item2,
            // Asked first: iptables-nft makes the filter table as soon as it is asked about FORWARD.
            FilterTableExisted = Sh.Run("nft", ["list", "table", f.Item1, "filter"]).ExitCode == 0,
            Policy = Sh.Bash($"{f.Item2} -w -S FORWARD | head -1").Stdout.Trim().Split(' ').Last(),
            Created = Sh.Run(f.Item2, ["-w", "-S", "DOCKER-USER"]).ExitCode != 0,
        }).ToList();
        string bridge = "";
        try
        {
            foreach (var f in families)
            {
                if (f.Created)
                {
                    EngineFixture.Check(Sh.Run(f.Tool, ["-w", "-N", "DOCKER-USER"]));
                    EngineFixture.Check(Sh.Run(f.Tool, ["-w", "-I", "FORWARD", "-j", "DOCKER-USER"]));
                }
                EngineFixture.Check(Sh.Run(f.Tool, ["-w", "-P", "FORWARD", "DROP"]));
            }
            EngineFixture.Check(Engine.Docker("network", "create", "--ipv6", "--subnet", EngineProcess.FreeTestSubnet(),
                "--subnet", EngineProcess.FreeTestSubnetV6(), net));
            bridge = "br-" + Engine.Docker("network", "inspect", "-f", "{{.Id}}", net).Stdout.Trim()[..12];
            Run(name, "--network", net, "-p", $"{port}:80", "webapp:noexpose");
            // Berth opens the chain for its bridge when it makes the bridge, and its 3 s watch catches a later dockerd.
            foreach (string url in new[] { $"http://{Neighbour.HostAddress}:{port}/", $"http://[{Neighbour.HostAddressV6}]:{port}/" })
            {
                var answer = WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl(url)));
                Assert.Contains("<b>Remote IP:</b> " + (url.Contains('[') ? Neighbour.AddressV6 : Neighbour.Address), answer.Stdout);
            }
            foreach (var f in families)
            {
                string rules = Sh.Run(f.Tool, ["-w", "-S", "DOCKER-USER"]).Stdout;
                output.WriteLine(rules);
                Assert.Contains($"-A DOCKER-USER -o {bridge} -j ACCEPT", rules);
            }
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            Engine.Docker("network", "rm", net);
            foreach (var f in families)
            {
                Sh.Run(f.Tool, ["-w", "-P", "FORWARD", f.Policy is "DROP" or "ACCEPT" ? f.Policy : "ACCEPT"]);
                foreach (string b in new[] { Engine.Bridge, bridge }.Where(b => b.Length > 0))
                    Sh.Bash($"for d in -i -o; do {f.Tool} -w -D DOCKER-USER $d {b} -j ACCEPT 2>/dev/null; done; true");
                if (f.Created)
                {
                    Sh.Run(f.Tool, ["-w", "-D", "FORWARD", "-j", "DOCKER-USER"]);
                    Sh.Run(f.Tool, ["-w", "-X", "DOCKER-USER"]);
                }
                // iptables-nft made the filter table for the chain: it goes too when it was not there before.
                if (!f.FilterTableExisted) Sh.Run("nft", ["delete", "table", f.Family, "filter"]);
            }
        }
    }

}
