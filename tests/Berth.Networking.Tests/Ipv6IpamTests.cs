using System.Net;
using Berth.Networking.Ipam;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>IPv6 IPAM: 128-bit addresses, a cursor per family in one directory (host-local's range sets), v6 pools.</summary>
public sealed class Ipv6IpamTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-ipam6-", 30));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private static IPAddress Ip(string text) => IPAddress.Parse(text);

    private AddressAllocator V6(string subnet = "fd00:1::/64", string gateway = "fd00:1::1", string? range = null) =>
        new(_directory, IPNetwork.Parse(subnet), Ip(gateway), range is null ? null : IPNetwork.Parse(range), rangeSet: 1);

    [Fact]
    public void Hands_out_v6_addresses_after_the_gateway_and_honours_requests_and_ranges()
    {
        var allocator = V6();
        Assert.Equal(Ip("fd00:1::2"), allocator.Allocate("a"));
        Assert.Equal(Ip("fd00:1::3"), allocator.Allocate("b"));
        Assert.Equal(Ip("fd00:1::ffff:1"), allocator.Allocate("c", Ip("fd00:1::ffff:1")));
        Assert.Throws<AddressInUseException>(() => allocator.Allocate("d", Ip("fd00:1::2")));
        Assert.Throws<AddressInUseException>(() => allocator.Allocate("d", Ip("fd00:1::1")));
        Assert.Throws<AddressInUseException>(() => allocator.Allocate("d", Ip("fd00:2::5")));
        // IPv6 has no broadcast: the subnet's last address is usable.
        Assert.Equal(Ip("fd00:1::ffff:ffff:ffff:ffff"), allocator.Allocate("e", Ip("fd00:1::ffff:ffff:ffff:ffff")));
        var ranged = new AddressAllocator(Path.Combine(_directory, "r"), IPNetwork.Parse("fd00:1::/64"), Ip("fd00:1::1"),
            IPNetwork.Parse("fd00:1::8000/120"), rangeSet: 1);
        Assert.Equal(Ip("fd00:1::8000"), ranged.Allocate("a"));
    }

    [Fact]
    public void Both_families_share_one_directory_with_a_cursor_each()
    {
        var v4 = new AddressAllocator(_directory, IPNetwork.Parse("10.1.0.0/24"), Ip("10.1.0.1"));
        var v6 = V6();
        Assert.Equal(Ip("10.1.0.2"), v4.Allocate("a"));
        Assert.Equal(Ip("fd00:1::2"), v6.Allocate("a"));
        Assert.Equal(Ip("10.1.0.3"), v4.Allocate("b"));
        Assert.Equal(Ip("fd00:1::3"), v6.Allocate("b"));
        Assert.Equal("10.1.0.3", File.ReadAllText(Path.Combine(_directory, "last_reserved_ip.0")));
        Assert.Equal("fd00:1::3", File.ReadAllText(Path.Combine(_directory, "last_reserved_ip.1")));
        Assert.Equal([Ip("fd00:1::2"), Ip("fd00:1::3")], v6.Allocations().Keys.OrderBy(a => a.ToString()));
        Assert.Equal(2, v4.Allocations().Count);
        // Released addresses are not reused at once: the cursor continues.
        Assert.True(v6.Release(Ip("fd00:1::2")));
        Assert.Equal(Ip("fd00:1::4"), V6().Allocate("c"));
    }

    [Fact]
    public void A_tiny_v6_subnet_is_exhausted_with_a_clear_message()
    {
        var allocator = V6("fd00:1::/126", "fd00:1::1");
        Assert.Equal(Ip("fd00:1::2"), allocator.Allocate("a"));
        Assert.Equal(Ip("fd00:1::3"), allocator.Allocate("b"));
        var e = Assert.Throws<AddressPoolExhaustedException>(() => allocator.Allocate("c"));
        Assert.Contains("IPv6", e.Message);
    }

    [Fact]
    public void V6_pools_expand_into_subnets_and_the_unique_local_pool_is_a_stable_fd_slash_48()
    {
        var pool = DefaultAddressPools.Parse("base=fd00:a::/48,size=64");
        var subnets = DefaultAddressPools.Expand([pool]).Take(3).ToList();
        Assert.Equal(["fd00:a::/64", "fd00:a:0:1::/64", "fd00:a:0:2::/64"], subnets.Select(s => s.ToString()));
        var (ula, size) = DefaultAddressPools.UniqueLocalPool("host-a");
        Assert.Equal(48, ula.PrefixLength);
        Assert.Equal(64, size);
        Assert.Equal(0xfd, ula.BaseAddress.GetAddressBytes()[0]);
        Assert.Equal(ula, DefaultAddressPools.UniqueLocalPool("host-a").Base);
        Assert.NotEqual(ula, DefaultAddressPools.UniqueLocalPool("host-b").Base);
        Assert.Throws<ArgumentException>(() => DefaultAddressPools.Parse("base=fd00::/48,size=127"));
        Assert.Throws<ArgumentException>(() => DefaultAddressPools.Parse("base=fd00::/48,size=40"));
    }
}
