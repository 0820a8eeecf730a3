using System.Net;
using System.Net.Sockets;
using Berth.Networking.Bridge;
using Berth.Networking.Netlink;

namespace Berth.Networking.Namespaces;

/// <summary>The IPv6 side of a container's interface, the same on a bridge's veth and on a macvlan/ipvlan port.</summary>
public static class ContainerIpv6
{
    /// <summary>`--link-local-ip` addresses (/16 for IPv4, /64 for IPv6, as dockerd), the v6 address and the v6 default
    /// route (through <see cref="Ipv6Endpoint.Gateway"/>, or through the interface itself when there is none: ipvlan
    /// l3). No duplicate address detection: a fresh link's addresses would
    /// stay "tentative" for a second or two, and the container must be able to use them the moment it starts.</summary>
    public static void Configure(RouteNetlinkClient inside, int index, Ipv6Endpoint? v6, IReadOnlyList<IPAddress>? linkLocal,
        bool defaultRoute)
    {
        foreach (var address in linkLocal ?? [])
            inside.AddAddress(index, address, address.AddressFamily == AddressFamily.InterNetworkV6 ? 64 : 16, skipDuplicateDetection: true);
        if (v6 is null) return;
        inside.AddAddress(index, v6.Address, v6.PrefixLength, skipDuplicateDetection: true);
        if (defaultRoute) inside.AddRoute(new IPNetwork(IPAddress.IPv6Any, 0), v6.Gateway, index);
    }
}
