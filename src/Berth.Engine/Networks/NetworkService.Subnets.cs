using System.Net;
using Berth.Engine.Model;
using Berth.Networking.Ipam;

namespace Berth.Engine.Networks;

/// <summary>One further IPAM.Config entry of `network create` (`--subnet A --subnet B`, with the --gateway, --ip-range
/// and --aux-address the docker CLI pairs with each by containment).</summary>
public sealed record SubnetRequest(string? Subnet, string? Gateway = null, string? IPRange = null,
    Dictionary<string, string>? AuxAddresses = null);

/// <summary>Several subnets of one family on one network, as dockerd's default IPAM keeps them: the bridge holds every
/// gateway, addresses come from the first pool and then the next when it is full, `--ip`/`--ip6` may name an address of
/// any pool, and no pool overlaps another network's or the network's own.</summary>
public sealed partial class NetworkService
{
    /// <summary>An address pool and its allocator (each pool's state lives in the network's one IPAM directory).</summary>
    private sealed record Pool(IPNetwork Subnet, IPAddress? Gateway, AddressAllocator Allocator);

    /// <summary>Every subnet of a network, both families.</summary>
    private static IEnumerable<IPNetwork> SubnetsOf(NetworkRecord n)
    {
        if (n.Subnet.Length > 0) yield return IPNetwork.Parse(n.Subnet);
        if (n.Ipv6Subnet is { } v6) yield return IPNetwork.Parse(v6);
        foreach (var more in n.MoreSubnets) yield return IPNetwork.Parse(more.Subnet);
    }

    /// <summary>Checks and records the pools after the first of each family (create only: they are fixed afterwards).</summary>
    private void ApplyMoreSubnets(NetworkRecord record, IReadOnlyList<SubnetRequest> more)
    {
        var taken = _store.All.SelectMany(SubnetsOf).Concat(SubnetsOf(record)).ToList();
        foreach (var request in more)
        {
            if (string.IsNullOrEmpty(request.Subnet) || !IPNetwork.TryParse(request.Subnet, out var subnet))
                throw new BadRequestException($"invalid pool request: each further pool needs a subnet (got \"{request.Subnet}\")");
            bool v6 = IsV6(subnet.BaseAddress);
            if (v6 && !record.EnableIPv6)
                throw new BadRequestException($"invalid network config: IPv6 subnet {request.Subnet} requires --ipv6 (EnableIPv6)");
            if (subnet.PrefixLength > (v6 ? 126 : 30)) throw new BadRequestException($"subnet {request.Subnet} is too small");
            if (taken.Any(t => Overlaps(t, subnet)))
                throw new ConflictException("invalid pool request: Pool overlaps with other one on this address space");
            var gateway = string.IsNullOrEmpty(request.Gateway) ? FirstHost(subnet)
                : IPAddress.TryParse(request.Gateway, out var g) && subnet.Contains(g) ? g
                : throw new BadRequestException($"invalid gateway {request.Gateway}: it must be an address inside {subnet}");
            var (range, aux) = ParseRangeAndAux(subnet, request.IPRange, request.AuxAddresses);
            record.MoreSubnets.Add(new SubnetRecord { Subnet = subnet.ToString(), Gateway = gateway.ToString(), IPRange = range?.ToString(), AuxAddresses = aux });
            taken.Add(subnet);
        }
    }

    /// <summary>The gateways of the further pools on the bridge (an inhibit_ipv4 bridge gets no IPv4 one).</summary>
    private void EnsureMoreGateways(NetworkRecord network)
    {
        bool inhibitIpv4 = BridgeOptions.Flag(network, BridgeOptions.InhibitIpv4, false);
        foreach (var more in network.MoreSubnets)
        {
            var subnet = IPNetwork.Parse(more.Subnet);
            var gateway = IPAddress.Parse(more.Gateway);
            if (IsV6(gateway)) _bridges.EnsureIpv6Gateway(network.BridgeName, gateway, subnet.PrefixLength);
            else if (!inhibitIpv4) _bridges.EnsureBridge(network.BridgeName, gateway, subnet.PrefixLength, BridgeOptions.MtuOf(network, _options.Mtu));
        }
    }

    private List<Pool> Ipv4Pools(NetworkRecord network) =>
        [new(IPNetwork.Parse(network.Subnet), GatewayOf(network.Gateway), Allocator(network)), .. MorePools(network, v6: false)];

    private List<Pool> Ipv6Pools(NetworkRecord network) =>
        [new(IPNetwork.Parse(network.Ipv6Subnet!), GatewayOf(network.Ipv6Gateway), Ipv6Allocator(network)!), .. MorePools(network, v6: true)];

    /// <summary>A pool's gateway as stored; none ("") on macvlan/ipvlan networks that take none.</summary>
    private static IPAddress? GatewayOf(string? stored) => string.IsNullOrEmpty(stored) ? null : IPAddress.Parse(stored);

    /// <summary>The further pools of one family; their cursors follow the first two range sets (host-local's numbering).
    /// </summary>
    private IEnumerable<Pool> MorePools(NetworkRecord network, bool v6)
    {
        for (int i = 0; i < network.MoreSubnets.Count; i++)
        {
            var more = network.MoreSubnets[i];
            var subnet = IPNetwork.Parse(more.Subnet);
            if (IsV6(subnet.BaseAddress) != v6) continue;
            var gateway = GatewayOf(more.Gateway);
            int rangeSet = i + 2;
            yield return new Pool(subnet, gateway, _allocators.GetOrAdd($"{network.Id}/{more.Subnet}", _ => new AddressAllocator(
                Path.Combine(_options.IpamDirectory, network.Id), subnet, gateway, more.IPRange is { } range ? IPNetwork.Parse(range) : null,
                more.AuxAddresses.Values.Select(IPAddress.Parse), rangeSet: rangeSet)));
        }
    }

    /// <summary>See <see cref="AddressPools.Allocate"/>: 400 when no pool contains the request, 409 when it is taken, as
    /// dockerd answers.</summary>
    private static (IPNetwork Subnet, IPAddress? Gateway, AddressAllocator Allocator, IPAddress Address) AllocateFrom(
        List<Pool> pools, string containerId, IPAddress? requested)
    {
        try
        {
            var (index, address) = AddressPools.Allocate(pools.Select(p => (p.Subnet, p.Allocator)).ToList(), containerId, requested);
            return (pools[index].Subnet, pools[index].Gateway, pools[index].Allocator, address);
        }
        catch (AddressOutsidePoolsException e) { throw new BadRequestException("invalid endpoint settings: " + e.Message, e); }
        catch (Exception e) when (e is not EngineException)
        {
            throw new EngineException(e is AddressInUseException ? 409 : 500, e.Message, e);
        }
    }
}
