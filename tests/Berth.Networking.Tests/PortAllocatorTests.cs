using System.Net;
using Berth.Networking.Ports;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The allocator against real sockets on loopback ports: conflicts by address family, address and protocol,
/// release, restore, and a range of many ports reserved at once.</summary>
public sealed class PortAllocatorTests
{
    private static readonly ContainerPort Http = new(80, PortProtocol.Tcp);

    private static Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> Binding(ContainerPort port, string hostIp, string hostPort) =>
        new() { [port] = [new PortBindingRequest(hostIp, hostPort)] };

    [Fact]
    public void A_port_held_by_one_owner_is_refused_to_another_until_released()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        try
        {
            allocator.Reserve("a", Binding(Http, "127.0.0.1", port.ToString()));
            var refused = Assert.Throws<PortAllocationException>(() => allocator.Reserve("b", Binding(Http, "", port.ToString())));
            Assert.Equal($"Bind for 127.0.0.1:{port} failed: port is already allocated", refused.Message);
            // Another protocol on the same number is another port.
            allocator.Reserve("b", Binding(new ContainerPort(80, PortProtocol.Udp), "127.0.0.1", port.ToString()));

            allocator.Release("a");
            var published = allocator.Reserve("c", Binding(Http, "", port.ToString()));
            Assert.Equal([IPAddress.Any, IPAddress.IPv6Any], published.Select(p => p.HostIp));
            Assert.Empty(allocator.Reservations("a"));
            Assert.Equal(2, allocator.Reservations("c").Count);
        }
        finally
        {
            foreach (string owner in new[] { "a", "b", "c" }) allocator.Release(owner);
        }
    }

    [Fact]
    public void A_range_of_many_ports_is_reserved_in_order_and_a_second_claim_on_any_of_them_fails_whole()
    {
        var allocator = new PortAllocator();
        try
        {
            int first = 0;
            IReadOnlyList<PublishedPort> published = [];
            for (int attempt = 0; ; attempt++)
            {
                first = PortRanges.FreeRange(2000);
                var bindings = Enumerable.Range(0, 2000).ToDictionary(i => new ContainerPort(1000 + i, PortProtocol.Tcp),
                    i => (IReadOnlyList<PortBindingRequest>)[new PortBindingRequest("127.0.0.1", (first + i).ToString())]);
                // Another process may take a port of the range between the look and the claim: look again.
                try { published = allocator.Reserve("many", bindings); break; }
                catch (PortAllocationException) when (attempt < 4) { }
            }
            Assert.Equal(Enumerable.Range(first, 2000), published.Select(p => p.HostPort));
            Assert.NotNull(allocator.SocketOf("many", published[1234]));

            Assert.Throws<PortAllocationException>(() => allocator.Reserve("late", Binding(Http, "127.0.0.1", (first + 1999).ToString())));
            Assert.Empty(allocator.Reservations("late"));
        }
        finally
        {
            allocator.Release("many");
            allocator.Release("late");
        }
        Assert.Empty(allocator.Reservations("many"));
    }

    [Fact]
    public void Restore_holds_both_wildcards_of_one_port_with_one_dual_stack_socket()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        try
        {
            allocator.Restore("r", [new PublishedPort(IPAddress.Any, port, Http), new PublishedPort(IPAddress.IPv6Any, port, Http)]);
            var v4 = allocator.SocketOf("r", new PublishedPort(IPAddress.Any, port, Http));
            Assert.NotNull(v4);
            Assert.Same(v4, allocator.SocketOf("r", new PublishedPort(IPAddress.IPv6Any, port, Http)));
            Assert.Throws<PortAllocationException>(() => allocator.Reserve("other", Binding(Http, "127.0.0.1", port.ToString())));
        }
        finally
        {
            allocator.Release("r");
            allocator.Release("other");
        }
    }
}
