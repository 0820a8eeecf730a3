using System.Net;
using Berth.Networking.Ipam;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>Several subnets of one family on one network: allocation from the first pool then the next, a request
/// from whichever pool holds it.</summary>
public sealed class MultiSubnetIpamTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-ipamN-", 30));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private static IPAddress Ip(string text) => IPAddress.Parse(text);

    private (IPNetwork, AddressAllocator) Pool(string subnet, string gateway, int rangeSet, params string[] aux) =>
        (IPNetwork.Parse(subnet), new AddressAllocator(_directory, IPNetwork.Parse(subnet), Ip(gateway), reserved: aux.Select(Ip), rangeSet: rangeSet));

    [Fact]
    public void Addresses_come_from_the_first_pool_then_the_next_and_requests_from_the_pool_holding_them()
    {
        // A /30 holds two hosts: the gateway and one more; the aux address takes the second pool's first free one.
        var pools = new[] { Pool("10.1.0.0/30", "10.1.0.1", 0), Pool("10.2.0.0/29", "10.2.0.1", 2, "10.2.0.2") };
        Assert.Equal((0, Ip("10.1.0.2")), AddressPools.Allocate(pools, "a", null));
        Assert.Equal((1, Ip("10.2.0.3")), AddressPools.Allocate(pools, "b", null));
        Assert.Equal((1, Ip("10.2.0.6")), AddressPools.Allocate(pools, "c", Ip("10.2.0.6")));
        Assert.Throws<AddressInUseException>(() => AddressPools.Allocate(pools, "d", Ip("10.2.0.6")));
        Assert.Throws<AddressInUseException>(() => AddressPools.Allocate(pools, "d", Ip("10.2.0.2")));
        Assert.Throws<AddressOutsidePoolsException>(() => AddressPools.Allocate(pools, "d", Ip("10.3.0.9")));
        // Each pool keeps its own cursor in the one directory; releasing in the first pool makes it first again.
        Assert.True(pools[0].Item2.Release(Ip("10.1.0.2")));
        Assert.Equal((0, Ip("10.1.0.2")), AddressPools.Allocate(pools, "e", null));
        Assert.Equal((1, Ip("10.2.0.4")), AddressPools.Allocate(pools, "f", null));
        AddressPools.Allocate(pools, "g", null);
        Assert.Throws<AddressPoolExhaustedException>(() => AddressPools.Allocate(pools, "h", null));
    }
}
