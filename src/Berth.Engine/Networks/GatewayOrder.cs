using Berth.Engine.Model;

namespace Berth.Engine.Networks;

/// <summary>One of a container's endpoints as a gateway candidate: its `--gw-priority`, whether its network is
/// internal, and whether it has a gateway of each family (internal networks have none).</summary>
public sealed record GatewayCandidate(EndpointRecord Endpoint, string NetworkName, int Priority, bool Internal,
    bool HasIpv4Gateway, bool HasIpv6Gateway);

/// <summary>dockerd 28's choice of a container's gateway endpoints (libnetwork `Endpoint.Less` and
/// `Sandbox.getGatewayEndpoint`): candidates sorted by priority (highest first), then non-internal first, then
/// dual-stack before single-stack before none, then by network name; the first with an IPv4 gateway is the IPv4
/// gateway, the first with an IPv6 one the IPv6 gateway.</summary>
public static class GatewayOrder
{
    public static (EndpointRecord? V4, EndpointRecord? V6) Choose(IEnumerable<GatewayCandidate> candidates)
    {
        EndpointRecord? v4 = null, v6 = null;
        foreach (var c in Sort(candidates))
        {
            if (c.HasIpv4Gateway) v4 ??= c.Endpoint;
            if (c.HasIpv6Gateway) v6 ??= c.Endpoint;
        }
        return (v4, v6);
    }

    public static IEnumerable<GatewayCandidate> Sort(IEnumerable<GatewayCandidate> candidates) => candidates
        .OrderByDescending(c => c.Priority)
        .ThenBy(c => c.Internal)
        .ThenByDescending(c => (c.HasIpv4Gateway ? 1 : 0) + (c.HasIpv6Gateway ? 1 : 0))
        .ThenBy(c => c.NetworkName, StringComparer.Ordinal);

    /// <summary>The gateways a running container's record says it has. A record from before Berth chose them per
    /// family has its first endpoint for both (IPv6 when that endpoint has an IPv6 address), as Berth then did.</summary>
    public static (EndpointRecord? V4, EndpointRecord? V6) Current(ContainerRecord record)
    {
        if (record.Endpoints.Any(e => e.IsIpv4Gateway || e.IsIpv6Gateway))
            return (record.Endpoints.FirstOrDefault(e => e.IsIpv4Gateway), record.Endpoints.FirstOrDefault(e => e.IsIpv6Gateway));
        var first = record.Endpoints.FirstOrDefault();
        return (first, first is { Ipv6Address.Length: > 0 } ? first : null);
    }

    public static void Mark(ContainerRecord record, EndpointRecord? v4, EndpointRecord? v6)
    {
        foreach (var endpoint in record.Endpoints)
        {
            endpoint.IsIpv4Gateway = ReferenceEquals(endpoint, v4);
            endpoint.IsIpv6Gateway = ReferenceEquals(endpoint, v6);
        }
    }
}
