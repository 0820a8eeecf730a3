using System.Text.Json.Nodes;
using Berth.Api.Endpoints;
using Berth.Api.Views;
using Berth.Engine;
using Berth.Engine.Model;
using Xunit;

namespace Berth.Api.Tests;

public sealed class ContainerViewsTests
{
    [Theory]
    [InlineData(0.5, "Less than a second")]
    [InlineData(1, "1 second")]
    [InlineData(5, "5 seconds")]
    [InlineData(59, "59 seconds")]
    [InlineData(60, "About a minute")]
    [InlineData(150, "2 minutes")]
    [InlineData(3600, "About an hour")]
    [InlineData(3 * 3600, "3 hours")]
    [InlineData(3 * 86400, "3 days")]
    public void Durations_read_as_docker_ps_prints_them(double seconds, string expected) =>
        Assert.Equal(expected, ContainerViews.HumanDuration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Status_strings_match_dockerd()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.Equal("Up 5 seconds", ContainerViews.Status(new ContainerState { Status = "running", StartedAt = now.AddSeconds(-5) }, now));
        Assert.Equal("Exited (3) 2 minutes ago", ContainerViews.Status(new ContainerState { Status = "exited", ExitCode = 3, FinishedAt = now.AddMinutes(-2) }, now));
        Assert.Equal("Created", ContainerViews.Status(new ContainerState(), now));
    }

    [Fact]
    public void Ports_map_lists_exposed_ports_with_null_and_published_ones_with_bindings()
    {
        var record = new ContainerRecord
        {
            Id = new string('b', 64),
            Config = new ContainerConfig { ExposedPorts = new() { ["80/tcp"] = new JsonObject(), ["7000/tcp"] = new JsonObject() } },
            Ports = [new("80/tcp", "0.0.0.0", 8080), new("80/tcp", "::", 8080)],
        };
        record.State.Running = true;
        var ports = ContainerViews.Ports(record);
        Assert.Null(ports["7000/tcp"]);
        var bindings = ports["80/tcp"]!.AsArray();
        Assert.Equal("0.0.0.0", bindings[0]!["HostIp"]!.GetValue<string>());
        Assert.Equal("8080", bindings[0]!["HostPort"]!.GetValue<string>());
        Assert.Equal("::", bindings[1]!["HostIp"]!.GetValue<string>());
        Assert.Equal(["80/tcp", "7000/tcp"], ports.Select(p => p.Key));

        record.State.Running = false;
        Assert.Empty(ContainerViews.Ports(record));
    }

    [Fact]
    public void Filters_accept_both_json_forms_and_reject_unknown_keys()
    {
        var flask = new ContainerRecord { Id = "abc123" + new string('0', 58), Name = "flask" };
        flask.State.Status = "running";
        Assert.True(ContainerFilters.Parse("{\"name\":[\"flask\"]}").Matches(flask, null!));
        Assert.True(ContainerFilters.Parse("{\"name\":{\"fla\":true}}").Matches(flask, null!));
        Assert.False(ContainerFilters.Parse("{\"name\":[\"web\"]}").Matches(flask, null!));
        Assert.True(ContainerFilters.Parse("{\"id\":[\"abc1\"]}").Matches(flask, null!));
        Assert.False(ContainerFilters.Parse("{\"status\":[\"exited\"]}").Matches(flask, null!));
        var error = Assert.Throws<BadRequestException>(() => ContainerFilters.Parse("{\"colour\":[\"red\"]}"));
        Assert.Contains("colour", error.Message);
        Assert.Throws<BadRequestException>(() => ContainerFilters.Parse("{not json"));
    }
}
