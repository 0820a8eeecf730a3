using System.Security.Cryptography;
using System.Text;
using Berth.Engine.Containers;
using Berth.Engine.Model;

namespace Berth.Engine.Networks;

/// <summary>dockerd's `host` and `none` networks: listed, inspected and filtered like the others, never removed. They
/// are not stored and have no bridge, subnet or firewall rules: `--network host` and `--network none` containers are
/// their members. Their ids are stable for one engine (derived from the host and the data root), their creation time
/// the default bridge's.</summary>
public sealed partial class NetworkService
{
    public const string HostDriver = "host", NullDriver = "null";

    private IReadOnlyList<NetworkRecord>? _predefined;

    /// <summary>`host` (driver host) and `none` (driver null).</summary>
    public IReadOnlyList<NetworkRecord> Predefined => _predefined ??= new[]
    {
        (Name: ContainerService.NoneMode, Driver: NullDriver), (Name: ContainerService.HostMode, Driver: HostDriver),
    }.Select(p => new NetworkRecord
    {
        Id = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(HostIdentity() + "\npredefined network " + p.Name))).ToLowerInvariant(),
        Name = p.Name, Driver = p.Driver, Created = Default.Created,
    }).ToList();

    /// <summary>What `GET /networks` lists: the stored networks and the two predefined ones.</summary>
    public IReadOnlyCollection<NetworkRecord> Listed => [.. Predefined, .. All];

    public static bool IsHostOrNone(NetworkRecord network) => network.Driver is HostDriver or NullDriver && network.Subnet.Length == 0;

    /// <summary>A network by id, name or id prefix, `host` and `none` included (for inspect and remove).</summary>
    public NetworkRecord GetListed(string idOrName)
    {
        if (Find(idOrName) is { } stored) return stored;
        if (string.IsNullOrEmpty(idOrName)) throw new NotFoundException($"network {idOrName} not found");
        return Predefined.FirstOrDefault(n => n.Name == idOrName || n.Id == idOrName)
            ?? (Predefined.Where(n => n.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList() is [var single] ? single : null)
            ?? throw new NotFoundException($"network {idOrName} not found");
    }

    /// <summary>The network of a container that has no endpoint of its own: `host` or `none` by its mode, else null.</summary>
    public NetworkRecord? PredefinedOf(ContainerRecord container) => container.LeftNoneNetwork ? null
        : Predefined.FirstOrDefault(n => n.Name == container.HostConfig.NetworkMode);

    /// <summary>A stable endpoint id for a container in `host` or `none` (dockerd makes one per start).</summary>
    public static string PredefinedEndpointId(ContainerRecord container, NetworkRecord network) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(container.Id + "\n" + network.Id + "\n" + container.State.StartedAt.ToString("O"))))
            .ToLowerInvariant();

    /// <summary>`network connect`/`disconnect` with `host` or `none`: dockerd's refusals (these networks take members
    /// only at create, through the network mode).</summary>
    public static EngineException RefusePredefined(ContainerRecord container, NetworkRecord network, bool connect)
    {
        string mode = container.HostConfig.NetworkMode;
        if (mode == network.Name && !(container.LeftNoneNetwork && !connect))
            return connect
                ? new ConflictException($"endpoint with name {container.Name} already exists in network {network.Name}")
                : new BadRequestException($"cannot disconnect container from {network.Name} network - container was created in {network.Name} network mode");
        if (!connect) return new EngineException(403, $"container {container.Id} is not connected to network {network.Name}");
        if (mode is ContainerService.HostMode or ContainerService.NoneMode || ContainerService.IsContainerMode(mode))
            return new BadRequestException("container sharing network namespace with another container or host cannot be connected to any other network");
        return network.Driver == HostDriver
            ? new BadRequestException("cannot connect container to host network - container must be created in host network mode")
            : new BadRequestException("container cannot be connected to multiple networks with one of the networks in private (none) mode");
    }
}
