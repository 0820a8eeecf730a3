namespace Berth.Engine;

/// <summary>What `berth daemon` was started with.</summary>
public sealed class EngineOptions
{
    public string DataRoot { get; set; } = "/var/lib/berth";
    public string ExecRoot { get; set; } = "/run/berth";
    /// <summary>The Linux bridge of the default network "bridge".</summary>
    public string BridgeName { get; set; } = "berth0";
    /// <summary>Gateway address and prefix of the default bridge, e.g. "10.88.0.1/24"; null = a free default pool.</summary>
    public string? BridgeIp { get; set; }
    /// <summary>dockerd's --ipv6 and --fixed-cidr-v6: the default bridge is dual-stack (its v6 subnet given, or from the pools).</summary>
    public bool Ipv6 { get; set; }
    public string? FixedCidrV6 { get; set; }
    public string? Runtime { get; set; }
    /// <summary>dockerd's --default-address-pool: where networks without a subnet get theirs; empty = Docker's pools.</summary>
    public IReadOnlyList<(System.Net.IPNetwork Base, int Size)> DefaultAddressPools { get; set; } = [];
    public int Mtu { get; set; } = 1500;
    /// <summary>--insecure-registry, --registry-mirror and the certs.d directory.</summary>
    public Berth.Runtime.Registry.RegistryOptions Registry { get; set; } = new();
    /// <summary>dockerd's --icc: containers on the default bridge may talk to each other.</summary>
    public bool Icc { get; set; } = true;
    /// <summary>dockerd's --ip-masq: the default bridge's outbound traffic is masqueraded.</summary>
    public bool IpMasquerade { get; set; } = true;
    /// <summary>dockerd's --iptables: Berth keeps its nftables table (false: no rules at all, the admin's firewall).</summary>
    public bool Iptables { get; set; } = true;
    /// <summary>dockerd's --userland-proxy: the in-process proxy serves v6 host addresses of v4-only containers and ::1
    /// (Berth's default false: the kernel alone, as issue 18 asks).</summary>
    public bool UserlandProxy { get; set; }
    /// <summary>dockerd's --allow-direct-routing: a neighbour routing to a container's own address reaches its published
    /// ports (default false, as dockerd 28: only through the host's ports).</summary>
    public bool AllowDirectRouting { get; set; }
    /// <summary>dockerd's --ip-forward: Berth turns on the host's IPv4 forwarding.</summary>
    public bool IpForward { get; set; } = true;
    /// <summary>dockerd's --ip: the host address ports are published on when a binding names none (null: every one).</summary>
    public string? DefaultBindIp { get; set; }
    /// <summary>dockerd's --log-driver: the driver of containers that name none (json-file, local or none).</summary>
    public string LogDriver { get; set; } = "json-file";
    /// <summary>The daemon's `--log-opt` defaults for json-file (Berth's own cap when none is given).</summary>
    public IReadOnlyDictionary<string, string> LogOptions { get; set; } =
        Berth.Runtime.Containers.LogPolicy.DefaultOptions;

    /// <summary>dockerd's --seccomp-profile: the containers' default profile (a path, or "unconfined"); null = Docker's.</summary>
    public string? SeccompProfile { get; set; }

    /// <summary>One nftables table per engine, so engines side by side do not touch each other's rules.</summary>
    public string FirewallTable => BridgeName == "berth0" ? "berth" : "berth_" + BridgeName;

    public string ContainersDirectory => Path.Combine(DataRoot, "containers");
    public string NetworksDirectory => Path.Combine(DataRoot, "networks");
    public string IpamDirectory => Path.Combine(DataRoot, "ipam");
    public string ImagesDirectory => Path.Combine(DataRoot, "image");
    public string VolumesDirectory => Path.Combine(DataRoot, "volumes");
    public string NetnsDirectory => Path.Combine(ExecRoot, "netns");
}
