using System.Net.Http;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Published ports through kernel NAT, as the seeds show them.</summary>
public sealed class PublishingTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    private static int FreePort() => Ports.Free();

    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public async Task A_published_port_answers_on_loopback_and_the_gateway_and_clients_are_seen_as_the_gateway(string cli)
    {
        string name = TestNames.Unique("pub", 12);
        int port = FreePort();
        try
        {
            EngineFixture.Check(Engine.Client(cli, "run", "--rm", "-d", "--name", name, "-p", $"{port}:80", "webapp:noexpose"));
            // An IPv4-only container without --userland-proxy: no IPv6 binding, as dockerd without its proxy.
            Assert.Equal($"0.0.0.0:{port}->80/tcp",
                Engine.Client(cli, "ps", "--filter", $"name={name}", "--format", "{{.Ports}}").Stdout.Trim());
            string viaLoopback = await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/");
            Assert.Contains($"<b>Remote IP:</b> {Engine.Gateway}", viaLoopback);
            string viaGateway = await Http.GetWhenUpAsync($"http://{Engine.Gateway}:{port}/");
            Assert.Contains($"<b>Remote IP:</b> {Engine.Gateway}", viaGateway);
            Assert.Contains($"80/tcp -> 0.0.0.0:{port}", Engine.Client(cli, "port", name).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task A_port_bound_to_loopback_answers_there_only()
    {
        string name = TestNames.Unique("lo", 12);
        int port = FreePort();
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"127.0.0.1:{port}:80", "webapp:noexpose"));
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => Http.GetStringAsync($"http://{Engine.Gateway}:{port}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public async Task A_taken_port_fails_the_second_container_and_the_first_keeps_working(string cli)
    {
        string first = TestNames.Unique("one", 12), second = TestNames.Unique("two", 12);
        int port = FreePort();
        try
        {
            EngineFixture.Check(Engine.Client(cli, "run", "-d", "--name", first, "-p", $"{port}:80", "webapp:noexpose"));
            var clash = Engine.Client(cli, "run", "-d", "--name", second, "-p", $"{port}:80", "webapp:noexpose");
            Assert.Equal(125, clash.ExitCode);
            Assert.Contains($"Bind for 0.0.0.0:{port} failed: port is already allocated", clash.Stderr);
            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", first, second);
        }
    }

    [Theory]
    [InlineData("8000-8002:80-90")]
    [InlineData("70000:80")]
    [InlineData("8080:80/xyz")]
    public void Bad_port_specs_are_refused(string spec)
    {
        var result = Engine.Docker("run", "--rm", "-p", spec, "webapp:noexpose");
        Assert.NotEqual(0, result.ExitCode);
        Assert.False(string.IsNullOrWhiteSpace(result.Stderr));
    }
}
