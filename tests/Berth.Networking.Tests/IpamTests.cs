using System.Collections.Concurrent;
using System.Net;
using Berth.Networking.Ipam;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>AddressAllocator keeps its state in a directory: each test gets its own under /tmp, removed afterwards.</summary>
public sealed class IpamTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-ipam-", 30));

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    private AddressAllocator Allocator(string subnet = "10.1.0.0/24", string gateway = "10.1.0.1") =>
        new(_directory, IPNetwork.Parse(subnet), IPAddress.Parse(gateway));

    private static IPAddress Ip(string text) => IPAddress.Parse(text);

    [Fact]
    public void Hands_out_addresses_in_order_after_the_gateway()
    {
        var allocator = Allocator();
        Assert.Equal(Ip("10.1.0.2"), allocator.Allocate("a"));
        Assert.Equal(Ip("10.1.0.3"), allocator.Allocate("b"));
        Assert.Equal(Ip("10.1.0.4"), allocator.Allocate("c"));
    }

    [Fact]
    public void The_cursor_is_host_locals_file_so_either_continues_after_the_other()
    {
        var allocator = Allocator();
        Assert.Equal(Ip("10.1.0.2"), allocator.Allocate("a"));
        Assert.Equal("10.1.0.2", File.ReadAllText(Path.Combine(_directory, "last_reserved_ip.0")));
        File.WriteAllText(Path.Combine(_directory, "last_reserved_ip.0"), "10.1.0.40"); // as host-local leaves it
        Assert.Equal(Ip("10.1.0.41"), allocator.Allocate("b"));
    }

    [Fact]
    public void Skips_the_gateway_wherever_it_is_in_the_subnet()
    {
        var allocator = Allocator("10.1.0.0/29", "10.1.0.3");
        var got = Enumerable.Range(0, 5).Select(i => allocator.Allocate($"c{i}")).ToList();
        Assert.Equal(new[] { "10.1.0.1", "10.1.0.2", "10.1.0.4", "10.1.0.5", "10.1.0.6" }, got.Select(a => a.ToString()));
    }

    [Fact]
    public void Never_hands_out_the_network_gateway_or_broadcast_address()
    {
        // /28: .0 network, .1 gateway, .15 broadcast, so 13 usable addresses.
        var allocator = Allocator("10.1.0.0/28", "10.1.0.1");
        var got = Enumerable.Range(0, 13).Select(i => allocator.Allocate($"c{i}")).ToList();
        Assert.Equal(13, got.Distinct().Count());
        Assert.DoesNotContain(Ip("10.1.0.0"), got);
        Assert.DoesNotContain(Ip("10.1.0.1"), got);
        Assert.DoesNotContain(Ip("10.1.0.15"), got);
        Assert.All(got, a => Assert.True(IPNetwork.Parse("10.1.0.0/28").Contains(a), $"{a} is outside the subnet"));
    }

    [Fact]
    public void Gives_an_exhausted_pool_a_clear_error()
    {
        // /30: .0 network, .1 gateway, .2 the only usable address, .3 broadcast.
        var allocator = Allocator("10.1.0.0/30", "10.1.0.1");
        Assert.Equal(Ip("10.1.0.2"), allocator.Allocate("a"));
        var error = Assert.Throws<AddressPoolExhaustedException>(() => allocator.Allocate("b"));
        Assert.Equal("no available IPv4 addresses on network 10.1.0.0/30", error.Message);
        Assert.Single(allocator.Allocations());
    }

    [Theory]
    [InlineData("10.1.0.4/31", "10.1.0.4")]
    [InlineData("10.1.0.4/32", "10.1.0.4")]
    public void A_subnet_without_host_addresses_is_exhausted_from_the_start(string subnet, string gateway)
    {
        var allocator = Allocator(subnet, gateway);
        Assert.Throws<AddressPoolExhaustedException>(() => allocator.Allocate("a"));
        Assert.Throws<AddressInUseException>(() => allocator.Allocate("a", Ip("10.1.0.5")));
        Assert.Empty(allocator.Allocations());
    }

    [Fact]
    public void Hands_out_from_the_ip_range_only_and_never_an_aux_address()
    {
        var allocator = new AddressAllocator(_directory, IPNetwork.Parse("10.1.0.0/24"), Ip("10.1.0.1"), IPNetwork.Parse("10.1.0.252/30"),
            [Ip("10.1.0.253")]);
        Assert.Equal(Ip("10.1.0.252"), allocator.Allocate("a"));
        Assert.Equal(Ip("10.1.0.254"), allocator.Allocate("b"));
        // .255 is the subnet's broadcast: the range is used up.
        Assert.Throws<AddressPoolExhaustedException>(() => allocator.Allocate("c"));
        // Outside the range on request, as dockerd; an aux address never.
        Assert.Equal(Ip("10.1.0.7"), allocator.Allocate("d", Ip("10.1.0.7")));
        Assert.Throws<AddressInUseException>(() => allocator.Allocate("e", Ip("10.1.0.253")));
    }

    [Fact]
    public void Honours_a_requested_address_out_of_order()
    {
        var allocator = Allocator();
        Assert.Equal(Ip("10.1.0.200"), allocator.Allocate("a", Ip("10.1.0.200")));
        Assert.Equal("a", allocator.Allocations()[Ip("10.1.0.200")]);
        Assert.Equal(Ip("10.1.0.2"), allocator.Allocate("b"));
    }

    [Fact]
    public void Sequential_allocation_steps_over_a_requested_address()
    {
        var allocator = Allocator();
        allocator.Allocate("a", Ip("10.1.0.2"));
        Assert.Equal(Ip("10.1.0.3"), allocator.Allocate("b"));
    }

    [Fact]
    public void Refuses_a_requested_address_that_is_taken()
    {
        var allocator = Allocator();
        var first = allocator.Allocate("a");
        var error = Assert.Throws<AddressInUseException>(() => allocator.Allocate("b", first));
        Assert.Equal($"Address already in use: {first}", error.Message);
        Assert.Equal("a", allocator.Allocations()[first]);
    }

    [Theory]
    [InlineData("10.2.0.5")]   // another subnet
    [InlineData("10.1.0.1")]   // the gateway
    [InlineData("10.1.0.0")]   // the network address
    [InlineData("10.1.0.255")] // the broadcast address
    public void Refuses_a_requested_address_that_is_not_usable_in_the_subnet(string requested)
    {
        var allocator = Allocator();
        var error = Assert.Throws<AddressInUseException>(() => allocator.Allocate("a", Ip(requested)));
        Assert.Contains(requested, error.Message);
        Assert.Contains("10.1.0.0/24", error.Message);
        Assert.Empty(allocator.Allocations());
    }

    [Fact]
    public void A_released_address_can_be_taken_again()
    {
        var allocator = Allocator();
        var a = allocator.Allocate("a");
        Assert.True(allocator.Release(a));
        Assert.False(allocator.Release(a));
        Assert.Empty(allocator.Allocations());
        Assert.Equal(a, allocator.Allocate("b", a));
    }

    [Fact]
    public void Does_not_reuse_a_released_address_at_once_but_after_wrapping_around()
    {
        var allocator = Allocator("10.1.0.0/29", "10.1.0.1"); // usable .2-.6
        var a = allocator.Allocate("a");
        allocator.Release(a);
        Assert.Equal(Ip("10.1.0.3"), allocator.Allocate("b"));
        foreach (string owner in new[] { "c", "d", "e" }) allocator.Allocate(owner);
        Assert.Equal(a, allocator.Allocate("f")); // .4-.6 taken: wraps to the released .2
        Assert.Throws<AddressPoolExhaustedException>(() => allocator.Allocate("g"));
    }

    [Fact]
    public void Releases_every_address_of_one_owner_only()
    {
        var allocator = Allocator();
        var a1 = allocator.Allocate("a");
        var b = allocator.Allocate("b");
        var a2 = allocator.Allocate("a", Ip("10.1.0.100"));
        Assert.Equal(2, allocator.ReleaseOwner("a"));
        Assert.Equal(new Dictionary<IPAddress, string> { [b] = "b" }, allocator.Allocations());
        Assert.Equal(a2, allocator.Allocate("c", a2));
        Assert.Equal(a1, allocator.Allocate("d", a1));
    }

    [Fact]
    public void State_survives_a_new_allocator_on_the_same_directory()
    {
        var first = Allocator();
        var a = first.Allocate("a");
        var b = first.Allocate("b");
        var again = Allocator();
        Assert.Equal(new Dictionary<IPAddress, string> { [a] = "a", [b] = "b" }, again.Allocations());
        Assert.Equal(Ip("10.1.0.4"), again.Allocate("c")); // continues after the last one handed out
        Assert.Throws<AddressInUseException>(() => again.Allocate("d", a));
    }

    [Fact]
    public void Parallel_allocations_are_all_distinct()
    {
        // Eight threads, each with an allocator of its own on the one directory (as two daemons' worth of callers
        // would be: only the files are shared), released together so they race for the same first addresses.
        const int threads = 8, each = 25;
        var got = new ConcurrentBag<(string Owner, IPAddress Address)>();
        var errors = new ConcurrentBag<Exception>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var allocator = Allocator();
            start.SignalAndWait();
            for (int i = 0; i < each; i++)
            {
                try { got.Add(($"c{t}-{i}", allocator.Allocate($"c{t}-{i}"))); }
                catch (Exception e) { errors.Add(e); }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        Assert.Empty(errors);
        Assert.Equal(threads * each, got.Select(g => g.Address).Distinct().Count());
        var recorded = Allocator().Allocations();
        Assert.Equal(threads * each, recorded.Count);
        Assert.All(got, g => Assert.Equal(g.Owner, recorded[g.Address]));
        Assert.DoesNotContain(Ip("10.1.0.1"), recorded.Keys);
    }

    [Fact]
    public void Parallel_allocations_of_a_nearly_full_pool_give_each_address_once()
    {
        var allocator = Allocator("10.1.0.0/27", "10.1.0.1"); // 29 usable addresses
        var got = new ConcurrentBag<IPAddress>();
        int exhausted = 0;
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            try { got.Add(allocator.Allocate($"c{i}")); }
            catch (AddressPoolExhaustedException) { Interlocked.Increment(ref exhausted); }
        });
        Assert.Equal(29, got.Distinct().Count());
        Assert.Equal(29, got.Count);
        Assert.Equal(11, exhausted);
    }

    // ------------------------------------------------------------------ default pools and subnet choice

    [Fact]
    public void Default_pools_are_dockers_in_dockers_order()
    {
        var pools = DefaultAddressPools.Candidates.Select(p => p.ToString()).ToList();
        Assert.Equal(31, pools.Count);
        Assert.Equal("172.17.0.0/16", pools[0]);
        Assert.Equal("172.18.0.0/16", pools[1]);
        Assert.Equal("172.31.0.0/16", pools[14]);
        Assert.Equal("192.168.0.0/20", pools[15]);
        Assert.Equal("192.168.16.0/20", pools[16]);
        Assert.Equal("192.168.240.0/20", pools[30]);
        Assert.Equal(pools.Count, pools.Distinct().Count());
    }

    [Fact]
    public void Chooses_the_first_pool_when_nothing_is_in_use()
    {
        Assert.Equal(IPNetwork.Parse("172.17.0.0/16"), SubnetChooser.ChooseFree(DefaultAddressPools.Candidates, []));
    }

    [Theory]
    [InlineData("172.17.0.0/16", "172.18.0.0/16")]   // the same subnet
    [InlineData("172.17.5.0/24", "172.18.0.0/16")]   // a route inside the candidate
    [InlineData("172.17.5.9/32", "172.18.0.0/16")]   // a host route inside the candidate
    [InlineData("172.16.0.0/12", "192.168.0.0/20")]  // a route covering every 172 pool
    [InlineData("192.168.0.0/16", "172.17.0.0/16")]  // a 192.168 route does not touch the 172 pools
    public void Skips_subnets_that_collide_with_routes(string route, string expected)
    {
        Assert.Equal(IPNetwork.Parse(expected), SubnetChooser.ChooseFree(DefaultAddressPools.Candidates, [IPNetwork.Parse(route)]));
    }

    [Fact]
    public void Skips_every_subnet_in_use_and_takes_the_next_free_one()
    {
        var inUse = Enumerable.Range(17, 15).Select(b => IPNetwork.Parse($"172.{b}.0.0/16"))
            .Append(IPNetwork.Parse("192.168.0.0/24")).Append(IPNetwork.Parse("192.168.20.0/22")).ToList();
        Assert.Equal(IPNetwork.Parse("192.168.32.0/20"), SubnetChooser.ChooseFree(DefaultAddressPools.Candidates, inUse));
    }

    [Fact]
    public void Returns_null_when_every_candidate_collides()
    {
        var inUse = new[] { IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.168.0.0/16") };
        Assert.Null(SubnetChooser.ChooseFree(DefaultAddressPools.Candidates, inUse));
    }

    [Fact]
    public void A_daemon_address_pool_is_cut_into_subnets_of_its_size_in_order()
    {
        var pool = DefaultAddressPools.Parse("base=10.200.0.0/16,size=24");
        var subnets = DefaultAddressPools.Expand([pool]).ToList();
        Assert.Equal(256, subnets.Count);
        Assert.Equal("10.200.0.0/24", subnets[0].ToString());
        Assert.Equal("10.200.255.0/24", subnets[^1].ToString());
        var chosen = SubnetChooser.ChooseFree(DefaultAddressPools.Expand([pool]), [IPNetwork.Parse("10.200.0.0/23")]);
        Assert.Equal("10.200.2.0/24", chosen.ToString());
    }

    [Theory]
    [InlineData("base=10.200.0.0/16")]
    [InlineData("base=10.200.0.0/16,size=8")]
    [InlineData("base=10.200.0.0/16,size=31")]
    [InlineData("base=banana,size=24")]
    [InlineData("base=10.200.0.0/16,size=24,colour=red")]
    public void Bad_address_pools_are_refused(string spec) =>
        Assert.Throws<ArgumentException>(() => DefaultAddressPools.Parse(spec));

    private (IPNetwork, AddressAllocator) Pool(string subnet, string gateway, int rangeSet, params string[] aux) =>
        (IPNetwork.Parse(subnet), new AddressAllocator(_directory, IPNetwork.Parse(subnet), Ip(gateway), reserved: aux.Select(Ip), rangeSet: rangeSet));

    /// <summary>Several subnets of one family on one network.</summary>
    [Fact]
    public void Several_pools_addresses_come_from_the_first_pool_then_the_next_and_requests_from_the_pool_holding_them()
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
