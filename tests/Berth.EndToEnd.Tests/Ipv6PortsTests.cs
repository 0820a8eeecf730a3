using System.Net.Http;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>The engine started with --userland-proxy: IPv6 host addresses of IPv4-only containers go through the proxy.</summary>
public sealed class UserlandProxyFixture : EngineFixture
{
    protected override string[] DaemonArgs => ["--userland-proxy"];
}

/// <summary>Published ports over IPv6 through the kernel (no userland proxy): a neighbour at fd00:33::3 reaches a
/// dual-stack container's port on the host's fd00:33::2 and is seen with its own address; a host process is seen as
/// the gateway; hairpin; a port bound to one v6 address answers there only; [::1] is refused at once (the kernel
/// cannot DNAT out of lo, dockerd without its proxy cannot either); routed straight to a container's v6 address,
/// nothing passes (dockerd 28's direct-routing guard).</summary>
public sealed class Ipv6PortsTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);
    private static ShResult HostCurl(string url) => Sh.Bash($"curl -g -s -m 3 --noproxy '*' {url}", TimeSpan.FromSeconds(20));

    [Fact]
    public void Docker_cli_publishes_on_ipv6_through_the_kernel_keeping_the_clients_address()
    {
        string v4 = EngineProcess.FreeTestSubnet(), v6 = EngineProcess.FreeTestSubnetV6();
        string prefix = v6[..v6.IndexOf("::", StringComparison.Ordinal)];
        string net = TestNames.Unique("v6pn", 12), web = TestNames.Unique("v6w", 12), peer = TestNames.Unique("v6c", 12), closed = TestNames.Unique("v6x", 12);
        int any = Ports.Free(), bound = Ports.Free();
        using var neighbour = Neighbour.Create();
        try
        {
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, net));
            Ok(Engine.Docker("run", "-d", "--name", web, "--network", net, "-p", $"{any}:80",
                "-p", $"[{Neighbour.HostAddressV6}]:{bound}:80", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", closed, "--network", net, "webapp:noexpose"));
            string webV6 = Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}", web)).Stdout.Trim();
            string closedV6 = Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}", closed)).Stdout.Trim();

            // As dockerd 28 shows a dual-stack publication: one line per family, the bound v6 address in brackets.
            string ps = Ok(Engine.Docker("ps", "--filter", $"name={web}", "--format", "{{.Ports}}")).Stdout.Trim();
            output.WriteLine(ps);
            Assert.Contains($"0.0.0.0:{any}->80/tcp", ps);
            Assert.Contains($"[::]:{any}->80/tcp", ps);
            Assert.Contains($"[{Neighbour.HostAddressV6}]:{bound}->80/tcp", ps);
            using (var inspect = JsonDocument.Parse(Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", web)).Stdout))
            {
                var bindings = inspect.RootElement.GetProperty("80/tcp").EnumerateArray()
                    .Select(b => $"{b.GetProperty("HostIp").GetString()}|{b.GetProperty("HostPort").GetString()}").ToList();
                Assert.Contains($"::|{any}", bindings);
                Assert.Contains($"{Neighbour.HostAddressV6}|{bound}", bindings);
            }

            // From outside over IPv6, on the wildcard and on the bound address: the neighbour's own address is seen.
            foreach (int port in new[] { any, bound })
            {
                var answer = WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl($"http://[{Neighbour.HostAddressV6}]:{port}/")));
                Assert.Contains($"<b>Remote IP:</b> {Neighbour.AddressV6}", answer.Stdout);
            }
            // The bound port answers on that address only: not on the host's v4 neighbour address, not on ::1.
            Assert.NotEqual(0, neighbour.Curl($"http://{Neighbour.HostAddress}:{bound}/").ExitCode);
            Assert.NotEqual(0, HostCurl($"http://[::1]:{bound}/").ExitCode);

            // A host process to a host v6 address is seen as the network's v6 gateway.
            var local = WaitFor.UntilSuccess(() => LocalHttp.Answered(HostCurl($"http://[{Neighbour.HostAddressV6}]:{any}/")));
            Assert.Contains($"<b>Remote IP:</b> {prefix}::1", local.Stdout);
            // [::1] cannot be DNATed out of lo: refused at once (curl 7), not left hanging in the reserving socket.
            Assert.Equal(7, HostCurl($"http://[::1]:{any}/").ExitCode);

            // Hairpin: a container on the network reaches the published port on the host's v6 address.
            Ok(Engine.Docker("run", "-d", "--name", peer, "--network", net, "webapp:noexpose"));
            string get = $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {Neighbour.HostAddressV6} {any}";
            Assert.Contains($"<b>Remote IP:</b> {prefix}::1", WaitFor.UntilSuccess(() => LocalHttp.Answered(Engine.Docker("exec", peer, "sh", "-c", get))).Stdout);

            // Routed straight to a container's v6 address: dropped, published port or not, as by dockerd 28 without
            // --allow-direct-routing (DirectRoutingTests has the flag). The same route reaches the host's address in that
            // subnet (the gateway, DNATed like any host address), so the silence after it is the guard's. `peer` joined the
            // bridge after `web` last answered: a bridge whose MAC followed its ports lost web's replies here (issue 18).
            Assert.Equal(0, neighbour.Exec($"ip -6 route replace {v6} via {Neighbour.HostAddressV6}").ExitCode);
            Assert.Contains($"<b>Remote IP:</b> {Neighbour.AddressV6}",
                WaitFor.UntilSuccess(() => LocalHttp.Answered(neighbour.Curl($"http://[{prefix}::1]:{any}/"))).Stdout);
            Assert.NotEqual(0, neighbour.Curl($"http://[{webV6}]:80/").ExitCode);
            Assert.NotEqual(0, neighbour.Curl($"http://[{closedV6}]:80/").ExitCode);
        }
        finally
        {
            foreach (string container in new[] { web, peer, closed }) Engine.Docker("rm", "-f", container);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void An_ipv4_only_container_gets_no_ipv6_binding_without_the_proxy()
    {
        string name = TestNames.Unique("v4o", 12);
        int port = Ports.Free();
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "-p", $"{port}:80", "-p", $"[::1]:{Ports.Free()}:81", "webapp:noexpose"));
            string ps = Ok(Engine.Docker("ps", "--filter", $"name={name}", "--format", "{{.Ports}}")).Stdout.Trim();
            Assert.Contains($"0.0.0.0:{port}->80/tcp", ps);
            Assert.DoesNotContain("[::", ps);
            Assert.Equal($"0.0.0.0:{port}\n", Ok(Engine.Docker("port", name, "80")).Stdout);
        }
        finally { Engine.Docker("rm", "-f", name); }
    }
}
