using System.Diagnostics;
using System.Text.RegularExpressions;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Names on user-defined networks through the docker CLI: the embedded resolver at 127.0.0.11 answers
/// container names, aliases, short ids and PTR among containers sharing a network, forwards the rest, and the
/// container's resolv.conf and hosts are Docker's. Lookups use busybox nslookup (its own resolver).</summary>
public sealed class NamesTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    /// <summary>busybox nslookup; with no type an address is looked up as PTR of its in-addr.arpa name.</summary>
    private ShResult Lookup(string from, string name, string? type = "a") => type is null
        ? Engine.Docker("exec", from, "/bin/busybox", "nslookup", name, "127.0.0.11")
        : Engine.Docker("exec", from, "/bin/busybox", "nslookup", $"-type={type}", name, "127.0.0.11");

    private string AddressOn(string container, string net) =>
        Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", container).Stdout.Trim();

    private string CreateNetwork()
    {
        string net = TestNames.Unique("dn", 12);
        Ok(Engine.Docker("network", "create", "--subnet", $"10.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(1, 250)}.0/24", net));
        return net;
    }

    [Fact]
    public void Containers_on_a_user_network_resolve_each_other_by_name_alias_and_short_id()
    {
        string net = CreateNetwork();
        string a = TestNames.Unique("da", 12), b = TestNames.Unique("db", 12), c = TestNames.Unique("dc", 12);
        string late = TestNames.Unique("dl", 12), renamed = TestNames.Unique("dr", 12), alone = TestNames.Unique("dx", 12);
        try
        {
            string hostA = TestNames.Unique("dh", 12);
            string idA = Ok(Engine.Docker("run", "-d", "--name", a, "--hostname", hostA, "--network", net, "--network-alias", "svc", "webapp:noexpose")).Stdout.Trim();
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "webapp:noexpose"));
            string ipA = AddressOn(a, net);

            var byName = Ok(Lookup(b, a));
            output.WriteLine(byName.Stdout);
            Assert.Contains($"Address: {ipA}", byName.Stdout);
            Assert.Contains($"Address: {ipA}", Ok(Lookup(b, "svc")).Stdout);
            Assert.Contains($"Address: {ipA}", Ok(Lookup(b, idA[..12])).Stdout);
            Assert.Contains($"Address: {ipA}", Ok(Lookup(b, hostA)).Stdout);
            // dockerd 28's DNSNames: name, aliases, short id, hostname; API 1.44 and older also get the last two in Aliases.
            Assert.Equal($"[\"{a}\",\"svc\",\"{idA[..12]}\",\"{hostA}\"]",
                Ok(Engine.Docker("inspect", "-f", $"{{{{json (index .NetworkSettings.Networks \"{net}\").DNSNames}}}}", a)).Stdout.Trim());
            string legacy = Ok(Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath, $"http://d/v1.44/containers/{a}/json"])).Stdout;
            Assert.Contains($"\"Aliases\":[\"svc\",\"{idA[..12]}\",\"{hostA}\"]", legacy);
            Assert.Contains("\"Aliases\":[\"svc\"]", Ok(Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath, $"http://d/v1.45/containers/{a}/json"])).Stdout);
            Assert.Contains($"Address: {ipA}", Ok(Lookup(b, $"{a}.{net}")).Stdout);
            Assert.Contains($"{a}.{net}", Ok(Lookup(b, ipA, type: null)).Stdout);
            // AAAA of an IPv4-only name: an empty answer, not an error and not a wait.
            Assert.DoesNotContain("NXDOMAIN", Lookup(b, a, "aaaa").Stdout + Lookup(b, a, "aaaa").Stderr);
            var unknown = Lookup(b, "no-such-container");
            Assert.Contains("NXDOMAIN", unknown.Stdout + unknown.Stderr);

            // Docker's files: the embedded resolver with ndots:0, and the container's own address in /etc/hosts.
            string resolv = Ok(Engine.Docker("exec", b, "cat", "/etc/resolv.conf")).Stdout;
            Assert.Contains("nameserver 127.0.0.11", resolv);
            Assert.Contains("ndots:0", resolv);
            Assert.Contains($"{ipA}\t{hostA}", Ok(Engine.Docker("exec", a, "cat", "/etc/hosts")).Stdout);

            // A second container with the same alias: both addresses.
            Ok(Engine.Docker("run", "-d", "--name", c, "--network", net, "--network-alias", "svc", "webapp:noexpose"));
            string both = Ok(Lookup(b, "svc")).Stdout;
            Assert.Contains($"Address: {ipA}", both);
            Assert.Contains($"Address: {AddressOn(c, net)}", both);

            // connect --alias adds the names of a running container at once.
            Ok(Engine.Docker("run", "-d", "--name", late, "webapp:noexpose"));
            Assert.Contains("NXDOMAIN", Lookup(b, "latecomer").Stdout + Lookup(b, "latecomer").Stderr);
            Ok(Engine.Docker("network", "connect", "--alias", "latecomer", net, late));
            Assert.Contains($"Address: {AddressOn(late, net)}", Ok(Lookup(b, "latecomer")).Stdout);
            Ok(Engine.Docker("network", "disconnect", net, late));
            Assert.Contains("NXDOMAIN", Lookup(b, "latecomer").Stdout + Lookup(b, "latecomer").Stderr);

            // A rename is seen at once; a stop takes the names away.
            Ok(Engine.Docker("rename", a, renamed));
            Assert.Contains($"Address: {ipA}", Ok(Lookup(b, renamed)).Stdout);
            Assert.Contains("NXDOMAIN", Lookup(b, a).Stdout + Lookup(b, a).Stderr);
            Ok(Engine.Docker("stop", "-t", "0", renamed));
            var gone = Lookup(b, renamed);
            Assert.Contains("NXDOMAIN", gone.Stdout + gone.Stderr);
            Assert.DoesNotContain(ipA, Ok(Lookup(b, "svc")).Stdout);

            // The default bridge keeps the host's resolvers: no 127.0.0.11 there.
            Ok(Engine.Docker("run", "-d", "--name", alone, "webapp:noexpose"));
            Assert.DoesNotContain("127.0.0.11", Ok(Engine.Docker("exec", alone, "cat", "/etc/resolv.conf")).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", a, b, c, late, renamed, alone);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void Other_names_are_forwarded_to_the_dns_servers_and_a_dead_upstream_gives_servfail()
    {
        string net = CreateNetwork();
        string a = TestNames.Unique("df", 12), dead = TestNames.Unique("dd", 12);
        using var neighbour = Neighbour.Create();
        Process? server = null;
        try
        {
            string script = Path.Combine(AppContext.BaseDirectory, "py", "fake_dns.py");
            server = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", neighbour.Namespace, "python3", script, Neighbour.Address])
                { RedirectStandardOutput = true, UseShellExecute = false })!;
            Assert.Equal("ready", server.StandardOutput.ReadLine());

            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "--dns", Neighbour.Address,
                "--dns-search", "example.test", "--dns-option", "timeout:2", "webapp:noexpose"));
            var forwarded = Ok(Lookup(a, "www.example.org"));
            output.WriteLine(forwarded.Stdout);
            Assert.Contains("Address: 192.0.2.55", forwarded.Stdout);
            string resolv = Ok(Engine.Docker("exec", a, "cat", "/etc/resolv.conf")).Stdout;
            Assert.Contains("search example.test", resolv);
            Assert.Contains("options ndots:0 timeout:2", resolv);

            // Nothing listens at the neighbour's host-side address: the resolver says SERVFAIL instead of hanging.
            Ok(Engine.Docker("run", "-d", "--name", dead, "--network", net, "--dns", Neighbour.HostAddress, "webapp:noexpose"));
            var failed = Lookup(dead, "www.example.org");
            Assert.NotEqual(0, failed.ExitCode);
            Assert.Contains("SERVFAIL", failed.Stdout + failed.Stderr);
        }
        finally
        {
            if (server is { HasExited: false }) server.Kill();
            server?.Dispose();
            Engine.Docker("rm", "-f", a, dead);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void Docker_py_aliases_and_a_live_connect_resolve()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "names.py");
        string subnet = $"10.{Random.Shared.Next(100, 250)}.{Random.Shared.Next(1, 250)}.0/24";
        var result = Sh.Run("python3", [script, Engine.DockerHost, TestNames.Unique("py", 10), subnet], TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("ok", result.Stdout);
    }

    [Fact]
    public void Link_aliases_resolve_on_a_user_network_and_are_written_to_hosts_on_the_default_bridge()
    {
        string net = CreateNetwork();
        string target = TestNames.Unique("dt", 12), user = TestNames.Unique("du", 12);
        string onBridge = TestNames.Unique("dv", 12), bridgeClient = TestNames.Unique("dw", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", target, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", user, "--network", net, "--link", $"{target}:database", "webapp:noexpose"));
            Assert.Contains($"Address: {AddressOn(target, net)}", Ok(Lookup(user, "database")).Stdout);

            Ok(Engine.Docker("run", "-d", "--name", onBridge, "--expose", "5432", "-e", "SECRET=s3", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", bridgeClient, "--link", $"{onBridge}:legacy-db", "webapp:noexpose"));
            string hosts = Ok(Engine.Docker("exec", bridgeClient, "cat", "/etc/hosts")).Stdout;
            output.WriteLine(hosts);
            string bridgeAddress = AddressOn(onBridge, "bridge");
            Assert.Matches($@"{Regex.Escape(bridgeAddress)}	legacy-db .*{onBridge}
", hosts);

            // The link variables, in the container's process and in an exec, as dockerd 28 sets them.
            string processEnv = Ok(Engine.Docker("exec", bridgeClient, "/bin/busybox", "sh", "-c",
                "/bin/busybox tr '\\0' '\\n' < /proc/1/environ")).Stdout;
            foreach (string env in new[] { processEnv, Ok(Engine.Docker("exec", bridgeClient, "env")).Stdout })
            {
                output.WriteLine(env);
                Assert.Contains($"LEGACY_DB_PORT=tcp://{bridgeAddress}:5432\n", env);
                Assert.Contains($"LEGACY_DB_PORT_5432_TCP_ADDR={bridgeAddress}\n", env);
                Assert.Contains("LEGACY_DB_PORT_5432_TCP_PORT=5432\n", env);
                Assert.Contains($"LEGACY_DB_NAME=/{bridgeClient}/legacy-db\n", env);
                Assert.Contains("LEGACY_DB_ENV_SECRET=s3\n", env);
            }
            // On a user-defined network links are names only: no variables.
            Assert.DoesNotContain("DATABASE_", Ok(Engine.Docker("exec", user, "env")).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", target, user, onBridge, bridgeClient);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void Docker_compose_1_29_services_reach_each_other_by_service_name_and_a_scaled_one_answers_in_turn()
    {
        string project = TestNames.Unique("cp", 12).ToLowerInvariant();
        string dir = Path.Combine(Engine.Root, project);
        Directory.CreateDirectory(dir);
        string subnet = EngineProcess.FreeTestSubnet();
        File.WriteAllText(Path.Combine(dir, "docker-compose.yml"), $"""
            version: "3.8"
            services:
              web:
                image: webapp:noexpose
              client:
                image: webapp:noexpose
                command: ["sleep", "600"]
            networks:
              default:
                ipam:
                  config:
                    - subnet: {subnet}
            """);
        var env = new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost };
        ShResult Compose(params string[] args) =>
            Sh.Run("docker-compose", ["-p", project, "-f", Path.Combine(dir, "docker-compose.yml"), .. args], TimeSpan.FromSeconds(180), env);
        try
        {
            var up = Compose("up", "-d", "--scale", "web=3");
            Assert.True(up.ExitCode == 0, up.Stdout + up.Stderr);
            var webs = Enumerable.Range(1, 3).Select(i => Engine.Docker("inspect", "-f",
                $"{{{{(index .NetworkSettings.Networks \"{project}_default\").IPAddress}}}}", $"{project}_web_{i}").Stdout.Trim())
                .ToHashSet();
            Assert.Equal(3, webs.Count(w => w.Length > 0));

            // The service name answers with every replica's address, the order turning from one query to the next.
            var firsts = new List<string>();
            for (int i = 0; i < 4; i++)
            {
                var lookup = Compose("exec", "-T", "client", "/bin/busybox", "nslookup", "-type=a", "web", "127.0.0.11");
                output.WriteLine(lookup.Stdout + lookup.Stderr);
                Assert.Equal(0, lookup.ExitCode);
                var answer = lookup.Stdout.Split('\n').Where(l => l.StartsWith("Address:", StringComparison.Ordinal)
                    && !l.Contains("127.0.0.11")).Select(l => l["Address:".Length..].Trim()).ToList();
                Assert.Equal(webs, answer.ToHashSet());
                firsts.Add(answer[0]);
            }
            Assert.True(firsts.Distinct().Count() > 1, $"the same replica came first every time: {string.Join(", ", firsts)}");
            var fetched = Compose("exec", "-T", "client", "wget", "-q", "-O", "-", $"http://{webs.First()}/");
            Assert.Contains("Hostname", fetched.Stdout);
        }
        finally
        {
            Compose("down", "-t", "0");
        }
    }

    [Fact]
    public async Task Names_still_resolve_after_an_engine_restart_with_containers_kept_running()
    {
        string net = CreateNetwork();
        string a = TestNames.Unique("ra", 12), b = TestNames.Unique("rb", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "webapp:noexpose"));
            await Engine.RestartAsync();
            Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", b).Stdout.Trim());
            Assert.Contains($"Address: {AddressOn(a, net)}", Ok(Lookup(b, a)).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", a, b);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void Hosts_file_takes_add_host_with_host_gateway_hostname_and_domainname()
    {
        string net = CreateNetwork();
        string a = TestNames.Unique("dh", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "--hostname", "web", "--domainname", "example.test",
                "--add-host", "db.local:10.1.2.3", "--add-host", "host.docker.internal:host-gateway", "webapp:noexpose"));
            string hosts = Ok(Engine.Docker("exec", a, "cat", "/etc/hosts")).Stdout;
            output.WriteLine(hosts);
            string gateway = Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").Gateway}}}}", a).Stdout.Trim();
            Assert.Contains("10.1.2.3\tdb.local\n", hosts);
            Assert.Contains($"{gateway}\thost.docker.internal\n", hosts);
            Assert.Contains($"{AddressOn(a, net)}\tweb.example.test web\n", hosts);
        }
        finally
        {
            Engine.Docker("rm", "-f", a);
            Engine.Docker("network", "rm", net);
        }
    }

    [Fact]
    public void Empty_cmd_and_entrypoint_arrays_take_the_images_command_as_Testcontainers_sends_them()
    {
        string name = TestNames.Unique("tc", 12);
        try
        {
            var created = Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath, "-H", "Content-Type: application/json",
                "-d", """{"Image":"webapp:noexpose","Cmd":[],"Entrypoint":[]}""", $"http://localhost/v1.43/containers/create?name={name}"]);
            output.WriteLine(created.Stdout);
            Assert.Contains("\"Id\"", created.Stdout);
            Ok(Engine.Docker("start", name));
            Assert.Equal("/bin/httpd", Engine.Docker("inspect", "-f", "{{.Path}}", name).Stdout.Trim());
            Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }
}
