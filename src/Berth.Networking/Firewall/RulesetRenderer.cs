using System.Net;
using System.Text;
using Berth.Networking.Ports;

namespace Berth.Networking.Firewall;

/// <summary>A bridge network as the firewall sees it. <paramref name="Outbound"/>: traffic from the bridge may leave
/// (null: as <paramref name="Masquerade"/>; false for `--internal`). <paramref name="DirectRouting"/>: a published
/// container port may also be reached by routing to the container's own address (CNI's portmap; dockerd's
/// --allow-direct-routing); false is dockerd 28's default: from outside the bridge, only through the host's ports.</summary>
public sealed record NetworkFirewallSpec(string BridgeName, IPNetwork Subnet, bool Masquerade = true, bool? Outbound = null,
    IPNetwork? Ipv6Subnet = null, IReadOnlyList<IPNetwork>? MoreSubnets = null, bool DirectRouting = true)
{
    /// <summary>The IPv4 subnets as an nft match operand: the one subnet, or an anonymous set of all of them.</summary>
    public string Ipv4Match => Match(Subnet);

    /// <summary>The IPv6 subnets likewise (only meaningful with <see cref="Ipv6Subnet"/>).</summary>
    public string Ipv6Match => Ipv6Subnet is { } v6 ? Match(v6) : "";

    private string Match(IPNetwork first)
    {
        var all = new[] { first }.Concat((MoreSubnets ?? []).Where(s => s.BaseAddress.AddressFamily == first.BaseAddress.AddressFamily)).ToList();
        return all.Count == 1 ? first.ToString() : "{ " + string.Join(", ", all) + " }";
    }
}

/// <summary>One published host port → container port. HostIp null = every address of the host (0.0.0.0); an IPv6
/// HostIp (`::` = every v6 address) goes to the ip6 table, DNATed to a v6 ContainerIp. <paramref name="Proxied"/>: the
/// userland proxy serves what the kernel cannot (a v6 host address to a v4-only container, `::1`).</summary>
public sealed record PortPublication(string OwnerId, IPAddress? HostIp, PortProtocol Protocol, int HostPort,
    IPAddress ContainerIp, int ContainerPort, string BridgeName, bool Proxied = false);

/// <summary>Renders Berth's nftables table as nft script text. Pure: the exact text is unit-tested, and
/// docs/data-path.md shows it with one line of why per rule.</summary>
public static class RulesetRenderer
{
    public const string AnyMap = "published_any", AddressMap = "published_addr", DirectSet = "published_direct";

    /// <summary>The whole table, replacing any previous one in the same transaction; the user table is only
    /// created when missing, never flushed.</summary>
    public static string RenderTable(string table, IEnumerable<NetworkFirewallSpec> networks, IEnumerable<PortPublication> publications)
    {
        var nets = networks.ToList();
        var pubs = publications.Where(p => !Ipv6RulesetRenderer.IsV6(p)).ToList();
        var s = new StringBuilder();
        s.Append($"table ip {table} {{}}\n");
        s.Append($"delete table ip {table}\n");
        s.Append($"table ip {table} {{\n");
        s.Append($"\tmap {AnyMap} {{\n\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n");
        AppendElements(s, pubs.Where(p => p.HostIp is null));
        s.Append("\t}\n");
        s.Append($"\tmap {AddressMap} {{\n\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n");
        AppendElements(s, pubs.Where(p => p.HostIp is not null));
        s.Append("\t}\n");
        s.Append($"\tset {DirectSet} {{\n\t\ttype ipv4_addr . inet_proto . inet_service\n");
        var direct = DirectKeys(pubs);
        if (direct.Count > 0) s.Append("\t\telements = { ").Append(string.Join(", ", direct)).Append(" }\n");
        s.Append("\t}\n");
        s.Append("\tchain guard {\n\t\ttype filter hook prerouting priority -300; policy accept;\n");
        s.Append("\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 drop\n");
        s.Append("\t}\n");
        AppendPublishChains(s, "ip", "");
        AppendNatAndForwardChains(s, nets, "ip", n => n.Ipv4Match, "ip saddr 127.0.0.0/8");
        s.Append("}\n");
        return s.ToString();
    }

    /// <summary>One family's postrouting chain (masquerade of what the host itself sends, matched by
    /// <paramref name="hostSource"/>, of hairpin traffic, and of outbound traffic where the network masquerades) and its
    /// forward chain (the bridge's guard: answers, intra-network, DNATed and directly routed published ports in;
    /// outbound as the network allows). Anything else routed to a container's address drops.</summary>
    internal static void AppendNatAndForwardChains(StringBuilder s, IEnumerable<NetworkFirewallSpec> nets, string family,
        Func<NetworkFirewallSpec, string> subnets, string hostSource)
    {
        s.Append("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var n in nets)
        {
            s.Append($"\t\toifname \"{n.BridgeName}\" {hostSource} masquerade\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" {family} saddr {subnets(n)} ct status dnat masquerade\n");
            if (n.Masquerade) s.Append($"\t\t{family} saddr {subnets(n)} oifname != \"{n.BridgeName}\" masquerade\n");
        }
        s.Append("\t}\n");
        s.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        foreach (var n in nets)
        {
            s.Append($"\t\toifname \"{n.BridgeName}\" ct state established,related accept\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" iifname \"{n.BridgeName}\" accept\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" ct status dnat accept\n");
            if (n.DirectRouting) s.Append($"\t\toifname \"{n.BridgeName}\" {family} daddr . meta l4proto . th dport @{DirectSet} accept\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" drop\n");
            s.Append((n.Outbound ?? n.Masquerade) ? $"\t\tiifname \"{n.BridgeName}\" accept\n" : $"\t\tiifname \"{n.BridgeName}\" drop\n");
        }
        s.Append("\t}\n");
    }

    /// <summary>DNAT of traffic to the host's own addresses, from outside and containers (prerouting) and from host
    /// processes (output, where <paramref name="outputMatch"/> may leave some out): the address map first, so a
    /// publication bound to one address wins over a wildcard one on the same port.</summary>
    internal static void AppendPublishChains(StringBuilder s, string family, string outputMatch)
    {
        s.Append("\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
        s.Append("\t\tfib daddr type local jump publish\n\t}\n");
        s.Append("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n");
        s.Append($"\t\t{outputMatch}fib daddr type local jump publish\n\t}}\n");
        s.Append("\tchain publish {\n");
        s.Append($"\t\tdnat {family} to {family} daddr . meta l4proto . th dport map @{AddressMap}\n");
        s.Append($"\t\tdnat {family} to meta l4proto . th dport map @{AnyMap}\n\t}}\n");
    }

    /// <summary>The admins' table: a forward chain that runs before Berth's (priority -1). Berth creates it when
    /// missing and never touches it again, so rules put there survive reloads and restarts.</summary>
    public static string RenderUserTable(string userTable) =>
        $"add table ip {userTable}\nadd chain ip {userTable} forward {{ type filter hook forward priority -1; policy accept; }}\n";

    /// <summary>True when an `nft list table` of the admins' table shows only what <see cref="RenderUserTable"/> made:
    /// no rule, set, map or other chain of an admin's, so removing it loses nothing.</summary>
    public static bool IsUntouchedUserTable(string listing) =>
        listing.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).All(l =>
            l == "}" || l.StartsWith("table ip ", StringComparison.Ordinal) || l == "chain forward {"
            || l.StartsWith("type filter hook forward ", StringComparison.Ordinal));

    public static string RenderAddPublications(string table, IEnumerable<PortPublication> publications) =>
        RenderElements("add", table, publications, withValues: true);

    public static string RenderRemovePublications(string table, IEnumerable<PortPublication> publications) =>
        RenderElements("delete", table, publications, withValues: false);

    private static string RenderElements(string verb, string table, IEnumerable<PortPublication> publications, bool withValues)
    {
        var all = publications.ToList();
        var list = all.Where(p => !Ipv6RulesetRenderer.IsV6(p)).ToList();
        var s = new StringBuilder(Ipv6RulesetRenderer.RenderElements(verb, table, all));
        foreach (var group in list.GroupBy(p => p.HostIp is null))
        {
            s.Append($"{verb} element ip {table} {(group.Key ? AnyMap : AddressMap)} {{ ");
            s.Append(string.Join(", ", group.Select(p => withValues ? Element(p) : Key(p))));
            s.Append(" }\n");
        }
        var direct = DirectKeys(list);
        if (direct.Count > 0) s.Append($"{verb} element ip {table} {DirectSet} {{ {string.Join(", ", direct)} }}\n");
        return s.ToString();
    }

    /// <summary>The container ports that a network with <see cref="NetworkFirewallSpec.DirectRouting"/> lets through when
    /// routed to the container's own address: those published on a non-loopback host address (as dockerd 28 with
    /// --allow-direct-routing); one published on loopback only, and unpublished ports, never.</summary>
    private static List<string> DirectKeys(IEnumerable<PortPublication> publications) =>
        publications.Where(p => p.HostIp is null || !IPAddress.IsLoopback(p.HostIp))
            .Select(p => $"{p.ContainerIp} . {ContainerPort.Name(p.Protocol)} . {p.ContainerPort}")
            .Distinct().ToList();

    private static void AppendElements(StringBuilder s, IEnumerable<PortPublication> publications)
    {
        var list = publications.ToList();
        if (list.Count == 0) return;
        s.Append("\t\telements = { ").Append(string.Join(", ", list.Select(Element))).Append(" }\n");
    }

    private static string Key(PortPublication p) =>
        (p.HostIp is null ? "" : $"{p.HostIp} . ") + $"{ContainerPort.Name(p.Protocol)} . {p.HostPort}";

    private static string Element(PortPublication p) => $"{Key(p)} : {p.ContainerIp} . {p.ContainerPort}";
}
