using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>dockerd 28's --allow-direct-routing: a neighbour with a route to a network through the host reaches a
/// container's published ports at the container's own address, in both families, and is seen with its own address;
/// unpublished ports and ports published on loopback only stay closed. Without the flag nothing passes
/// (NeighbourTests, Ipv6PortsTests).</summary>
public sealed class DirectRoutingTests(DirectRoutingFixture fixture, ITestOutputHelper output) : IClassFixture<DirectRoutingFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private string AddressOf(string container, string net, string field) =>
        Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}", container)).Stdout.Trim();

    [Fact]
    public void A_neighbour_reaches_published_ports_at_the_containers_own_address_in_both_families()
    {
        string v4 = EngineProcess.FreeTestSubnet(), v6 = EngineProcess.FreeTestSubnetV6();
        string net = TestNames.Unique("drn", 12), web = TestNames.Unique("drw", 12), local = TestNames.Unique("drl", 12),
            closed = TestNames.Unique("drc", 12);
        int port = Ports.Free(), loopbackPort = Ports.Free();
        using var neighbour = Neighbour.Create();
        try
        {
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, net));
            Ok(Engine.Docker("run", "-d", "--name", web, "--network", net, "-p", $"{port}:80", "webapp:noexpose"));
            // web answers once before the others join: their ports must not move the gateway's MAC under it.
            WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl($"http://{Neighbour.HostAddress}:{port}/")));
            Ok(Engine.Docker("run", "-d", "--name", local, "--network", net, "-p", $"127.0.0.1:{loopbackPort}:80", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", closed, "--network", net, "webapp:expose"));

            neighbour.RouteViaHost(v4);
            Ok(neighbour.Exec($"ip -6 route replace {v6} via {Neighbour.HostAddressV6}"));
            foreach (var (url, client) in new[]
            {
                ($"http://{AddressOf(web, net, "IPAddress")}/", Neighbour.Address),
                ($"http://[{AddressOf(web, net, "GlobalIPv6Address")}]/", Neighbour.AddressV6),
            })
            {
                var answer = WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl(url)));
                output.WriteLine($"{url}: {answer.ExitCode}");
                Assert.Contains($"<b>Remote IP:</b> {client}", answer.Stdout);
            }
            Assert.NotEqual(0, neighbour.Curl($"http://{AddressOf(local, net, "IPAddress")}/").ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://{AddressOf(closed, net, "IPAddress")}/").ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://[{AddressOf(closed, net, "GlobalIPv6Address")}]/").ExitCode);
        }
        finally
        {
            Engine.Docker("rm", "-f", web, local, closed);
            Engine.Docker("network", "rm", net);
        }
    }
}

/// <summary>The engine started with --allow-direct-routing.</summary>
public sealed class DirectRoutingFixture : EngineFixture
{
    protected override string[] DaemonArgs => ["--allow-direct-routing"];
}
