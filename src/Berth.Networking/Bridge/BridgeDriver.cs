using System.Net;
using System.Net.NetworkInformation;
using Berth.Linux;
using Berth.Networking.L2;
using Berth.Networking.Namespaces;
using Berth.Networking.Netlink;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Bridge;

public sealed record EndpointRequest(string NetnsPath, string BridgeName, string HostVethName, string ContainerInterfaceName,
    IPAddress Address, int PrefixLength, IPAddress Gateway, PhysicalAddress Mac, int Mtu = 1500, bool Hairpin = true,
    bool DefaultRoute = true, bool Isolated = false, Ipv6Endpoint? Ipv6 = null, IReadOnlyList<IPAddress>? LinkLocal = null);

/// <summary>A dual-stack endpoint's IPv6 side: its address, prefix and the network's v6 gateway (null on a macvlan or
/// ipvlan network without one: the default route, if any, goes through the interface).</summary>
public sealed record Ipv6Endpoint(IPAddress Address, int PrefixLength, IPAddress? Gateway);

/// <summary>Linux bridges and the veth pairs that plug container namespaces into them, over rtnetlink.</summary>
public sealed class BridgeDriver(ILogger<BridgeDriver>? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger<BridgeDriver>.Instance;
    private readonly RouteNetlinkClient _host = RouteNetlinkClient.Open();

    /// <summary>dockerd's --ip-forward: turn on the host's IPv4 forwarding.</summary>
    public bool IpForward { get; init; } = true;

    /// <summary>route_localnet lets 127.0.0.1 clients reach published ports through NAT; only with Berth's table, whose
    /// guard chain closes the door it opens (so not with --iptables=false).</summary>
    public bool RouteLocalnet { get; init; } = true;

    /// <summary>Creates the bridge if missing, gives it the gateway address (none: inhibit_ipv4), brings it up; turns on
    /// forwarding and route_localnet (DNAT of 127.0.0.1 clients to containers goes out through the bridge).</summary>
    public void EnsureBridge(string name, IPAddress? gateway, int prefixLength, int mtu = 1500)
    {
        int? index = _host.GetLinkIndex(name);
        if (index is null)
        {
            // A fixed address, as dockerd gives its bridges: else the gateway's MAC follows the lowest port's, and a
            // container joining changes it under the others, whose neighbour caches then send to a MAC the host drops
            // (PACKET_OTHERHOST) for up to a reachable time plus probes.
            _host.CreateBridge(name, mtu, L2Driver.RandomMac());
            index = _host.GetLinkIndex(name) ?? throw new InvalidOperationException($"bridge {name} vanished after creation");
            _logger.LogInformation("created bridge {Bridge}", name);
        }
        else PinAddress(name, index.Value);
        if (gateway is not null && !_host.ListAddresses(index).Any(a => a.Address.Equals(gateway) && a.PrefixLength == prefixLength))
            _host.AddAddress(index.Value, gateway, prefixLength);
        _host.SetLinkUp(index.Value);
        if (IpForward) Sysctl.Sysctl.Set("net.ipv4.ip_forward", "1");
        if (RouteLocalnet) Sysctl.Sysctl.Set($"net.ipv4.conf.{name}.route_localnet", "1");
    }

    /// <summary>A bridge made before (by an older Berth, or the admin's) keeps the address it has now.</summary>
    private void PinAddress(string name, int index)
    {
        const string SetByUser = "3"; // NET_ADDR_SET
        string path = $"/sys/class/net/{name}/addr_assign_type";
        if (!File.Exists(path) || File.ReadAllText(path).Trim() == SetByUser) return;
        if (_host.ListLinks().FirstOrDefault(l => l.Index == index)?.Mac is { } mac) _host.SetLinkMac(index, mac);
    }

    /// <summary>A dual-stack network's bridge: IPv6 on, the v6 gateway address (no duplicate detection, so it answers
    /// at once), and IPv6 forwarding on for the host, as dockerd does for its IPv6 networks.</summary>
    public void EnsureIpv6Gateway(string name, IPAddress gateway, int prefixLength)
    {
        int index = _host.GetLinkIndex(name) ?? throw new InvalidOperationException($"bridge {name} does not exist");
        Sysctl.Sysctl.Set($"net.ipv6.conf.{name}.disable_ipv6", "0");
        if (!_host.ListAddresses(index).Any(a => a.Address.Equals(gateway) && a.PrefixLength == prefixLength))
            _host.AddAddress(index, gateway, prefixLength, skipDuplicateDetection: true);
        Sysctl.Sysctl.Set("net.ipv6.conf.all.forwarding", "1");
    }

    public void RemoveBridge(string name)
    {
        if (_host.DeleteLink(name)) _logger.LogInformation("removed bridge {Bridge}", name);
    }

    /// <summary>veth pair with the peer created directly in the container's namespace under its final name; the
    /// container side is configured through a netlink socket opened inside that namespace. Undone on failure.</summary>
    public void Attach(EndpointRequest r)
    {
        int bridge = _host.GetLinkIndex(r.BridgeName) ?? throw new InvalidOperationException($"bridge {r.BridgeName} does not exist");
        using (var netns = NetworkNamespace.OpenFd(r.NetnsPath))
            _host.CreateVethPair(r.HostVethName, r.ContainerInterfaceName, r.Mtu, netns);
        try
        {
            int hostIndex = _host.GetLinkIndex(r.HostVethName) ?? throw new InvalidOperationException($"veth {r.HostVethName} vanished");
            using (var inside = RouteNetlinkClient.OpenInNamespace(r.NetnsPath))
            {
                int index = inside.GetLinkIndex(r.ContainerInterfaceName)
                    ?? throw new InvalidOperationException($"{r.ContainerInterfaceName} is missing in {r.NetnsPath}");
                inside.SetLinkMac(index, r.Mac);
                inside.AddAddress(index, r.Address, r.PrefixLength);
                inside.SetLinkUp(index);
                // One default route per namespace: through the first network's gateway; the others only reach their subnet.
                if (r.DefaultRoute) inside.AddRoute(new IPNetwork(IPAddress.Any, 0), r.Gateway, index);
                ContainerIpv6.Configure(inside, index, r.Ipv6, r.LinkLocal, r.DefaultRoute);
            }
            _host.SetLinkMaster(hostIndex, bridge);
            if (r.Hairpin) _host.SetBridgePortHairpin(r.HostVethName, true);
            if (r.Isolated) _host.SetBridgePortIsolated(r.HostVethName, true);
            _host.SetLinkUp(hostIndex);
        }
        catch
        {
            _host.DeleteLink(r.HostVethName);
            throw;
        }
    }

    public void Detach(string hostVethName) => _host.DeleteLink(hostVethName);

    public static string HostVethName(string containerId) => "veth" + containerId[..11];

    /// <summary>02:42 and the four address bytes, as Docker derives container MACs.</summary>
    public static PhysicalAddress MacFor(IPAddress ipv4)
    {
        var bytes = ipv4.GetAddressBytes();
        return new PhysicalAddress([0x02, 0x42, bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
}
