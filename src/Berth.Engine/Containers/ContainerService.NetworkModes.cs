using System.Net.NetworkInformation;
using Berth.Engine.Model;
using Berth.Engine.Networks;

namespace Berth.Engine.Containers;

/// <summary>Network modes other than a bridge network: `host` (the host's namespace), `none` (a namespace with
/// loopback only), `container:NAME` (another container's namespace); and several networks on one create.</summary>
public sealed partial class ContainerService
{
    public const string HostMode = "host", NoneMode = "none", ContainerModePrefix = "container:";

    public static bool IsContainerMode(string mode) => mode.StartsWith(ContainerModePrefix, StringComparison.Ordinal);

    /// <summary>What dockerd answers in the create response's Warnings.</summary>
    public static IReadOnlyList<string> CreateWarnings(ContainerRecord record) =>
        record.HostConfig.NetworkMode == HostMode && record.HostConfig.PortBindings is { Count: > 0 }
            ? ["Published ports are discarded when using host network mode"]
            : [];

    /// <summary>Checks the combinations dockerd refuses for host and container modes (as its runconfig does) and
    /// returns the networks to join: none for those modes, else the mode's network first, then every other entry of
    /// EndpointsConfig (API 1.44+ lets one create name several).</summary>
    private Dictionary<string, EndpointSettings?> ResolveRequestedNetworks(HostConfig hostConfig, NetworkingConfig? networking,
        ContainerCreateRequest request)
    {
        string mode = hostConfig.NetworkMode;
        if (mode == "container" || IsContainerMode(mode))
        {
            string target = mode == "container" ? "" : mode[ContainerModePrefix.Length..];
            if (target.Length == 0) throw new BadRequestException("invalid network mode: invalid container format container:<name|id>");
            if (!string.IsNullOrEmpty(request.Hostname)) throw new BadRequestException("conflicting options: hostname and the network mode");
            if (hostConfig.Links is { Count: > 0 })
                throw new BadRequestException("conflicting options: container type network can't be used with links. This would result in undefined behavior");
            if (hostConfig.Dns is { Count: > 0 }) throw new BadRequestException("conflicting options: dns and the network mode");
            if (hostConfig.ExtraHosts is { Count: > 0 }) throw new BadRequestException("conflicting options: custom host-to-IP mapping and the network mode");
            if (hostConfig.PortBindings is { Count: > 0 } || hostConfig.PublishAllPorts)
                throw new BadRequestException("conflicting options: port publishing and the container type network mode");
            if (request.ExposedPorts is { Count: > 0 }) throw new BadRequestException("conflicting options: port exposing and the container type network mode");
            _ = Get(target);
            return new();
        }
        if (mode is HostMode or NoneMode)
        {
            // dockerd 28's runconfig errors for the two modes.
            if (networking?.EndpointsConfig?.Keys.Any(k => k != mode) == true)
                throw new BadRequestException(mode == HostMode
                    ? "container sharing network namespace with another container or host cannot be connected to any other network"
                    : "container cannot be connected to multiple networks with one of the networks in private (none) mode");
            return new();
        }
        // As dockerd: with the default mode, the first network in EndpointsConfig is the one to join first
        // (Testcontainers sends no NetworkMode and names its network there).
        var entries = networking?.EndpointsConfig ?? new();
        if (mode == "default" && entries.Count > 0 && !entries.ContainsKey("default") && !entries.ContainsKey(NetworkService.DefaultNetworkName))
            mode = entries.Keys.First();
        var result = new Dictionary<string, EndpointSettings?>();
        Add(mode, true);
        foreach (string name in entries.Keys) Add(name, false);
        return result;

        void Add(string name, bool primary)
        {
            var network = _networks.Find(name) ?? throw new NotFoundException($"network {name} not found");
            if (result.ContainsKey(network.Name)) return;
            EndpointSettings? settings = null;
            entries.TryGetValue(name, out settings);
            if (primary && settings is null && name == "default") entries.TryGetValue(NetworkService.DefaultNetworkName, out settings);
            if (primary && settings is null) entries.TryGetValue(network.Name, out settings);
            if (network.IsDefault && settings?.Aliases is { Count: > 0 })
                throw new BadRequestException("network-scoped alias is supported only for containers in user defined networks");
            NetworkService.ValidateStaticAddresses(network, settings, name);
            result[network.Name] = settings;
        }
    }

    /// <summary>`network disconnect none C` on a `--network none` container, running or not: dockerd lets it go, and the
    /// container is then on no network (its namespace keeps loopback only). A second time, it is not connected.</summary>
    public async Task LeaveNoneAsync(string idOrName)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync();
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            var none = _networks.Predefined.First(n => n.Name == NoneMode);
            if (record.HostConfig.NetworkMode != NoneMode || record.LeftNoneNetwork)
                throw NetworkService.RefusePredefined(record, none, connect: false);
            record.LeftNoneNetwork = true;
            _store.Save(record);
            _networks.Publish(none, "disconnect", record.Id);
        }
        finally { handle.Lock.Release(); }
    }

    /// <summary>The container whose namespace a `container:NAME` container joins; it must be running, as dockerd asks.
    /// </summary>
    private ContainerRecord NamespaceOwner(ContainerRecord record)
    {
        string target = record.HostConfig.NetworkMode[ContainerModePrefix.Length..];
        var owner = Find(target) ?? throw new NotFoundException($"joining network namespace of container: No such container: {target}");
        if (owner.Id == record.Id) throw new BadRequestException("cannot join own network namespace");
        if (!owner.State.Running)
            throw new ConflictException($"cannot join network namespace of a non running container: container {owner.Name} is {owner.State.Status}");
        return owner;
    }

    /// <summary>The namespace a running container's processes live in: its own named one, or the runtime's.</summary>
    private static string NamespacePathOf(ContainerRecord running) =>
        running.SandboxKey.Length > 0 ? running.SandboxKey : $"/proc/{running.State.Pid}/ns/net";

    /// <summary>`--mac-address`: the endpoint's MacAddress, or the container's (API before 1.44) for its first network.</summary>
    private static PhysicalAddress? RequestedMac(EndpointSettings? settings, string? containerMac)
    {
        string? text = settings?.MacAddress is { Length: > 0 } own ? own : containerMac;
        if (string.IsNullOrEmpty(text)) return null;
        var bytes = text.Split(':');
        if (bytes.Length != 6 || !bytes.All(b => b.Length == 2 && b.All(char.IsAsciiHexDigit)))
            throw new BadRequestException($"invalid MAC address: {text}");
        var mac = PhysicalAddress.Parse(text.Replace(':', '-').ToUpperInvariant());
        if ((mac.GetAddressBytes()[0] & 1) != 0) throw new BadRequestException($"invalid MAC address: {text} is a multicast address");
        return mac;
    }

    /// <summary>`--network host`: the host's own /etc/hosts and /etc/resolv.conf, copied as they are (its loopback
    /// resolvers included: the container shares the host's network), as dockerd does unless --add-host or a --dns*
    /// option asks for a file of the container's own. False when the container gets the usual files.</summary>
    private static bool WriteHostModeNameFiles(ContainerRecord record, string bundle, bool inPlace)
    {
        var host = record.HostConfig;
        if (host.NetworkMode != HostMode || host.ExtraHosts is { Count: > 0 } || host.Dns is { Count: > 0 }
            || host.DnsSearch is { Count: > 0 } || host.DnsOptions is { Count: > 0 })
            return false;
        foreach (string file in new[] { "hosts", "resolv.conf" })
            ContainerNameFiles.Write(Path.Combine(bundle, file), File.Exists("/etc/" + file) ? File.ReadAllText("/etc/" + file) : "", inPlace);
        return true;
    }

    /// <summary>Hostname, hosts and resolv.conf a container of the given mode starts with (null: its own files).</summary>
    private (string Hostname, string? FilesOf) NameSourceFor(ContainerRecord record, ContainerRecord? owner) =>
        owner is not null ? (owner.Config.Hostname, BundleOf(owner.Id)) : (record.Config.Hostname, null);
}
