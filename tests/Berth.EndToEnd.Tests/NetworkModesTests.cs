using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>`--network host`, `none`, `container:NAME` and several networks on one `docker run`, through the docker
/// CLI against the real kernel.</summary>
public sealed class NetworkModesTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private static HttpClient Http => LocalHttp.Client;
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private void Remove(params string[] names)
    {
        foreach (string name in names) Engine.Docker("rm", "-f", name);
    }

    private string OnBridgeName { get; } = TestNames.Unique("ob", 12);

    /// <summary>A container on the default bridge (created, not started: enough for connect's checks).</summary>
    private string OnBridge()
    {
        if (Engine.Docker("inspect", OnBridgeName).ExitCode != 0) Ok(Engine.Docker("create", "--name", OnBridgeName, "webapp:noexpose"));
        return OnBridgeName;
    }

    [Fact]
    public async Task Host_mode_runs_in_the_hosts_namespace_and_discards_published_ports_with_dockers_warning()
    {
        string name = TestNames.Unique("hm", 12);
        int port = Ports.Free();
        try
        {
            var run = Ok(Engine.Docker("run", "-d", "--name", name, "--network", "host", "-p", "8080:80", "webapp:noexpose",
                "/bin/httpd", "-f", "-p", $"127.0.0.1:{port}", "-h", "/www"));
            Assert.Contains("Published ports are discarded when using host network mode", run.Stderr);
            // The container's server answers on the host's own loopback: no namespace of its own.
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
            Assert.Equal(0, Engine.Docker("exec", name, "ip", "link", "show", Engine.Bridge).ExitCode);
            Assert.Equal("host", Ok(Engine.Docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", name)).Stdout.Trim());
            Assert.Equal("", Ok(Engine.Docker("port", name)).Stdout.Trim());
            Assert.Equal("{}", Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", name)).Stdout.Trim());
            // The host's own hosts and resolv.conf, as dockerd gives a host-mode container.
            Assert.Equal(File.ReadAllText("/etc/hosts"), Ok(Engine.Docker("exec", name, "cat", "/etc/hosts")).Stdout);
            Assert.Equal(File.ReadAllText("/etc/resolv.conf"), Ok(Engine.Docker("exec", name, "cat", "/etc/resolv.conf")).Stdout);

            // The predefined host network, as dockerd lists it: the container is its member, it cannot go.
            string hostId = Ok(Engine.Docker("network", "inspect", "-f", "{{.Id}}", "host")).Stdout.Trim();
            Assert.Equal($"{hostId} host local []", Ok(Engine.Docker("network", "ls", "--no-trunc", "--filter", "driver=host",
                "--format", "{{.ID}} {{.Name}} {{.Scope}} []")).Stdout.Trim());
            Assert.Contains($"\"Name\":\"{name}\"", Ok(Engine.Docker("network", "inspect", "-f", "{{json .Containers}}", "host")).Stdout);
            Assert.Equal(hostId, Ok(Engine.Docker("inspect", "-f", "{{.NetworkSettings.Networks.host.NetworkID}}", name)).Stdout.Trim());
            Assert.Contains(name, Ok(Engine.Docker("ps", "--filter", "network=host", "--format", "{{.Names}}")).Stdout);
            Assert.Contains("host is a pre-defined network and cannot be removed", Engine.Docker("network", "rm", "host").Stderr);
            Assert.Contains("cannot disconnect container from host network", Engine.Docker("network", "disconnect", "host", name).Stderr);
            Assert.Contains("must be created in host network mode", Engine.Docker("network", "connect", "host", OnBridge()).Stderr);
        }
        finally { Remove(name, OnBridgeName); }
    }

    [Fact]
    public void None_mode_has_loopback_only()
    {
        string name = TestNames.Unique("nm", 12), running = TestNames.Unique("nmr", 12);
        try
        {
            string links = Ok(Engine.Docker("run", "--name", name, "--network", "none", "webapp:noexpose", "ip", "-o", "link")).Stdout;
            Assert.Contains(": lo:", links);
            Assert.Single(links.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            var connect = Engine.Docker("network", "connect", "bridge", name);
            Assert.NotEqual(0, connect.ExitCode);
            Assert.Contains("cannot be connected to any other network", connect.Stderr);
            Assert.Equal("none null", Ok(Engine.Docker("network", "inspect", "-f", "{{.Name}} {{.Driver}}", "none")).Stdout.Trim());
            Assert.Contains("none is a pre-defined network and cannot be removed", Engine.Docker("network", "rm", "none").Stderr);
            Assert.Contains("one of the networks in private (none) mode", Engine.Docker("network", "connect", "none", OnBridge()).Stderr);

            // As dockerd: `network disconnect none` takes a none container, running or not, off every network.
            Ok(Engine.Docker("run", "-d", "--name", running, "--network", "none", "webapp:noexpose"));
            Assert.Contains(running, Ok(Engine.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "none")).Stdout);
            foreach (string container in new[] { name, running })
            {
                Ok(Engine.Docker("network", "disconnect", "none", container));
                Assert.Equal("{}", Ok(Engine.Docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)).Stdout.Trim());
                Assert.Contains("is not connected to network none", Engine.Docker("network", "disconnect", "none", container).Stderr);
            }
            Assert.DoesNotContain(running, Ok(Engine.Docker("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", "none")).Stdout);
            Assert.Contains(": lo:", Ok(Engine.Docker("exec", running, "ip", "-o", "link")).Stdout);

            // Then a network can be connected, as with dockerd: at once while it runs, at the next start when stopped.
            Ok(Engine.Docker("network", "connect", "bridge", running));
            string address = Ok(Engine.Docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", running)).Stdout.Trim();
            Assert.Contains("inet " + address + "/", Ok(Engine.Docker("exec", running, "ip", "-o", "-4", "addr", "show", "eth0")).Stdout);
            Assert.Contains("Hostname", WaitFor.UntilSuccess(() => LocalHttp.Answered(
                Sh.Run("curl", ["-s", "-m", "3", "--noproxy", "*", $"http://{address}/"]))).Stdout);
            Ok(Engine.Docker("network", "connect", "bridge", name));
            Assert.Contains(": eth0@", Ok(Engine.Docker("start", "-a", name)).Stdout);
        }
        finally { Remove(name, running, OnBridgeName); }
    }

    [Fact]
    public void Container_mode_shares_the_owners_namespace_and_the_owner_goes_as_dockerd_lets_it()
    {
        string owner = TestNames.Unique("co", 12), guest = TestNames.Unique("cg", 12), late = TestNames.Unique("cl", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", owner, "webapp:noexpose"));
            string ownerHostname = Ok(Engine.Docker("exec", owner, "hostname")).Stdout.Trim();
            Ok(Engine.Docker("run", "-d", "--name", guest, "--network", $"container:{owner}", "webapp:noexpose", "sleep", "600"));
            // The owner's web server on the guest's loopback: one namespace.
            var viaLoopback = WaitFor.UntilSuccess(() => LocalHttp.Answered(Engine.Docker("exec", guest, "sh", "-c",
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80")));
            Assert.Contains(ownerHostname, viaLoopback.Stdout);
            Assert.Equal(ownerHostname, Ok(Engine.Docker("exec", guest, "hostname")).Stdout.Trim());

            // dockerd 28 refuses a running owner's rm as any running container's, in its words.
            var refused = Engine.Docker("rm", owner);
            Assert.Contains($"cannot remove container \"{owner}\": container is running: stop the container before removing or force remove",
                refused.Stderr);

            var publishing = Engine.Docker("create", "--network", $"container:{owner}", "-p", "80", "webapp:noexpose");
            Assert.Contains("conflicting options: port publishing and the container type network mode", publishing.Stderr);
            var connect = Engine.Docker("network", "connect", "bridge", guest);
            Assert.Contains("cannot be connected to any other network", connect.Stderr);

            Ok(Engine.Docker("stop", "-t", "0", owner));
            Ok(Engine.Docker("create", "--name", late, "--network", $"container:{owner}", "webapp:noexpose"));
            var notRunning = Engine.Docker("start", late);
            Assert.Contains($"cannot join network namespace of a non running container: container {owner} is exited", notRunning.Stderr);
            // The owner goes while its guest runs, as dockerd lets it (moby has no such check); the guest keeps
            // running in the namespace, now with loopback only.
            Ok(Engine.Docker("rm", "-f", owner));
            Assert.Equal("true", Ok(Engine.Docker("inspect", "-f", "{{.State.Running}}", guest)).Stdout.Trim());
            string left = Ok(Engine.Docker("exec", guest, "ip", "-o", "link")).Stdout;
            Assert.Contains(": lo:", left);
            Assert.DoesNotContain("eth0", left);
            Ok(Engine.Docker("stop", "-t", "0", guest));
            Assert.Contains($"joining network namespace of container: No such container: {owner}", Engine.Docker("start", guest).Stderr);
        }
        finally { Remove(late, guest, owner); }
    }

    [Fact]
    public void One_run_joins_several_networks()
    {
        string a = TestNames.Unique("na", 12), b = TestNames.Unique("nb", 12), name = TestNames.Unique("mn", 12);
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), a));
            Ok(Engine.Docker("network", "create", "--subnet", EngineProcess.FreeTestSubnet(), b));
            Ok(Engine.Docker("run", "-d", "--name", name, "--network", a, "--network", b, "webapp:noexpose"));
            string nets = Ok(Engine.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", name)).Stdout;
            Assert.Contains($"{a}=10.", nets);
            Assert.Contains($"{b}=10.", nets);
            string addresses = Ok(Engine.Docker("exec", name, "ip", "-o", "-4", "addr")).Stdout;
            Assert.Contains(" eth0 ", addresses);
            Assert.Contains(" eth1 ", addresses);

            // Several networks on one create from API 1.44 on, as dockerd's router; host or none with others refused
            // in dockerd 28's words.
            string Create(string version, string mode, string endpoints) => Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath,
                "-H", "Content-Type: application/json", "-w", " %{http_code}", "-d",
                $$$"""{"Image":"webapp:noexpose","HostConfig":{"NetworkMode":"{{{mode}}}"},"NetworkingConfig":{"EndpointsConfig":{{{endpoints}}}}}""",
                $"http://x/v{version}/containers/create"]).Stdout;
            Assert.Equal($$$"""{"message":"Container cannot be created with multiple network endpoints: {{{a}}}, {{{b}}}"}""" + "\n 400",
                Create("1.43", a, $$$"""{"{{{a}}}":{},"{{{b}}}":{}}"""));
            Assert.Contains("container sharing network namespace with another container or host cannot be connected to any other network\"}\n 400",
                Create("1.44", "host", $$$"""{"host":{},"{{{a}}}":{}}"""));
            Assert.Contains("container cannot be connected to multiple networks with one of the networks in private (none) mode\"}\n 400",
                Create("1.44", "none", $$$"""{"none":{},"{{{a}}}":{}}"""));
        }
        finally
        {
            Remove(name);
            Engine.Docker("network", "rm", a, b);
        }
    }
}
