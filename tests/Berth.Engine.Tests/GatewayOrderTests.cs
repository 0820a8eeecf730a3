using System.Net;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>dockerd 28's gateway choice (libnetwork `Endpoint.Less`, `Sandbox.getGatewayEndpoint`).</summary>
public sealed class GatewayOrderTests
{
    private static GatewayCandidate V4Only(string network, int priority = 0) => new(new EndpointRecord { NetworkName = network }, network, priority, false, true, false);
    private static GatewayCandidate Dual(string network, int priority = 0) => new(new EndpointRecord { NetworkName = network }, network, priority, false, true, true);
    private static GatewayCandidate Internal(string network, int priority = 0) => new(new EndpointRecord { NetworkName = network }, network, priority, true, false, false);

    [Fact]
    public void A_dual_stack_endpoint_is_the_gateway_of_both_families_before_a_v4_only_one()
    {
        var (a, b) = (V4Only("aaa"), Dual("zzz"));
        Assert.Equal((b.Endpoint, b.Endpoint), GatewayOrder.Choose([a, b]));
    }

    [Fact]
    public void A_higher_priority_wins_ipv4_and_the_only_dual_stack_endpoint_keeps_ipv6()
    {
        var (a, b) = (V4Only("zzz", priority: 10), Dual("aaa"));
        Assert.Equal((a.Endpoint, b.Endpoint), GatewayOrder.Choose([b, a]));
    }

    [Fact]
    public void Equal_candidates_go_by_network_name_and_a_negative_priority_goes_last()
    {
        var (a, b, c) = (V4Only("beta"), V4Only("alpha"), V4Only("aardvark", priority: -1));
        Assert.Equal((b.Endpoint, null), GatewayOrder.Choose([a, c, b]));
        Assert.Equal(["alpha", "beta", "aardvark"], GatewayOrder.Sort([a, b, c]).Select(x => x.NetworkName));
    }

    [Fact]
    public void An_internal_network_gives_no_gateway_even_with_the_highest_priority()
    {
        var (a, b) = (Internal("aaa", priority: 100), V4Only("zzz"));
        Assert.Equal((b.Endpoint, null), GatewayOrder.Choose([a, b]));
        Assert.Equal((null, null), GatewayOrder.Choose([a]));
        // Non-internal sorts before internal at the same priority.
        Assert.Equal(["zzz", "aaa"], GatewayOrder.Sort([Internal("aaa"), V4Only("zzz")]).Select(x => x.NetworkName));
    }

    [Fact]
    public void A_record_from_before_the_choice_has_its_first_endpoint_for_both_families()
    {
        var first = new EndpointRecord { NetworkName = "a", IPAddress = "10.1.0.2", Ipv6Address = "fd00::2" };
        var record = new ContainerRecord { Endpoints = [first, new EndpointRecord { NetworkName = "b", IPAddress = "10.2.0.2" }] };
        Assert.Equal((first, first), GatewayOrder.Current(record));
        first.Ipv6Address = "";
        Assert.Equal((first, null), GatewayOrder.Current(record));

        GatewayOrder.Mark(record, record.Endpoints[1], null);
        Assert.Equal((record.Endpoints[1], null), GatewayOrder.Current(record));
        Assert.False(first.IsIpv4Gateway);
    }

    [Fact]
    public void Publications_of_each_family_go_to_their_gateway_endpoints_bridge_and_address()
    {
        var v4 = new EndpointRecord { NetworkId = "n4", IPAddress = "10.1.0.2", IsIpv4Gateway = true };
        var v6 = new EndpointRecord { NetworkId = "n6", IPAddress = "10.2.0.2", Ipv6Address = "fd00:1::2", IsIpv6Gateway = true };
        var record = new ContainerRecord
        {
            Id = new string('a', 64), Endpoints = [v4, v6],
            Ports = [new("80/tcp", "0.0.0.0", 8080), new("80/tcp", "::", 8080)],
        };
        var publications = PortPublisher.PublicationsOf(record, new Dictionary<string, string> { ["n4"] = "br-4", ["n6"] = "br-6" }, false).ToList();
        Assert.Equal(2, publications.Count);
        Assert.Contains(publications, p => p.BridgeName == "br-4" && p.ContainerIp.Equals(IPAddress.Parse("10.1.0.2")));
        Assert.Contains(publications, p => p.BridgeName == "br-6" && p.ContainerIp.Equals(IPAddress.Parse("fd00:1::2")));
    }
}
