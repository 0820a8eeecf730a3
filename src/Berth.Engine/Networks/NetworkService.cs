using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Networking.Bridge;
using Berth.Networking.Firewall;
using Berth.Networking.Ipam;
using Berth.Networking.Netlink;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Networks;

/// <summary>Bridge networks: the default "bridge" and user-created ones; their bridges, address pools and
/// the firewall's view of them. Container endpoints are attached and detached here.</summary>
public sealed partial class NetworkService
{
    public const string DefaultNetworkName = "bridge";

    private readonly EngineOptions _options;
    private readonly BridgeDriver _bridges;
    private readonly FirewallManager _firewall;
    private readonly ILogger _logger;
    private readonly RecordStore<NetworkRecord> _store;
    private readonly ConcurrentDictionary<string, AddressAllocator> _allocators = new();
    private readonly Lock _lock = new();

    public NetworkService(EngineOptions options, BridgeDriver bridges, FirewallManager firewall, ILogger logger)
    {
        _options = options;
        _bridges = bridges;
        _firewall = firewall;
        _logger = logger;
        _store = new RecordStore<NetworkRecord>(options.NetworksDirectory, n => n.Id, logger: logger);
    }

    public FirewallManager Firewall => _firewall;

    public IReadOnlyCollection<NetworkRecord> All => _store.All.ToList();

    public NetworkRecord Default => _store.FirstOrDefault(n => n.IsDefault) ?? throw new InvalidOperationException("no default network");

    /// <summary>Makes sure the default network exists with the configured bridge and subnet, and every
    /// network's bridge is up. Called once at daemon start, before the firewall is initialised.</summary>
    public void Initialize()
    {
        lock (_lock)
        {
            var existing = _store.All.FirstOrDefault(n => n.IsDefault);
            var (subnet, gateway) = _options.BridgeIp is { } bip
                ? ParseGatewayCidr(bip)
                : existing is not null && existing.BridgeName == _options.BridgeName
                    ? (IPNetwork.Parse(existing.Subnet), IPAddress.Parse(existing.Gateway))
                    : ChooseSubnet(excludeNetworkId: existing?.Id);
            var record = existing ?? new NetworkRecord { Id = NewId(), Name = DefaultNetworkName, IsDefault = true, Created = DateTimeOffset.UtcNow };
            record.BridgeName = _options.BridgeName;
            record.Subnet = subnet.ToString();
            record.Gateway = gateway.ToString();
            ApplyDefaultBridgeIpv6(record);
            record.Options[BridgeOptions.Name] = _options.BridgeName;
            record.Options["com.docker.network.bridge.default_bridge"] = "true";
            // As dockerd shows its default bridge: the daemon's --icc, --ip-masq, --ip and --mtu.
            record.Options[BridgeOptions.EnableIcc] = _options.Icc ? "true" : "false";
            record.Options[BridgeOptions.EnableIpMasquerade] = _options.IpMasquerade ? "true" : "false";
            record.Options[BridgeOptions.HostBindingIpv4] = _options.DefaultBindIp ?? "0.0.0.0";
            record.Options[BridgeOptions.Mtu] = _options.Mtu.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _store.Save(record);
            foreach (var network in _store.All)
                if (L2Options.IsL2(network)) RestoreL2Parent(network);
                else EnsureBridge(network);
        }
    }

    private void EnsureBridge(NetworkRecord network)
    {
        _bridges.EnsureBridge(network.BridgeName,
            BridgeOptions.Flag(network, BridgeOptions.InhibitIpv4, false) ? null : IPAddress.Parse(network.Gateway),
            IPNetwork.Parse(network.Subnet).PrefixLength,
            BridgeOptions.MtuOf(network, _options.Mtu));
        EnsureIpv6Gateway(network);
        EnsureMoreGateways(network);
    }

    public IEnumerable<NetworkFirewallSpec> FirewallSpecs() => _store.All.Where(n => !L2Options.IsL2(n)).Select(FirewallSpecOf);

    /// <summary>`--internal`: nothing leaves; enable_ip_masquerade=false: traffic leaves with the containers' addresses.</summary>
    private NetworkFirewallSpec FirewallSpecOf(NetworkRecord n) => new(n.BridgeName, IPNetwork.Parse(n.Subnet),
        Masquerade: !n.Internal && BridgeOptions.Flag(n, BridgeOptions.EnableIpMasquerade, true), Outbound: !n.Internal,
        Ipv6Subnet: n.EnableIPv6 && n.Ipv6Subnet is { } v6 ? IPNetwork.Parse(v6) : null,
        MoreSubnets: n.MoreSubnets.Count > 0 ? n.MoreSubnets.Select(s => IPNetwork.Parse(s.Subnet)).ToList() : null,
        DirectRouting: _options.AllowDirectRouting);

    public NetworkRecord? Find(string idOrName)
    {
        if (string.IsNullOrEmpty(idOrName)) return null;
        if (idOrName == "default") return Default;
        return _store.FirstOrDefault(n => n.Id == idOrName)
            ?? _store.FirstOrDefault(n => n.Name == idOrName)
            ?? (_store.Where(n => n.Id.StartsWith(idOrName, StringComparison.Ordinal), 2) is [var single] ? single : null);
    }

    public NetworkRecord Get(string idOrName) =>
        Find(idOrName) ?? throw new NotFoundException($"network {idOrName} not found");

    public NetworkRecord Create(string name, string? subnet, string? gateway, bool @internal, bool attachable,
        Dictionary<string, string>? labels, Dictionary<string, string>? driverOptions, string? driver,
        string? ipRange = null, Dictionary<string, string>? auxAddresses = null, Ipv6Request? ipv6 = null,
        IReadOnlyList<SubnetRequest>? moreSubnets = null)
    {
        bool l2 = L2Options.IsL2(driver);
        if (l2) L2Options.Validate(driver!, driverOptions ?? new());
        else BridgeOptions.Validate(driverOptions ?? new());
        if (!string.IsNullOrEmpty(driver) && driver != "bridge" && !l2)
            throw new BadRequestException($"network driver \"{driver}\" is not supported: Berth provides bridge, macvlan and ipvlan networks");
        // As dockerd: any name but a blank one (spaces included) or a predefined one.
        if (string.IsNullOrWhiteSpace(name)) throw new BadRequestException("invalid name: name is empty");
        if (name is DefaultNetworkName or "host" or "none" or "default")
            throw new EngineException(403, $"operation is not permitted on predefined {name} network ");
        lock (_lock)
        {
            if (_store.All.Any(n => n.Name == name))
                throw new ConflictException($"network with name {name} already exists");
            (IPNetwork Subnet, IPAddress Gateway) chosen;
            if (!string.IsNullOrEmpty(subnet))
            {
                if (!IPNetwork.TryParse(subnet, out var parsed) || parsed.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
                    throw new BadRequestException($"invalid subnet {subnet}: an IPv4 CIDR such as 10.10.0.0/24 is expected");
                if (parsed.PrefixLength > 30) throw new BadRequestException($"subnet {subnet} is too small");
                var gw = string.IsNullOrEmpty(gateway) ? FirstHost(parsed)
                    : IPAddress.TryParse(gateway, out var g) && parsed.Contains(g) ? g
                    : throw new BadRequestException($"invalid gateway {gateway}: it must be an address inside {subnet}");
                if (_store.All.SelectMany(SubnetsOf).Any(s => Overlaps(s, parsed)))
                    throw new ConflictException($"invalid pool request: Pool overlaps with other one on this address space");
                chosen = (parsed, gw);
            }
            else chosen = ChooseSubnet(excludeNetworkId: null);
            var (range, aux) = ParseRangeAndAux(chosen.Subnet, ipRange, auxAddresses);

            string id = NewId();
            string bridgeName = l2 ? "" : driverOptions?.GetValueOrDefault(BridgeOptions.Name) ?? "br-" + id[..12];
            if (!l2 && _store.All.FirstOrDefault(n => n.BridgeName == bridgeName) is { } sharing)
                throw new ConflictException($"bridge name {bridgeName} is already used by network {sharing.Name}");
            var record = new NetworkRecord
            {
                Id = id, Name = name, Created = DateTimeOffset.UtcNow, BridgeName = bridgeName,
                Subnet = chosen.Subnet.ToString(), Gateway = chosen.Gateway.ToString(), Internal = @internal,
                Attachable = attachable, Labels = labels ?? new(), Options = driverOptions ?? new(),
                IPRange = range?.ToString(), AuxAddresses = aux, Driver = l2 ? driver! : "bridge",
            };
            if (ipv6 is not null) ApplyIpv6(record, ipv6, excludeNetworkId: null);
            ApplyMoreSubnets(record, moreSubnets ?? []);
            if (l2) return CreateL2(record, gateway, ipv6?.Gateway, moreSubnets);
            EnsureBridge(record);
            try
            {
                _firewall.AddNetwork(FirewallSpecOf(record));
                _store.Save(record);
            }
            catch
            {
                _bridges.RemoveBridge(record.BridgeName);
                throw;
            }
            Publish(record, "create");
            return record;
        }
    }

    public void Remove(NetworkRecord network, bool hasEndpoints)
    {
        if (network.IsDefault || IsHostOrNone(network)) throw new EngineException(403, $"{network.Name} is a pre-defined network and cannot be removed");
        if (hasEndpoints) throw new ConflictException($"error while removing network: network {network.Name} id {network.Id} has active endpoints");
        lock (_lock)
        {
            if (L2Options.IsL2(network)) RemoveL2Parent(network);
            else
            {
                _firewall.RemoveNetwork(network.BridgeName);
                _bridges.RemoveBridge(network.BridgeName);
            }
            foreach (string key in _allocators.Keys.Where(k => k.StartsWith(network.Id, StringComparison.Ordinal)))
                _allocators.TryRemove(key, out _);
            string ipamDir = Path.Combine(_options.IpamDirectory, network.Id);
            if (Directory.Exists(ipamDir)) Directory.Delete(ipamDir, recursive: true);
            _store.Delete(network.Id);
        }
        Publish(network, "destroy");
    }

    /// <summary>At daemon stop with no container running: every network's bridge goes (the next start makes them).
    /// </summary>
    public void RemoveBridges()
    {
        foreach (var network in _store.All.Where(n => !L2Options.IsL2(n)))
        {
            try { _bridges.RemoveBridge(network.BridgeName); }
            catch (Exception e) { _logger.LogWarning(e, "removing bridge {Bridge} failed", network.BridgeName); }
        }
    }

    /// <summary>Allocates an address and plugs a veth from the network's bridge into the namespace.
    /// Undoes the allocation when plugging fails.</summary>
    public EndpointRecord Attach(string containerId, NetworkRecord network, string netnsPath, string interfaceName,
        IPAddress? requested, List<string>? aliases, PhysicalAddress? requestedMac = null, IPAddress? requestedIpv6 = null,
        IReadOnlyList<IPAddress>? linkLocal = null)
    {
        var (subnet, gateway, allocator, address) = AllocateFrom(Ipv4Pools(network), containerId, requested);
        string hostVeth = interfaceName == "eth0"
            ? BridgeDriver.HostVethName(containerId)
            : "veth" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()[..7];
        bool l2 = L2Options.IsL2(network);
        var mac = l2 ? null : requestedMac ?? BridgeDriver.MacFor(address);
        Ipv6Endpoint? ipv6;
        try { ipv6 = AllocateIpv6(containerId, network, requestedIpv6); }
        catch
        {
            allocator.Release(address);
            throw;
        }
        if (l2) (gateway, ipv6) = L2EndpointGateways(network, gateway, ipv6);
        try
        {
            if (l2)
            {
                mac = AttachL2(network, netnsPath, interfaceName, address, subnet.PrefixLength, gateway, requestedMac, ipv6, linkLocal);
            }
            // On a bridge the link-local addresses go on with the v6 address, without duplicate detection.
            else _bridges.Attach(new EndpointRequest(netnsPath, network.BridgeName, hostVeth, interfaceName, address,
                subnet.PrefixLength, gateway!, mac!, BridgeOptions.MtuOf(network, _options.Mtu), Hairpin: true,
                DefaultRoute: false, Isolated: !BridgeOptions.Flag(network, BridgeOptions.EnableIcc, true),
                Ipv6: ipv6, LinkLocal: linkLocal));
        }
        catch
        {
            allocator.Release(address);
            if (ipv6 is not null) Ipv6Allocator(network)?.Release(ipv6.Address);
            throw;
        }
        Publish(network, "connect", containerId);
        return new EndpointRecord
        {
            NetworkId = network.Id, NetworkName = network.Name, EndpointId = NewId(), IPAddress = address.ToString(),
            PrefixLength = subnet.PrefixLength, Gateway = gateway?.ToString() ?? "", InterfaceName = interfaceName, HostVeth = l2 ? "" : hostVeth,
            MacAddress = mac is null ? "" : string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2"))), Aliases = aliases,
            LinkNamespace = l2 ? netnsPath : null,
            Ipv6Address = ipv6?.Address.ToString() ?? "", Ipv6PrefixLength = ipv6?.PrefixLength ?? 0,
            Ipv6Gateway = ipv6?.Gateway?.ToString() ?? "", LinkLocalAddresses = linkLocal is { Count: > 0 } ? linkLocal.Select(a => a.ToString()).ToList() : null,
        };
    }

    /// <summary>Removes the veth and frees the address. Safe to call twice and after a crash.</summary>
    public void Detach(EndpointRecord endpoint)
    {
        try
        {
            if (endpoint.LinkNamespace is { Length: > 0 } netns) L2.Detach(netns, endpoint.InterfaceName);
            else _bridges.Detach(endpoint.HostVeth);
        }
        catch (Exception e) { _logger.LogWarning(e, "detaching {Veth} failed", endpoint.HostVeth); }
        if (Find(endpoint.NetworkId) is not { } network) return;
        if (IPAddress.TryParse(endpoint.IPAddress, out var address)) Allocator(network).Release(address);
        ReleaseIpv6(network, endpoint);
    }

    /// <summary>Removes the host end of a container's first interface, which a start killed before its record was
    /// saved may have left (its name comes from the container id).</summary>
    public void RemoveHostVeth(string containerId)
    {
        try { _bridges.Detach(BridgeDriver.HostVethName(containerId)); }
        catch (Exception e) { _logger.LogDebug(e, "no stale veth of {Id}", containerId[..12]); }
    }

    /// <summary>Drops allocations whose owner no longer exists (after a crash between allocate and save).</summary>
    public void ReleaseAllocationsNotOwnedBy(IReadOnlySet<string> containerIds)
    {
        foreach (var network in _store.All)
        {
            foreach (var allocator in new[] { Allocator(network), Ipv6Allocator(network) }.OfType<AddressAllocator>())
                foreach (var (address, owner) in allocator.Allocations())
                    if (!containerIds.Contains(owner)) allocator.Release(address);
        }
    }

    private AddressAllocator Allocator(NetworkRecord network) => _allocators.GetOrAdd(network.Id, _ =>
        new AddressAllocator(Path.Combine(_options.IpamDirectory, network.Id), IPNetwork.Parse(network.Subnet), GatewayOf(network.Gateway),
            network.IPRange is { } range ? IPNetwork.Parse(range) : null, network.AuxAddresses.Values.Select(IPAddress.Parse)));

    /// <summary>`--ip-range` must lie inside the subnet, `--aux-address` values too (dockerd's checks).</summary>
    private static (IPNetwork? Range, Dictionary<string, string> Aux) ParseRangeAndAux(IPNetwork subnet, string? ipRange,
        Dictionary<string, string>? auxAddresses)
    {
        IPNetwork? range = null;
        if (!string.IsNullOrEmpty(ipRange))
        {
            if (!IPNetwork.TryParse(ipRange, out var parsed) || parsed.BaseAddress.AddressFamily != subnet.BaseAddress.AddressFamily)
                throw new BadRequestException($"invalid ip-range {ipRange}: an {(IsV6(subnet.BaseAddress) ? "IPv6" : "IPv4")} CIDR is expected");
            if (!subnet.Contains(parsed.BaseAddress) || parsed.PrefixLength < subnet.PrefixLength)
                throw new BadRequestException($"invalid pool request: ip-range {ipRange} is not contained in subnet {subnet}");
            range = parsed;
        }
        var aux = new Dictionary<string, string>();
        foreach (var (key, value) in auxAddresses ?? new())
        {
            if (!IPAddress.TryParse(value, out var address) || !subnet.Contains(address))
                throw new BadRequestException($"invalid auxiliary address {key}={value}: it must be an address inside {subnet}");
            aux[key] = address.ToString();
        }
        return (range, aux);
    }

    private (IPNetwork Subnet, IPAddress Gateway) ChooseSubnet(string? excludeNetworkId)
    {
        var inUse = new List<IPNetwork>();
        using (var netlink = RouteNetlinkClient.Open())
            inUse.AddRange(netlink.ListRoutes(AddressFamily.InterNetwork)
                .Where(r => r.Destination.PrefixLength > 0).Select(r => r.Destination));
        inUse.AddRange(_store.All.Where(n => n.Id != excludeNetworkId).SelectMany(SubnetsOf).Where(s => !IsV6(s.BaseAddress)));
        var v4Pools = _options.DefaultAddressPools.Where(p => !IsV6(p.Base.BaseAddress)).ToList();
        var candidates = v4Pools.Count > 0
            ? DefaultAddressPools.Expand(v4Pools)
            : DefaultAddressPools.Candidates;
        var subnet = SubnetChooser.ChooseFree(candidates, inUse)
            ?? throw new EngineException(500, "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
        return (subnet, FirstHost(subnet));
    }

    /// <summary>"10.88.0.1/24" → (10.88.0.0/24, 10.88.0.1), like dockerd's --bip.</summary>
    public static (IPNetwork Subnet, IPAddress Gateway) ParseGatewayCidr(string cidr)
    {
        int slash = cidr.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var gateway) || gateway.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], out int prefix) || prefix is < 8 or > 30)
            throw new ArgumentException($"invalid --bip {cidr}: expected an IPv4 gateway address with a prefix, e.g. 10.88.0.1/24");
        var subnet = new IPNetwork(MaskAddress(gateway, prefix), prefix);
        return (subnet, gateway);
    }

    private static IPAddress MaskAddress(IPAddress address, int prefix)
    {
        uint value = BitConverter.ToUInt32(address.GetAddressBytes().Reverse().ToArray());
        uint mask = prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);
        return new IPAddress(BitConverter.GetBytes(value & mask).Reverse().ToArray());
    }

    private static IPAddress FirstHost(IPNetwork subnet)
    {
        var bytes = subnet.BaseAddress.GetAddressBytes();
        bytes[^1] += 1;
        return new IPAddress(bytes);
    }

    private static bool Overlaps(IPNetwork a, IPNetwork b) => a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress);

    public static string NewId() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
}
