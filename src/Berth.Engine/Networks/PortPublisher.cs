using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Networks;

/// <summary>Publishes a container's ports: host ports reserved with a real bind, IPv4 publications as nftables map
/// elements (kernel DNAT), IPv6 host addresses through the in-process proxy (the kernel cannot NAT v6 → v4).</summary>
public sealed class PortPublisher(PortAllocator allocator, FirewallManager firewall, UserlandProxy proxy, Conntrack conntrack, ILogger logger)
{
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

    /// <param name="defaultHostIp">The network's host_binding_ipv4 (or the daemon's --ip): where a binding that names no
    /// host address is published; null or 0.0.0.0 for every address.</param>
    public List<PublishedPortRecord> Publish(ContainerRecord record, IPAddress containerIp, string bridge, string? defaultHostIp = null)
    {
        var bindings = ValidateAndParse(record.HostConfig.PortBindings, record.Config.ExposedPorts);
        if (record.HostConfig.PublishAllPorts)
            foreach (string exposed in record.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
                bindings.TryAdd(ContainerPort.Parse(exposed), [new PortBindingRequest("", "")]);
        if (bindings.Count == 0) return [];
        if (defaultHostIp is { Length: > 0 } and not "0.0.0.0")
            foreach (var key in bindings.Keys.ToList())
                bindings[key] = bindings[key].Select(b => b.HostIp.Length == 0 ? b with { HostIp = defaultHostIp } : b).ToList();

        IReadOnlyList<PublishedPort> published;
        try { published = allocator.Reserve(record.Id, bindings); }
        catch (PortAllocationException e)
        {
            string endpoint = record.Endpoints.FirstOrDefault()?.EndpointId ?? "";
            throw new ConflictException($"driver failed programming external connectivity on endpoint {record.Name} ({endpoint}): {e.Message}");
        }
        try
        {
            Apply(record.Id, published, containerIp, bridge);
        }
        catch
        {
            Unpublish(record.Id);
            throw;
        }
        return published.Select(p => new PublishedPortRecord(p.ContainerPort.ToString(), p.HostIp.ToString(), p.HostPort)).ToList();
    }

    /// <summary>Re-binds and re-proxies after a daemon restart; the firewall gets its elements from <see cref="PublicationsOf"/>.</summary>
    public void Restore(ContainerRecord record)
    {
        var ports = record.Ports.Select(ToPublished).ToList();
        if (ports.Count == 0) return;
        try { allocator.Restore(record.Id, ports); }
        catch (Exception e) { logger.LogWarning(e, "re-reserving ports of {Id} failed", record.ShortId); }
        if (record.Endpoints.FirstOrDefault() is { } endpoint)
            foreach (var port in ports.Where(p => p.HostIp.AddressFamily == AddressFamily.InterNetworkV6))
                proxy.Start(record.Id, port, IPAddress.Parse(endpoint.IPAddress), port.ContainerPort.Port, allocator.SocketOf(record.Id, port));
    }

    public static IEnumerable<PortPublication> PublicationsOf(ContainerRecord record, string bridge)
    {
        if (record.Endpoints.FirstOrDefault() is not { } endpoint) yield break;
        var containerIp = IPAddress.Parse(endpoint.IPAddress);
        foreach (var port in record.Ports.Select(ToPublished).Where(p => p.HostIp.AddressFamily == AddressFamily.InterNetwork))
            yield return ToPublication(record.Id, port, containerIp, bridge);
    }

    public void Unpublish(string containerId)
    {
        try { firewall.Unpublish(containerId); }
        catch (Exception e) { logger.LogWarning(e, "removing firewall publications of {Id} failed", containerId[..12]); }
        proxy.Stop(containerId);
        allocator.Release(containerId);
    }

    private void Apply(string ownerId, IReadOnlyList<PublishedPort> published, IPAddress containerIp, string bridge)
    {
        var v4 = published.Where(p => p.HostIp.AddressFamily == AddressFamily.InterNetwork)
            .Select(p => ToPublication(ownerId, p, containerIp, bridge)).ToList();
        if (v4.Count > 0) firewall.Publish(v4);
        conntrack.DeleteUdpFlows(v4);
        foreach (var port in published.Where(p => p.HostIp.AddressFamily == AddressFamily.InterNetworkV6))
            proxy.Start(ownerId, port, containerIp, port.ContainerPort.Port, allocator.SocketOf(ownerId, port));
    }

    private static PortPublication ToPublication(string ownerId, PublishedPort port, IPAddress containerIp, string bridge) =>
        new(ownerId, port.HostIp.Equals(IPAddress.Any) ? null : port.HostIp, port.ContainerPort.Protocol, port.HostPort,
            containerIp, port.ContainerPort.Port, bridge);

    private static PublishedPort ToPublished(PublishedPortRecord record) =>
        new(IPAddress.Parse(record.HostIp), record.HostPort, ContainerPort.Parse(record.ContainerPort));
}
