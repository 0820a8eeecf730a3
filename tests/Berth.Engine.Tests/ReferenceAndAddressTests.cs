using System.Net;
using Berth.Engine.Containers;
using Berth.Engine.Networks;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class ReferenceAndAddressTests
{
    [Theory]
    [InlineData("webapp", "webapp:latest")]
    [InlineData("webapp:noexpose", "webapp:noexpose")]
    [InlineData("docker.io/library/webapp:v2", "webapp:v2")]
    [InlineData("registry:5000/team/app", "registry:5000/team/app:latest")]
    [InlineData("nope", "nope:latest")]
    public void Normalizes_image_references_as_docker_prints_them(string given, string expected) =>
        Assert.Equal(expected, ContainerService.NormalizeReference(given));

    [Fact]
    public void Bip_gives_the_subnet_and_keeps_the_gateway()
    {
        var (subnet, gateway) = NetworkService.ParseGatewayCidr("10.88.3.1/24");
        Assert.Equal(IPNetwork.Parse("10.88.3.0/24"), subnet);
        Assert.Equal(IPAddress.Parse("10.88.3.1"), gateway);
    }

    [Theory]
    [InlineData("10.88.3.1")]
    [InlineData("10.88.3.1/33")]
    [InlineData("::1/64")]
    [InlineData("nonsense/24")]
    public void Bip_rejects_what_is_not_an_ipv4_gateway_with_prefix(string bip) =>
        Assert.Throws<ArgumentException>(() => NetworkService.ParseGatewayCidr(bip));

    [Fact]
    public void Ids_are_64_lowercase_hex_and_distinct()
    {
        string a = NetworkService.NewId(), b = NetworkService.NewId();
        Assert.Matches("^[0-9a-f]{64}$", a);
        Assert.NotEqual(a, b);
    }
}
