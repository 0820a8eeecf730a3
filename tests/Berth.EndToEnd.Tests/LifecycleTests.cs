using System.Net.Http;
using System.Security.Cryptography;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>The rest of the container and image lifecycle with the docker CLI: logs options, restart, kill, rename,
/// wait, tag/rmi, load of a `docker save` archive, and user-defined networks.</summary>
public sealed class LifecycleTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    [Fact]
    public void Logs_tail_timestamps_and_follow_restart_kill_rename_and_wait()
    {
        string name = TestNames.Unique("lc", 12), renamed = TestNames.Unique("rn", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose", "sh", "-c", "for i in 1 2 3; do echo line$i; done; sleep 30"));
            for (int i = 0; i < 50 && !Engine.Docker("logs", name).Stdout.Contains("line3"); i++) Thread.Sleep(100);
            Assert.Equal("line2\nline3\n", Ok(Engine.Docker("logs", "--tail", "2", name)).Stdout);
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line1\n", Ok(Engine.Docker("logs", "-t", name)).Stdout);

            Ok(Engine.Docker("rename", name, renamed));
            Assert.Equal($"/{renamed}", Engine.Docker("inspect", "-f", "{{.Name}}", renamed).Stdout.Trim());
            string started = Engine.Docker("inspect", "-f", "{{.State.StartedAt}}", renamed).Stdout.Trim();
            Ok(Engine.Docker("restart", "-t", "1", renamed));
            Assert.NotEqual(started, Engine.Docker("inspect", "-f", "{{.State.StartedAt}}", renamed).Stdout.Trim());
            Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", renamed).Stdout.Trim());

            // follow ends when the container does; kill's exit code reaches wait.
            var follow = Task.Run(() => Engine.Docker("logs", "-f", renamed));
            Thread.Sleep(500);
            Ok(Engine.Docker("kill", "-s", "KILL", renamed));
            Assert.Equal("137", Ok(Engine.Docker("wait", renamed)).Stdout.Trim());
            Assert.True(follow.Wait(TimeSpan.FromSeconds(10)), "logs -f did not end with the container");
            Assert.Contains("line3", follow.Result.Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name, renamed);
        }
    }

    [Fact]
    public void A_docker_save_archive_loads_runs_tags_and_is_removed()
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("save", 12));
        Directory.CreateDirectory(dir);
        string repo = TestNames.Unique("loaded", 14);
        try
        {
            string archive = WriteDockerSaveArchive(dir, $"{repo}:1");
            Assert.Contains($"Loaded image: {repo}:1", Ok(Engine.Docker("load", "-i", archive)).Stdout);
            Assert.Equal("from-save\n", Ok(Engine.Docker("run", "--rm", $"{repo}:1", "echo", "from-save")).Stdout);
            Ok(Engine.Docker("tag", $"{repo}:1", $"{repo}:2"));
            Assert.Contains($"{repo}:2", Ok(Engine.Docker("images", "--format", "{{.Repository}}:{{.Tag}}")).Stdout);
            Assert.Contains($"Untagged: {repo}:2", Ok(Engine.Docker("rmi", $"{repo}:2")).Stdout);
            Assert.Contains("Deleted: sha256:", Ok(Engine.Docker("rmi", $"{repo}:1")).Stdout);
            Assert.NotEqual(0, Engine.Docker("image", "inspect", $"{repo}:1").ExitCode);
        }
        finally
        {
            Engine.Docker("rmi", "-f", $"{repo}:1", $"{repo}:2");
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Containers_on_a_user_network_get_its_subnet_and_reach_each_other()
    {
        string net = TestNames.Unique("net", 12), a = TestNames.Unique("na", 12), b = TestNames.Unique("nb", 12);
        int x = Random.Shared.Next(100, 250), y = Random.Shared.Next(1, 250);
        string subnet = $"10.{x}.{y}.0/24";
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", subnet, net));
            Ok(Engine.Docker("run", "-d", "--name", a, "--network", net, "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", b, "--network", net, "webapp:noexpose"));
            string ipA = Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", a).Stdout.Trim();
            Assert.StartsWith($"10.{x}.{y}.", ipA);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{ipA}/"));
            Assert.Contains("Hostname", Ok(Engine.Docker("exec", b, "wget", "-q", "-O", "-", $"http://{ipA}/")).Stdout);
            Assert.Contains(net, Ok(Engine.Docker("network", "ls", "--format", "{{.Name}}")).Stdout);
            var inUse = Engine.Docker("network", "rm", net);
            Assert.NotEqual(0, inUse.ExitCode);
            output.WriteLine(inUse.Stderr);
        }
        finally
        {
            Engine.Docker("rm", "-f", a, b);
            Engine.Docker("network", "rm", net);
        }
        Assert.DoesNotContain(net, Engine.Docker("network", "ls", "--format", "{{.Name}}").Stdout);
    }

    [Fact]
    public async Task Network_connect_adds_an_interface_to_a_running_container_and_disconnect_takes_it_away()
    {
        string net = TestNames.Unique("cn", 12), name = TestNames.Unique("cc", 12);
        int x = Random.Shared.Next(100, 250), y = Random.Shared.Next(1, 250);
        try
        {
            Ok(Engine.Docker("network", "create", "--subnet", $"10.{x}.{y}.0/24", net));
            Ok(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose"));
            Ok(Engine.Docker("network", "connect", net, name));
            string ip = Engine.Docker("inspect", "-f", $"{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}", name).Stdout.Trim();
            Assert.StartsWith($"10.{x}.{y}.", ip);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{ip}/"));
            Assert.Contains("eth1", Ok(Engine.Docker("exec", name, "ip", "-o", "addr")).Stdout);
            // Still reachable on the first network, whose gateway keeps the default route.
            string first = Engine.Docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", name).Stdout.Trim();
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://{first}/"));

            var again = Engine.Docker("network", "connect", net, name);
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("already exists", again.Stderr);

            Ok(Engine.Docker("network", "disconnect", net, name));
            Assert.DoesNotContain(net, Engine.Docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", name).Stdout);
            Assert.DoesNotContain("eth1", Ok(Engine.Docker("exec", name, "ip", "-o", "addr")).Stdout);
            Ok(Engine.Docker("network", "rm", net));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            Engine.Docker("network", "rm", net);
        }
    }

    /// <summary>The layout `docker save` writes: manifest.json, the config blob and one layer tar.</summary>
    private static string WriteDockerSaveArchive(string dir, string tag)
    {
        string content = Path.Combine(dir, "content");
        Directory.CreateDirectory(content);
        string layer = Path.Combine(content, "layer.tar");
        WebAppImage.WriteRootfsTar(layer);
        string diffId = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(layer)));
        Directory.CreateDirectory(Path.Combine(content, diffId));
        File.Move(layer, Path.Combine(content, diffId, "layer.tar"));
        byte[] config = JsonSerializer.SerializeToUtf8Bytes(new
        {
            architecture = "amd64", os = "linux", created = "2026-01-01T00:00:00Z",
            config = new { Cmd = new[] { "/bin/httpd", "-f", "-p", "80", "-h", "/www" }, Env = new[] { "PATH=/bin" } },
            rootfs = new { type = "layers", diff_ids = new[] { "sha256:" + diffId } },
        });
        string configId = Convert.ToHexStringLower(SHA256.HashData(config));
        File.WriteAllBytes(Path.Combine(content, configId + ".json"), config);
        File.WriteAllBytes(Path.Combine(content, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(new[]
        {
            new { Config = configId + ".json", RepoTags = new[] { tag }, Layers = new[] { diffId + "/layer.tar" } },
        }));
        string archive = Path.Combine(dir, "image.tar");
        Ok(Sh.Run("tar", ["-C", content, "-cf", archive, "."]));
        return archive;
    }
}
