using System.Net;
using System.Net.Sockets;
using Berth.Engine.Model;
using Berth.Networking.Bridge;
using Berth.Networking.Ipam;
using Berth.Networking.Netlink;

namespace Berth.Engine.Networks;

/// <summary>`network create --ipv6 [--subnet V6 --gateway V6 --ip-range V6]`: the IPv6 half of a dual-stack network.</summary>
public sealed record Ipv6Request(string? Subnet = null, string? Gateway = null, string? IPRange = null,
    Dictionary<string, string>? AuxAddresses = null);

/// <summary>Dual-stack networks: the v6 subnet (given, or a /64 from the default pools), the bridge's v6 gateway and
/// each endpoint's v6 address. Addresses of both families live in one IPAM directory per network, with one cursor
/// per family (host-local's range sets 0 and 1).</summary>
public sealed partial class NetworkService
{
    /// <summary>Fills in the record's IPv6 subnet, gateway and range; 400 for anything dockerd refuses.</summary>
    private void ApplyIpv6(NetworkRecord record, Ipv6Request request, string? excludeNetworkId)
    {
        IPNetwork subnet;
        if (!string.IsNullOrEmpty(request.Subnet))
        {
            if (!IPNetwork.TryParse(request.Subnet, out subnet) || !IsV6(subnet.BaseAddress))
                throw new BadRequestException($"invalid subnet {request.Subnet}: an IPv6 CIDR such as fd00:1::/64 is expected");
            if (subnet.PrefixLength > 126) throw new BadRequestException($"subnet {request.Subnet} is too small");
            if (_store.All.Where(n => n.Id != excludeNetworkId).SelectMany(SubnetsOf).Any(other => Overlaps(other, subnet)))
                throw new ConflictException("invalid pool request: Pool overlaps with other one on this address space");
        }
        else subnet = ChooseIpv6Subnet(excludeNetworkId);
        IPAddress gateway;
        if (string.IsNullOrEmpty(request.Gateway)) gateway = AddressAllocator.FromNumber(AddressAllocator.ToNumber(subnet.BaseAddress) + 1, true);
        else if (!IPAddress.TryParse(request.Gateway, out gateway!) || !IsV6(gateway) || !subnet.Contains(gateway))
            throw new BadRequestException($"invalid gateway {request.Gateway}: it must be an IPv6 address inside {subnet}");
        var (range, aux) = ParseRangeAndAux(subnet, request.IPRange, request.AuxAddresses);
        record.Ipv6Range = range?.ToString();
        record.Ipv6AuxAddresses = aux;
        record.EnableIPv6 = true;
        record.Ipv6Subnet = subnet.ToString();
        record.Ipv6Gateway = gateway.ToString();
    }

    /// <summary>The first free subnet of the daemon's IPv6 pools (`--default-address-pool base=fd..::/N,size=M`), else
    /// of a unique local /48 derived from the engine's data root and the host's machine id (dockerd 27+ derives its
    /// ULA prefix from the host id the same way), skipping host routes and other networks.</summary>
    private IPNetwork ChooseIpv6Subnet(string? excludeNetworkId)
    {
        var inUse = new List<IPNetwork>();
        using (var netlink = RouteNetlinkClient.Open())
            inUse.AddRange(netlink.ListRoutes(AddressFamily.InterNetworkV6)
                .Where(r => r.Destination.PrefixLength > 0 && !r.Destination.BaseAddress.IsIPv6LinkLocal
                    && !r.Destination.BaseAddress.IsIPv6Multicast).Select(r => r.Destination));
        inUse.AddRange(_store.All.Where(n => n.Id != excludeNetworkId).SelectMany(SubnetsOf).Where(s => IsV6(s.BaseAddress)));
        var pools = _options.DefaultAddressPools.Where(p => IsV6(p.Base.BaseAddress)).ToList();
        if (pools.Count == 0) pools.Add(DefaultAddressPools.UniqueLocalPool(HostIdentity()));
        return SubnetChooser.ChooseFree(DefaultAddressPools.Expand(pools).Take(65536), inUse)
            ?? throw new EngineException(500, "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network");
    }

    private string HostIdentity()
    {
        string machine = File.Exists("/etc/machine-id") ? File.ReadAllText("/etc/machine-id").Trim() : "";
        return machine + "\n" + _options.DataRoot;
    }

    /// <summary>The daemon's `--ipv6 [--fixed-cidr-v6 CIDR]` on the default bridge (the CIDR is its v6 subnet).</summary>
    private void ApplyDefaultBridgeIpv6(NetworkRecord record)
    {
        if (!_options.Ipv6)
        {
            (record.EnableIPv6, record.Ipv6Subnet, record.Ipv6Gateway, record.Ipv6Range) = (false, null, null, null);
            return;
        }
        if (_options.FixedCidrV6 is null && record.EnableIPv6 && record.Ipv6Subnet is not null) return; // keep its pool subnet
        ApplyIpv6(record, new Ipv6Request(_options.FixedCidrV6), record.Id);
    }

    private void EnsureIpv6Gateway(NetworkRecord network)
    {
        if (network is { EnableIPv6: true, Ipv6Subnet: { } subnet, Ipv6Gateway: { } gateway })
            _bridges.EnsureIpv6Gateway(network.BridgeName, IPAddress.Parse(gateway), IPNetwork.Parse(subnet).PrefixLength);
    }

    private AddressAllocator? Ipv6Allocator(NetworkRecord network) => network is not { EnableIPv6: true, Ipv6Subnet: { } subnet }
        ? null
        : _allocators.GetOrAdd(network.Id + "/v6", _ => new AddressAllocator(Path.Combine(_options.IpamDirectory, network.Id),
            IPNetwork.Parse(subnet), GatewayOf(network.Ipv6Gateway), network.Ipv6Range is { } range ? IPNetwork.Parse(range) : null,
            network.Ipv6AuxAddresses.Values.Select(IPAddress.Parse), rangeSet: 1));

    /// <summary>The endpoint's v6 address on a dual-stack network (`--ip6` or the next free one); null on an IPv4 one,
    /// where `--ip6` is refused as dockerd refuses it.</summary>
    private Ipv6Endpoint? AllocateIpv6(string containerId, NetworkRecord network, IPAddress? requested)
    {
        if (Ipv6Allocator(network) is null)
        {
            if (requested is not null)
                throw new BadRequestException($"invalid endpoint settings: no configured subnet contains IP address {requested}");
            return null;
        }
        var (subnet, gateway, _, address) = AllocateFrom(Ipv6Pools(network), containerId, requested);
        return new Ipv6Endpoint(address, subnet.PrefixLength, gateway);
    }

    private void ReleaseIpv6(NetworkRecord network, EndpointRecord endpoint)
    {
        if (Ipv6Allocator(network) is { } allocator && IPAddress.TryParse(endpoint.Ipv6Address, out var address))
            allocator.Release(address);
    }

    private static bool IsV6(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6;
}
