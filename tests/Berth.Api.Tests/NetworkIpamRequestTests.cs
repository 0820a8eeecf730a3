using System.Text.Json.Nodes;
using Berth.Api.Endpoints;
using Berth.Engine;
using Berth.Engine.Model;
using Xunit;

namespace Berth.Api.Tests;

/// <summary>IPAM.Config of network create split into the first pool of each family and the further ones, and inspect's
/// IPAM.Config listing every pool, IPv4 first, as dockerd.</summary>
public sealed class NetworkIpamRequestTests
{
    [Fact]
    public void Several_subnets_of_a_family_keep_their_order_and_v6_needs_enable_ipv6()
    {
        var aux = new Dictionary<string, string> { ["r"] = "fd00:2::9" };
        var (v4, v6, more) = NetworkIpamRequest.Split([
            ("10.1.0.0/24", "10.1.0.254", null, null), ("fd00:1::/64", null, null, null),
            ("10.2.0.0/24", null, "10.2.0.128/25", null), ("fd00:2::/64", "fd00:2::1", null, aux)], enableIpv6: true);
        Assert.Equal(("10.1.0.0/24", "10.1.0.254"), (v4!.Subnet, v4.Gateway));
        Assert.Equal("fd00:1::/64", v6!.Subnet);
        Assert.Equal(["10.2.0.0/24", "fd00:2::/64"], more.Select(m => m.Subnet));
        Assert.Equal("10.2.0.128/25", more[0].IPRange);
        Assert.Same(aux, more[1].AuxAddresses);
        Assert.Throws<BadRequestException>(() => NetworkIpamRequest.Split([("10.1.0.0/24", null, null, null), ("fd00:1::/64", null, null, null)], false));
    }

    [Fact]
    public void Inspect_lists_every_pool_ipv4_first()
    {
        var network = new NetworkRecord
        {
            Subnet = "10.1.0.0/24", Gateway = "10.1.0.1", EnableIPv6 = true, Ipv6Subnet = "fd00:1::/64", Ipv6Gateway = "fd00:1::1",
            Ipv6AuxAddresses = new() { ["r"] = "fd00:1::9" },
            MoreSubnets = [new() { Subnet = "fd00:2::/64", Gateway = "fd00:2::1" }, new() { Subnet = "10.2.0.0/24", Gateway = "10.2.0.1", IPRange = "10.2.0.0/25" }],
        };
        var config = NetworkIpamRequest.ConfigOf(network);
        Assert.Equal(["10.1.0.0/24", "10.2.0.0/24", "fd00:1::/64", "fd00:2::/64"], config.Select(c => c!["Subnet"]!.GetValue<string>()));
        Assert.Equal("10.2.0.0/25", config[1]!["IPRange"]!.GetValue<string>());
        Assert.Equal("fd00:1::9", config[2]!["AuxiliaryAddresses"]!["r"]!.GetValue<string>());
        Assert.Empty(NetworkIpamRequest.ConfigOf(new NetworkRecord { Name = "host", Driver = "host" }));
    }

    [Fact]
    public void A_pool_without_gateway_has_no_Gateway_key()
    {
        var network = new NetworkRecord { Driver = "macvlan", Subnet = "10.1.0.0/24", Gateway = "", EnableIPv6 = true, Ipv6Subnet = "fd00:1::/64", Ipv6Gateway = "fd00:1::1" };
        var config = NetworkIpamRequest.ConfigOf(network);
        Assert.False(config[0]!.AsObject().ContainsKey("Gateway"));
        Assert.Equal("fd00:1::1", config[1]!["Gateway"]!.GetValue<string>());
    }
}
