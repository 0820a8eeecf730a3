using System.Net;
using System.Net.Sockets;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine started as `dockerd --iptables=false`: no nftables table at all, published ports still hold
/// their host port but are not NATed; and a bridge with inhibit_ipv4 has no IPv4 address.</summary>
public sealed class NoFirewallTests : IAsyncLifetime
{
    private EngineProcess _engine = null!;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    public async Task InitializeAsync()
    {
        _engine = await EngineProcess.StartAsync("--iptables=false");
        string tar = Path.Combine(_engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        Ok(_engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:noexpose"));
    }

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    [Fact]
    public void No_table_ports_reserved_but_not_nated_and_inhibit_ipv4_leaves_the_bridge_without_address()
    {
        string name = TestNames.Unique("nf", 12), net = TestNames.Unique("ni", 12), bridge = TestNames.Unique("bi", 12);
        int port = Ports.Free();
        try
        {
            Ok(_engine.Docker("run", "-d", "--name", name, "-p", $"{port}:80", "webapp:noexpose"));
            Assert.Equal($"0.0.0.0:{port}", Ok(_engine.Docker("port", name, "80")).Stdout.Split('\n')[0].Trim());
            // The container answers on its own address (nothing filters), the published port holds its host port ...
            string ip = Ok(_engine.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name)).Stdout.Trim();
            Assert.Contains("Hostname", WaitFor.UntilSuccess(() =>
                LocalHttp.Answered(Sh.Run("curl", ["-s", "-m", "3", "--noproxy", "*", $"http://{ip}/"]))).Stdout);
            using (var taker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
                Assert.Throws<SocketException>(() => taker.Bind(new IPEndPoint(IPAddress.Any, port)));
            // ... but nothing translates it: no table, no user table, no rule anywhere naming the port.
            Assert.NotEqual(0, Sh.Run("nft", ["list", "table", "ip", _engine.FirewallTable]).ExitCode);
            Assert.NotEqual(0, Sh.Run("nft", ["list", "table", "ip", _engine.FirewallTable + "_user"]).ExitCode);
            Assert.DoesNotContain($"{ip} . 80", Sh.Run("nft", ["list", "ruleset"]).Stdout);
            Assert.Equal("0", File.ReadAllText($"/proc/sys/net/ipv4/conf/{_engine.Bridge}/route_localnet").Trim());

            Ok(_engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), "-o", $"com.docker.network.bridge.name={bridge}",
                "-o", "com.docker.network.bridge.inhibit_ipv4=true", net));
            Assert.DoesNotContain("inet ", Ok(Sh.Run("ip", ["-4", "addr", "show", "dev", bridge])).Stdout);
            Assert.Equal("true", Ok(_engine.Docker("network", "inspect", "-f",
                "{{index .Options \"com.docker.network.bridge.inhibit_ipv4\"}}", net)).Stdout.Trim());
        }
        finally
        {
            _engine.Docker("rm", "-f", name);
            _engine.Docker("network", "rm", net);
        }
    }
}
