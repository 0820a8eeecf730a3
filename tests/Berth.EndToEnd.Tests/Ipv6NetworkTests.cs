using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Dual-stack networks through the docker CLI and docker-py 7.1 on the real kernel: v6 subnets given or
/// from the pools, --ip6, --link-local-ip, inspect as dockerd shows it, AAAA and /etc/hosts, v6 between containers.</summary>
public sealed class Ipv6NetworkTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private string Inspect(string container, string net, string field) =>
        Ok(Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}", container)).Stdout.Trim();

    [Fact]
    public void Docker_cli_dual_stack_network_gives_containers_v6_addresses_names_and_routes()
    {
        string v4 = EngineProcess.FreeTestSubnet(), v6 = EngineProcess.FreeTestSubnetV6();
        string prefix = v6[..v6.IndexOf("::", StringComparison.Ordinal)];
        string net = TestNames.Unique("v6n", 12), pooled = TestNames.Unique("v6p", 12);
        string a = TestNames.Unique("v6a", 12), b = TestNames.Unique("v6b", 12), c = TestNames.Unique("v6c", 12);
        try
        {
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, "--ip-range", $"{prefix}::100/120",
                "--gateway", $"{prefix}::fe", net));
            Assert.Equal($"true [{v4} {v6}] {prefix}::fe {prefix}::100/120", Ok(Engine.Docker("network", "inspect", "-f",
                "{{.EnableIPv6}} [{{range $i, $c := .IPAM.Config}}{{if $i}} {{end}}{{$c.Subnet}}{{end}}] "
                + "{{(index .IPAM.Config 1).Gateway}} {{(index .IPAM.Config 1).IPRange}}", net)).Stdout.Trim());
            // An IPv6 subnet needs --ipv6; a v6 network without a subnet takes a /64 of a unique local pool.
            Assert.NotEqual(0, Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnetV6(), TestNames.Unique("v6x", 12)).ExitCode);
            Ok(Engine.Docker("network", "create", "--ipv6", "--subnet", EngineProcess.FreeTestSubnet(), pooled));
            string pool = Ok(Engine.Docker("network", "inspect", "-f", "{{(index .IPAM.Config 1).Subnet}}", pooled)).Stdout.Trim();
            Assert.Matches("^fd[0-9a-f]{2}:[0-9a-f:]+/64$", pool);

            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "--ip6", $"{prefix}::a", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "--link-local-ip", "fe80::b", "webapp:noexpose"));
            Assert.Equal($"{prefix}::a 64 {prefix}::fe", Inspect(a, net, "GlobalIPv6Address") + " "
                + Inspect(a, net, "GlobalIPv6PrefixLen") + " " + Inspect(a, net, "IPv6Gateway"));
            string ipB = Inspect(b, net, "GlobalIPv6Address");
            Assert.Equal($"{prefix}::100", ipB); // the first of --ip-range
            Assert.Contains($"\"IPv6Address\":\"{prefix}::a/64\"", Ok(Engine.Docker("network", "inspect", "-f", "{{json .Containers}}", net)).Stdout);

            string addresses = Ok(Engine.Docker("exec", b, "ip", "-6", "addr", "show", "eth0")).Stdout;
            Assert.Contains($"{prefix}::100/64", addresses);
            Assert.Contains("fe80::b/64", addresses);
            // No duplicate address detection: usable at once, never "tentative".
            Assert.All(addresses.Split('\n').Where(l => l.Contains(prefix) || l.Contains("fe80::b/")), l => Assert.DoesNotContain("tentative", l));
            Assert.Contains($"default via {prefix}::fe dev eth0", Ok(Engine.Docker("exec", b, "ip", "-6", "route")).Stdout);
            Assert.Contains($"{ipB}\t", Ok(Engine.Docker("exec", b, "cat", "/etc/hosts")).Stdout);
            Assert.Contains($"{prefix}::a", Ok(Engine.Docker("exec", b, "/bin/busybox", "nslookup", "-type=aaaa", a, "127.0.0.11")).Stdout);
            // PTR of a v6 address (ip6.arpa nibbles), as for v4.
            Assert.Contains($"{a}.{net}", Ok(Engine.Docker("exec", b, "/bin/busybox", "nslookup", $"{prefix}::a", "127.0.0.11")).Stdout);
            string get = $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {prefix}::a 80";
            Assert.Contains($"Remote IP:</b> {ipB}", WaitFor.UntilSuccess(() =>
                LocalHttp.Answered(Engine.Docker("exec", b, "sh", "-c", get))).Stdout);

            // --ip6 outside the subnet, or on an IPv4-only network, is refused as dockerd refuses it.
            Assert.Contains("no configured subnet", Engine.Docker("run", "-d", "--name", c, "--network", net, "--ip6", "fd00:dead::1", "webapp:noexpose").Stderr);
        }
        finally
        {
            foreach (string container in new[] { a, b, c }) Engine.Docker("rm", "-f", container);
            foreach (string n in new[] { net, pooled }) Engine.Docker("network", "rm", n);
        }
    }

    [Fact]
    public void Docker_py_creates_and_connects_a_dual_stack_network_with_a_fixed_v6_address()
    {
        string v6 = EngineProcess.FreeTestSubnetV6();
        string script = Path.Combine(AppContext.BaseDirectory, "py", "ipv6.py");
        var result = Sh.Run("python3", [script, Engine.DockerHost, TestNames.Unique("p6", 10), EngineProcess.FreeTestSubnet(), v6,
            v6.Replace("::/64", "::77", StringComparison.Ordinal)], TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("ok", result.Stdout);
    }
}
