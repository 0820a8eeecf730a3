using System.Text.Json;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>A container on several networks gets a gateway endpoint per family, as with dockerd 28: its default route
/// and its publications of each family go through that endpoint, and connect/disconnect move them (issue 18).</summary>
public sealed class MultiNetworkGatewayTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);
    private static ShResult HostCurl(string url) => Sh.Bash($"curl -g -s -m 3 --noproxy '*' {url}", TimeSpan.FromSeconds(20));

    [Fact]
    public async Task The_docker_cli_moves_routes_and_ports_to_the_gateway_endpoint_of_each_family()
    {
        string v4Only = TestNames.Unique("gwa", 12), dual = TestNames.Unique("gwb", 12), web = TestNames.Unique("gww", 12);
        string subnetA = EngineProcess.FreeTestSubnet(), subnetB = EngineProcess.FreeTestSubnet(), subnetV6 = EngineProcess.FreeTestSubnetV6();
        int fixedPort = Ports.Free();
        string sandbox = "";
        using var neighbour = Neighbour.Create();
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", subnetA, v4Only));
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", subnetB, "--subnet", subnetV6, dual));
            // gw-priority keeps the v4-only network the IPv4 gateway once the dual-stack one (which sorts first) joins.
            Ok(Engine.Docker("run", "-d", "--name", web, "--network", $"name={v4Only},gw-priority=10",
                "-p", "80", "-p", $"{fixedPort}:80", "webapp:noexpose"));
            Assert.Equal("10", Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{v4Only}\").GwPriority}}}}", web)).Stdout.Trim());
            Assert.DoesNotContain("[::]", Ok(Engine.Docker("port", web, "80")).Stdout);
            sandbox = Ok(Engine.Docker("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", web)).Stdout.Trim();
            string DefaultRoute(string family) => Sh.Bash($"nsenter --net={sandbox} ip {family} route show default", TimeSpan.FromSeconds(20)).Stdout.Trim();
            Assert.Contains("dev eth0", DefaultRoute("-4"));
            Assert.Equal("", DefaultRoute("-6"));

            // The dual-stack network joins: it becomes the IPv6 gateway ([::] bindings, v6 default route through it);
            // IPv4 stays on the v4-only network, whose priority is higher.
            Ok(Engine.Docker("network", "connect", dual, web));
            string ports = Ok(Engine.Docker("port", web, "80")).Stdout;
            output.WriteLine(ports);
            Assert.Contains($"[::]:{fixedPort}", ports);
            Assert.Contains($"0.0.0.0:{fixedPort}", ports);
            Assert.Contains($"[::]:{fixedPort}->80/tcp", Ok(Engine.Docker("ps", "--filter", $"name={web}", "--format", "{{.Ports}}")).Stdout);
            using (var inspect = JsonDocument.Parse(Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", web)).Stdout))
                Assert.Contains(inspect.RootElement.GetProperty("80/tcp").EnumerateArray(),
                    b => b.GetProperty("HostIp").GetString() == "::" && b.GetProperty("HostPort").GetString() == fixedPort.ToString());
            Assert.Contains("dev eth1", DefaultRoute("-6"));
            Assert.Contains("dev eth0", DefaultRoute("-4"));
            AnswersOverBothFamilies();

            // The table is rebuilt from the records at a daemon restart: both families still reach the container.
            await Engine.RestartAsync();
            AnswersOverBothFamilies();

            // The IPv6 gateway leaves: no [::] binding, no v6 default route; IPv4 unharmed.
            Ok(Engine.Docker("network", "disconnect", dual, web));
            Assert.DoesNotContain("[::]", Ok(Engine.Docker("port", web, "80")).Stdout);
            Assert.Equal("", DefaultRoute("-6"));
            Assert.Contains("dev eth0", DefaultRoute("-4"));
            Assert.Equal(0, WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://127.0.0.1:{fixedPort}/"))).ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://[{Neighbour.HostAddressV6}]:{fixedPort}/").ExitCode);

            // Back, and the IPv4 gateway leaves: the dual-stack network is both gateways now.
            Ok(Engine.Docker("network", "connect", dual, web));
            Ok(Engine.Docker("network", "disconnect", v4Only, web));
            Assert.Contains("dev eth1", DefaultRoute("-4"));
            Assert.Contains("dev eth1", DefaultRoute("-6"));
            Assert.Contains($"[::]:{fixedPort}", Ok(Engine.Docker("port", web, "80")).Stdout);
            AnswersOverBothFamilies();
        }
        finally
        {
            Engine.Docker("rm", "-f", web);
            Engine.Docker("network", "rm", v4Only);
            Engine.Docker("network", "rm", dual);
        }

        void AnswersOverBothFamilies()
        {
            var v6 = WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl($"http://[{Neighbour.HostAddressV6}]:{fixedPort}/")));
            if (v6.ExitCode != 0)
                output.WriteLine(Sh.Bash($"ip netns exec {neighbour.Namespace} curl -v -g -m 3 http://[{Neighbour.HostAddressV6}]:{fixedPort}/ 2>&1; " +
                    $"ip netns exec {neighbour.Namespace} ip -6 addr; ip -6 addr show dev {neighbour.HostLink}; nsenter --net={sandbox} ip -6 neigh; " +
                    $"nsenter --net={sandbox} ip -6 addr; nsenter --net={sandbox} ip -6 route; nft list table ip6 {Engine.FirewallTable}; " +
                    $"conntrack -L -f ipv6 2>&1 | grep {fixedPort}; sysctl net.ipv6.conf.all.forwarding", TimeSpan.FromSeconds(60)).Stdout);
            Assert.Contains($"<b>Remote IP:</b> {Neighbour.AddressV6}", v6.Stdout);
            Assert.Equal(0, WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://127.0.0.1:{fixedPort}/"))).ExitCode);
        }
    }

    [Fact]
    public void A_connect_whose_ipv6_port_is_taken_fails_and_leaves_the_container_as_it_was()
    {
        string v4Only = TestNames.Unique("gwc", 12), dual = TestNames.Unique("gwd", 12), web = TestNames.Unique("gwx", 12);
        int port = Ports.Free();
        using var holder = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6,
            System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { DualMode = false };
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), v4Only));
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", EngineProcess.FreeTestSubnet(), "--subnet", EngineProcess.FreeTestSubnetV6(), dual));
            Ok(Engine.Docker("run", "-d", "--name", web, "--network", v4Only, "-p", $"{port}:80", "webapp:noexpose"));
            // A host process holds [::]:port (IPv6 only): the dual-stack network would need it for the [::] binding.
            holder.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, port));
            holder.Listen();

            var refused = Engine.Docker("network", "connect", dual, web);
            output.WriteLine(refused.Stderr);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("driver failed programming external connectivity", refused.Stderr);
            // As before: not on the network, its v4 publication and default route unchanged, still answering.
            Assert.Equal($"0.0.0.0:{port}\n", Ok(Engine.Docker("port", web, "80")).Stdout);
            Assert.DoesNotContain(dual, Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", web)).Stdout);
            string sandbox = Ok(Engine.Docker("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", web)).Stdout.Trim();
            Assert.Contains("dev eth0", Sh.Bash($"nsenter --net={sandbox} ip -4 route show default", TimeSpan.FromSeconds(20)).Stdout);
            Assert.DoesNotContain("eth1", Sh.Bash($"nsenter --net={sandbox} ip link", TimeSpan.FromSeconds(20)).Stdout);
            Assert.Equal(0, WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://127.0.0.1:{port}/"))).ExitCode);
        }
        finally
        {
            Engine.Docker("rm", "-f", web);
            Engine.Docker("network", "rm", v4Only);
            Engine.Docker("network", "rm", dual);
        }
    }
}
