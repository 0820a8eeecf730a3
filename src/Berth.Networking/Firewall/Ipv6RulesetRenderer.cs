using System.Net;
using System.Net.Sockets;
using System.Text;
using Berth.Networking.Ports;

namespace Berth.Networking.Firewall;

/// <summary>The IPv6 twin of Berth's table (`table ip6 NAME`, applied in the same transaction as the IPv4 one): the
/// same O(1) maps, DNAT of a host v6 address's port to the container's v6 address (the client keeps its address;
/// a host process is seen as the gateway), hairpin, the direct-routing guard (the same forward rules as v4), `--internal`, outbound masquerade.
/// Publications here are those with an IPv6 host address (`::` is every one). One the kernel cannot serve (`::1`, or a
/// container with no v6 address) and the userland proxy does not serve is refused at once (RST / port unreachable)
/// instead of landing in the reserving socket's queue. Absent when no network is dual-stack and nothing is
/// published on a v6 address. See docs/data-path.md.</summary>
public static class Ipv6RulesetRenderer
{
    public const string UnservedAnySet = "unserved_any", UnservedAddressSet = "unserved_addr";

    public static string RenderTable(string table, IEnumerable<NetworkFirewallSpec> networks, IEnumerable<PortPublication>? publications = null)
    {
        var nets = networks.Where(n => n.Ipv6Subnet is not null).ToList();
        var pubs = (publications ?? []).Where(IsV6).ToList();
        var s = new StringBuilder();
        s.Append($"table ip6 {table} {{}}\n");
        s.Append($"delete table ip6 {table}\n");
        if (nets.Count == 0 && pubs.Count == 0) return s.ToString();
        s.Append($"table ip6 {table} {{\n");
        AppendMap(s, RulesetRenderer.AnyMap, "inet_proto . inet_service : ipv6_addr . inet_service", pubs.Where(p => Routed(p) && IsAny(p)).Select(Element));
        AppendMap(s, RulesetRenderer.AddressMap, "ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service",
            pubs.Where(p => Routed(p) && !IsAny(p)).Select(Element));
        AppendSet(s, RulesetRenderer.DirectSet, "ipv6_addr . inet_proto . inet_service", DirectKeys(pubs));
        AppendSet(s, UnservedAnySet, "inet_proto . inet_service", pubs.Where(p => IsAny(p) && !p.Proxied).Select(Key).Distinct());
        AppendSet(s, UnservedAddressSet, "ipv6_addr . inet_proto . inet_service", pubs.Where(p => !IsAny(p) && !p.Proxied).Select(Key).Distinct());
        s.Append("\tchain guard {\n\t\ttype filter hook prerouting priority -300; policy accept;\n");
        s.Append("\t\tiifname != \"lo\" ip6 daddr ::1 drop\n");
        s.Append("\t}\n");
        RulesetRenderer.AppendPublishChains(s, "ip6", "ip6 daddr != ::1 ");
        s.Append("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        s.Append($"\t\tmeta l4proto tcp ip6 daddr . meta l4proto . th dport @{UnservedAddressSet} reject with tcp reset\n");
        s.Append($"\t\tip6 daddr . meta l4proto . th dport @{UnservedAddressSet} reject\n");
        s.Append($"\t\tmeta l4proto tcp meta l4proto . th dport @{UnservedAnySet} reject with tcp reset\n");
        s.Append($"\t\tmeta l4proto . th dport @{UnservedAnySet} reject\n");
        s.Append("\t}\n");
        RulesetRenderer.AppendNatAndForwardChains(s, nets, "ip6", n => n.Ipv6Match, "fib saddr type local ct status dnat");
        s.Append("}\n");
        return s.ToString();
    }

    /// <summary>Elements of the v6 publications among <paramref name="publications"/>, added or deleted in one
    /// transaction with the v4 ones; empty when there are none.</summary>
    public static string RenderElements(string verb, string table, IEnumerable<PortPublication> publications)
    {
        var pubs = publications.Where(IsV6).ToList();
        var s = new StringBuilder();
        Func<PortPublication, string> entry = verb == "add" ? Element : Key;
        void Elements(string name, IEnumerable<string> items)
        {
            var list = items.Distinct().ToList();
            if (list.Count > 0) s.Append($"{verb} element ip6 {table} {name} {{ {string.Join(", ", list)} }}\n");
        }
        Elements(RulesetRenderer.AnyMap, pubs.Where(p => Routed(p) && IsAny(p)).Select(entry));
        Elements(RulesetRenderer.AddressMap, pubs.Where(p => Routed(p) && !IsAny(p)).Select(entry));
        Elements(RulesetRenderer.DirectSet, DirectKeys(pubs));
        Elements(UnservedAnySet, pubs.Where(p => IsAny(p) && !p.Proxied).Select(Key));
        Elements(UnservedAddressSet, pubs.Where(p => !IsAny(p) && !p.Proxied).Select(Key));
        return s.ToString();
    }

    /// <summary>A publication on an IPv6 host address (`::` included), whatever the container's family.</summary>
    public static bool IsV6(PortPublication p) => p.HostIp is { AddressFamily: AddressFamily.InterNetworkV6 };

    /// <summary>The kernel can take it to the container: the container has a v6 address and the host address is not
    /// `::1` (IPv6 has no route_localnet: a packet from ::1 never leaves lo).</summary>
    private static bool Routed(PortPublication p) =>
        p.ContainerIp.AddressFamily == AddressFamily.InterNetworkV6 && !p.HostIp!.Equals(IPAddress.IPv6Loopback);

    private static bool IsAny(PortPublication p) => p.HostIp!.Equals(IPAddress.IPv6Any);

    /// <summary>As the v4 twin: with direct routing, a port published on a non-loopback address may also be routed to.</summary>
    private static IEnumerable<string> DirectKeys(IEnumerable<PortPublication> pubs) =>
        pubs.Where(Routed).Select(p => $"{p.ContainerIp} . {ContainerPort.Name(p.Protocol)} . {p.ContainerPort}").Distinct();

    private static string Key(PortPublication p) =>
        (IsAny(p) ? "" : $"{p.HostIp} . ") + $"{ContainerPort.Name(p.Protocol)} . {p.HostPort}";

    private static string Element(PortPublication p) => $"{Key(p)} : {p.ContainerIp} . {p.ContainerPort}";

    private static void AppendMap(StringBuilder s, string name, string type, IEnumerable<string> elements) =>
        AppendSet(s, name, type, elements, "map");

    private static void AppendSet(StringBuilder s, string name, string type, IEnumerable<string> elements, string kind = "set")
    {
        s.Append($"\t{kind} {name} {{\n\t\ttype {type}\n");
        var list = elements.ToList();
        if (list.Count > 0) s.Append("\t\telements = { ").Append(string.Join(", ", list)).Append(" }\n");
        s.Append("\t}\n");
    }
}
