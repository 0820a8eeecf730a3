using System.Net.Http;
using Berth.TestSupport;
using Docker.DotNet;
using Docker.DotNet.Models;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>State surviving a daemon restart (containers, allocations, the nftables table reconciled, not doubled),
/// and the engine driven from C# with Docker.DotNet.</summary>
public sealed class RestartAndClientsTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task A_restarted_daemon_keeps_running_containers_their_ports_and_one_copy_of_its_rules()
    {
        string name = TestNames.Unique("rs", 12);
        int port = Ports.Free();
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"{port}:80", "webapp:noexpose"));
            string ip = Engine.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).Stdout.Trim();
            string rules = Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout;

            await Engine.RestartAsync();

            Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
            Assert.Equal(ip, Engine.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).Stdout.Trim());
            Assert.Equal(rules, Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
            // The allocation came back too: the port is still refused to a second container.
            var clash = Engine.Docker("run", "-d", "-p", $"{port}:80", "webapp:noexpose");
            Assert.Contains("port is already allocated", clash.Stderr);
            // And a new container gets a different address.
            string other = TestNames.Unique("ro", 12);
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", other, "webapp:noexpose"));
            Assert.NotEqual(ip, Engine.Docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", other).Stdout.Trim());
            EngineFixture.Check(Engine.Docker("stop", "-t", "1", name));
            Assert.Equal("exited", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
            Engine.Docker("rm", "-f", other);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task Docker_dotnet_creates_publishes_inspects_and_removes_a_container()
    {
        using var client = new DockerClientConfiguration(new Uri(Engine.DockerHost)).CreateClient();
        string name = TestNames.Unique("dn", 12);
        int port = Ports.Free();
        var created = await client.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Name = name,
            Image = "webapp:noexpose",
            ExposedPorts = new Dictionary<string, EmptyStruct> { ["80/tcp"] = default },
            HostConfig = new HostConfig
            {
                PortBindings = new Dictionary<string, IList<PortBinding>> { ["80/tcp"] = [new PortBinding { HostIP = "127.0.0.1", HostPort = $"{port}" }] },
            },
        });
        try
        {
            Assert.True(await client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters()));
            var inspect = await client.Containers.InspectContainerAsync(created.ID);
            Assert.True(inspect.State.Running);
            Assert.Equal($"/{name}", inspect.Name);
            var binding = inspect.NetworkSettings.Ports["80/tcp"][0];
            Assert.Equal(("127.0.0.1", $"{port}"), (binding.HostIP, binding.HostPort));
            string ip = inspect.NetworkSettings.Networks["bridge"].IPAddress;
            Assert.Contains($"<b>Hostname:</b> {created.ID[..12]}", await Http.GetWhenUpAsync($"http://{ip}/"));
            Assert.Contains($"<b>Remote IP:</b> {Engine.Gateway}", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            var listed = await client.Containers.ListContainersAsync(new ContainersListParameters
            {
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["name"] = new Dictionary<string, bool> { [name] = true } },
            });
            var item = Assert.Single(listed);
            Assert.Contains(item.Ports, p => p.PrivatePort == 80 && p.PublicPort == port && p.IP == "127.0.0.1" && p.Type == "tcp");

            await client.Containers.StopContainerAsync(created.ID, new ContainerStopParameters { WaitBeforeKillSeconds = 1 });
            Assert.False((await client.Containers.InspectContainerAsync(created.ID)).State.Running);
        }
        finally
        {
            await client.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true });
        }
        await Assert.ThrowsAsync<DockerContainerNotFoundException>(() => client.Containers.InspectContainerAsync(created.ID));
    }
}
