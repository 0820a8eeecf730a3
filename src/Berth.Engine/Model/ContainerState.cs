namespace Berth.Engine.Model;

public sealed class ContainerState
{
    public string Status { get; set; } = "created";
    public bool Running { get; set; }
    public bool Paused { get; set; }
    public bool Restarting { get; set; }
    public bool OOMKilled { get; set; }
    public bool Dead { get; set; }
    public int Pid { get; set; }
    public int ExitCode { get; set; }
    public string Error { get; set; } = "";
    public DateTimeOffset StartedAt { get; set; } = DateTimeOffset.MinValue;
    public DateTimeOffset FinishedAt { get; set; } = DateTimeOffset.MinValue;
    /// <summary>Boot id and start time of the process at Pid (see ProcessIdentity); stored, not shown by inspect.</summary>
    public string ProcessBootId { get; set; } = "";
    public ulong ProcessStartTime { get; set; }
    /// <summary>Stopped or killed through the API (Docker's HasBeenManuallyStopped): restart policies leave it be.</summary>
    public bool ManuallyStopped { get; set; }
    /// <summary>The health check's state; null when the container has none.</summary>
    public HealthState? Health { get; set; }
}

/// <summary>A host port published for one container port, as stored and shown (HostIp "0.0.0.0", "::", or an address).</summary>
public sealed record PublishedPortRecord(string ContainerPort, string HostIp, int HostPort);

/// <summary>The container's attachment to one network.</summary>
public sealed class EndpointRecord
{
    public string NetworkId { get; set; } = "";
    public string NetworkName { get; set; } = "";
    public string EndpointId { get; set; } = "";
    public string IPAddress { get; set; } = "";
    public int PrefixLength { get; set; }
    public string Gateway { get; set; } = "";
    public string MacAddress { get; set; } = "";
    /// <summary>On a dual-stack network: the IPv6 address (empty otherwise), its prefix and the network's v6 gateway.</summary>
    public string Ipv6Address { get; set; } = "";
    public int Ipv6PrefixLength { get; set; }
    public string Ipv6Gateway { get; set; } = "";
    /// <summary>`--link-local-ip`: extra link-local addresses on the interface.</summary>
    public List<string>? LinkLocalAddresses { get; set; }
    public string InterfaceName { get; set; } = "eth0";
    public string HostVeth { get; set; } = "";
    public List<string>? Aliases { get; set; }
    /// <summary>macvlan/ipvlan: the namespace holding the endpoint's link (it has no host side to delete).</summary>
    public string? LinkNamespace { get; set; }
    /// <summary>The container's IPv4 / IPv6 gateway endpoint: its default route of that family goes through this
    /// interface and its ports of that family are published to this address (records from before: neither is set).</summary>
    public bool IsIpv4Gateway { get; set; }
    public bool IsIpv6Gateway { get; set; }
}

/// <summary>Everything Berth keeps about a container; persisted as one JSON file, replaced atomically.</summary>
public sealed class ContainerRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string Path { get; set; } = "";
    public List<string> Args { get; set; } = new();
    public string ImageId { get; set; } = "";
    public ContainerConfig Config { get; set; } = new();
    public HostConfig HostConfig { get; set; } = new();
    public ContainerState State { get; set; } = new();
    public List<EndpointRecord> Endpoints { get; set; } = new();
    /// <summary>Networks the container was asked to join (name → settings from NetworkingConfig).</summary>
    public Dictionary<string, EndpointSettings?> RequestedNetworks { get; set; } = new();
    public List<PublishedPortRecord> Ports { get; set; } = new();
    public string SandboxKey { get; set; } = "";
    public int RestartCount { get; set; }
    public string Runtime { get; set; } = "runc";
    /// <summary>Volumes, binds and tmpfs resolved at create; null in records from before Berth kept them (their
    /// Binds are read at start).</summary>
    public List<Volumes.MountPointRecord>? Mounts { get; set; }
    /// <summary>A `--network none` container taken off `none` (`network disconnect none`): on no network at all.</summary>
    public bool LeftNoneNetwork { get; set; }

    public string ShortId => Id[..12];
}
