using System.Net;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The engine refuses a host port that a berth-cni pod on the same host maps: berth-cni holds no socket, so the
/// engine reads its tables (berth-cni, the other way round, finds the engine's ports by their bound sockets).</summary>
public sealed class CniPortClaimsTests
{
    [Fact]
    public void The_keys_of_both_maps_are_read_from_nfts_listing()
    {
        const string listing = """
            table ip berth_cni_pods {
            	map published_any {
            		type inet_proto . inet_service : ipv4_addr . inet_service
            		elements = { tcp . 8080 : 10.88.0.2 . 80, udp . 5353 : 10.88.0.2 . 53,
            			     tcp . 65535 : 10.88.0.3 . 1 }
            	}
            	map published_addr {
            		type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
            		elements = { 127.0.0.1 . tcp . 9090 : 10.88.0.2 . 90 }
            	}
            }
            """;
        Assert.Equal([
            new CniPortClaim("t", null, PortProtocol.Tcp, 8080), new CniPortClaim("t", null, PortProtocol.Udp, 5353),
            new CniPortClaim("t", null, PortProtocol.Tcp, 65535), new CniPortClaim("t", IPAddress.Loopback, PortProtocol.Tcp, 9090)],
            CniPortClaims.Parse("t", listing));
        Assert.Equal(["berth_cni_a"], CniPortClaims.CniTables(["berth", "berth_cni_a", "berth_cni_a_user", "filter"]));
    }

    [Fact]
    public void A_port_a_berth_cni_table_maps_is_refused_by_the_engines_allocator_and_another_is_not()
    {
        var nft = NftablesFactory.Create(null);
        string table = CniPortClaims.TablePrefix + TestNames.Unique("claims", 20).Replace('-', '_');
        int mapped = TestSupport.Ports.Free(), addressMapped = TestSupport.Ports.Free(), free = TestSupport.Ports.Free();
        var allocator = new PortAllocator(cniClaims: new CniPortClaims(nft).Read);
        try
        {
            nft.Run(RulesetRenderer.RenderTable(table, [new NetworkFirewallSpec("bbclaims0", IPNetwork.Parse("10.199.77.0/24"))], [
                new PortPublication("pod", null, PortProtocol.Tcp, mapped, IPAddress.Parse("10.199.77.2"), 80, "bbclaims0"),
                new PortPublication("pod", IPAddress.Loopback, PortProtocol.Tcp, addressMapped, IPAddress.Parse("10.199.77.2"), 90, "bbclaims0")]));

            var wildcard = Assert.Throws<PortAllocationException>(() => allocator.Reserve("c1", Binding("", mapped)));
            Assert.Contains($"Bind for 0.0.0.0:{mapped} failed: port is already allocated", wildcard.Message);
            Assert.Contains(table, wildcard.Message);
            // an address-bound mapping: refused on that address and under a wildcard, not on another address
            Assert.Throws<PortAllocationException>(() => allocator.Reserve("c2", Binding("127.0.0.1", addressMapped)));
            Assert.Throws<PortAllocationException>(() => allocator.Reserve("c3", Binding("", addressMapped)));
            Assert.Single(allocator.Reserve("c4", Binding("127.0.0.2", addressMapped)));
            Assert.NotEmpty(allocator.Reserve("c5", Binding("", free)));
        }
        finally
        {
            foreach (string owner in (string[])["c1", "c2", "c3", "c4", "c5"]) allocator.Release(owner);
            try { nft.Run($"delete table ip {table}\n"); } catch (NftablesException) { }
        }
    }

    private static Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> Binding(string hostIp, int port) =>
        new() { [new ContainerPort(80, PortProtocol.Tcp)] = [new PortBindingRequest(hostIp, port.ToString())] };
}
