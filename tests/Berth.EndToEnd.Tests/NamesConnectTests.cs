using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Names as a running container's networks change, through the docker CLI: a default-bridge container
/// connected to a user network gets Docker's resolv.conf (127.0.0.11) and resolves its peers through it; leaving
/// the last user network takes the resolver's sockets out of it at once and gives the host's servers back.</summary>
public sealed class NamesConnectTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private string Exec(string container, params string[] command) =>
        Ok(Engine.Docker(["exec", container, "/bin/busybox", .. command])).Stdout;

    /// <summary>127.0.0.11:53 as /proc/net/{udp,tcp} write it (address little-endian, port big-endian hex).</summary>
    private const string ResolverSocket = "0B00007F:0035";

    private bool ResolverListens(string container) =>
        Exec(container, "cat", "/proc/net/udp").Contains(ResolverSocket)
        || Exec(container, "cat", "/proc/net/tcp").Contains(ResolverSocket);

    [Fact]
    public void A_default_bridge_container_connected_to_a_user_network_gets_the_resolver_and_loses_it_with_the_last_one()
    {
        string net = TestNames.Unique("dn", 12), other = TestNames.Unique("dn", 12);
        string client = TestNames.Unique("dc", 12), peer = TestNames.Unique("dp", 12);
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), net));
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), other));
            Ok(Engine.Docker("run", "-d", "--name", peer, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", client, "webapp:noexpose"));
            string peerAddress = Engine.Docker("inspect", "-f",
                $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", peer).Stdout.Trim();
            Assert.DoesNotContain("127.0.0.11", Exec(client, "cat", "/etc/resolv.conf"));
            Assert.False(ResolverListens(client));

            Ok(Engine.Docker("network", "connect", "--alias", "late-alias", net, client));
            string resolv = Exec(client, "cat", "/etc/resolv.conf");
            output.WriteLine(resolv);
            Assert.Contains("nameserver 127.0.0.11\n", resolv);
            Assert.Contains("options ndots:0", resolv);
            Assert.True(ResolverListens(client));
            string clientAddress = Engine.Docker("inspect", "-f",
                $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", client).Stdout.Trim();
            Assert.Contains(clientAddress, Exec(client, "cat", "/etc/hosts"));
            // No server named: busybox nslookup takes the one resolv.conf gives.
            Assert.Contains($"Address: {peerAddress}", Exec(client, "nslookup", peer));
            Assert.Contains($"Address: {clientAddress}", Exec(peer, "nslookup", "late-alias", "127.0.0.11"));

            // Two user networks: leaving one keeps the resolver; leaving the last takes it away at once.
            Ok(Engine.Docker("network", "connect", other, client));
            Ok(Engine.Docker("network", "disconnect", net, client));
            Assert.True(ResolverListens(client));
            Assert.Contains("nameserver 127.0.0.11\n", Exec(client, "cat", "/etc/resolv.conf"));
            Assert.DoesNotContain(clientAddress, Exec(client, "cat", "/etc/hosts"));

            Ok(Engine.Docker("network", "disconnect", other, client));
            Assert.False(ResolverListens(client));
            Assert.DoesNotContain("127.0.0.11", Exec(client, "cat", "/etc/resolv.conf"));
            var gone = Engine.Docker("exec", client, "/bin/busybox", "nslookup", peer, "127.0.0.11");
            Assert.NotEqual(0, gone.ExitCode);
        }
        finally
        {
            Engine.Docker("rm", "-f", client, peer);
            Engine.Docker("network", "rm", net, other);
        }
    }

    [Fact]
    public void Several_containers_with_one_alias_get_all_their_addresses_in_turn_as_compose_scale_needs()
    {
        string net = TestNames.Unique("dn", 12), client = TestNames.Unique("dc", 12);
        var replicas = Enumerable.Range(1, 3).Select(i => TestNames.Unique($"ds{i}", 12)).ToList();
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), net));
            foreach (string replica in replicas)
                Ok(Engine.Docker("run", "-d", "--name", replica, "--network", net, "--network-alias", "web", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", client, "--network", net, "webapp:noexpose"));
            var addresses = replicas.Select(r => Engine.Docker("inspect", "-f",
                $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", r).Stdout.Trim()).ToHashSet();

            var firsts = new List<string>();
            for (int i = 0; i < 3; i++)
            {
                var answer = Exec(client, "nslookup", "web", "127.0.0.11").Split('\n')
                    .Where(l => l.StartsWith("Address:", StringComparison.Ordinal) && !l.Contains("127.0.0.11"))
                    .Select(l => l["Address:".Length..].Trim().Split(' ')[0]).ToList();
                Assert.Equal(addresses, answer.ToHashSet());
                firsts.Add(answer[0]);
            }
            Assert.True(firsts.Distinct().Count() > 1, $"the same address came first every time: {string.Join(", ", firsts)}");
        }
        finally
        {
            Engine.Docker(["rm", "-f", client, .. replicas]);
            Engine.Docker("network", "rm", net);
        }
    }
}
