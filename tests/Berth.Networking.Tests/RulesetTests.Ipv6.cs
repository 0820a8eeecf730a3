using System.Net;
using Berth.Networking.Firewall;
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
        Assert.DoesNotContain(lines, l => l.Contains("fd00:7::") || l.Contains("bb0"));
        string[] expected =
        [
            "oifname \"bb6\" ct state established,related accept",
            "oifname \"bb6\" iifname \"bb6\" accept",
            "oifname \"bb6\" drop",
            "iifname \"bb6\" accept",
        ];
        int at = Array.IndexOf(lines, expected[0]);
        Assert.Equal(expected, lines[at..(at + 4)]);
        Assert.Contains("iifname \"bb7\" drop", lines); // --internal: nothing leaves over IPv6 either
    }

    [Fact]
    public void Nft_accepts_the_ip6_table_with_the_ip_one()
    {
        string table = TestTable();
        AssertNftAccepts(RulesetRenderer.RenderTable(table, [Network, DualStack], Publications)
                         + Ipv6RulesetRenderer.RenderTable(table, [Network, DualStack]));
    }
}
