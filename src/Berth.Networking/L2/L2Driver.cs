using System.Net;
using System.Net.NetworkInformation;
using System.Security.Cryptography;
using Berth.Linux;
using Berth.Networking.Bridge;
using Berth.Networking.Namespaces;
using Berth.Networking.Netlink;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.L2;

/// <summary>What kind of port a container gets on an L2 network's parent link.</summary>
public sealed record L2Port(bool Ipvlan, MacvlanMode MacvlanMode = MacvlanMode.Bridge, IpvlanMode IpvlanMode = IpvlanMode.L2,
    IpvlanFlag IpvlanFlag = IpvlanFlag.Bridge);

/// <param name="Gateway">The default route's next hop; null with <paramref name="DefaultRoute"/>: a route through the
/// interface itself (ipvlan l3).</param>
/// <param name="Mac">null: the kernel's (an ipvlan port has its parent's).</param>
/// <param name="Ipv6">A dual-stack network's v6 address and gateway (null: a default route through the interface).</param>
/// <param name="LinkLocal">`--link-local-ip` addresses.</param>
public sealed record L2EndpointRequest(string NetnsPath, string Parent, string InterfaceName, L2Port Port, IPAddress Address,
    int PrefixLength, IPAddress? Gateway, PhysicalAddress? Mac, int? Mtu, bool DefaultRoute, Ipv6Endpoint? Ipv6 = null,
    IReadOnlyList<IPAddress>? LinkLocal = null);

/// <summary>macvlan and ipvlan networks (Docker's L2 drivers): no bridge, no NAT; each container gets a port on the
/// parent link, created straight inside its namespace, so it sits on the parent's segment with its own address. The
/// parent may be a VLAN sub-interface (`eth0.100`) or, for a network with no parent, a dummy: both made here.</summary>
public sealed class L2Driver(ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly Lazy<RouteNetlinkClient> _host = new(RouteNetlinkClient.Open);

    public bool LinkExists(string name) => _host.Value.GetLinkIndex(name) is not null;

    /// <summary>A dummy link, up: the parent of a network created without one (its ports reach each other only). On a
    /// kernel without dummy links, a veth pair whose peer ("dp-…") leads nowhere does the same.</summary>
    public void CreateDummyParent(string name)
    {
        try { _host.Value.CreateDummy(name); }
        catch (LinuxException e) when (e.Errno == Errno.ENOTSUP)
        {
            string peer = "dp-" + name[Math.Min(3, name.Length)..];
            _host.Value.CreateVethPair(name, peer);
            SetUp(peer);
        }
        SetUp(name);
        _logger.LogInformation("created parent {Link} for a network without one", name);
    }

    /// <summary>The VLAN sub-interface <paramref name="name"/> of <paramref name="link"/>, up (as dockerd makes `eth0.10`).</summary>
    public void CreateVlanParent(string name, string link, int vlanId)
    {
        int parent = _host.Value.GetLinkIndex(link) ?? throw new InvalidOperationException($"failed to find master interface {link} on the host");
        _host.Value.CreateVlan(name, parent, vlanId);
        SetUp(name);
        _logger.LogInformation("created vlan {Link} (id {Vlan})", name, vlanId);
    }

    /// <summary>Removes a parent this driver made; a link of another kind under that name (the admin's) stays.</summary>
    public void RemoveParent(string name)
    {
        var link = _host.Value.ListLinks().FirstOrDefault(l => l.Name == name);
        if (link is null || !(link.Kind is "dummy" or "vlan" || link.Kind == "veth" && name.StartsWith("dm-", StringComparison.Ordinal))) return;
        _host.Value.DeleteLink(link.Index);
        _logger.LogInformation("removed parent {Link}", name);
    }

    /// <summary>The container's port on the parent, configured through a netlink socket opened in its namespace;
    /// removed again when a step fails.</summary>
    public void Attach(L2EndpointRequest r)
    {
        int parent = _host.Value.GetLinkIndex(r.Parent)
            ?? throw new InvalidOperationException($"the requested parent interface {r.Parent} was not found on the host");
        using (var netns = NetworkNamespace.OpenFd(r.NetnsPath))
        {
            if (r.Port.Ipvlan) _host.Value.CreateIpvlan(r.InterfaceName, parent, r.Port.IpvlanMode, r.Port.IpvlanFlag, r.Mtu, netns);
            else _host.Value.CreateMacvlan(r.InterfaceName, parent, r.Port.MacvlanMode, r.Mtu, netns);
        }
        using var inside = RouteNetlinkClient.OpenInNamespace(r.NetnsPath);
        try
        {
            int index = inside.GetLinkIndex(r.InterfaceName)
                ?? throw new InvalidOperationException($"{r.InterfaceName} is missing in {r.NetnsPath}");
            if (r.Mac is not null) inside.SetLinkMac(index, r.Mac);
            inside.AddAddress(index, r.Address, r.PrefixLength);
            inside.SetLinkUp(index);
            if (r.DefaultRoute) inside.AddRoute(new IPNetwork(IPAddress.Any, 0), r.Gateway, index);
            ContainerIpv6.Configure(inside, index, r.Ipv6, r.LinkLocal, r.DefaultRoute);
        }
        catch
        {
            inside.DeleteLink(r.InterfaceName);
            throw;
        }
    }

    /// <summary>Removes a container's port; nothing to do when its namespace is already gone (the port went with it).</summary>
    public void Detach(string netnsPath, string interfaceName)
    {
        if (!File.Exists(netnsPath)) return;
        using var inside = RouteNetlinkClient.OpenInNamespace(netnsPath);
        inside.DeleteLink(interfaceName);
    }

    /// <summary>A random locally administered unicast address, as dockerd 28 gives macvlan endpoints.</summary>
    public static PhysicalAddress RandomMac()
    {
        var bytes = RandomNumberGenerator.GetBytes(6);
        bytes[0] = (byte)((bytes[0] & 0xfe) | 0x02);
        return new PhysicalAddress(bytes);
    }

    private void SetUp(string name) =>
        _host.Value.SetLinkUp(_host.Value.GetLinkIndex(name) ?? throw new InvalidOperationException($"{name} vanished after creation"));
}
