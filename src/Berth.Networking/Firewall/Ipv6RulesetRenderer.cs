using System.Text;

namespace Berth.Networking.Firewall;

/// <summary>The IPv6 twin of Berth's table for dual-stack networks (`table ip6 NAME`, applied in the same transaction
/// as the IPv4 one): replies, bridge-to-bridge and outbound traffic pass, anything else routed at a container's v6
/// address is dropped (the direct-routing guard: a neighbour that routes to the v6 subnet reaches nothing), `--internal`
/// keeps traffic in, and outbound traffic is masqueraded as dockerd does with ip6tables. Absent when no network is
/// dual-stack. Published ports over IPv6 are not rendered here yet (see docs/data-path.md).</summary>
public static class Ipv6RulesetRenderer
{
    public static string RenderTable(string table, IEnumerable<NetworkFirewallSpec> networks)
    {
        var nets = networks.Where(n => n.Ipv6Subnet is not null).ToList();
        var s = new StringBuilder();
        s.Append($"table ip6 {table} {{}}\n");
        s.Append($"delete table ip6 {table}\n");
        if (nets.Count == 0) return s.ToString();
        s.Append($"table ip6 {table} {{\n");
        s.Append("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var n in nets.Where(n => n.Masquerade))
            s.Append($"\t\tip6 saddr {n.Ipv6Match} oifname != \"{n.BridgeName}\" masquerade\n");
        s.Append("\t}\n");
        s.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        foreach (var n in nets)
        {
            s.Append($"\t\toifname \"{n.BridgeName}\" ct state established,related accept\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" iifname \"{n.BridgeName}\" accept\n");
            s.Append($"\t\toifname \"{n.BridgeName}\" drop\n");
            s.Append((n.Outbound ?? n.Masquerade) ? $"\t\tiifname \"{n.BridgeName}\" accept\n" : $"\t\tiifname \"{n.BridgeName}\" drop\n");
        }
        s.Append("\t}\n");
        s.Append("}\n");
        return s.ToString();
    }
}
