using System.Net;
using System.Net.NetworkInformation;
using Berth.Engine.Model;
using Berth.Linux;
using Berth.Networking.Bridge;
using Berth.Networking.L2;
using Berth.Networking.Netlink;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Networks;

/// <summary>macvlan and ipvlan networks: the parent link at create and remove (the VLAN sub-interface or dummy dockerd
/// would make, removed with the last network that uses it), and each container's port on it.</summary>
public sealed partial class NetworkService
{
    private L2Driver? _l2Driver;

    private L2Driver L2 => LazyInitializer.EnsureInitialized(ref _l2Driver, () => new L2Driver(_logger));

    /// <summary>Saves a new macvlan or ipvlan network once its parent is in place (no bridge, no firewall rules). On a network
    /// whose endpoints take no gateway the pools keep only the gateways the user gave (dockerd 28's GetSkipGwAlloc), so
    /// their first addresses go to containers.</summary>
    private NetworkRecord CreateL2(NetworkRecord record, string? givenGateway, string? givenIpv6Gateway, IReadOnlyList<SubnetRequest>? more)
    {
        if (!L2Options.EndpointsHaveGateway(record))
        {
            if (string.IsNullOrEmpty(givenGateway)) record.Gateway = "";
            if (record.EnableIPv6 && string.IsNullOrEmpty(givenIpv6Gateway)) record.Ipv6Gateway = "";
            for (int i = 0; i < record.MoreSubnets.Count; i++)
                if (string.IsNullOrEmpty(more![i].Gateway)) record.MoreSubnets[i].Gateway = "";
        }
        CreateL2Parent(record);
        try { _store.Save(record); }
        catch
        {
            RemoveL2Parent(record);
            throw;
        }
        Publish(record, "create");
        return record;
    }

    /// <summary>Checks the parent is free for this network as dockerd's drivers do, and makes it when it is missing
    /// (a dummy for a network without parent, else a VLAN sub-interface `link.id`).</summary>
    private void CreateL2Parent(NetworkRecord record)
    {
        string parent = L2Options.ParentOf(record);
        bool passthru = L2Options.PortOf(record) is { Ipvlan: false, MacvlanMode: MacvlanMode.Passthru };
        var sharing = L2NetworksOn(parent, except: record.Id).Where(n => n.Driver == record.Driver).ToList();
        foreach (var other in sharing)
        {
            if (record.Driver == L2Options.Ipvlan)
                throw new ConflictException($"network {other.Name} is already using parent interface {parent}");
            if (passthru)
                throw new ConflictException($"cannot use mode passthru, macvlan network {other.Name} is already using parent interface {parent}");
            if (L2Options.PortOf(other).MacvlanMode == MacvlanMode.Passthru)
                throw new ConflictException($"macvlan network {other.Name} is already using parent interface {parent} in mode passthru");
        }
        if (L2.LinkExists(parent))
        {
            // A parent made for another network goes with the last network on it.
            record.ParentCreated = L2NetworksOn(parent, except: record.Id).Any(n => n.ParentCreated);
            return;
        }
        MakeParent(record, parent);
        record.ParentCreated = true;
    }

    private void MakeParent(NetworkRecord record, string parent)
    {
        if (!record.Options.ContainsKey(L2Options.Parent)) L2.CreateDummyParent(parent);
        else
        {
            var (link, vlan) = L2Options.ParseVlan(parent, L2.LinkExists);
            try { L2.CreateVlanParent(parent, link, vlan); }
            catch (LinuxException e) when (e.Errno == Errno.ENOTSUP)
            {
                throw new BadRequestException($"failed to create {parent} vlan link: this kernel has no 802.1Q VLAN support", e);
            }
        }
    }

    /// <summary>At daemon start: a parent Berth made that is gone (a reboot) is made again.</summary>
    private void RestoreL2Parent(NetworkRecord record)
    {
        string parent = L2Options.ParentOf(record);
        if (L2.LinkExists(parent)) return;
        try
        {
            if (!record.ParentCreated) throw new InvalidOperationException("the link is not Berth's to make");
            MakeParent(record, parent);
        }
        catch (Exception e)
        {
            _logger.LogWarning("parent {Parent} of {Driver} network {Network} is missing: {Error}", parent, record.Driver, record.Name, e.Message);
        }
    }

    private void RemoveL2Parent(NetworkRecord record)
    {
        string parent = L2Options.ParentOf(record);
        if (!record.ParentCreated || L2NetworksOn(parent, except: record.Id).Any()) return;
        try { L2.RemoveParent(parent); }
        catch (Exception e) { _logger.LogWarning(e, "removing parent {Parent} of network {Network} failed", parent, record.Name); }
    }

    private IEnumerable<NetworkRecord> L2NetworksOn(string parent, string except) =>
        _store.All.Where(n => n.Id != except && L2Options.IsL2(n) && L2Options.ParentOf(n) == parent);

    /// <summary>An endpoint's gateways: those of the pools its addresses came from, or none where
    /// <see cref="L2Options.EndpointsHaveGateway"/> says so (even a gateway the user gave is not the endpoint's then).</summary>
    private static (IPAddress? Gateway, Ipv6Endpoint? Ipv6) L2EndpointGateways(NetworkRecord network, IPAddress? gateway, Ipv6Endpoint? ipv6) =>
        L2Options.EndpointsHaveGateway(network) ? (gateway, ipv6) : (null, ipv6 is null ? null : ipv6 with { Gateway = null });

    /// <summary>The container's macvlan or ipvlan port with its addresses of both families; returns its MAC (none for
    /// ipvlan: the parent's is shared). Internal networks and those without a parent get no default route; without a
    /// gateway (ipvlan l3) the default routes go through the interface.</summary>
    private PhysicalAddress? AttachL2(NetworkRecord network, string netnsPath, string interfaceName, IPAddress address,
        int prefixLength, IPAddress? gateway, PhysicalAddress? requestedMac, Ipv6Endpoint? ipv6, IReadOnlyList<IPAddress>? linkLocal)
    {
        var port = L2Options.PortOf(network);
        string parent = L2Options.ParentOf(network);
        if (!L2.LinkExists(parent))
            throw new ConflictException($"the requested parent interface {parent} was not found on the host");
        if (port.Ipvlan && requestedMac is not null)
            throw new BadRequestException("ipvlan interfaces do not support custom mac address assignment");
        var mac = port.Ipvlan ? null : requestedMac ?? L2Driver.RandomMac();
        try
        {
            L2.Attach(new L2EndpointRequest(netnsPath, parent, interfaceName, port, address, prefixLength, gateway,
                mac, Mtu: null, DefaultRoute: false, ipv6, linkLocal));
        }
        catch (LinuxException e) when (e.Errno == Errno.ENOTSUP)
        {
            throw new BadRequestException($"failed to create the {network.Driver} port: this kernel has no {network.Driver} support", e);
        }
        return mac;
    }
}
