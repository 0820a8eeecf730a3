namespace Berth.Engine.Model;

/// <summary>A network as stored (bridge, macvlan or ipvlan). The default one is named "bridge".</summary>
public sealed class NetworkRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string Driver { get; set; } = "bridge";
    public string BridgeName { get; set; } = "";
    public string Subnet { get; set; } = "";
    public string Gateway { get; set; } = "";
    /// <summary>`--ip-range`: where addresses are handed out from when none is asked for (null: the whole subnet).</summary>
    public string? IPRange { get; set; }
    /// <summary>`--aux-address name=IP`: addresses never handed out.</summary>
    public Dictionary<string, string> AuxAddresses { get; set; } = new();
    /// <summary>`--ipv6`: the network's IPv6 subnet, gateway and `--ip-range` (null when IPv4 only).</summary>
    public bool EnableIPv6 { get; set; }
    public string? Ipv6Subnet { get; set; }
    public string? Ipv6Gateway { get; set; }
    public string? Ipv6Range { get; set; }
    /// <summary>`--aux-address` values inside the IPv6 subnet.</summary>
    public Dictionary<string, string> Ipv6AuxAddresses { get; set; } = new();
    /// <summary>Several `--subnet` of one family: the pools after the first of each family, in the order given (the
    /// first IPv4 and IPv6 ones are the fields above).</summary>
    public List<SubnetRecord> MoreSubnets { get; set; } = new();
    public bool Internal { get; set; }
    public bool Attachable { get; set; }
    public bool IsDefault { get; set; }
    public Dictionary<string, string> Labels { get; set; } = new();
    public Dictionary<string, string> Options { get; set; } = new();
    /// <summary>macvlan/ipvlan: Berth made the parent link (a dummy or VLAN sub-interface); it goes with the last
    /// network on it.</summary>
    public bool ParentCreated { get; set; }
}

/// <summary>One further address pool of a network: its subnet, gateway, `--ip-range` and `--aux-address` values.</summary>
public sealed class SubnetRecord
{
    public string Subnet { get; set; } = "";
    public string Gateway { get; set; } = "";
    public string? IPRange { get; set; }
    public Dictionary<string, string> AuxAddresses { get; set; } = new();
}
