using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Registries and networks that fail: mirrors that are down or err, a pull whose daemon is killed half way.
/// Each test has an engine of its own (daemon flags, or a daemon killed).</summary>
public sealed class RegistryFaultTests
{
    /// <summary>The web app imported as <paramref name="name"/>, pushed, and removed here again.</summary>
    private static void PushWebApp(EngineProcess engine, string name)
    {
        string tar = Path.Combine(engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        EngineFixture.Check(engine.Docker("import", "-c", WebAppImage.Cmd, tar, name));
        EngineFixture.Check(engine.Docker("push", name));
        EngineFixture.Check(engine.Docker("rmi", name));
    }

    /// <summary>--registry-mirror: Docker Hub names are pulled from the mirrors first; a mirror that is down, answers
    /// with an error or breaks off its layers is left for the next one (and, last, the origin), as dockerd does.</summary>
    [Fact]
    public async Task A_mirror_that_is_down_or_errs_falls_back_to_the_next_endpoint()
    {
        await using var empty = await RegistryProcess.StartAsync();
        await using var holding = await RegistryProcess.StartAsync();
        await using var breaking = new FaultyProxy(holding.Port) { CutAfterBytes = 64 * 1024, CutsLeft = 1000 };
        await using var engine = await EngineProcess.StartAsync(
            "--registry-mirror", $"http://127.0.0.1:{Ports.Free()}",
            "--registry-mirror", $"http://{empty.Host}",
            "--registry-mirror", $"http://{breaking.Host}",
            "--registry-mirror", $"http://{holding.Host}");
        string repo = TestNames.Unique("mirrored", 14);
        PushWebApp(engine, $"{holding.Host}/library/{repo}:v1");

        // docker.io/library/REPO:v1: the first mirror refuses connections, the second has no such manifest (404), the
        // third serves the manifest and then cuts every layer download: the pull ends on the fourth, announced once.
        var pull = EngineFixture.Check(engine.Docker("pull", $"{repo}:v1"));
        Assert.True(breaking.Cuts > 0, pull.Stdout);
        Assert.Single(pull.Stdout.Split('\n'), line => line.Contains("Pulling from"));
        Assert.Contains("Pull complete", pull.Stdout);
        Assert.Contains($"Status: Downloaded newer image for {repo}:v1", pull.Stdout);
        Assert.EndsWith($"docker.io/library/{repo}:v1\n", pull.Stdout);
        Assert.Contains("root:x:0:", EngineFixture.Check(engine.Docker("run", "--rm", $"{repo}:v1", "cat", "/etc/group")).Stdout);
        EngineFixture.Check(engine.Docker("rmi", $"{repo}:v1"));
    }

    [Fact]
    public async Task A_pull_whose_daemon_is_killed_half_way_leaves_nothing_and_the_next_pull_finishes()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var engine = await EngineProcess.StartAsync();
        string repo = TestNames.Unique("killed", 12);
        PushWebApp(engine, $"{registry.Host}/{repo}:v1");
        string layersDir = Path.Combine(engine.DataRoot, "image", "layers");
        var layersBefore = Directory.GetDirectories(layersDir).Order().ToList();

        await using var proxy = new FaultyProxy(registry.Port) { DelayPerChunk = TimeSpan.FromMilliseconds(100) };
        string name = $"{proxy.Host}/{repo}:v1";
        var pull = Task.Run(() => engine.Docker("pull", name));
        // Kill -9 once the layer is flowing: well past the manifest and config, far from its end.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (proxy.Forwarded < 96 * 1024 && DateTime.UtcNow < deadline && !pull.IsCompleted) await Task.Delay(20);
        Assert.False(pull.IsCompleted, "the pull ended before the daemon could be killed: " + (pull.IsCompleted ? pull.Result.Stdout : ""));
        Sh.Run("kill", ["-KILL", engine.Pid.ToString()]);
        await engine.WaitForExitAsync();
        Assert.NotEqual(0, (await pull).ExitCode);

        await engine.StartAgainAsync();
        Assert.Equal(layersBefore, Directory.GetDirectories(layersDir).Order().ToList());
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(engine.DataRoot, "image", "tmp")));
        Assert.NotEqual(0, engine.Docker("image", "inspect", name).ExitCode);

        proxy.DelayPerChunk = TimeSpan.Zero;
        var again = EngineFixture.Check(engine.Docker("pull", name));
        Assert.Contains("Pull complete", again.Stdout);
        Assert.Contains("root:x:0:", EngineFixture.Check(engine.Docker("run", "--rm", name, "cat", "/etc/group")).Stdout);
        EngineFixture.Check(engine.Docker("rmi", name));
    }

    [Fact]
    public async Task A_download_cut_half_way_is_retried_and_the_pull_finishes()
    {
        await using var registry = await RegistryProcess.StartAsync();
        await using var engine = await EngineProcess.StartAsync();
        string repo = TestNames.Unique("cut", 12);
        PushWebApp(engine, $"{registry.Host}/{repo}:v1");

        await using var proxy = new FaultyProxy(registry.Port) { CutAfterBytes = 96 * 1024, CutsLeft = 1 };
        string name = $"{proxy.Host}/{repo}:v1";
        var pull = EngineFixture.Check(engine.Docker("pull", name));
        Assert.Equal(1, proxy.Cuts);
        Assert.Contains("Retrying in 1 second", pull.Stdout);
        Assert.Contains("Pull complete", pull.Stdout);
        Assert.Contains("root:x:0:", EngineFixture.Check(engine.Docker("run", "--rm", name, "cat", "/etc/group")).Stdout);
        EngineFixture.Check(engine.Docker("rmi", name));
    }
}
