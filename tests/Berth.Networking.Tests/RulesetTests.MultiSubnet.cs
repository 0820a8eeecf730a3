using System.Net;
using Berth.Networking.Firewall;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>A network with several subnets of a family: masquerade and hairpin rules name every one, and nft takes it.
/// </summary>
public sealed partial class RulesetTests
{
    [Fact]
    public void Masquerade_and_dnat_hairpin_rules_name_every_subnet_of_the_family()
    {
        var spec = new NetworkFirewallSpec("bbm", IPNetwork.Parse("10.8.0.0/24"), Ipv6Subnet: IPNetwork.Parse("fd00:8::/64"),
            MoreSubnets: [IPNetwork.Parse("10.9.0.0/24"), IPNetwork.Parse("fd00:9::/64")]);
        string v4 = RulesetRenderer.RenderTable("t", [spec], []), v6 = Ipv6RulesetRenderer.RenderTable("t", [spec]);
        Assert.Contains("ip saddr { 10.8.0.0/24, 10.9.0.0/24 } oifname != \"bbm\" masquerade", v4);
        Assert.Contains("oifname \"bbm\" ip saddr { 10.8.0.0/24, 10.9.0.0/24 } ct status dnat masquerade", v4);
        Assert.Contains("ip6 saddr { fd00:8::/64, fd00:9::/64 } oifname != \"bbm\" masquerade", v6);
        Assert.DoesNotContain("fd00", v4);
        string table = TestTable();
        AssertNftAccepts(RulesetRenderer.RenderTable(table, [spec], []) + Ipv6RulesetRenderer.RenderTable(table, [spec]));
    }
}
