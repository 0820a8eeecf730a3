using System.Net;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>RulesetRenderer's text, checked line by line and then parsed by the real nft in check mode
/// (`nft -c -f`: the kernel validates the transaction and nothing is applied).</summary>
public sealed partial class RulesetTests
{
    private static readonly NetworkFirewallSpec Network = new("bb0", IPNetwork.Parse("10.1.0.0/24"));

    private static readonly PortPublication[] Publications =
    [
        new("c1", null, PortProtocol.Tcp, 8080, IPAddress.Parse("10.1.0.2"), 80, "bb0"),
        new("c1", null, PortProtocol.Udp, 5353, IPAddress.Parse("10.1.0.2"), 53, "bb0"),
        new("c2", null, PortProtocol.Sctp, 3868, IPAddress.Parse("10.1.0.3"), 3868, "bb0"),
        new("c2", IPAddress.Parse("127.0.0.1"), PortProtocol.Tcp, 9000, IPAddress.Parse("10.1.0.3"), 90, "bb0"),
        new("c2", IPAddress.Parse("192.0.2.2"), PortProtocol.Udp, 9001, IPAddress.Parse("10.1.0.3"), 91, "bb0"),
    ];

    private const string EmptyTable = """
        table ip t {}
        delete table ip t
        table ip t {
        	map published_any {
        		type inet_proto . inet_service : ipv4_addr . inet_service
        	}
        	map published_addr {
        		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
        	}
        	set published_direct {
        		type ipv4_addr . inet_proto . inet_service
        	}
        	chain guard {
        		type filter hook prerouting priority -300; policy accept;
        		iifname != "lo" ip daddr 127.0.0.0/8 drop
        	}
        	chain prerouting {
        		type nat hook prerouting priority dstnat; policy accept;
        		fib daddr type local jump publish
        	}
        	chain output {
        		type nat hook output priority -100; policy accept;
        		fib daddr type local jump publish
        	}
        	chain publish {
        		dnat ip to ip daddr . meta l4proto . th dport map @published_addr
        		dnat ip to meta l4proto . th dport map @published_any
        	}
        	chain postrouting {
        		type nat hook postrouting priority srcnat; policy accept;
        		oifname "bb0" ip saddr 127.0.0.0/8 masquerade
        		oifname "bb0" ip saddr 10.1.0.0/24 ct status dnat masquerade
        		ip saddr 10.1.0.0/24 oifname != "bb0" masquerade
        	}
        	chain forward {
        		type filter hook forward priority filter; policy accept;
        		oifname "bb0" ct state established,related accept
        		oifname "bb0" iifname "bb0" accept
        		oifname "bb0" ct status dnat accept
        		oifname "bb0" ip daddr . meta l4proto . th dport @published_direct accept
        		oifname "bb0" drop
        		iifname "bb0" accept
        	}
        }

        """;

    private static string[] Lines(string text) => text.Split('\n').Select(l => l.Trim()).ToArray();

    [Fact]
    public void Renders_the_whole_table_for_one_network_without_publications()
    {
        Assert.Equal(EmptyTable, RulesetRenderer.RenderTable("t", [Network], []));
    }

    [Fact]
    public void Publications_add_only_map_elements_to_the_table()
    {
        string table = RulesetRenderer.RenderTable("t", [Network], Publications);
        var lines = table.Split('\n');
        var elements = lines.Where(l => l.Trim().StartsWith("elements = ", StringComparison.Ordinal)).ToList();
        Assert.Equal(
        [
            "\t\telements = { tcp . 8080 : 10.1.0.2 . 80, udp . 5353 : 10.1.0.2 . 53, sctp . 3868 : 10.1.0.3 . 3868 }",
            "\t\telements = { 127.0.0.1 . tcp . 9000 : 10.1.0.3 . 90, 192.0.2.2 . udp . 9001 : 10.1.0.3 . 91 }",
            // Routed straight to the container: ports published on a non-loopback address only (not 127.0.0.1:9000).
            "\t\telements = { 10.1.0.2 . tcp . 80, 10.1.0.2 . udp . 53, 10.1.0.3 . sctp . 3868, 10.1.0.3 . udp . 91 }",
        ], elements);
        // The any-address elements sit in published_any, the others in published_addr.
        int any = Array.FindIndex(lines, l => l.Contains("map published_any")), addr = Array.FindIndex(lines, l => l.Contains("map published_addr"));
        Assert.True(any < Array.IndexOf(lines, elements[0]) && Array.IndexOf(lines, elements[0]) < addr);
        Assert.True(addr < Array.IndexOf(lines, elements[1]));
        // Everything else is the table without publications.
        Assert.Equal(EmptyTable, string.Join('\n', lines.Where(l => !elements.Contains(l))));
    }

    [Fact]
    public void Published_ports_are_dnatted_through_the_maps_for_local_destinations_only()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t", [Network], Publications));
        Assert.Contains("dnat ip to ip daddr . meta l4proto . th dport map @published_addr", lines);
        Assert.Contains("dnat ip to meta l4proto . th dport map @published_any", lines);
        // Address-specific publications are looked up first: they win over an any-address one on the same port.
        Assert.True(Array.IndexOf(lines, "dnat ip to ip daddr . meta l4proto . th dport map @published_addr")
                    < Array.IndexOf(lines, "dnat ip to meta l4proto . th dport map @published_any"));
        // From outside (prerouting) and from the host itself (output), to the host's own addresses.
        Assert.Equal(2, lines.Count(l => l == "fib daddr type local jump publish"));
        Assert.Contains("type nat hook prerouting priority dstnat; policy accept;", lines);
        Assert.Contains("type nat hook output priority -100; policy accept;", lines);
    }

    [Fact]
    public void Loopback_destinations_are_dropped_unless_they_come_from_lo()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t", [Network], []));
        int guard = Array.IndexOf(lines, "chain guard {");
        Assert.True(guard >= 0);
        // Before conntrack and NAT (priority -300), so route_localnet cannot be abused from another host.
        Assert.Equal("type filter hook prerouting priority -300; policy accept;", lines[guard + 1]);
        Assert.Equal("iifname != \"lo\" ip daddr 127.0.0.0/8 drop", lines[guard + 2]);
    }

    [Fact]
    public void Loopback_and_hairpin_clients_are_masqueraded_towards_the_bridge()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t", [Network], []));
        Assert.Contains("oifname \"bb0\" ip saddr 127.0.0.0/8 masquerade", lines);
        Assert.Contains("oifname \"bb0\" ip saddr 10.1.0.0/24 ct status dnat masquerade", lines);
        Assert.Contains("ip saddr 10.1.0.0/24 oifname != \"bb0\" masquerade", lines);
    }

    [Fact]
    public void Forwarding_to_the_bridge_accepts_replies_dnat_and_its_own_traffic_and_drops_the_rest()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t", [Network], []));
        int forward = Array.IndexOf(lines, "chain forward {");
        var chain = lines[(forward + 1)..Array.IndexOf(lines, "}", forward)];
        Assert.Equal(
        [
            "type filter hook forward priority filter; policy accept;",
            "oifname \"bb0\" ct state established,related accept",
            "oifname \"bb0\" iifname \"bb0\" accept",
            "oifname \"bb0\" ct status dnat accept",
            "oifname \"bb0\" ip daddr . meta l4proto . th dport @published_direct accept",
            "oifname \"bb0\" drop",
            "iifname \"bb0\" accept",
        ], chain);
    }

    [Fact]
    public void Without_direct_routing_nothing_routed_to_a_containers_address_passes_in_either_family()
    {
        var spec = new NetworkFirewallSpec("bb0", IPNetwork.Parse("10.1.0.0/24"), Ipv6Subnet: IPNetwork.Parse("fd00:6::/64"), DirectRouting: false);
        var pubs = new[] { new PortPublication("c1", null, PortProtocol.Tcp, 8080, IPAddress.Parse("10.1.0.2"), 80, "bb0"),
            new PortPublication("c1", IPAddress.IPv6Any, PortProtocol.Tcp, 8080, IPAddress.Parse("fd00:6::2"), 80, "bb0") };
        string script = RulesetRenderer.RenderTable("t", [spec], pubs) + Ipv6RulesetRenderer.RenderTable("t", [spec], pubs);
        Assert.DoesNotContain("@published_direct accept", script);
        // As dockerd 28 (raw PREROUTING `-d CONTAINER ! -i BRIDGE -j DROP`): past replies, hairpin and DNAT, the bridge drops.
        Assert.Equal(2, script.Split("oifname \"bb0\" ct status dnat accept\n\t\toifname \"bb0\" drop\n").Length - 1);
    }

    [Fact]
    public void An_internal_network_is_neither_masqueraded_nor_let_out()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t", [new NetworkFirewallSpec("bb1", IPNetwork.Parse("10.2.0.0/24"), Masquerade: false)], []));
        Assert.DoesNotContain("ip saddr 10.2.0.0/24 oifname != \"bb1\" masquerade", lines);
        Assert.DoesNotContain("iifname \"bb1\" accept", lines);
        Assert.Contains("iifname \"bb1\" drop", lines);
        // Published ports still work from loopback and hairpin.
        Assert.Contains("oifname \"bb1\" ip saddr 127.0.0.0/8 masquerade", lines);
    }

    [Fact]
    public void A_network_without_masquerade_lets_traffic_out_with_the_containers_addresses()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t",
            [new NetworkFirewallSpec("bb1", IPNetwork.Parse("10.2.0.0/24"), Masquerade: false, Outbound: true)], []));
        Assert.DoesNotContain("ip saddr 10.2.0.0/24 oifname != \"bb1\" masquerade", lines);
        Assert.Contains("iifname \"bb1\" accept", lines);
        Assert.DoesNotContain("iifname \"bb1\" drop", lines);
    }

    [Fact]
    public void Every_network_gets_its_own_rules()
    {
        var lines = Lines(RulesetRenderer.RenderTable("t",
            [Network, new NetworkFirewallSpec("bb1", IPNetwork.Parse("10.2.0.0/24"))], []));
        foreach (var (bridge, subnet) in new[] { ("bb0", "10.1.0.0/24"), ("bb1", "10.2.0.0/24") })
        {
            Assert.Contains($"oifname \"{bridge}\" ip saddr {subnet} ct status dnat masquerade", lines);
            Assert.Contains($"oifname \"{bridge}\" drop", lines);
            Assert.Contains($"iifname \"{bridge}\" accept", lines);
        }
        Assert.Single(lines, l => l == "chain forward {");
    }

    [Fact]
    public void The_table_replaces_itself_atomically()
    {
        var lines = RulesetRenderer.RenderTable("t", [Network], []).Split('\n');
        // Declared first so the delete cannot fail when the table does not exist yet; then rebuilt in the same script.
        Assert.Equal(["table ip t {}", "delete table ip t", "table ip t {"], lines[..3]);
    }

    [Fact]
    public void The_user_table_is_only_added_never_flushed_or_deleted()
    {
        string user = RulesetRenderer.RenderUserTable("t_user");
        Assert.Equal("add table ip t_user\nadd chain ip t_user forward { type filter hook forward priority -1; policy accept; }\n", user);
        Assert.DoesNotContain("flush", user);
        Assert.DoesNotContain("delete", user);
        Assert.DoesNotContain("t_user", RulesetRenderer.RenderTable("t", [Network], Publications));
    }

    [Fact]
    public void Removing_publications_names_only_the_keys()
    {
        Assert.Equal(
            "delete element ip t published_any { tcp . 8080, udp . 5353, sctp . 3868 }\n" +
            "delete element ip t published_addr { 127.0.0.1 . tcp . 9000, 192.0.2.2 . udp . 9001 }\n" +
            "delete element ip t published_direct { 10.1.0.2 . tcp . 80, 10.1.0.2 . udp . 53, 10.1.0.3 . sctp . 3868, 10.1.0.3 . udp . 91 }\n",
            RulesetRenderer.RenderRemovePublications("t", Publications));
        Assert.Equal("", RulesetRenderer.RenderRemovePublications("t", []));
    }

    // ------------------------------------------------------------------ the real nft parses it

    [Fact]
    public void Nft_accepts_the_table_without_publications()
    {
        AssertNftAccepts(RulesetRenderer.RenderTable(TestTable(), [Network], []));
    }

    [Fact]
    public void Nft_accepts_the_table_with_every_kind_of_publication_and_the_user_table()
    {
        string table = TestTable();
        AssertNftAccepts(RulesetRenderer.RenderTable(table, [Network, new NetworkFirewallSpec("bb1", IPNetwork.Parse("10.2.0.0/24"), false)], Publications)
                         + RulesetRenderer.RenderUserTable(table + "_user"));
    }

    [Fact]
    public void Nft_accepts_adding_and_removing_publications()
    {
        string table = TestTable();
        AssertNftAccepts(RulesetRenderer.RenderTable(table, [Network], [])
                         + RulesetRenderer.RenderAddPublications(table, Publications)
                         + RulesetRenderer.RenderRemovePublications(table, Publications));
    }

    [Fact]
    public void The_nft_check_fails_on_a_broken_script()
    {
        // The check itself can fail: a ruleset with a typo is refused.
        var result = NftCheck(RulesetRenderer.RenderTable(TestTable(), [Network], []).Replace("masquerade", "masquerad"));
        Assert.NotEqual(0, result.ExitCode);
    }

    private static string TestTable() => TestNames.Unique("berth_c", 24);

    private static void AssertNftAccepts(string script)
    {
        var result = NftCheck(script);
        Assert.True(result.ExitCode == 0, $"nft -c refused the script:\n{result.Stderr}\n{script}");
    }

    private static ShResult NftCheck(string script)
    {
        string file = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-nft-", 30) + ".nft");
        File.WriteAllText(file, script);
        try { return Sh.Run("nft", ["-c", "-f", file]); }
        finally { File.Delete(file); }
    }

    [Fact]
    public void The_user_table_counts_as_untouched_only_while_it_holds_no_admin_rule()
    {
        const string made = "table ip b_user {\n\tchain forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n\t}\n}\n";
        Assert.True(RulesetRenderer.IsUntouchedUserTable(made));
        Assert.False(RulesetRenderer.IsUntouchedUserTable(made.Replace("accept;\n", "accept;\n\t\tip saddr 192.168.33.0/24 drop\n")));
        Assert.False(RulesetRenderer.IsUntouchedUserTable(made.Replace("table ip b_user {\n", "table ip b_user {\n\tset blocked {\n\t\ttype ipv4_addr\n\t}\n")));
        Assert.False(RulesetRenderer.IsUntouchedUserTable(made + "\tchain other {\n\t}\n"));
    }
}
