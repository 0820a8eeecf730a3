using Berth.TestSupport;
using DotNet.Testcontainers.Builders;
using Xunit;
using Xunit.Abstractions;

namespace Berth.Testcontainers.Tests;

/// <summary>Testcontainers for .NET 4.x against the engine: its create request (empty Cmd/Entrypoint arrays) takes the
/// image's command, and a network alias resolves from another container through the embedded resolver.</summary>
public sealed class NetworkAliasTests(ITestOutputHelper output) : IAsyncLifetime
{
    private EngineProcess _engine = null!;

    public async Task InitializeAsync()
    {
        // The resource reaper would pull testcontainers/ryuk from Docker Hub: the tests remove what they make.
        Environment.SetEnvironmentVariable("TESTCONTAINERS_RYUK_DISABLED", "true");
        _engine = await EngineProcess.StartAsync();
        string tar = Path.Combine(_engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        var imported = _engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:noexpose");
        if (imported.ExitCode != 0) throw new InvalidOperationException(imported.Stderr);
    }

    public async Task DisposeAsync() => await _engine.DisposeAsync();

    [Fact]
    public async Task A_network_alias_resolves_from_another_container()
    {
        // A 10.x subnet of the test's own, as every engine bridge in the tests (the default pool starts at 172.17).
        string subnet = EngineProcess.FreeTestSubnet();
        var network = new NetworkBuilder().WithDockerEndpoint(_engine.DockerHost).WithName(TestNames.Unique("tcn", 12))
            .WithCreateParameterModifier(p => p.IPAM = new Docker.DotNet.Models.IPAM
            {
                Config = [new Docker.DotNet.Models.IPAMConfig { Subnet = subnet }],
            })
            .WithCleanUp(false).Build();
        var server = new ContainerBuilder().WithDockerEndpoint(_engine.DockerHost).WithImage("webapp:noexpose")
            .WithName(TestNames.Unique("tcs", 12)).WithNetwork(network).WithNetworkAliases("web").WithCleanUp(false).Build();
        var client = new ContainerBuilder().WithDockerEndpoint(_engine.DockerHost).WithImage("webapp:noexpose")
            .WithName(TestNames.Unique("tcc", 12)).WithNetwork(network).WithCommand("sleep", "60").WithCleanUp(false).Build();
        try
        {
            await network.CreateAsync();
            await server.StartAsync();
            await client.StartAsync();
            var lookup = await client.ExecAsync(["/bin/busybox", "nslookup", "-type=a", "web", "127.0.0.11"]);
            output.WriteLine(lookup.Stdout + lookup.Stderr);
            Assert.Equal(0, lookup.ExitCode);
            Assert.Contains($"Address: {server.IpAddress}", lookup.Stdout);
            Assert.StartsWith(subnet[..subnet.LastIndexOf('.')], server.IpAddress);
        }
        finally
        {
            await client.DisposeAsync();
            await server.DisposeAsync();
            await network.DeleteAsync();
            await network.DisposeAsync();
        }
    }
}
