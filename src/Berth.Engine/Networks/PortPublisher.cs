using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Networks;

/// <summary>Where one family's publications go: the gateway endpoint's address of that family and its bridge.</summary>
public sealed record PublishTarget(IPAddress Address, string Bridge);

/// <summary>Publishes a container's ports: host ports reserved with a real bind, publications as nftables map elements
/// (kernel DNAT; v6 host addresses to the container's v6 address). With <see cref="UserlandProxyEnabled"/> the
/// in-process proxy serves what the kernel cannot: v6 host addresses to a v4-only container, and `::1`.</summary>
public sealed class PortPublisher(PortAllocator allocator, FirewallManager firewall, UserlandProxy proxy, Conntrack conntrack, ILogger logger)
{
    /// <summary>dockerd's --userland-proxy (Berth's default: false). Without it a v4-only container is published on
    /// IPv4 addresses only, as dockerd without its proxy publishes it.</summary>
    public bool UserlandProxyEnabled { get; init; }

    /// <summary>Validates HostConfig.PortBindings as sent (also raw over the API) and parses them.</summary>
    public static Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> ValidateAndParse(
        Dictionary<string, List<PortBinding>?>? portBindings, Dictionary<string, JsonObject>? exposedPorts)
    {
        try
        {
            var raw = (portBindings ?? new()).ToDictionary(
                kv => kv.Key,
                // A null item ([null] over the API) is an empty binding, as dockerd reads it.
                kv => (IReadOnlyList<PortBindingRequest>?)kv.Value?
                    .Select(b => new PortBindingRequest(b?.HostIp ?? "", b?.HostPort ?? "")).ToList());
            PortSpecParser.Validate(raw, exposedPorts?.ToDictionary(kv => kv.Key, kv => (object?)kv.Value));
            return raw.ToDictionary(kv => ContainerPort.Parse(kv.Key),
                kv => kv.Value is { Count: > 0 } list ? list : (IReadOnlyList<PortBindingRequest>)[new PortBindingRequest("", "")]);
        }
        catch (PortSpecException e)
        {
            throw new BadRequestException(e.Message, e);
        }
    }

    /// <param name="v4">The IPv4 gateway endpoint's address and bridge: v4 bindings go there.</param>
    /// <param name="v6">The IPv6 gateway endpoint's (null: none): v6 bindings go there; without it they are dropped, or
    /// served by the userland proxy to <paramref name="v4"/> when it is on.</param>
    /// <param name="defaultHostIp">The network's host_binding_ipv4 (or the daemon's --ip): where a binding that names no
    /// host address is published; null or 0.0.0.0 for every address.</param>
    public List<PublishedPortRecord> Publish(ContainerRecord record, PublishTarget v4, PublishTarget? v6, string? defaultHostIp = null)
    {
        var bindings = ValidateAndParse(record.HostConfig.PortBindings, record.Config.ExposedPorts);
        if (record.HostConfig.PublishAllPorts)
            foreach (string exposed in record.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
                bindings.TryAdd(ContainerPort.Parse(exposed), [new PortBindingRequest("", "")]);
        bool v6Reachable = v6 is not null || UserlandProxyEnabled;
        if (!v6Reachable) DropIpv6Bindings(bindings);
        if (bindings.Count == 0) return [];
        if (defaultHostIp is { Length: > 0 } and not "0.0.0.0")
            foreach (var key in bindings.Keys.ToList())
                bindings[key] = bindings[key].Select(b => b.HostIp.Length == 0 ? b with { HostIp = defaultHostIp } : b).ToList();

        IReadOnlyList<PublishedPort> published;
        try { published = allocator.Reserve(record.Id, bindings, ipv6: v6Reachable); }
        catch (PortAllocationException e)
        {
            string endpoint = record.Endpoints.FirstOrDefault(e => IPAddress.TryParse(e.IPAddress, out var a) && a.Equals(v4.Address))?.EndpointId ?? "";
            throw new ConflictException($"driver failed programming external connectivity on endpoint {record.Name} ({endpoint}): {e.Message}");
        }
        try
        {
            Apply(record.Id, published, v4, v6);
        }
        catch
        {
            Unpublish(record.Id);
            throw;
        }
        CompactSoon(published.Count);
        return published.Select(p => new PublishedPortRecord(p.ContainerPort.ToString(), p.HostIp.ToString(), p.HostPort)).ToList();
    }

    /// <summary>Re-binds and re-proxies after a daemon restart; the firewall gets its elements from <see cref="PublicationsOf"/>.</summary>
    public void Restore(ContainerRecord record)
    {
        var ports = record.Ports.Select(ToPublished).ToList();
        if (ports.Count == 0) return;
        try { allocator.Restore(record.Id, ports); }
        catch (Exception e) { logger.LogWarning(e, "re-reserving ports of {Id} failed", record.ShortId); }
        var (v4, v6) = GatewayOrder.Current(record);
        if (v4 is not null)
            foreach (var port in ports.Where(p => Proxied(p, Ipv6AddressOf(v6), UserlandProxyEnabled)))
                proxy.Start(record.Id, port, IPAddress.Parse(v4.IPAddress), port.ContainerPort.Port, allocator.SocketOf(record.Id, port));
    }

    /// <summary>The firewall's elements for a running container, from its record (daemon start, table rebuilt).</summary>
    /// <param name="bridgeOf">network id → bridge name</param>
    public static IEnumerable<PortPublication> PublicationsOf(ContainerRecord record, IReadOnlyDictionary<string, string> bridgeOf,
        bool userlandProxy)
    {
        var (v4, v6) = TargetsOf(record, bridgeOf);
        return v4 is null ? [] : Publications(record.Id, record.Ports.Select(ToPublished), v4, v6, userlandProxy);
    }

    /// <summary>Where the record's gateway endpoints publish each family; no v4 target when its network has no bridge.</summary>
    public static (PublishTarget? V4, PublishTarget? V6) TargetsOf(ContainerRecord record, IReadOnlyDictionary<string, string> bridgeOf)
    {
        var (gw4, gw6) = GatewayOrder.Current(record);
        return (Target(gw4, gw4?.IPAddress), Target(gw6, gw6?.Ipv6Address));

        PublishTarget? Target(EndpointRecord? endpoint, string? address) =>
            endpoint is not null && address is { Length: > 0 } && bridgeOf.GetValueOrDefault(endpoint.NetworkId) is { Length: > 0 } bridge
                ? new PublishTarget(IPAddress.Parse(address), bridge) : null;
    }

    public void Unpublish(string containerId)
    {
        CompactSoon(allocator.Reservations(containerId).Count);
        try { firewall.Unpublish(containerId); }
        catch (Exception e) { logger.LogWarning(e, "removing firewall publications of {Id} failed", containerId[..12]); }
        proxy.Stop(containerId);
        allocator.Release(containerId);
    }

    private const int LargePublication = 1000;
    private static int _compactPending;

    /// <summary>Publishing or removing thousands of ports churns tens of MB (records, nft scripts, sockets) and the GC
    /// keeps what it committed for them: +100 MB of RSS after a 10,000-port `rm`. One compacting collection a second
    /// later, when the request is done, gives it back (tens of ms, once per such change).</summary>
    private static void CompactSoon(int ports)
    {
        if (ports < LargePublication || Interlocked.Exchange(ref _compactPending, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            Volatile.Write(ref _compactPending, 0);
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        });
    }

    private void Apply(string ownerId, IReadOnlyList<PublishedPort> published, PublishTarget v4, PublishTarget? v6)
    {
        var publications = Publications(ownerId, published, v4, v6, UserlandProxyEnabled).ToList();
        if (publications.Count > 0) firewall.Publish(publications);
        conntrack.DeleteUdpFlows(publications);
        foreach (var port in published.Where(p => Proxied(p, v6?.Address, UserlandProxyEnabled)))
            proxy.Start(ownerId, port, v4.Address, port.ContainerPort.Port, allocator.SocketOf(ownerId, port));
    }

    /// <summary>The firewall's share: v4 host addresses to the v4 gateway endpoint, v6 ones to the v6 one (`::1` too:
    /// the table refuses it at once unless the proxy serves it); v6 ones without a v6 gateway are the proxy's alone.</summary>
    private static IEnumerable<PortPublication> Publications(string ownerId, IEnumerable<PublishedPort> published, PublishTarget v4,
        PublishTarget? v6, bool userlandProxy)
    {
        foreach (var port in published)
        {
            bool isV6 = port.HostIp.AddressFamily == AddressFamily.InterNetworkV6;
            if (isV6 && v6 is null) continue;
            var target = isV6 ? v6! : v4;
            yield return new PortPublication(ownerId, port.HostIp.Equals(IPAddress.Any) ? null : port.HostIp, port.ContainerPort.Protocol,
                port.HostPort, target.Address, port.ContainerPort.Port, target.Bridge, isV6 && Proxied(port, v6!.Address, userlandProxy));
        }
    }

    /// <summary>Served by the userland proxy (TCP only, as before): a v6 host address the kernel cannot take to the
    /// container (it has no v6 address), and `::1`, which the wildcard covers too.</summary>
    private static bool Proxied(PublishedPort port, IPAddress? ipv6, bool userlandProxy) =>
        userlandProxy && port.HostIp.AddressFamily == AddressFamily.InterNetworkV6 && port.ContainerPort.Protocol == PortProtocol.Tcp
        && (ipv6 is null || port.HostIp.Equals(IPAddress.IPv6Any) || port.HostIp.Equals(IPAddress.IPv6Loopback));

    private static IPAddress? Ipv6AddressOf(EndpointRecord? endpoint) =>
        endpoint is { Ipv6Address: { Length: > 0 } v6 } ? IPAddress.Parse(v6) : null;

    /// <summary>dockerd without its proxy gives a v4-only container no IPv6 binding (not even an explicit `[addr]:`).</summary>
    private static void DropIpv6Bindings(Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> bindings)
    {
        foreach (var key in bindings.Keys.ToList())
        {
            var kept = bindings[key].Where(b => !(IPAddress.TryParse(b.HostIp, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6)).ToList();
            if (kept.Count == 0) bindings.Remove(key);
            else bindings[key] = kept;
        }
    }

    private static PublishedPort ToPublished(PublishedPortRecord record) =>
        new(IPAddress.Parse(record.HostIp), record.HostPort, ContainerPort.Parse(record.ContainerPort));
}
