using Berth.Engine.Model;
using Berth.Networking.L2;
using Berth.Networking.Netlink;

namespace Berth.Engine.Networks;

/// <summary>The macvlan and ipvlan drivers' options (`-o parent=`, `-o macvlan_mode=`, `-o ipvlan_mode=`,
/// `-o ipvlan_flag=`), read and refused as dockerd 28's drivers read and refuse them.</summary>
public static class L2Options
{
    public const string Macvlan = "macvlan", Ipvlan = "ipvlan";
    public const string Parent = "parent", MacvlanModeKey = "macvlan_mode", IpvlanModeKey = "ipvlan_mode", IpvlanFlagKey = "ipvlan_flag";

    public static bool IsL2(string? driver) => driver is Macvlan or Ipvlan;

    public static bool IsL2(NetworkRecord network) => IsL2(network.Driver);

    /// <summary>The parent link: `-o parent`, else the dummy dockerd names after the network ("dm-" and 12 id characters).</summary>
    public static string ParentOf(NetworkRecord network) =>
        network.Options.GetValueOrDefault(Parent) is { Length: > 0 } parent ? parent : "dm-" + network.Id[..12];

    /// <summary>Without a parent the network reaches nothing beyond its own containers (dockerd's driver makes it
    /// internal itself); `--internal` likewise: no default route.</summary>
    public static bool IsInternal(NetworkRecord network) =>
        network.Internal || network.Options.GetValueOrDefault(Parent) is not { Length: > 0 };

    /// <summary>Whether containers get a gateway (and a default route through it): not on internal or parent-less networks,
    /// nor on ipvlan l3/l3s, whose default route goes through the interface (dockerd 28's GetSkipGwAlloc and Join).</summary>
    public static bool EndpointsHaveGateway(NetworkRecord network) =>
        !IsInternal(network) && PortOf(network) is not { Ipvlan: true, IpvlanMode: IpvlanMode.L3 or IpvlanMode.L3S };

    /// <summary>Refuses unknown modes and flags and the loopback parent, with dockerd's wording.</summary>
    public static void Validate(string driver, IReadOnlyDictionary<string, string> options)
    {
        _ = PortOf(driver, options);
        string? parent = options.GetValueOrDefault(Parent);
        if (parent == "lo") throw new BadRequestException($"loopback interface is not a valid {driver} parent link");
        if (parent is { Length: > 15 } || parent?.Any(c => c is '/' || char.IsWhiteSpace(c)) == true)
            throw new BadRequestException($"invalid parent interface name {parent}: at most 15 characters, no '/' or spaces");
    }

    public static L2Port PortOf(NetworkRecord network) => PortOf(network.Driver, network.Options);

    private static L2Port PortOf(string driver, IReadOnlyDictionary<string, string> options)
    {
        if (driver == Macvlan)
            return new L2Port(false, MacvlanMode: options.GetValueOrDefault(MacvlanModeKey) switch
            {
                null or "" or "bridge" => MacvlanMode.Bridge,
                "private" => MacvlanMode.Private,
                "vepa" => MacvlanMode.Vepa,
                "passthru" => MacvlanMode.Passthru,
                var other => throw new BadRequestException($"requested macvlan mode '{other}' is not valid, 'bridge' mode is the macvlan driver default"),
            });
        return new L2Port(true,
            IpvlanMode: options.GetValueOrDefault(IpvlanModeKey) switch
            {
                null or "" or "l2" => IpvlanMode.L2,
                "l3" => IpvlanMode.L3,
                "l3s" => IpvlanMode.L3S,
                var other => throw new BadRequestException($"requested ipvlan mode '{other}' is not valid, 'l2' mode is the ipvlan driver default"),
            },
            IpvlanFlag: options.GetValueOrDefault(IpvlanFlagKey) switch
            {
                null or "" or "bridge" => IpvlanFlag.Bridge,
                "private" => IpvlanFlag.Private,
                "vepa" => IpvlanFlag.Vepa,
                var other => throw new BadRequestException($"requested ipvlan flag '{other}' is not valid, 'bridge' is the ipvlan driver default"),
            });
    }

    /// <summary>`eth0.10` → (eth0, 10), with dockerd's checks and wording; the link must exist.</summary>
    public static (string Link, int VlanId) ParseVlan(string parent, Func<string, bool> linkExists)
    {
        if (!parent.Contains('.'))
            throw new BadRequestException($"invalid subinterface vlan name {parent}, example formatting is eth0.10");
        var parts = parent.Split('.');
        if (parts.Length != 2)
            throw new BadRequestException($"required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received {parent}");
        if (!int.TryParse(parts[1], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int id))
            throw new BadRequestException($"unable to parse a valid vlan id from: {parts[1]} (ex. eth0.10 for vlan 10)");
        if (!linkExists(parts[0])) throw new BadRequestException($"-o parent interface was not found on the host: {parts[0]}");
        if (id is < 1 or > 4094) throw new BadRequestException($"vlan id must be between 1-4094, received: {id}");
        return (parts[0], id);
    }
}
