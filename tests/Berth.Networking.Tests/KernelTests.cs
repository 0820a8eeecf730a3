using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Berth.Linux;
using Berth.Networking.Bridge;
using Berth.Networking.Firewall;
using Berth.Networking.Namespaces;
using Berth.Networking.Netlink;
using Berth.Networking.Ports;
using Berth.TestSupport;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>Against the real kernel, as root. Every link, namespace and nft table is uniquely named and registered
/// with a <see cref="Scratch"/> before it is created, so it goes even when the test fails halfway. Traffic goes
/// only to addresses these tests put inside namespaces they created, on a 10.x.y.0/24 that no route uses.</summary>
public sealed class KernelTests
{
    // ------------------------------------------------------------------ network namespaces

    [Fact]
    public void A_created_namespace_is_listed_with_lo_up_and_removal_takes_it_away()
    {
        using var scratch = new Scratch();
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);

        Assert.Contains(ns.Name, NamespaceList());
        Assert.Contains(ns.Path, Mounts());
        var lo = Check(Sh.Run("ip", ["-n", ns.Name, "link", "show", "lo"])).Stdout;
        Assert.Matches(@"<LOOPBACK,UP,LOWER_UP>", lo);
        Assert.Contains("inet 127.0.0.1/8", Check(Sh.Run("ip", ["-n", ns.Name, "-4", "addr", "show", "lo"])).Stdout);
        using (var inside = RouteNetlinkClient.OpenInNamespace(ns.Path))
        {
            var links = inside.ListLinks();
            var only = Assert.Single(links); // a namespace of its own: none of the host's links
            Assert.Equal(new { Index = 1, Name = "lo", Up = true }, new { only.Index, only.Name, only.Up });
        }

        NetworkNamespace.Remove(ns.Path);
        Assert.DoesNotContain(ns.Name, NamespaceList());
        Assert.DoesNotContain(ns.Path, Mounts());
        Assert.False(File.Exists(ns.Path));
        NetworkNamespace.Remove(ns.Path); // removing twice is harmless
    }

    [Fact]
    public void Creating_a_namespace_where_one_exists_fails_and_leaves_the_existing_one_alone()
    {
        using var scratch = new Scratch();
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        string inode = Check(Sh.Run("stat", ["-L", "-c", "%i", ns.Path])).Stdout.Trim();

        Assert.ThrowsAny<Exception>(() => NetworkNamespace.Create(ns.Path));

        Assert.Equal(inode, Check(Sh.Run("stat", ["-L", "-c", "%i", ns.Path])).Stdout.Trim());
        Assert.Single(Mounts(), m => m == ns.Path);
        Assert.Matches(@"<LOOPBACK,UP,LOWER_UP>", Check(Sh.Run("ip", ["-n", ns.Name, "link", "show", "lo"])).Stdout);
    }

    [Fact]
    public void Code_run_in_a_namespace_is_inside_it_and_the_caller_stays_outside()
    {
        using var scratch = new Scratch();
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        string inode = Check(Sh.Run("stat", ["-L", "-c", "%i", ns.Path])).Stdout.Trim();
        string before = new FileInfo("/proc/thread-self/ns/net").LinkTarget!;

        string inside = NetworkNamespace.Run(ns.Path, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget!);

        Assert.Equal($"net:[{inode}]", inside);
        Assert.Equal(before, new FileInfo("/proc/thread-self/ns/net").LinkTarget);
        Assert.NotEqual(before, inside);
    }

    // ------------------------------------------------------------------ rtnetlink

    [Fact]
    public void Netlink_builds_a_bridge_and_a_veth_into_a_namespace_that_the_host_can_ping()
    {
        using var scratch = new Scratch();
        var net = FreeSubnet();
        string bridge = scratch.Link("bnb"), veth = scratch.Link("bnv"), peer = TestNames.Unique("bnp");
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        using var host = RouteNetlinkClient.Open();

        host.CreateBridge(bridge);
        int bridgeIndex = host.GetLinkIndex(bridge) ?? throw new Xunit.Sdk.XunitException("bridge not created");
        host.SetLinkUp(bridgeIndex);
        host.AddAddress(bridgeIndex, net.Gateway, 24);
        using (var fd = NetworkNamespace.OpenFd(ns.Path))
            host.CreateVethPair(veth, peer, 1500, fd);
        Assert.Null(host.GetLinkIndex(peer)); // created in the namespace, not here
        int vethIndex = host.GetLinkIndex(veth) ?? throw new Xunit.Sdk.XunitException("veth not created");
        host.SetLinkMaster(vethIndex, bridgeIndex);
        host.SetLinkUp(vethIndex);

        var mac = BridgeDriver.MacFor(net.Address);
        using (var inside = RouteNetlinkClient.OpenInNamespace(ns.Path))
        {
            int index = inside.GetLinkIndex(peer) ?? throw new Xunit.Sdk.XunitException("peer missing in the namespace");
            inside.SetLinkMac(index, mac);
            inside.AddAddress(index, net.Address, 24);
            inside.SetLinkUp(index);
            inside.AddRoute(new IPNetwork(IPAddress.Any, 0), net.Gateway, index);

            var link = inside.ListLinks().Single(l => l.Name == peer);
            Assert.Equal(("veth", true, mac), (link.Kind, link.Up, link.Mac));
            Assert.Contains(new AddressInfo(index, net.Address, 24), inside.ListAddresses(index));
            Assert.Contains(inside.ListRoutes(AddressFamily.InterNetwork), r => r.Destination.PrefixLength == 0 && net.Gateway.Equals(r.Gateway) && r.OutIndex == index);
        }

        // What the client did, as iproute2 sees it.
        Assert.Contains($"inet {net.Address}/24", Check(Sh.Run("ip", ["-n", ns.Name, "-4", "addr", "show", "dev", peer])).Stdout);
        Assert.Contains($"link/ether {Format(mac)}", Check(Sh.Run("ip", ["-n", ns.Name, "link", "show", "dev", peer])).Stdout);
        Assert.Contains($"default via {net.Gateway} dev {peer}", Check(Sh.Run("ip", ["-n", ns.Name, "-4", "route"])).Stdout);
        Assert.Contains($"{veth}@", Check(Sh.Run("ip", ["-br", "link", "show", "master", bridge])).Stdout);
        Assert.Contains($"inet {net.Gateway}/24", Check(Sh.Run("ip", ["-4", "addr", "show", "dev", bridge])).Stdout);
        var links = host.ListLinks();
        Assert.Equal(("bridge", true), links.Where(l => l.Name == bridge).Select(l => (l.Kind, l.Up)).Single());
        Assert.Equal(bridgeIndex, links.Single(l => l.Name == veth).MasterIndex);
        Assert.Contains(host.ListRoutes(AddressFamily.InterNetwork), r => r.Destination.Equals(net.Subnet) && r.OutIndex == bridgeIndex);

        Assert.True(Ping(net.Address), $"ping {net.Address} through {bridge} failed");

        // Deleting the host end takes the pair; then the bridge.
        Assert.True(host.DeleteLink(veth));
        Assert.Null(host.GetLinkIndex(veth));
        Assert.NotEqual(0, Sh.Run("ip", ["-n", ns.Name, "link", "show", "dev", peer]).ExitCode);
        Assert.False(Ping(net.Address, attempts: 1));
        Assert.True(host.DeleteLink(bridge));
        Assert.False(host.DeleteLink(bridge));
        Assert.Null(host.GetLinkIndex(bridge));
        Assert.DoesNotContain(net.Prefix, Check(Sh.Run("ip", ["-4", "route"])).Stdout);
    }

    [Fact]
    public void Netlink_errors_carry_the_errno_and_name_the_operation()
    {
        using var scratch = new Scratch();
        using var host = RouteNetlinkClient.Open();
        int missing = int.MaxValue - 7;

        var error = Assert.Throws<LinuxException>(() => host.DeleteLink(missing));
        Assert.Equal(Errno.ENODEV, error.Errno);
        Assert.Equal($"delete link {missing}", error.Operation);
        Assert.Equal($"delete link {missing}: No such device (errno 19)", error.Message);

        error = Assert.Throws<LinuxException>(() => host.AddAddress(missing, IPAddress.Parse("10.250.250.1"), 24));
        Assert.Equal(Errno.ENODEV, error.Errno);
        Assert.StartsWith($"add address 10.250.250.1/24 to link {missing}: ", error.Message);

        error = Assert.Throws<LinuxException>(() => host.SetLinkUp(missing));
        Assert.StartsWith($"set link {missing} up: ", error.Message);

        string bridge = scratch.Link("bnb");
        host.CreateBridge(bridge);
        error = Assert.Throws<LinuxException>(() => host.CreateBridge(bridge));
        Assert.Equal(Errno.EEXIST, error.Errno);
        Assert.StartsWith($"create bridge {bridge}: File exists", error.Message);

        // By name, a missing link is an answer rather than an error.
        Assert.False(host.DeleteLink(TestNames.Unique("bnx")));
        Assert.Null(host.GetLinkIndex(TestNames.Unique("bnx")));
    }

    // ------------------------------------------------------------------ the bridge driver

    [Fact]
    public void The_bridge_driver_attaches_and_detaches_a_namespace_leaving_nothing_behind()
    {
        using var scratch = new Scratch();
        var net = FreeSubnet();
        string bridge = scratch.Link("bnb"), veth = scratch.Link("bnv");
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        var driver = new BridgeDriver();

        driver.EnsureBridge(bridge, net.Gateway, 24);
        driver.EnsureBridge(bridge, net.Gateway, 24); // again: no second address, no error
        Assert.Single(Check(Sh.Run("ip", ["-4", "-o", "addr", "show", "dev", bridge])).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("1", Sysctl.Sysctl.Get($"net.ipv4.conf.{bridge}.route_localnet"));
        Assert.Equal("1", Sysctl.Sysctl.Get("net.ipv4.ip_forward"));

        driver.Attach(new EndpointRequest(ns.Path, bridge, veth, "eth0", net.Address, 24, net.Gateway, BridgeDriver.MacFor(net.Address)));

        string eth0 = Check(Sh.Run("ip", ["-n", ns.Name, "addr", "show", "dev", "eth0"])).Stdout;
        Assert.Contains($"inet {net.Address}/24", eth0);
        Assert.Contains($"link/ether {Format(BridgeDriver.MacFor(net.Address))}", eth0);
        Assert.Contains("state UP", eth0);
        Assert.Contains($"default via {net.Gateway} dev eth0", Check(Sh.Run("ip", ["-n", ns.Name, "-4", "route"])).Stdout);
        Assert.Contains($"{veth}@", Check(Sh.Run("ip", ["-br", "link", "show", "master", bridge])).Stdout);
        Assert.Equal("1", File.ReadAllText($"/sys/class/net/{veth}/brport/hairpin_mode").Trim());
        Assert.True(Ping(net.Address), $"ping {net.Address} through {bridge} failed");

        driver.Detach(veth);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", "dev", veth]).ExitCode);
        Assert.Equal("", Check(Sh.Run("ip", ["-br", "link", "show", "master", bridge])).Stdout.Trim());
        Assert.NotEqual(0, Sh.Run("ip", ["-n", ns.Name, "link", "show", "dev", "eth0"]).ExitCode);
        Assert.DoesNotContain(net.Prefix, Check(Sh.Run("ip", ["-n", ns.Name, "-4", "addr"])).Stdout);
        driver.Detach(veth); // detaching twice is harmless

        driver.RemoveBridge(bridge);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", "dev", bridge]).ExitCode);
        Assert.DoesNotContain(net.Prefix, Check(Sh.Run("ip", ["-4", "addr"])).Stdout);
        Assert.DoesNotContain(net.Prefix, Check(Sh.Run("ip", ["-4", "route"])).Stdout);
    }

    [Fact]
    public void A_bridge_keeps_its_mac_when_a_port_with_a_lower_one_joins()
    {
        using var scratch = new Scratch();
        var net = FreeSubnet();
        string bridge = scratch.Link("bnb"), veth = scratch.Link("bnv"), peer = TestNames.Unique("bnp");
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        var driver = new BridgeDriver();
        driver.EnsureBridge(bridge, net.Gateway, 24);
        string Mac(string link) => File.ReadAllText($"/sys/class/net/{link}/address").Trim();
        string before = Mac(bridge);
        Assert.Equal("3", File.ReadAllText($"/sys/class/net/{bridge}/addr_assign_type").Trim()); // NET_ADDR_SET

        using var host = RouteNetlinkClient.Open();
        using (var fd = NetworkNamespace.OpenFd(ns.Path))
            host.CreateVethPair(veth, peer, 1500, fd);
        int index = host.GetLinkIndex(veth) ?? throw new Xunit.Sdk.XunitException("veth not created");
        host.SetLinkMac(index, PhysicalAddress.Parse("02-00-00-00-00-01")); // below any random local MAC
        host.SetLinkMaster(index, host.GetLinkIndex(bridge)!.Value);
        host.SetLinkUp(index);
        // A bridge left to choose would now take 02:00:00:00:00:01, and the containers' caches would point at the old one.
        Assert.Equal(before, Mac(bridge));

        // A bridge that exists already (an older Berth made it) is pinned to the address it has.
        string other = scratch.Link("bnb");
        host.CreateBridge(other);
        string its = Mac(other);
        driver.EnsureBridge(other, null, 0);
        Assert.Equal("3", File.ReadAllText($"/sys/class/net/{other}/addr_assign_type").Trim());
        Assert.Equal(its, Mac(other));
    }

    [Fact]
    public void A_failed_attach_removes_the_veth_it_created()
    {
        using var scratch = new Scratch();
        var net = FreeSubnet();
        string bridge = scratch.Link("bnb"), veth = scratch.Link("bnv");
        var ns = scratch.NamespaceName();
        NetworkNamespace.Create(ns.Path);
        var driver = new BridgeDriver();
        driver.EnsureBridge(bridge, net.Gateway, 24);

        // A gateway outside the container's subnet: the default route cannot be added.
        var error = Assert.Throws<LinuxException>(() => driver.Attach(new EndpointRequest(ns.Path, bridge, veth, "eth0",
            net.Address, 24, IPAddress.Parse("10.251.0.1"), BridgeDriver.MacFor(net.Address))));
        Assert.StartsWith("add route 0.0.0.0/0 via 10.251.0.1: ", error.Message);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", "dev", veth]).ExitCode);
        Assert.NotEqual(0, Sh.Run("ip", ["-n", ns.Name, "link", "show", "dev", "eth0"]).ExitCode);

        var missing = Assert.Throws<InvalidOperationException>(() => driver.Attach(new EndpointRequest(ns.Path, "bnmissing", veth, "eth0",
            net.Address, 24, net.Gateway, BridgeDriver.MacFor(net.Address))));
        Assert.Equal("bridge bnmissing does not exist", missing.Message);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", "dev", veth]).ExitCode);
    }

    // ------------------------------------------------------------------ port reservation with real sockets

    private static Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> Bindings(params (int ContainerPort, string HostIp, string HostPort)[] items) =>
        items.ToDictionary(i => new ContainerPort(i.ContainerPort, PortProtocol.Tcp), i => (IReadOnlyList<PortBindingRequest>)[new PortBindingRequest(i.HostIp, i.HostPort)]);

    [Fact]
    public void A_reserved_port_cannot_be_taken_by_a_host_socket()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        try
        {
            var got = allocator.Reserve("c1", Bindings((80, "127.0.0.1", port.ToString())));
            Assert.Equal([new PublishedPort(IPAddress.Loopback, port, new ContainerPort(80, PortProtocol.Tcp))], got);
            Assert.Equal(port, ((IPEndPoint)allocator.SocketOf("c1", got[0])!.LocalEndPoint!).Port);

            var error = Assert.Throws<SocketException>(() => Listen(IPAddress.Loopback, port));
            Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
            // Most servers set SO_REUSEADDR before they bind: that must not get them the port either.
            Assert.NotEqual(0, ListenWithReuseAddr("127.0.0.1", port));

            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            int udpPort = ((IPEndPoint)probe.LocalEndPoint!).Port;
            probe.Close();
            allocator.Reserve("c2", new Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> { [new ContainerPort(53, PortProtocol.Udp)] = [new("127.0.0.1", udpPort.ToString())] });
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => udp.Bind(new IPEndPoint(IPAddress.Loopback, udpPort))).SocketErrorCode);
        }
        finally { allocator.Release("c1"); allocator.Release("c2"); }
    }

    [Fact]
    public void An_any_address_reservation_holds_the_port_on_every_address()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        try
        {
            var got = allocator.Reserve("c1", Bindings((80, "", port.ToString())));
            Assert.Contains(new PublishedPort(IPAddress.Any, port, new ContainerPort(80, PortProtocol.Tcp)), got);
            Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => Listen(IPAddress.Loopback, port)).SocketErrorCode);
            // The engine refuses a second publication of the port as dockerd words it.
            var error = Assert.Throws<PortAllocationException>(() => allocator.Reserve("c2", Bindings((81, "127.0.0.1", port.ToString()))));
            Assert.Equal($"Bind for 0.0.0.0:{port} failed: port is already allocated", error.Message);
            Assert.Empty(allocator.Reservations("c2"));
        }
        finally { allocator.Release("c1"); allocator.Release("c2"); }
    }

    [Fact]
    public void A_wildcard_reservation_holds_both_families_with_one_dual_stack_socket()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        try
        {
            var got = allocator.Reserve("c1", Bindings((80, "", port.ToString())));
            Assert.Equal(2, got.Count);
            var v4 = allocator.SocketOf("c1", got.Single(p => p.HostIp.Equals(IPAddress.Any)));
            var v6 = allocator.SocketOf("c1", got.Single(p => p.HostIp.Equals(IPAddress.IPv6Any)));
            Assert.Same(v4, v6);
            Assert.True(v6!.DualMode);
            Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => Listen(IPAddress.Loopback, port)).SocketErrorCode);
            Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => Listen(IPAddress.IPv6Loopback, port)).SocketErrorCode);
        }
        finally { allocator.Release("c1"); }
        Listen(IPAddress.Loopback, port).Dispose();
    }

    [Fact]
    public void A_port_a_host_socket_holds_is_refused_with_a_clear_message()
    {
        var allocator = new PortAllocator();
        using var holder = Listen(IPAddress.Loopback, 0);
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var error = Assert.Throws<PortAllocationException>(() => allocator.Reserve("c1", Bindings((80, "127.0.0.1", port.ToString()))));
        Assert.Equal($"failed to bind host port for 127.0.0.1:{port}/tcp: address already in use", error.Message);
        error = Assert.Throws<PortAllocationException>(() => allocator.Reserve("c1", Bindings((80, "", port.ToString()))));
        Assert.Equal($"failed to bind host port for 0.0.0.0:{port}/tcp: address already in use", error.Message);
        Assert.Empty(allocator.Reservations("c1"));

        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int udpPort = ((IPEndPoint)udp.LocalEndPoint!).Port;
        error = Assert.Throws<PortAllocationException>(() => allocator.Reserve("c1",
            new Dictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> { [new ContainerPort(53, PortProtocol.Udp)] = [new("127.0.0.1", udpPort.ToString())] }));
        Assert.Equal($"failed to bind host port for 127.0.0.1:{udpPort}/udp: address already in use", error.Message);
    }

    [Fact]
    public void Release_frees_the_port_and_a_failed_reservation_keeps_nothing()
    {
        var allocator = new PortAllocator();
        int port = Berth.TestSupport.Ports.Free();
        using var holder = Listen(IPAddress.Loopback, 0);
        int held = ((IPEndPoint)holder.LocalEndPoint!).Port;
        try
        {
            allocator.Reserve("c1", Bindings((80, "127.0.0.1", port.ToString())));
            allocator.Release("c1");
            Assert.Empty(allocator.Reservations("c1"));
            Listen(IPAddress.Loopback, port).Dispose();

            // The first binding succeeds, the second cannot: the first socket is closed again.
            Assert.Throws<PortAllocationException>(() => allocator.Reserve("c2", Bindings((80, "127.0.0.1", port.ToString()), (81, "127.0.0.1", held.ToString()))));
            Assert.Empty(allocator.Reservations("c2"));
            Listen(IPAddress.Loopback, port).Dispose();
            allocator.Reserve("c3", Bindings((80, "127.0.0.1", port.ToString())));
        }
        finally { allocator.Release("c1"); allocator.Release("c2"); allocator.Release("c3"); }
    }

    [Fact]
    public void An_unspecified_host_port_comes_from_the_ephemeral_range()
    {
        var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        int low = int.Parse(parts[0]), high = int.Parse(parts[1]);
        var allocator = new PortAllocator();
        try
        {
            var ports = Enumerable.Range(0, 5).Select(i => allocator.Reserve($"c{i}", Bindings((80, "127.0.0.1", ""))).Single()).ToList();
            Assert.All(ports, p => Assert.InRange(p.HostPort, low, high));
            Assert.Equal(5, ports.Select(p => p.HostPort).Distinct().Count());
            Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => Listen(IPAddress.Loopback, ports[0].HostPort)).SocketErrorCode);
        }
        finally { for (int i = 0; i < 5; i++) allocator.Release($"c{i}"); }
    }

    [Fact]
    public void A_host_port_range_picks_a_free_port_in_it()
    {
        // A run of 11 ports ("8000-8010"-like) free right now; the first three are then taken by the host.
        int start = PortRanges.FreeRange(11);
        string range = $"{start}-{start + 10}";
        var holders = Enumerable.Range(start, 3).Select(p => Listen(IPAddress.Loopback, p)).ToList();
        var allocator = new PortAllocator();
        try
        {
            var first = allocator.Reserve("c1", Bindings((80, "127.0.0.1", range))).Single();
            Assert.InRange(first.HostPort, start + 3, start + 10);
            var second = allocator.Reserve("c2", Bindings((80, "127.0.0.1", range))).Single();
            Assert.InRange(second.HostPort, start + 3, start + 10);
            Assert.NotEqual(first.HostPort, second.HostPort);
        }
        finally
        {
            allocator.Release("c1");
            allocator.Release("c2");
            foreach (var h in holders) h.Dispose();
        }
    }

    // ------------------------------------------------------------------ nftables through libnftables

    [Fact]
    public void Publishing_changes_only_map_elements_and_reinitializing_doubles_nothing()
    {
        Assert.True(NftablesLibrary.Available, "libnftables.so.1 is not loadable");
        using var scratch = new Scratch();
        string table = scratch.Table("berth_t");
        var net = FreeSubnet();
        var network = new NetworkFirewallSpec(scratch.Bridge("bnf"), net.Subnet);
        var manager = new FirewallManager(new LibNftables(), table);
        int port = Berth.TestSupport.Ports.Free();
        var publications = new[]
        {
            new PortPublication("c1", null, PortProtocol.Tcp, port, net.Address, 80, network.BridgeName),
            new PortPublication("c1", IPAddress.Loopback, PortProtocol.Udp, port, net.Address, 53, network.BridgeName),
        };

        manager.Initialize([network], []);
        Assert.True(manager.TableExists());
        string initial = Nft("-a", "list", "table", "ip", table);
        string userInitial = Nft("-a", "list", "table", "ip", manager.UserTableName);
        Assert.Contains($"oifname \"{network.BridgeName}\" drop", initial);

        manager.Publish(publications);
        Assert.Contains($"tcp . {port} : {net.Address} . 80", Nft("list", "map", "ip", table, RulesetRenderer.AnyMap));
        Assert.Contains($"127.0.0.1 . udp . {port} : {net.Address} . 53", Nft("list", "map", "ip", table, RulesetRenderer.AddressMap));
        // Same table, chains and rules (handles included): only the maps' elements differ.
        Assert.Equal(initial, WithoutElements(Nft("-a", "list", "table", "ip", table)));

        manager.Unpublish("c1");
        Assert.Equal(initial, Nft("-a", "list", "table", "ip", table));
        Assert.Empty(manager.Publications());
        manager.Unpublish("c1"); // nothing left to remove: no error

        // An admin's rule in the user table survives re-initializing, which rebuilds Berth's table once.
        Nft("add", "rule", "ip", manager.UserTableName, "forward", "ip", "daddr", net.Address.ToString(), "tcp", "dport", "9", "drop");
        string userWithRule = Nft("-a", "list", "table", "ip", manager.UserTableName);
        manager.Publish(publications);
        manager.Initialize([network], manager.Publications());
        string once = Nft("list", "table", "ip", table);
        manager.Initialize([network], manager.Publications());
        string twice = Nft("list", "table", "ip", table);
        Assert.Equal(once, twice);
        Assert.Equal(WithoutHandles(initial), WithoutElements(twice));
        Assert.Equal(3, Lines(twice).Count(l => l.StartsWith("elements = ", StringComparison.Ordinal))); // two maps and the direct set
        Assert.Single(Lines(Nft("list", "map", "ip", table, RulesetRenderer.AnyMap)), l => l.Contains($"tcp . {port}"));
        Assert.Equal(userWithRule, Nft("-a", "list", "table", "ip", manager.UserTableName));
        Assert.NotEqual(userInitial, userWithRule);
        Assert.Single(Lines(Nft("list", "tables")), l => l == $"table ip {table}");
        Assert.Single(Lines(Nft("list", "tables")), l => l == $"table ip {manager.UserTableName}");

        // Elements an admin flushed away: unpublishing re-applies the table instead of failing.
        Nft("flush", "map", "ip", table, RulesetRenderer.AnyMap);
        manager.Unpublish("c1");
        Assert.Equal(WithoutHandles(initial), Nft("list", "table", "ip", table));

        Nft("delete", "table", "ip", table);
        Assert.False(manager.TableExists());
        manager.Reload();
        Assert.True(manager.TableExists());
    }

    [Fact]
    public async Task A_watched_table_added_by_anyone_wakes_the_ruleset_watcher_and_another_does_not()
    {
        using var scratch = new Scratch();
        string table = scratch.Table("berth_rc"), other = scratch.Table("berth_ro");
        using var changes = RulesetChanges.TryOpen([table], Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.NotNull(changes);

        Nft("add", "table", "ip", other);
        Assert.False(await changes.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None),
            "a table nobody watches woke the watcher");
        Nft("add", "table", "ip", table);
        Assert.True(await changes.WaitAsync(TimeSpan.FromSeconds(20), CancellationToken.None),
            "no nftables notification for a new table");
    }

    [Fact]
    public void The_kernel_names_its_tables_with_their_family_and_a_removed_one_is_gone()
    {
        using var scratch = new Scratch();
        string table = scratch.Table("berth_tn");
        using var names = new NftTableNames();
        Nft("add", "table", "ip", table);
        Nft("add", "table", "ip6", table);
        Assert.Contains((NftTableNames.Ip, table), names.List()!);
        Assert.Contains((NftTableNames.Ip6, table), names.List()!);
        Assert.Contains(table, names.IpTables(new LibNftables()));

        Nft("delete", "table", "ip", table);
        Assert.DoesNotContain((NftTableNames.Ip, table), names.List()!);
        Assert.Contains((NftTableNames.Ip6, table), names.List()!);
        Assert.DoesNotContain(table, names.IpTables(new LibNftables()));
    }

    // ------------------------------------------------------------------ helpers

    private static readonly string PingCommand = File.Exists("/usr/bin/ping") || File.Exists("/bin/ping") ? "ping" : "busybox";

    /// <summary>ping -c1 -W1, a few times: a fresh bridge port may need a moment before it forwards.</summary>
    private static bool Ping(IPAddress address, int attempts = 5)
    {
        for (int i = 0; i < attempts; i++)
        {
            var args = PingCommand == "ping" ? new[] { "-c1", "-W1", address.ToString() } : ["ping", "-c1", "-W1", address.ToString()];
            if (Sh.Run(PingCommand, args, TimeSpan.FromSeconds(10)).ExitCode == 0) return true;
        }
        return false;
    }

    private static Socket Listen(IPAddress address, int port)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Exit code of a python listener that sets SO_REUSEADDR, as most servers do: 0 when it got the port.</summary>
    private static int ListenWithReuseAddr(string address, int port) =>
        Sh.Run("python3", ["-c", $"import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('{address}', {port})); s.listen()"]).ExitCode;

    private static string Format(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2")));

    private static string[] NamespaceList() => Check(Sh.Run("ip", ["netns", "list"])).Stdout.Split('\n').Select(l => l.Split(' ')[0]).ToArray();

    private static string[] Mounts() => File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]).ToArray();

    private static string[] Lines(string text) => text.Split('\n').Select(l => l.Trim()).ToArray();

    private static string Nft(params string[] args) => Check(Sh.Run("nft", args)).Stdout;

    private static string WithoutElements(string listing) =>
        string.Join('\n', listing.Split('\n').Where(l => !l.TrimStart().StartsWith("elements = ", StringComparison.Ordinal)));

    private static string WithoutHandles(string listing) =>
        System.Text.RegularExpressions.Regex.Replace(listing, @" # handle \d+", "");

    private static ShResult Check(ShResult result) =>
        result.ExitCode == 0 ? result : throw new Xunit.Sdk.XunitException($"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");

    private sealed record TestSubnet(string Prefix, IPNetwork Subnet, IPAddress Gateway, IPAddress Address);

    /// <summary>10.x.y.0/24 with x in 200-250 that overlaps no IPv4 route or address of the host.</summary>
    private static TestSubnet FreeSubnet()
    {
        var used = Check(Sh.Run("ip", ["-4", "route", "show", "table", "all"])).Stdout.Split('\n')
            .Concat(Check(Sh.Run("ip", ["-4", "-o", "addr"])).Stdout.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipWhile(w => w != "inet").Skip(1).FirstOrDefault() ?? ""))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(w => char.IsDigit(w[0])))
            .Where(w => w is not null)
            .Select(w => IPNetwork.TryParse(w!.Contains('/') ? Masked(w) : w + "/32", out var n) ? (IPNetwork?)n : null)
            .OfType<IPNetwork>().Where(n => n.PrefixLength > 0).ToList();
        for (int i = 0; i < 200; i++)
        {
            int x = Random.Shared.Next(200, 251), y = Random.Shared.Next(0, 256);
            var candidate = IPNetwork.Parse($"10.{x}.{y}.0/24");
            if (used.Any(u => u.Contains(candidate.BaseAddress) || candidate.Contains(u.BaseAddress))) continue;
            return new TestSubnet($"10.{x}.{y}.", candidate, IPAddress.Parse($"10.{x}.{y}.1"), IPAddress.Parse($"10.{x}.{y}.2"));
        }
        throw new InvalidOperationException("no free 10.x.y.0/24");
    }

    /// <summary>"10.1.2.3/24" → "10.1.2.0/24" (IPNetwork refuses host bits).</summary>
    private static string Masked(string cidr)
    {
        var (address, prefix) = (IPAddress.Parse(cidr[..cidr.IndexOf('/')]), int.Parse(cidr[(cidr.IndexOf('/') + 1)..]));
        var bytes = address.GetAddressBytes();
        for (int bit = prefix; bit < 32; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return $"{new IPAddress(bytes)}/{prefix}";
    }

    /// <summary>What a test created, removed on dispose whatever happened: links (a veth takes its peer along),
    /// namespaces, nft tables, and any DOCKER-USER accept rule Berth added for a bridge name of the test.</summary>
    private sealed class Scratch : IDisposable
    {
        private readonly List<string> _links = new(), _namespaces = new(), _tables = new(), _bridges = new();

        public string Link(string prefix)
        {
            string name = TestNames.Unique(prefix);
            _links.Add(name);
            return name;
        }

        /// <summary>A bridge name that only appears in firewall rules.</summary>
        public string Bridge(string prefix)
        {
            string name = TestNames.Unique(prefix);
            _bridges.Add(name);
            return name;
        }

        public (string Name, string Path) NamespaceName()
        {
            string name = TestNames.Unique("bnt");
            _namespaces.Add(name);
            return (name, $"/run/netns/{name}");
        }

        public string Table(string prefix)
        {
            string name = TestNames.Unique(prefix, 20);
            _tables.Add(name);
            return name;
        }

        public void Dispose()
        {
            foreach (string link in _links) Sh.Run("ip", ["link", "del", link]);
            foreach (string ns in _namespaces)
            {
                try { NetworkNamespace.Remove($"/run/netns/{ns}"); } catch (Exception) { }
                Sh.Run("ip", ["netns", "del", ns]);
            }
            foreach (string table in _tables)
            {
                Sh.Run("nft", ["delete", "table", "ip", table]);
                Sh.Run("nft", ["delete", "table", "ip", table + "_user"]);
                Sh.Run("nft", ["delete", "table", "ip6", table]);
            }
            foreach (string bridge in _bridges)
                Sh.Bash($"for t in iptables ip6tables; do for d in -i -o; do $t -w -D DOCKER-USER $d {bridge} -j ACCEPT 2>/dev/null; done; done; true");
        }
    }
}
