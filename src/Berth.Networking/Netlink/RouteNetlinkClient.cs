using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Berth.Linux;
using Berth.Networking.Namespaces;

namespace Berth.Networking.Netlink;

public sealed record LinkInfo(int Index, string Name, string Kind, int? MasterIndex, bool Up, PhysicalAddress? Mac, int Mtu);
public sealed record AddressInfo(int Index, IPAddress Address, int PrefixLength);
public sealed record RouteInfo(IPNetwork Destination, IPAddress? Gateway, int? OutIndex);

/// <summary>rtnetlink: links, addresses and routes, in the namespace the socket was opened in.
/// Replaces forks of `ip`: each call is one message and one acknowledgement.</summary>
public sealed partial class RouteNetlinkClient : IDisposable
{
    private const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_SETLINK = 19,
        RTM_NEWADDR = 20, RTM_GETADDR = 22, RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
    private const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_MASTER = 10, IFLA_LINKINFO = 18,
        IFLA_NET_NS_FD = 28, IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, VETH_INFO_PEER = 1;
    private const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2;
    private const byte IFA_F_NODAD = 0x02;
    private const ushort RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_TABLE = 15;
    private const uint IFF_UP = 1;
    private const byte RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RT_SCOPE_UNIVERSE = 0, RTN_UNICAST = 1;

    private readonly NetlinkSocket _socket;
    private readonly Lock _lock = new();

    private RouteNetlinkClient(NetlinkSocket socket) => _socket = socket;

    public static RouteNetlinkClient Open() => new(NetlinkSocket.Open(Interop.NETLINK_ROUTE));

    /// <summary>A client whose socket lives in the namespace at <paramref name="netnsPath"/>: opened on a
    /// dedicated thread that entered it; the socket stays bound there after the thread ends.</summary>
    public static RouteNetlinkClient OpenInNamespace(string netnsPath) =>
        NetworkNamespace.Run(netnsPath, () => new RouteNetlinkClient(NetlinkSocket.Open(Interop.NETLINK_ROUTE)));

    // ------------------------------------------------------------------ links

    public int? GetLinkIndex(string name)
    {
        var message = LinkMessage(RTM_GETLINK, Ack, 0, 0, 0).Attribute(IFLA_IFNAME, name);
        try
        {
            lock (_lock)
            {
                var answers = _socket.Dump(message, $"get link {name}");
                return answers.Count > 0 ? BinaryPrimitives.ReadInt32LittleEndian(answers[0].Payload.AsSpan(4)) : null;
            }
        }
        catch (LinuxException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT) { return null; }
    }

    public IReadOnlyList<LinkInfo> ListLinks()
    {
        var message = LinkMessage(RTM_GETLINK, NetlinkMessageWriter.NLM_F_REQUEST | NetlinkMessageWriter.NLM_F_DUMP, 0, 0, 0);
        List<(ushort Type, byte[] Payload)> answers;
        lock (_lock) answers = _socket.Dump(message, "list links");
        var links = new List<LinkInfo>();
        foreach (var (type, payload) in answers)
        {
            if (type != RTM_NEWLINK) continue;
            int index = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(4));
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(8));
            var attrs = NetlinkAttributes.Parse(payload.AsSpan(16));
            string kind = attrs.TryGetValue(IFLA_LINKINFO, out var info) && NetlinkAttributes.Parse(info).TryGetValue(IFLA_INFO_KIND, out var k)
                ? NetlinkAttributes.String(k) : "";
            links.Add(new LinkInfo(index,
                attrs.TryGetValue(IFLA_IFNAME, out var name) ? NetlinkAttributes.String(name) : "",
                kind,
                attrs.TryGetValue(IFLA_MASTER, out var master) ? BinaryPrimitives.ReadInt32LittleEndian(master) : null,
                (flags & IFF_UP) != 0,
                attrs.TryGetValue(IFLA_ADDRESS, out var mac) && mac.Length == 6 ? new PhysicalAddress(mac) : null,
                attrs.TryGetValue(IFLA_MTU, out var mtu) ? BinaryPrimitives.ReadInt32LittleEndian(mtu) : 0));
        }
        return links;
    }

    /// <summary>A bridge; with <paramref name="mac"/> its address is set and stays (a bridge left to pick its own
    /// takes its lowest port's, and changes it as ports come and go).</summary>
    public void CreateBridge(string name, int mtu = 1500, PhysicalAddress? mac = null)
    {
        var message = LinkMessage(RTM_NEWLINK, CreateFlags, 0, 0, 0).Attribute(IFLA_IFNAME, name).Attribute(IFLA_MTU, (uint)mtu);
        if (mac is not null) message.Attribute(IFLA_ADDRESS, mac.GetAddressBytes());
        Request(message.BeginNested(IFLA_LINKINFO).Attribute(IFLA_INFO_KIND, "bridge").EndNested(), $"create bridge {name}");
    }

    public void CreateVethPair(string name, string peerName, int mtu = 1500) =>
        CreateVethPair(name, peerName, mtu, peerNamespace: null);

    /// <summary>A veth pair whose peer is created directly inside another namespace (one message, as netavark).</summary>
    public void CreateVethPair(string name, string peerName, int mtu, SafeHandle? peerNamespace)
    {
        var message = LinkMessage(RTM_NEWLINK, CreateFlags, 0, 0, 0)
            .Attribute(IFLA_IFNAME, name).Attribute(IFLA_MTU, (uint)mtu)
            .BeginNested(IFLA_LINKINFO).Attribute(IFLA_INFO_KIND, "veth")
            .BeginNested(IFLA_INFO_DATA).BeginNested(VETH_INFO_PEER)
            .Bytes(IfInfo(0, 0, 0))
            .Attribute(IFLA_IFNAME, peerName).Attribute(IFLA_MTU, (uint)mtu);
        if (peerNamespace is not null) message.Attribute(IFLA_NET_NS_FD, (uint)peerNamespace.DangerousGetHandle());
        message.EndNested().EndNested().EndNested();
        Request(message, $"create veth {name} peer {peerName}");
    }

    public void MoveLinkToNamespace(int index, SafeHandle netnsFd) =>
        Request(LinkMessage(RTM_NEWLINK, Ack, index, 0, 0).Attribute(IFLA_NET_NS_FD, (uint)netnsFd.DangerousGetHandle()), $"move link {index} to netns");

    public void SetLinkName(int index, string name) =>
        Request(LinkMessage(RTM_NEWLINK, Ack, index, 0, 0).Attribute(IFLA_IFNAME, name), $"rename link {index} to {name}");

    public void SetLinkUp(int index) => Request(LinkMessage(RTM_NEWLINK, Ack, index, IFF_UP, IFF_UP), $"set link {index} up");

    public void SetLinkDown(int index) => Request(LinkMessage(RTM_NEWLINK, Ack, index, 0, IFF_UP), $"set link {index} down");

    public void SetLinkMaster(int index, int masterIndex) =>
        Request(LinkMessage(RTM_NEWLINK, Ack, index, 0, 0).Attribute(IFLA_MASTER, (uint)masterIndex), $"set master of link {index} to {masterIndex}");

    public void SetLinkMac(int index, PhysicalAddress mac) =>
        Request(LinkMessage(RTM_NEWLINK, Ack, index, 0, 0).Attribute(IFLA_ADDRESS, mac.GetAddressBytes()), $"set mac of link {index}");

    /// <summary>Hairpin lets a container reach its own published port through the host (the packet goes back out
    /// the port it came in). Set through sysfs: one write, no fork.</summary>
    public void SetBridgePortHairpin(string linkName, bool on) =>
        File.WriteAllText($"/sys/class/net/{linkName}/brport/hairpin_mode", on ? "1" : "0");

    /// <summary>An isolated bridge port forwards only to ports that are not isolated (the bridge itself): with every
    /// container port isolated, containers cannot talk to each other but still reach the host and, through it, the
    /// world and published ports (Docker's icc=false, done by the bridge instead of br_netfilter rules).</summary>
    public void SetBridgePortIsolated(string linkName, bool on) =>
        File.WriteAllText($"/sys/class/net/{linkName}/brport/isolated", on ? "1" : "0");

    public void DeleteLink(int index) => Request(LinkMessage(RTM_DELLINK, Ack, index, 0, 0), $"delete link {index}");

    public bool DeleteLink(string name)
    {
        try
        {
            Request(LinkMessage(RTM_DELLINK, Ack, 0, 0, 0).Attribute(IFLA_IFNAME, name), $"delete link {name}");
            return true;
        }
        catch (LinuxException e) when (e.Errno is Errno.ENODEV or Errno.ENOENT) { return false; }
    }

    // ------------------------------------------------------------------ addresses and routes

    /// <param name="skipDuplicateDetection">IFA_F_NODAD: an IPv6 address usable at once, not "tentative" for ~1 s
    /// (the gateway and container addresses are Berth's own to hand out, as dockerd and netavark set them).</param>
    public void AddAddress(int index, IPAddress address, int prefixLength, bool skipDuplicateDetection = false)
    {
        var bytes = address.GetAddressBytes();
        Span<byte> header = stackalloc byte[8];
        header[0] = (byte)Family(address);
        header[1] = (byte)prefixLength;
        header[2] = skipDuplicateDetection ? IFA_F_NODAD : (byte)0;
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], index);
        var message = new NetlinkMessageWriter(RTM_NEWADDR, CreateFlags).Bytes(header).Attribute(IFA_LOCAL, bytes).Attribute(IFA_ADDRESS, bytes);
        Request(message, $"add address {address}/{prefixLength} to link {index}");
    }

    public IReadOnlyList<AddressInfo> ListAddresses(int? index = null)
    {
        var message = new NetlinkMessageWriter(RTM_GETADDR, NetlinkMessageWriter.NLM_F_REQUEST | NetlinkMessageWriter.NLM_F_DUMP).Bytes(new byte[8]);
        List<(ushort Type, byte[] Payload)> answers;
        lock (_lock) answers = _socket.Dump(message, "list addresses");
        var result = new List<AddressInfo>();
        foreach (var (type, payload) in answers)
        {
            if (type != RTM_NEWADDR) continue;
            int link = BinaryPrimitives.ReadInt32LittleEndian(payload.AsSpan(4));
            if (index is not null && link != index) continue;
            var attrs = NetlinkAttributes.Parse(payload.AsSpan(8));
            if (attrs.TryGetValue(IFA_LOCAL, out var local) || attrs.TryGetValue(IFA_ADDRESS, out local))
                result.Add(new AddressInfo(link, new IPAddress(local), payload[1]));
        }
        return result;
    }

    public void AddRoute(IPNetwork destination, IPAddress? gateway, int? outIndex) =>
        RouteRequest(RTM_NEWROUTE, CreateFlags, destination, gateway, outIndex, "add");

    /// <summary>Adds the route or replaces the one to the same destination in one step (no moment without it).</summary>
    public void ReplaceRoute(IPNetwork destination, IPAddress? gateway, int? outIndex) =>
        RouteRequest(RTM_NEWROUTE, Ack | NetlinkMessageWriter.NLM_F_CREATE | NetlinkMessageWriter.NLM_F_REPLACE, destination, gateway, outIndex, "replace");

    /// <summary>Deletes the route to <paramref name="destination"/> (any gateway, any interface); false when there is none.</summary>
    public bool DeleteRoute(IPNetwork destination)
    {
        try { RouteRequest(RTM_DELROUTE, Ack, destination, null, null, "delete"); }
        catch (LinuxException e) when (e.Errno == Errno.ESRCH) { return false; }
        return true;
    }

    private void RouteRequest(ushort type, ushort flags, IPNetwork destination, IPAddress? gateway, int? outIndex, string verb)
    {
        Span<byte> header = stackalloc byte[12];
        header[0] = (byte)Family(destination.BaseAddress);
        header[1] = (byte)destination.PrefixLength;
        header[4] = RT_TABLE_MAIN;
        header[5] = RTPROT_BOOT;
        header[6] = gateway is null ? (byte)253 /* link */ : RT_SCOPE_UNIVERSE;
        header[7] = RTN_UNICAST;
        var message = new NetlinkMessageWriter(type, flags).Bytes(header);
        if (destination.PrefixLength > 0) message.Attribute(RTA_DST, destination.BaseAddress.GetAddressBytes());
        if (gateway is not null) message.Attribute(RTA_GATEWAY, gateway.GetAddressBytes());
        if (outIndex is not null) message.Attribute(RTA_OIF, (uint)outIndex.Value);
        Request(message, $"{verb} route {destination} via {gateway?.ToString() ?? "link"}");
    }

    public IReadOnlyList<RouteInfo> ListRoutes(AddressFamily family)
    {
        var header = new byte[12];
        header[0] = (byte)(family == AddressFamily.InterNetworkV6 ? 10 : 2);
        var message = new NetlinkMessageWriter(RTM_GETROUTE, NetlinkMessageWriter.NLM_F_REQUEST | NetlinkMessageWriter.NLM_F_DUMP).Bytes(header);
        List<(ushort Type, byte[] Payload)> answers;
        lock (_lock) answers = _socket.Dump(message, "list routes");
        var routes = new List<RouteInfo>();
        foreach (var (type, payload) in answers)
        {
            if (type != RTM_NEWROUTE) continue;
            var attrs = NetlinkAttributes.Parse(payload.AsSpan(12));
            uint table = attrs.TryGetValue(RTA_TABLE, out var t) ? BinaryPrimitives.ReadUInt32LittleEndian(t) : payload[4];
            if (table != RT_TABLE_MAIN) continue;
            var any = family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
            var destination = attrs.TryGetValue(RTA_DST, out var dst) ? new IPAddress(dst) : any;
            routes.Add(new RouteInfo(new IPNetwork(destination, payload[1]),
                attrs.TryGetValue(RTA_GATEWAY, out var gw) ? new IPAddress(gw) : null,
                attrs.TryGetValue(RTA_OIF, out var oif) ? BinaryPrimitives.ReadInt32LittleEndian(oif) : null));
        }
        return routes;
    }

    public void Dispose() => _socket.Dispose();

    // ------------------------------------------------------------------ helpers

    private const ushort Ack = NetlinkMessageWriter.NLM_F_REQUEST | NetlinkMessageWriter.NLM_F_ACK;
    private const ushort CreateFlags = Ack | NetlinkMessageWriter.NLM_F_CREATE | NetlinkMessageWriter.NLM_F_EXCL;

    private void Request(NetlinkMessageWriter message, string what)
    {
        lock (_lock) _socket.Request(message, what);
    }

    private static NetlinkMessageWriter LinkMessage(ushort type, ushort flags, int index, uint ifFlags, uint change) =>
        new NetlinkMessageWriter(type, flags).Bytes(IfInfo(index, ifFlags, change));

    /// <summary>struct ifinfomsg: family, pad, type, index, flags, change.</summary>
    public static byte[] IfInfo(int index, uint flags, uint change)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), index);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), change);
        return header;
    }

    private static int Family(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? 10 : 2;
}
