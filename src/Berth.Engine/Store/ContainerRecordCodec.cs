using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Volumes;

namespace Berth.Engine.Store;

/// <summary>The one place where a container's record meets its file (<see cref="StoredContainer"/>). A wire-shape
/// change reaches the disk only through here: a field added to Config or HostConfig rides along in their documents;
/// a renamed one, or any change to what a stored field means, bumps <see cref="CurrentSchema"/> with a step in
/// <see cref="Migrate"/> that rewrites older files as they load. A field added to the engine's own state
/// (ContainerRecord, ContainerState, HealthState, EndpointRecord, MountPointRecord) needs its line in the mapping
/// below: StoredContainerTests fails until it has one.</summary>
public sealed class ContainerRecordCodec : IRecordCodec<ContainerRecord>
{
    /// <summary>1: the record as the API's types serialized it (no SchemaVersion). 2: the envelope.</summary>
    public const int CurrentSchema = 2;

    public static readonly ContainerRecordCodec Instance = new();

    public byte[] Encode(ContainerRecord record) =>
        JsonSerializer.SerializeToUtf8Bytes(ToStored(record), StoreJson.Options);

    public ContainerRecord Decode(byte[] file)
    {
        if (JsonNode.Parse(file) is not JsonObject document) throw new JsonException("a record is not a JSON object");
        int version = document["SchemaVersion"] is JsonValue v && v.TryGetValue(out int n) ? n : 1;
        if (version > CurrentSchema) throw new NewerRecordSchemaException(version, CurrentSchema);
        if (version < 1) throw new JsonException($"schema version {version} is not valid");
        Migrate(document, version);
        var stored = document.Deserialize<StoredContainer>(StoreJson.Options)
            ?? throw new JsonException("a record is null");
        return FromStored(stored);
    }

    /// <summary>Brings an older file's document to <see cref="CurrentSchema"/>, one step per version.</summary>
    private static void Migrate(JsonObject document, int version)
    {
        // 1 → 2: the envelope took schema 1's names as they were, so the document reads unchanged; only computed
        // properties that schema 1 also wrote (ShortId) go.
        if (version < 2) document.Remove("ShortId");
        document["SchemaVersion"] = CurrentSchema;
    }

    public static StoredContainer ToStored(ContainerRecord r) => new()
    {
        SchemaVersion = CurrentSchema,
        Id = r.Id,
        Name = r.Name,
        Created = r.Created,
        Path = r.Path,
        Args = [.. r.Args],
        ImageId = r.ImageId,
        Config = JsonSerializer.SerializeToElement(r.Config, StoreJson.Options),
        HostConfig = JsonSerializer.SerializeToElement(r.HostConfig, StoreJson.Options),
        RequestedNetworks = JsonSerializer.SerializeToElement(r.RequestedNetworks, StoreJson.Options),
        State = ToStored(r.State),
        Endpoints = r.Endpoints.Select(ToStored).ToList(),
        Ports = r.Ports.Select(p => new StoredPort { ContainerPort = p.ContainerPort, HostIp = p.HostIp, HostPort = p.HostPort })
            .ToList(),
        SandboxKey = r.SandboxKey,
        RestartCount = r.RestartCount,
        Runtime = r.Runtime,
        Mounts = r.Mounts?.Select(ToStored).ToList(),
        LeftNoneNetwork = r.LeftNoneNetwork,
    };

    public static ContainerRecord FromStored(StoredContainer s) => new()
    {
        Id = s.Id,
        Name = s.Name,
        Created = s.Created,
        Path = s.Path,
        Args = s.Args ?? [],
        ImageId = s.ImageId,
        Config = Document<ContainerConfig>(s.Config) ?? new(),
        HostConfig = Document<HostConfig>(s.HostConfig) ?? new(),
        RequestedNetworks = Document<Dictionary<string, EndpointSettings?>>(s.RequestedNetworks) ?? new(),
        State = FromStored(s.State ?? new StoredState()),
        Endpoints = s.Endpoints?.Select(FromStored).ToList() ?? [],
        Ports = s.Ports?.Select(p => new PublishedPortRecord(p.ContainerPort, p.HostIp, p.HostPort)).ToList() ?? [],
        SandboxKey = s.SandboxKey,
        RestartCount = s.RestartCount,
        Runtime = s.Runtime,
        Mounts = s.Mounts?.Select(FromStored).ToList(),
        LeftNoneNetwork = s.LeftNoneNetwork,
    };

    private static T? Document<T>(JsonElement? element) where T : class =>
        element is { ValueKind: not JsonValueKind.Null } e ? e.Deserialize<T>(StoreJson.Options) : null;

    private static StoredState ToStored(ContainerState s) => new()
    {
        Status = s.Status,
        Running = s.Running,
        Paused = s.Paused,
        Restarting = s.Restarting,
        OOMKilled = s.OOMKilled,
        Dead = s.Dead,
        Pid = s.Pid,
        ExitCode = s.ExitCode,
        Error = s.Error,
        StartedAt = s.StartedAt,
        FinishedAt = s.FinishedAt,
        ProcessBootId = s.ProcessBootId,
        ProcessStartTime = s.ProcessStartTime,
        ManuallyStopped = s.ManuallyStopped,
        Health = s.Health is { } h
            ? new StoredHealth
            {
                Status = h.Status,
                FailingStreak = h.FailingStreak,
                Log = h.Log.Select(p => new StoredProbe { Start = p.Start, End = p.End, ExitCode = p.ExitCode, Output = p.Output })
                    .ToList(),
            }
            : null,
    };

    private static ContainerState FromStored(StoredState s) => new()
    {
        Status = s.Status,
        Running = s.Running,
        Paused = s.Paused,
        Restarting = s.Restarting,
        OOMKilled = s.OOMKilled,
        Dead = s.Dead,
        Pid = s.Pid,
        ExitCode = s.ExitCode,
        Error = s.Error,
        StartedAt = s.StartedAt,
        FinishedAt = s.FinishedAt,
        ProcessBootId = s.ProcessBootId,
        ProcessStartTime = s.ProcessStartTime,
        ManuallyStopped = s.ManuallyStopped,
        Health = s.Health is { } h
            ? new HealthState
            {
                Status = h.Status,
                FailingStreak = h.FailingStreak,
                Log = h.Log?.Select(p => new HealthProbe { Start = p.Start, End = p.End, ExitCode = p.ExitCode, Output = p.Output })
                    .ToList() ?? [],
            }
            : null,
    };

    private static StoredEndpoint ToStored(EndpointRecord e) => new()
    {
        NetworkId = e.NetworkId,
        NetworkName = e.NetworkName,
        EndpointId = e.EndpointId,
        IPAddress = e.IPAddress,
        PrefixLength = e.PrefixLength,
        Gateway = e.Gateway,
        MacAddress = e.MacAddress,
        InterfaceName = e.InterfaceName,
        HostVeth = e.HostVeth,
        Aliases = e.Aliases?.ToList(),
        Ipv6Address = e.Ipv6Address,
        Ipv6PrefixLength = e.Ipv6PrefixLength,
        Ipv6Gateway = e.Ipv6Gateway,
        LinkLocalAddresses = e.LinkLocalAddresses?.ToList(),
        LinkNamespace = e.LinkNamespace,
        IsIpv4Gateway = e.IsIpv4Gateway,
        IsIpv6Gateway = e.IsIpv6Gateway,
    };

    private static EndpointRecord FromStored(StoredEndpoint e) => new()
    {
        NetworkId = e.NetworkId,
        NetworkName = e.NetworkName,
        EndpointId = e.EndpointId,
        IPAddress = e.IPAddress,
        PrefixLength = e.PrefixLength,
        Gateway = e.Gateway,
        MacAddress = e.MacAddress,
        InterfaceName = e.InterfaceName,
        HostVeth = e.HostVeth,
        Aliases = e.Aliases?.ToList(),
        Ipv6Address = e.Ipv6Address,
        Ipv6PrefixLength = e.Ipv6PrefixLength,
        Ipv6Gateway = e.Ipv6Gateway,
        LinkLocalAddresses = e.LinkLocalAddresses?.ToList(),
        LinkNamespace = e.LinkNamespace,
        IsIpv4Gateway = e.IsIpv4Gateway,
        IsIpv6Gateway = e.IsIpv6Gateway,
    };

    private static StoredMount ToStored(MountPointRecord m) => new()
    {
        Type = m.Type,
        Name = m.Name,
        Source = m.Source,
        Destination = m.Destination,
        Driver = m.Driver,
        Mode = m.Mode,
        RW = m.RW,
        Propagation = m.Propagation,
        CopyData = m.CopyData,
        Subpath = m.Subpath,
        TmpfsOptions = m.TmpfsOptions,
        Hidden = m.Hidden,
        NonRecursive = m.NonRecursive,
        CreateSource = m.CreateSource,
    };

    private static MountPointRecord FromStored(StoredMount m) => new()
    {
        Type = m.Type,
        Name = m.Name,
        Source = m.Source,
        Destination = m.Destination,
        Driver = m.Driver,
        Mode = m.Mode,
        RW = m.RW,
        Propagation = m.Propagation,
        CopyData = m.CopyData,
        Subpath = m.Subpath,
        TmpfsOptions = m.TmpfsOptions,
        Hidden = m.Hidden,
        NonRecursive = m.NonRecursive,
        CreateSource = m.CreateSource,
    };
}
