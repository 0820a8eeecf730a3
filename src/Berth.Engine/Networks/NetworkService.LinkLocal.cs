using System.Net;
using System.Net.Sockets;
using Berth.Networking.Netlink;

namespace Berth.Engine.Networks;

public sealed partial class NetworkService
{
    /// <summary>`--link-local-ip`: extra addresses on the container's interface, with the masks dockerd gives them
    /// (/16 for IPv4, /64 for IPv6); they are not allocated from the network's pool.</summary>
    private static void AddLinkLocalAddresses(string netnsPath, string interfaceName, IReadOnlyList<IPAddress> addresses)
    {
        if (addresses.Count == 0) return;
        using var inside = RouteNetlinkClient.OpenInNamespace(netnsPath);
        int index = inside.GetLinkIndex(interfaceName) ?? throw new InvalidOperationException($"{interfaceName} is missing in {netnsPath}");
        foreach (var address in addresses)
            inside.AddAddress(index, address, address.AddressFamily == AddressFamily.InterNetworkV6 ? 64 : 16);
    }
}
