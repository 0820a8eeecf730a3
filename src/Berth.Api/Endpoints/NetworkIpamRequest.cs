using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Model;
using Berth.Engine.Networks;

namespace Berth.Api.Endpoints;

/// <summary>IPAM.Config of `POST /networks/create` split by family: at most one IPv4 and one IPv6 entry; an IPv6
/// entry needs EnableIPv6, as dockerd asks.</summary>
public static class NetworkIpamRequest
{
    public sealed record V4Config(string? Subnet, string? Gateway, string? IPRange, Dictionary<string, string>? AuxiliaryAddresses);

    public static (V4Config? V4, Ipv6Request? V6) Split(
        IEnumerable<(string? Subnet, string? Gateway, string? IPRange, Dictionary<string, string>? Aux)>? configs, bool enableIpv6)
    {
        V4Config? v4 = null;
        Ipv6Request? v6 = null;
        foreach (var c in configs ?? [])
        {
            bool isV6 = IsV6(c.Subnet) || string.IsNullOrEmpty(c.Subnet) && (IsV6(c.Gateway) || IsV6(c.IPRange));
            if (isV6)
            {
                if (!enableIpv6)
                    throw new BadRequestException($"invalid network config: IPv6 subnet {c.Subnet} requires --ipv6 (EnableIPv6)");
                if (v6 is not null) throw new BadRequestException("several IPv6 subnets on one network are not supported by Berth yet");
                if (c.Aux is { Count: > 0 }) throw new BadRequestException("auxiliary addresses are only supported in IPv4 subnets by Berth");
                v6 = new Ipv6Request(c.Subnet, c.Gateway, c.IPRange);
            }
            else
            {
                if (v4 is not null) throw new BadRequestException("several IPv4 subnets on one network are not supported by Berth yet");
                v4 = new V4Config(c.Subnet, c.Gateway, c.IPRange, c.Aux);
            }
        }
        if (enableIpv6) v6 ??= new Ipv6Request();
        return (v4, v6);
    }

    /// <summary>network inspect's IPAM.Config: the IPv6 entry after the IPv4 one, as dockerd lists them.</summary>
    public static JsonArray WithIpv6(JsonArray config, NetworkRecord n)
    {
        if (n is not { EnableIPv6: true, Ipv6Subnet: { } subnet }) return config;
        var entry = new JsonObject { ["Subnet"] = subnet };
        if (n.Ipv6Range is { } range) entry["IPRange"] = range;
        entry["Gateway"] = n.Ipv6Gateway;
        config.Add(entry);
        return config;
    }

    private static bool IsV6(string? text)
    {
        if (string.IsNullOrEmpty(text)) return false;
        string address = text.Split('/')[0];
        return IPAddress.TryParse(address, out var a) && a.AddressFamily == AddressFamily.InterNetworkV6;
    }
}
