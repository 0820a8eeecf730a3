using Berth.TestSupport;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Images;
using Xunit;
using Xunit.Abstractions;

namespace Berth.Testcontainers.Tests;

/// <summary>Testcontainers for .NET 4.x starting a container of an image the engine does not have: it asks for the
/// image, pulls it from a registry on loopback through the engine, and runs it; `PullPolicy.Always` pulls again.</summary>
public sealed class PullTests(ITestOutputHelper output) : IAsyncLifetime
{
    private EngineProcess _engine = null!;
    private RegistryProcess _registry = null!;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", "true");
        _engine = await EngineProcess.StartAsync();
        _registry = await RegistryProcess.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _registry.DisposeAsync();
    }

    [Fact]
    public async Task A_missing_image_is_pulled_from_the_registry_and_runs()
    {
        string image = $"{_registry.Host}/{TestNames.Unique("tcpull", 12)}:v1";
        string marker = TestNames.Unique("pulled", 16);
        // An image with a layer of its own, pushed and then removed here: the engine must pull it back.
        string tar = Path.Combine(_engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        Check(_engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:base"));
        string maker = TestNames.Unique("maker", 12);
        Check(_engine.Docker("run", "--name", maker, "webapp:base", "sh", "-c", $"echo {marker} > /marker"));
        Check(_engine.Docker("commit", maker, image));
        Check(_engine.Docker("rm", maker));
        Check(_engine.Docker("push", image));
        Check(_engine.Docker("rmi", image));
        Assert.NotEqual(0, _engine.Docker("image", "inspect", image).ExitCode);

        foreach (var policy in new[] { PullPolicy.Missing, PullPolicy.Always })
        {
            var container = new ContainerBuilder().WithDockerEndpoint(_engine.DockerHost).WithImage(image)
                .WithImagePullPolicy(policy).WithName(TestNames.Unique("tcp", 12)).WithCommand("sh", "-c", "trap exit TERM; sleep 60 & wait")
                .WithAutoRemove(true).WithCleanUp(false).Build(); // without the reaper, disposal stops; auto-remove removes
            try
            {
                await container.StartAsync();
                var read = await container.ExecAsync(["cat", "/marker"]);
                output.WriteLine(read.Stdout + read.Stderr);
                Assert.Equal(0, read.ExitCode);
                Assert.Equal(marker, read.Stdout.Trim());
            }
            finally { await container.DisposeAsync(); }
        }
        Assert.Contains(image, Check(_engine.Docker("images", "--format", "{{.Repository}}:{{.Tag}}")).Stdout);
        // Auto-removal follows the exit; once it has, no container holds the image.
        Check(WaitFor.UntilSuccess(() => _engine.Docker("rmi", image)));
    }

    private static ShResult Check(ShResult result) =>
        result.ExitCode == 0 ? result : throw new InvalidOperationException(result.Stderr + result.Stdout);
}
