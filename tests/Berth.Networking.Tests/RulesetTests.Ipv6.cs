using System.Net;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The ip6 twin table of dual-stack networks: its text, and the real nft accepting it.</summary>
public sealed partial class RulesetTests
{
    private static readonly NetworkFirewallSpec DualStack = new("bb6", IPNetwork.Parse("10.6.0.0/24"),
        Ipv6Subnet: IPNetwork.Parse("fd00:6::/64"));

    [Fact]
    public void Without_a_dual_stack_network_the_ip6_table_is_only_removed()
    {
        Assert.Equal("table ip6 t {}\ndelete table ip6 t\n", Ipv6RulesetRenderer.RenderTable("t", [Network]));
    }

    [Fact]
    public void A_dual_stack_network_gets_the_v6_guards_and_masquerade()
    {
        var lines = Lines(Ipv6RulesetRenderer.RenderTable("t", [Network, DualStack,
            new NetworkFirewallSpec("bb7", IPNetwork.Parse("10.7.0.0/24"), Masquerade: false, Outbound: false, Ipv6Subnet: IPNetwork.Parse("fd00:7::/64"))]));
        Assert.Contains("ip6 saddr fd00:6::/64 oifname != \"bb6\" masquerade", lines);
        Assert.DoesNotContain("ip6 saddr fd00:7::/64 oifname != \"bb7\" masquerade", lines);
        Assert.DoesNotContain(lines, l => l.Contains("bb0"));
        string[] expected =
        [
            "oifname \"bb6\" ct state established,related accept",
            "oifname \"bb6\" iifname \"bb6\" accept",
            "oifname \"bb6\" ct status dnat accept",
            "oifname \"bb6\" ip6 daddr . meta l4proto . th dport @published_direct accept",
            "oifname \"bb6\" drop",
            "iifname \"bb6\" accept",
        ];
        int at = Array.IndexOf(lines, expected[0]);
        Assert.Equal(expected, lines[at..(at + 6)]);
        Assert.Contains("iifname \"bb7\" drop", lines); // --internal: nothing leaves over IPv6 either
    }

    [Fact]
    public void Nft_accepts_the_ip6_table_with_the_ip_one()
    {
        string table = TestTable();
        AssertNftAccepts(RulesetRenderer.RenderTable(table, [Network, DualStack], [.. Publications, .. V6Publications])
                         + Ipv6RulesetRenderer.RenderTable(table, [Network, DualStack], [.. Publications, .. V6Publications])
                         + RulesetRenderer.RenderAddPublications(table, [.. V6Publications, .. Publications])
                         + RulesetRenderer.RenderRemovePublications(table, [.. V6Publications, .. Publications]));
    }

    private static readonly IPAddress V6Container = IPAddress.Parse("fd00:6::2");

    /// <summary>`-p 8080:80` (its `::` half), `-p [fd00:33::1]:9000:90/udp`, `-p [::1]:7000:70`, and one the proxy serves.</summary>
    private static readonly PortPublication[] V6Publications =
    [
        new("c6", IPAddress.IPv6Any, PortProtocol.Tcp, 8080, V6Container, 80, "bb6"),
        new("c6", IPAddress.Parse("fd00:33::1"), PortProtocol.Udp, 9000, V6Container, 90, "bb6"),
        new("c6", IPAddress.IPv6Loopback, PortProtocol.Tcp, 7000, V6Container, 70, "bb6"),
        new("c7", IPAddress.IPv6Any, PortProtocol.Tcp, 6000, IPAddress.Parse("fd00:6::3"), 60, "bb6", Proxied: true),
    ];

    [Fact]
    public void V6_publications_are_map_elements_of_the_ip6_table_and_absent_from_the_ip_one()
    {
        var lines = Lines(Ipv6RulesetRenderer.RenderTable("t", [DualStack], V6Publications));
        // ::1 cannot be DNATed out of lo: not in the maps, refused at once (unless the proxy serves it). A host process
        // is seen as the gateway, a container reaching a published port (hairpin) too.
        string[] expected =
        [
            "elements = { tcp . 8080 : fd00:6::2 . 80, tcp . 6000 : fd00:6::3 . 60 }",
            "elements = { fd00:33::1 . udp . 9000 : fd00:6::2 . 90 }",
            "elements = { fd00:6::2 . tcp . 80, fd00:6::2 . udp . 90, fd00:6::3 . tcp . 60 }",
            "elements = { tcp . 8080 }",
            "elements = { fd00:33::1 . udp . 9000, ::1 . tcp . 7000 }",
            "dnat ip6 to ip6 daddr . meta l4proto . th dport map @published_addr",
            "dnat ip6 to meta l4proto . th dport map @published_any",
            "ip6 daddr != ::1 fib daddr type local jump publish",
            "meta l4proto tcp meta l4proto . th dport @unserved_any reject with tcp reset",
            "iifname != \"lo\" ip6 daddr ::1 drop",
            "oifname \"bb6\" fib saddr type local ct status dnat masquerade",
            "oifname \"bb6\" ip6 saddr fd00:6::/64 ct status dnat masquerade",
        ];
        foreach (string line in expected) Assert.Contains(line, lines);
        string[] forward =
        [
            "oifname \"bb6\" ct status dnat accept",
            "oifname \"bb6\" ip6 daddr . meta l4proto . th dport @published_direct accept",
            "oifname \"bb6\" drop",
        ];
        int at = Array.IndexOf(lines, forward[0]);
        Assert.Equal(forward, lines[at..(at + 3)]);
        Assert.DoesNotContain(Lines(RulesetRenderer.RenderTable("t", [Network, DualStack], V6Publications)), l => l.Contains("elements"));
    }

    [Fact]
    public void Adding_v6_publications_goes_to_the_ip6_table_in_the_same_script()
    {
        string script = RulesetRenderer.RenderAddPublications("t", [V6Publications[0], Publications[0]]);
        Assert.Contains("add element ip6 t published_any { tcp . 8080 : fd00:6::2 . 80 }\n", script);
        Assert.Contains("add element ip6 t unserved_any { tcp . 8080 }\n", script);
        Assert.Contains("add element ip t published_any { tcp . 8080 : 10.1.0.2 . 80 }\n", script);
        Assert.Contains("delete element ip6 t published_any { tcp . 8080 }\n", RulesetRenderer.RenderRemovePublications("t", [V6Publications[0]]));
    }

    [Fact]
    public void A_v6_publication_alone_renders_the_ip6_table_without_network_rules()
    {
        string text = Ipv6RulesetRenderer.RenderTable("t", [Network], [V6Publications[2]]);
        Assert.Contains("elements = { ::1 . tcp . 7000 }", Lines(text));
        Assert.DoesNotContain("bb0", text);
    }
}
