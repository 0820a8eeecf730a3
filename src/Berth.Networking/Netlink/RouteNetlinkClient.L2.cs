using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Berth.Networking.Netlink;

/// <summary>The links of the L2 drivers: macvlan and ipvlan ports on a parent link, created straight inside a
/// container's namespace (one message, the parent looked up in this socket's namespace), and the parents Docker
/// creates itself: a VLAN sub-interface (`eth0.100`) and a dummy for a network without a parent.</summary>
public sealed partial class RouteNetlinkClient
{
    private const ushort IFLA_LINK = 5, IFLA_MACVLAN_MODE = 1, IFLA_IPVLAN_MODE = 1, IFLA_IPVLAN_FLAGS = 2, IFLA_VLAN_ID = 1;

    public void CreateMacvlan(string name, int parentIndex, MacvlanMode mode, int? mtu, SafeHandle? netns) =>
        Request(PortMessage(name, parentIndex, mtu, netns, "macvlan")
            .BeginNested(IFLA_INFO_DATA).Attribute(IFLA_MACVLAN_MODE, (uint)mode).EndNested().EndNested(),
            $"create macvlan {name} on link {parentIndex}");

    public void CreateIpvlan(string name, int parentIndex, IpvlanMode mode, IpvlanFlag flag, int? mtu, SafeHandle? netns) =>
        Request(PortMessage(name, parentIndex, mtu, netns, "ipvlan")
            .BeginNested(IFLA_INFO_DATA).Attribute(IFLA_IPVLAN_MODE, U16((ushort)mode))
            .Attribute(IFLA_IPVLAN_FLAGS, U16((ushort)flag)).EndNested().EndNested(),
            $"create ipvlan {name} on link {parentIndex}");

    public void CreateVlan(string name, int parentIndex, int vlanId) =>
        Request(LinkMessage(RTM_NEWLINK, CreateFlags, 0, 0, 0)
            .Attribute(IFLA_IFNAME, name).Attribute(IFLA_LINK, (uint)parentIndex)
            .BeginNested(IFLA_LINKINFO).Attribute(IFLA_INFO_KIND, "vlan")
            .BeginNested(IFLA_INFO_DATA).Attribute(IFLA_VLAN_ID, U16((ushort)vlanId)).EndNested().EndNested(),
            $"create vlan {name} (id {vlanId}) on link {parentIndex}");

    public void CreateDummy(string name) =>
        Request(LinkMessage(RTM_NEWLINK, CreateFlags, 0, 0, 0)
            .Attribute(IFLA_IFNAME, name)
            .BeginNested(IFLA_LINKINFO).Attribute(IFLA_INFO_KIND, "dummy").EndNested(), $"create dummy {name}");

    /// <summary>IFLA_LINKINFO is left open: the caller adds its kind's data and closes it.</summary>
    /// <summary>No <paramref name="mtu"/>: the parent's.</summary>
    private static NetlinkMessageWriter PortMessage(string name, int parentIndex, int? mtu, SafeHandle? netns, string kind)
    {
        var message = LinkMessage(RTM_NEWLINK, CreateFlags, 0, 0, 0)
            .Attribute(IFLA_IFNAME, name).Attribute(IFLA_LINK, (uint)parentIndex);
        if (mtu is not null) message.Attribute(IFLA_MTU, (uint)mtu.Value);
        if (netns is not null) message.Attribute(IFLA_NET_NS_FD, (uint)netns.DangerousGetHandle());
        return message.BeginNested(IFLA_LINKINFO).Attribute(IFLA_INFO_KIND, kind);
    }

    private static byte[] U16(ushort value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, value);
        return bytes;
    }
}

/// <summary>The kernel's MACVLAN_MODE_* values.</summary>
public enum MacvlanMode : uint { Private = 1, Vepa = 2, Bridge = 4, Passthru = 8 }

/// <summary>The kernel's IPVLAN_MODE_* values.</summary>
public enum IpvlanMode : ushort { L2 = 0, L3 = 1, L3S = 2 }

/// <summary>The kernel's IPVLAN_F_* flags (bridge is none of them).</summary>
public enum IpvlanFlag : ushort { Bridge = 0, Private = 1, Vepa = 2 }
