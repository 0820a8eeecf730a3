using System.Text.Json;

namespace Berth.Engine.Store;

/// <summary>containers/&lt;id&gt;/state.json as it is on disk: a versioned envelope that the store owns, apart from the
/// engine's model and the API's wire shapes. Config, HostConfig and RequestedNetworks are the documents the API took
/// (kept whole, so a field added to HostConfig is persisted without a change here); everything the engine itself
/// tracks (state, process identity, endpoints, ports, mounts) has a stored type of its own. The property names are
/// those of the records written before the envelope (schema 1), which therefore read as they are.</summary>
public sealed class StoredContainer
{
    public int SchemaVersion { get; set; }
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string Path { get; set; } = "";
    public List<string>? Args { get; set; }
    public string ImageId { get; set; } = "";
    public JsonElement? Config { get; set; }
    public JsonElement? HostConfig { get; set; }
    public JsonElement? RequestedNetworks { get; set; }
    public StoredState? State { get; set; }
    public List<StoredEndpoint>? Endpoints { get; set; }
    public List<StoredPort>? Ports { get; set; }
    public string SandboxKey { get; set; } = "";
    public int RestartCount { get; set; }
    public string Runtime { get; set; } = "runc";
    /// <summary>Null in records from before Berth kept resolved mounts.</summary>
    public List<StoredMount>? Mounts { get; set; }
    public bool LeftNoneNetwork { get; set; }
}

public sealed class StoredState
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
    public string ProcessBootId { get; set; } = "";
    public ulong ProcessStartTime { get; set; }
    public bool ManuallyStopped { get; set; }
    public StoredHealth? Health { get; set; }
}

public sealed class StoredHealth
{
    public string Status { get; set; } = "";
    public int FailingStreak { get; set; }
    public List<StoredProbe>? Log { get; set; }
}

public sealed class StoredProbe
{
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public int ExitCode { get; set; }
    public string Output { get; set; } = "";
}

public sealed class StoredEndpoint
{
    public string NetworkId { get; set; } = "";
    public string NetworkName { get; set; } = "";
    public string EndpointId { get; set; } = "";
    public string IPAddress { get; set; } = "";
    public int PrefixLength { get; set; }
    public string Gateway { get; set; } = "";
    public string MacAddress { get; set; } = "";
    public string InterfaceName { get; set; } = "eth0";
    public string HostVeth { get; set; } = "";
    public List<string>? Aliases { get; set; }
    public string Ipv6Address { get; set; } = "";
    public int Ipv6PrefixLength { get; set; }
    public string Ipv6Gateway { get; set; } = "";
    public List<string>? LinkLocalAddresses { get; set; }
    public string? LinkNamespace { get; set; }
    public bool IsIpv4Gateway { get; set; }
    public bool IsIpv6Gateway { get; set; }
}

public sealed class StoredPort
{
    public string ContainerPort { get; set; } = "";
    public string HostIp { get; set; } = "";
    public int HostPort { get; set; }
}

public sealed class StoredMount
{
    public string Type { get; set; } = "volume";
    public string? Name { get; set; }
    public string Source { get; set; } = "";
    public string Destination { get; set; } = "";
    public string? Driver { get; set; }
    public string Mode { get; set; } = "";
    public bool RW { get; set; } = true;
    public string Propagation { get; set; } = "";
    public bool CopyData { get; set; }
    public string? Subpath { get; set; }
    public string? TmpfsOptions { get; set; }
    public bool Hidden { get; set; }
    public bool NonRecursive { get; set; }
    public bool CreateSource { get; set; }
}
