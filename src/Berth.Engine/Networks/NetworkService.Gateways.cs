using System.Net;
using Berth.Engine.Model;
using Berth.Networking.L2;
using Berth.Networking.Netlink;

namespace Berth.Engine.Networks;

public sealed partial class NetworkService
{
    /// <summary>What the gateway choice needs to know of an endpoint. As dockerd: an internal network (and a macvlan
    /// or ipvlan one without a parent) gives no gateway; a dual-stack endpoint gives both families.</summary>
    public GatewayCandidate GatewayCandidateOf(EndpointRecord endpoint, int priority)
    {
        var network = Find(endpoint.NetworkId);
        bool @internal = network is null || network.Internal || L2Options.IsL2(network) && L2Options.IsInternal(network);
        return new GatewayCandidate(endpoint, network?.Name ?? endpoint.NetworkName, priority, @internal,
            HasIpv4Gateway: !@internal && endpoint.IPAddress.Length > 0,
            HasIpv6Gateway: !@internal && endpoint.Ipv6Address.Length > 0 && endpoint.Ipv6Gateway.Length > 0);
    }

    /// <summary>The network's bridge (null: a macvlan/ipvlan network, which publishes no ports, or one that is gone).</summary>
    public NetworkRecord? BridgeNetworkOf(EndpointRecord? endpoint) =>
        endpoint is not null && Find(endpoint.NetworkId) is { } network && !L2Options.IsL2(network) ? network : null;

    /// <summary>One default route per family in the container's namespace, through its gateway endpoint of that family
    /// (as libnetwork's `Sandbox.updateGateway`); none for a family without one. A route there is replaced in one step.
    /// </summary>
    public void SetDefaultRoutes(string netnsPath, EndpointRecord? v4, EndpointRecord? v6)
    {
        using var inside = RouteNetlinkClient.OpenInNamespace(netnsPath);
        Set(new IPNetwork(IPAddress.Any, 0), v4, v4?.Gateway);
        Set(new IPNetwork(IPAddress.IPv6Any, 0), v6, v6?.Ipv6Gateway);

        void Set(IPNetwork any, EndpointRecord? endpoint, string? gateway)
        {
            if (endpoint is null)
            {
                // Only when there is one: a host booted without IPv6 refuses any IPv6 route request.
                if (inside.ListRoutes(any.BaseAddress.AddressFamily).Any(r => r.Destination.PrefixLength == 0)) inside.DeleteRoute(any);
                return;
            }
            int index = inside.GetLinkIndex(endpoint.InterfaceName)
                ?? throw new InvalidOperationException($"{endpoint.InterfaceName} is missing in {netnsPath}");
            inside.ReplaceRoute(any, RoutedThroughLink(endpoint) ? null : IPAddress.Parse(gateway!), index);
        }
    }

    /// <summary>ipvlan l3/l3s has no gateway to route through: its default route goes through the interface.</summary>
    private bool RoutedThroughLink(EndpointRecord endpoint) =>
        Find(endpoint.NetworkId) is { } network && L2Options.IsL2(network)
        && L2Options.PortOf(network) is { Ipvlan: true, IpvlanMode: not IpvlanMode.L2 };
}
