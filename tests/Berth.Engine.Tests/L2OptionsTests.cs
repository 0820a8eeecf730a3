using Berth.Engine.Model;
using Berth.Engine.Networks;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class L2OptionsTests
{
    private static NetworkRecord Network(string driver, bool @internal = false, params (string Key, string Value)[] options) =>
        new() { Id = new string('a', 64), Driver = driver, Internal = @internal, Options = options.ToDictionary(o => o.Key, o => o.Value) };

    [Fact]
    public void Endpoints_have_a_gateway_unless_the_network_is_internal_parentless_or_ipvlan_l3()
    {
        Assert.True(L2Options.EndpointsHaveGateway(Network("macvlan", options: ("parent", "eth0"))));
        Assert.True(L2Options.EndpointsHaveGateway(Network("ipvlan", options: [("parent", "eth0"), ("ipvlan_mode", "l2")])));
        Assert.False(L2Options.EndpointsHaveGateway(Network("macvlan")));
        Assert.False(L2Options.EndpointsHaveGateway(Network("macvlan", @internal: true, ("parent", "eth0"))));
        Assert.False(L2Options.EndpointsHaveGateway(Network("ipvlan", options: [("parent", "eth0"), ("ipvlan_mode", "l3")])));
        Assert.False(L2Options.EndpointsHaveGateway(Network("ipvlan", options: [("parent", "eth0"), ("ipvlan_mode", "l3s")])));
    }
}
