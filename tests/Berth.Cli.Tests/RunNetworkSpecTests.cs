using Berth.Cli.Client;
using Xunit;

namespace Berth.Cli.Tests;

/// <summary>`--network name=N,gw-priority=P,alias=A` sends what the docker CLI 28 sends (EndpointSettings.GwPriority).</summary>
public sealed class RunNetworkSpecTests
{
    [Fact]
    public void The_long_form_names_the_network_and_sets_its_endpoints_priority_and_aliases()
    {
        var body = RunRequest.Build(new RunSettings { Image = "alpine", Network = "name=front,gw-priority=-5,alias=web", NetworkAliases = ["www"] });
        Assert.Equal("front", body["HostConfig"]!["NetworkMode"]!.GetValue<string>());
        var endpoint = body["NetworkingConfig"]!["EndpointsConfig"]!["front"]!;
        Assert.Equal(-5, endpoint["GwPriority"]!.GetValue<int>());
        Assert.Equal("""["www","web"]""", endpoint["Aliases"]!.ToJsonString());
    }

    [Theory]
    [InlineData("name=front,gw-priority=high")]
    [InlineData("name=front,color=red")]
    public void A_bad_field_is_refused_as_the_docker_cli_refuses_it(string value) =>
        Assert.Equal(125, Assert.Throws<CliException>(() => RunNetworkSpec.Parse(value)).ExitCode);

    [Fact]
    public void A_plain_value_is_the_network_or_mode() => Assert.Equal(new RunNetworkSpec("host", 0, []).Name, RunNetworkSpec.Parse("host").Name);
}
