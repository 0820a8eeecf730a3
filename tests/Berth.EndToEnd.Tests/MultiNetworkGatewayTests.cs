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
            WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://127.0.0.1:{fixedPort}/")));
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
            WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://127.0.0.1:{fixedPort}/")));
        }
    }
}
