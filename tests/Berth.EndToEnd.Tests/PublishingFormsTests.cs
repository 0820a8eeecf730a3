using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Every -p form, -P, and what ps, port and inspect show for them; hairpin; conflicts with host processes;
/// a failed start leaving nothing; the table coming back; UDP flows re-pointed at a new publication. With
/// --userland-proxy: IPv6 host addresses of these IPv4-only containers are the proxy's.</summary>
public sealed class PublishingFormsTests(UserlandProxyFixture fixture, ITestOutputHelper output) : IClassFixture<UserlandProxyFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    private string Ps(string name) => Engine.Docker("ps", "-a", "--filter", $"name={name}", "--format", "{{.Ports}}").Stdout.Trim();

    [Fact]
    public async Task Ranges_udp_sctp_and_ipv6_loopback_publish_and_show_as_docker_shows_them()
    {
        string name = TestNames.Unique("fm", 12);
        int range = PortRanges.FreeRange(11), single = Ports.Free(), v6 = Ports.Free();
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name,
                "-p", $"{range}-{range + 10}:80-90", "-p", $"{single}:53/udp", "-p", $"{single}:9/sctp", "-p", $"[::1]:{v6}:80",
                "webapp:noexpose"));
            string ports = Ps(name);
            output.WriteLine(ports);
            // The docker CLI renders the PORTS column itself: one item per port unless host and container ports are equal.
            Assert.Contains($"0.0.0.0:{range}->80/tcp", ports);
            Assert.Contains($"[::]:{range + 10}->90/tcp", ports);
            Assert.Contains($"0.0.0.0:{single}->53/udp", ports);
            Assert.Contains($"0.0.0.0:{single}->9/sctp", ports);
            Assert.Contains($"[::1]:{v6}->80/tcp", ports);

            // The first port of the range maps to 80, where httpd listens; IPv6 loopback goes through the in-process proxy.
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{range}/"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://[::1]:{v6}/"));

            string port = EngineFixture.Check(Engine.Docker("port", name, "53/udp")).Stdout;
            Assert.Equal($"0.0.0.0:{single}\n[::]:{single}\n", port);

            using var inspect = JsonDocument.Parse(EngineFixture.Check(Engine.Docker("inspect", name)).Stdout);
            var container = inspect.RootElement[0];
            var bindings = container.GetProperty("HostConfig").GetProperty("PortBindings");
            Assert.Equal($"{single}", bindings.GetProperty("53/udp")[0].GetProperty("HostPort").GetString());
            Assert.Equal("::1", bindings.GetProperty("80/tcp").EnumerateArray().Select(b => b.GetProperty("HostIp").GetString()).First(ip => ip != ""));
            var published = container.GetProperty("NetworkSettings").GetProperty("Ports");
            Assert.Equal($"{range + 5}", published.GetProperty("85/tcp")[0].GetProperty("HostPort").GetString());
            Assert.Equal("0.0.0.0", published.GetProperty("85/tcp")[0].GetProperty("HostIp").GetString());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public async Task Publish_all_maps_every_exposed_port_to_an_ephemeral_port_and_a_range_gives_one_free_port()
    {
        string all = TestNames.Unique("pa", 12), one = TestNames.Unique("po", 12), zero = TestNames.Unique("pz", 12);
        int range = PortRanges.FreeRange(5);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", all, "-P", "--expose", "7000/udp", "webapp:expose"));
            string ports = Ps(all);
            output.WriteLine(ports);
            var (low, high) = EphemeralRange();
            string tcp = EngineFixture.Check(Engine.Docker("port", all, "80/tcp")).Stdout.Split('\n')[0];
            int hostPort = int.Parse(tcp[(tcp.LastIndexOf(':') + 1)..]);
            Assert.InRange(hostPort, low, high);
            Assert.Contains("->7000/udp", ports);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{hostPort}/"));

            EngineFixture.Check(Engine.Docker("run", "-d", "--name", one, "-p", $"{range}-{range + 4}:80", "webapp:noexpose"));
            string chosen = EngineFixture.Check(Engine.Docker("port", one, "80")).Stdout.Split('\n')[0];
            int chosenPort = int.Parse(chosen[(chosen.LastIndexOf(':') + 1)..]);
            Assert.InRange(chosenPort, range, range + 4);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{chosenPort}/"));

            // Host port 0 is any free port, as with dockerd; HostConfig keeps the 0 that was asked.
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", zero, "-p", "0:80", "webapp:noexpose"));
            string picked = EngineFixture.Check(Engine.Docker("port", zero, "80")).Stdout.Split('\n')[0];
            int pickedPort = int.Parse(picked[(picked.LastIndexOf(':') + 1)..]);
            Assert.InRange(pickedPort, low, high);
            Assert.Equal("0", Engine.Docker("inspect", "-f", "{{(index (index .HostConfig.PortBindings \"80/tcp\") 0).HostPort}}", zero).Stdout.Trim());
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{pickedPort}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", all, one, zero);
        }
    }

    [Fact]
    public void Containers_reach_their_own_and_other_published_ports_through_the_host_address()
    {
        string a = TestNames.Unique("ha", 12), b = TestNames.Unique("hb", 12);
        int portA = Ports.Free(), portB = Ports.Free();
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", a, "-p", $"{portA}:80", "webapp:noexpose"));
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", b, "-p", $"{portB}:80", "webapp:noexpose"));
            string idA = Engine.Docker("inspect", "-f", "{{.Id}}", a).Stdout.Trim();
            WaitFor.GetWhenUpAsync(Http, $"http://127.0.0.1:{portA}/").GetAwaiter().GetResult();
            string own = EngineFixture.Check(Engine.Docker("exec", a, "wget", "-q", "-O", "-", $"http://{Engine.Gateway}:{portA}/")).Stdout;
            Assert.Contains($"<b>Hostname:</b> {idA[..12]}", own);
            string other = EngineFixture.Check(Engine.Docker("exec", b, "wget", "-q", "-O", "-", $"http://{Engine.Gateway}:{portA}/")).Stdout;
            Assert.Contains($"<b>Hostname:</b> {idA[..12]}", other);
        }
        finally
        {
            Engine.Docker("rm", "-f", a, b);
        }
    }

    [Fact]
    public async Task A_port_held_by_a_host_process_fails_the_start_and_leaves_no_rule_link_or_allocation()
    {
        string first = TestNames.Unique("h1", 12), second = TestNames.Unique("h2", 12);
        int firstPort = Ports.Free();
        var holder = new TcpListener(IPAddress.Any, 0);
        holder.Start();
        int held = ((IPEndPoint)holder.LocalEndpoint).Port;
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", first, "-p", $"{firstPort}:80", "webapp:noexpose"));
            string rulesBefore = Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout;
            string linksBefore = Sh.Run("ip", ["-o", "link", "show", "master", Engine.Bridge]).Stdout;

            var failed = Engine.Docker("run", "-d", "--name", second, "-p", $"{firstPort + 0}:81", "-p", $"{held}:80", "webapp:noexpose");
            output.WriteLine(failed.Stderr);
            Assert.Equal(125, failed.ExitCode);
            Assert.Contains($"{held}", failed.Stderr);
            Assert.Contains("address already in use", failed.Stderr);

            Assert.Equal(rulesBefore, Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout);
            Assert.Equal(linksBefore, Sh.Run("ip", ["-o", "link", "show", "master", Engine.Bridge]).Stdout);
            Assert.Equal("Created", Engine.Docker("ps", "-a", "--filter", $"name={second}", "--format", "{{.State}}").Stdout.Trim(), ignoreCase: true);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{firstPort}/"));

            // Once the host process lets go, the same container starts: its failed attempt held nothing back.
            holder.Stop();
            Engine.Docker("rm", "-f", second);
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", second, "-p", $"{held}:80", "webapp:noexpose"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{held}/"));
        }
        finally
        {
            holder.Stop();
            Engine.Docker("rm", "-f", first, second);
        }
    }

    [Fact]
    public async Task The_table_comes_back_after_an_admin_deletes_it_without_doubled_elements()
    {
        string name = TestNames.Unique("tb", 12);
        int port = Ports.Free();
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"{port}:80", "webapp:noexpose"));
            string before = Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout;
            EngineFixture.Check(Sh.Run("nft", ["delete", "table", "ip", Engine.FirewallTable]));
            string after = "";
            for (int i = 0; i < 100 && after == ""; i++)
            {
                await Task.Delay(100);
                after = Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout;
            }
            Assert.Equal(before, after);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
            // A reload re-applies the same state: nothing doubled.
            EngineFixture.Check(Sh.Run("curl", ["-sf", "-X", "POST", "--unix-socket", Engine.SocketPath, "http://berth/berth/firewall/reload"]));
            Assert.Equal(before, Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public async Task A_udp_client_already_sending_to_a_port_reaches_the_container_published_there()
    {
        string name = TestNames.Unique("ud", 12);
        int port = Ports.Free();
        using var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        int clientPort = ((IPEndPoint)client.Client.LocalEndPoint!).Port;
        using var sending = new CancellationTokenSource();
        var sender = Task.Run(async () =>
        {
            while (!sending.IsCancellationRequested)
            {
                await client.SendAsync("ping\n"u8.ToArray(), new IPEndPoint(IPAddress.Loopback, port));
                await Task.Delay(50);
            }
        });
        try
        {
            await Task.Delay(300); // the flow exists (to nobody) before the publication
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"{port}:9999/udp", "webapp:noexpose", "sleep", "60"));
            string ip = Engine.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).Stdout.Trim();
            await Task.Delay(500);
            string flows = Sh.Run("conntrack", ["-L", "-p", "udp", "--orig-port-dst", $"{port}", "--orig-port-src", $"{clientPort}"]).Stdout;
            output.WriteLine(flows);
            // The reply direction names the container: the client's packets are NATed to it now.
            Assert.Contains($"src={ip} ", flows);
        }
        finally
        {
            sending.Cancel();
            await sender;
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public async Task Container_port_only_and_address_only_forms_take_an_ephemeral_host_port()
    {
        string name = TestNames.Unique("ep", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--expose", "7070", "-p", "80", "-p", "127.0.0.1::81/udp", "webapp:noexpose"));
            var (low, high) = EphemeralRange();
            string any = Ok(Engine.Docker("port", name, "80/tcp")).Stdout.Split('\n')[0];
            int anyPort = int.Parse(any[(any.LastIndexOf(':') + 1)..]);
            Assert.InRange(anyPort, low, high);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{anyPort}/"));
            string local = Ok(Engine.Docker("port", name, "81/udp")).Stdout.Trim();
            Assert.StartsWith("127.0.0.1:", local);
            Assert.InRange(int.Parse(local[(local.LastIndexOf(':') + 1)..]), low, high);
            // --expose documents without publishing.
            Assert.Contains("7070/tcp", Ps(name));
            Assert.DoesNotContain("->7070", Ps(name));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Theory]
    [InlineData("{\"80/tcp\":[{\"HostPort\":\"70000\"}]}", "70000")]
    [InlineData("{\"80/xyz\":[{\"HostPort\":\"8080\"}]}", "xyz")]
    [InlineData("{\"80/tcp\":[{\"HostIp\":\"300.1.1.1\",\"HostPort\":\"8080\"}]}", "300.1.1.1")]
    [InlineData("{\"0/tcp\":[{\"HostPort\":\"8080\"}]}", "0")]
    public void Bad_port_bindings_sent_raw_to_the_api_are_a_400_with_a_message(string bindings, string named)
    {
        string body = $"{{\"Image\":\"webapp:noexpose\",\"HostConfig\":{{\"PortBindings\":{bindings}}}}}";
        var result = Sh.Run("curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", Engine.SocketPath,
            "-H", "Content-Type: application/json", "-d", body, "http://berth/v1.50/containers/create"]);
        output.WriteLine(result.Stdout);
        var lines = result.Stdout.Trim().Split('\n');
        Assert.Equal("400", lines[^1]);
        using var error = JsonDocument.Parse(lines[0]);
        Assert.Contains(named, error.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Rules_and_allocations_go_with_a_container_that_is_removed_or_crashes()
    {
        string removed = TestNames.Unique("rm", 12), crashed = TestNames.Unique("cr", 12);
        int removedPort = Ports.Free(), crashedPort = Ports.Free();
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", removed, "-p", $"{removedPort}:80", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", crashed, "-p", $"{crashedPort}:80", "webapp:noexpose"));
            Assert.Contains($"tcp . {crashedPort} :", Table());
            Ok(Engine.Docker("rm", "-f", removed));
            Assert.DoesNotContain($"tcp . {removedPort} :", Table());

            // The container's init dies under the engine's feet: its exit is noticed and everything goes with it.
            string pid = Engine.Docker("inspect", "-f", "{{.State.Pid}}", crashed).Stdout.Trim();
            Ok(Sh.Run("kill", ["-KILL", pid]));
            for (int i = 0; i < 50 && Table().Contains($"tcp . {crashedPort} :"); i++) await Task.Delay(100);
            Assert.DoesNotContain($"tcp . {crashedPort} :", Table());
            Assert.Equal("exited", Engine.Docker("inspect", "-f", "{{.State.Status}}", crashed).Stdout.Trim());
            Assert.Empty(Sh.Run("ip", ["-o", "link", "show", "master", Engine.Bridge]).Stdout.Trim());
            // Both host ports are free again: a new container takes them.
            Ok(Engine.Docker("rm", "-f", crashed));
            Ok(Engine.Docker("run", "-d", "--name", crashed, "-p", $"{removedPort}:80", "-p", $"{crashedPort}:81", "webapp:noexpose"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{removedPort}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", removed, crashed);
        }
    }

    private string Table() => Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout;

    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private static (int Low, int High) EphemeralRange()
    {
        var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}
