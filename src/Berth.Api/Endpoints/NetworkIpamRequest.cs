using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Model;
using Berth.Engine.Networks;

namespace Berth.Api.Endpoints;

/// <summary>IPAM.Config of `POST /networks/create` split by family: the first IPv4 and the first IPv6 entry, then the
/// further ones in order; an IPv6 entry needs EnableIPv6, as dockerd asks. And network inspect's IPAM.Config.</summary>
public static class NetworkIpamRequest
{
    public sealed record V4Config(string? Subnet, string? Gateway, string? IPRange, Dictionary<string, string>? AuxiliaryAddresses);

    public static (V4Config? V4, Ipv6Request? V6, List<SubnetRequest> More) Split(
        IEnumerable<(string? Subnet, string? Gateway, string? IPRange, Dictionary<string, string>? Aux)>? configs, bool enableIpv6)
    {
        V4Config? v4 = null;
        Ipv6Request? v6 = null;
        var more = new List<SubnetRequest>();
        foreach (var c in configs ?? [])
        {
            bool isV6 = IsV6(c.Subnet) || string.IsNullOrEmpty(c.Subnet) && (IsV6(c.Gateway) || IsV6(c.IPRange));
            if (isV6 && !enableIpv6)
                throw new BadRequestException($"invalid network config: IPv6 subnet {c.Subnet} requires --ipv6 (EnableIPv6)");
            if (isV6 ? v6 is not null : v4 is not null) more.Add(new SubnetRequest(c.Subnet, c.Gateway, c.IPRange, c.Aux));
            else if (isV6) v6 = new Ipv6Request(c.Subnet, c.Gateway, c.IPRange, c.Aux);
            else v4 = new V4Config(c.Subnet, c.Gateway, c.IPRange, c.Aux);
        }
        if (enableIpv6) v6 ??= new Ipv6Request();
        return (v4, v6, more);
    }

    /// <summary>network inspect's IPAM.Config as dockerd lists it: the IPv4 pools, then the IPv6 ones.</summary>
    public static JsonArray ConfigOf(NetworkRecord n)
    {
        var config = new JsonArray();
        if (NetworkService.IsHostOrNone(n)) return config;
        var pools = new List<(string Subnet, string? Range, string? Gateway, Dictionary<string, string> Aux)> { (n.Subnet, n.IPRange, n.Gateway, n.AuxAddresses) };
        if (n is { EnableIPv6: true, Ipv6Subnet: { } v6 }) pools.Add((v6, n.Ipv6Range, n.Ipv6Gateway, n.Ipv6AuxAddresses));
        pools.AddRange(n.MoreSubnets.Select(m => (m.Subnet, m.IPRange, (string?)m.Gateway, m.AuxAddresses)));
        foreach (var (subnet, range, gateway, aux) in pools.OrderBy(p => IsV6(p.Subnet)))
        {
            var entry = new JsonObject { ["Subnet"] = subnet };
            if (range is not null) entry["IPRange"] = range;
            if (!string.IsNullOrEmpty(gateway)) entry["Gateway"] = gateway; // omitted when none, as dockerd's omitempty
            if (aux.Count > 0)
            {
                var auxiliary = new JsonObject();
                foreach (var (k, v) in aux) auxiliary[k] = v;
                entry["AuxiliaryAddresses"] = auxiliary;
            }
            config.Add(entry);
        }
        return config;
    }

    private static bool IsV6(string? text)
    {
        if (string.IsNullOrEmpty(text)) return false;
        string address = text.Split('/')[0];
        return IPAddress.TryParse(address, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6;
    }
}
