using Berth.Engine.Model;
using Berth.Networking.Dns;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>Names: the embedded resolver's listener for containers on user-defined networks, and the container's
/// resolv.conf and hosts files.</summary>
public sealed partial class ContainerService
{
    /// <summary>The engine's resolver; null leaves containers with the host's resolvers only.</summary>
    public DnsServer? Dns { get; set; }

    /// <summary>Changes with every saved change of any container (start, stop, rename, connect, removal...).</summary>
    public long RecordsVersion => _store.Version;

    private bool OnUserNetwork(ContainerRecord record) =>
        record.Endpoints.Any(e => _networks.Find(e.NetworkId) is { IsDefault: false });

    private void OpenResolver(ContainerRecord record)
    {
        if (Dns is null || string.IsNullOrEmpty(record.SandboxKey) || !OnUserNetwork(record)) return;
        try { Dns.Open(record.Id, record.SandboxKey); }
        catch (Exception e) { _logger.LogWarning(e, "opening the DNS resolver in {Id} failed", record.ShortId); }
    }

    private void CloseResolver(string id) => Dns?.Close(id);

    /// <summary>After an engine restart: containers that kept running get their resolver back.</summary>
    public void ReopenResolvers()
    {
        foreach (var record in _store.All.Where(r => r.State.Running)) OpenResolver(record);
    }

    /// <summary>Connect or disconnect of a running container: resolv.conf and hosts follow its networks, as dockerd
    /// rewrites them (127.0.0.11 once it is on a user network, the host's servers again when it leaves the last one),
    /// and the resolver's listener opens, or closes at once.</summary>
    private void RefreshNames(ContainerRecord record)
    {
        try { WriteNameFiles(record, BundleOf(record.Id), record.Config.Hostname, inPlace: true); }
        catch (IOException e) { _logger.LogWarning(e, "rewriting the name files of {Id} failed", record.ShortId); }
        if (OnUserNetwork(record)) OpenResolver(record);
        else CloseResolver(record.Id);
    }

    /// <param name="inPlace">For a running container: the files are bind-mounted into it, so they are rewritten in
    /// place (a rename would leave the container on the old file).</param>
    private void WriteNameFiles(ContainerRecord record, string bundle, string hostname, bool inPlace = false)
    {
        if (WriteHostModeNameFiles(record, bundle, inPlace)) return;
        var host = record.HostConfig;
        string hostResolvConf = File.Exists("/etc/resolv.conf") ? File.ReadAllText("/etc/resolv.conf") : "";
        bool embedded = Dns is not null && OnUserNetwork(record);
        ContainerNameFiles.Write(Path.Combine(bundle, "resolv.conf"), ContainerNameFiles.ResolvConf(
            hostResolvConf, embedded, host.Dns ?? [], host.DnsSearch ?? [], host.DnsOptions ?? []), inPlace);
        string? gateway = record.Endpoints.FirstOrDefault()?.Gateway;
        ContainerNameFiles.Write(Path.Combine(bundle, "hosts"), ContainerNameFiles.Hosts(hostname,
            record.Config.Domainname, record.Endpoints.SelectMany(e => new[] { e.IPAddress, e.Ipv6Address }).Where(a => a.Length > 0),
            ContainerNameFiles.ExtraHosts(host.ExtraHosts ?? [], gateway), LinkHostLines(record)), inPlace);
    }

    /// <summary>--link on the default bridge: "address alias hostname name" of each running target, as dockerd.</summary>
    private IEnumerable<string> LinkHostLines(ContainerRecord record)
    {
        foreach (var (linked, address, alias) in LinkedContainers(record, defaultBridgeOnly: false))
        {
            var names = new[] { alias, linked.Config.Hostname, linked.Name }.Distinct();
            yield return $"{address}\t{string.Join(' ', names)}";
        }
    }

    /// <summary>The legacy link variables (DB_PORT_5432_TCP_ADDR...) of a container on the default bridge, for its
    /// process and its execs, as dockerd 28 sets them; none on user-defined networks. The container's own variables
    /// win: a name it sets itself is left out.</summary>
    public List<string> LinkEnvironment(ContainerRecord record)
    {
        var own = (record.Config.Env ?? []).Select(e => e.Split('=', 2)[0]).ToHashSet();
        return LinkedContainers(record, defaultBridgeOnly: true)
            .SelectMany(l => ContainerLinks.Environment($"/{record.Name}/{l.Alias}", l.Address,
                (IEnumerable<string>?)l.Linked.Config.ExposedPorts?.Keys ?? [], l.Linked.Config.Env ?? []))
            .Where(variable => !own.Contains(variable.Split('=', 2)[0]))
            .ToList();
    }

    /// <summary>Each running link target with its address on a network the client shares (the default bridge when
    /// <paramref name="defaultBridgeOnly"/>).</summary>
    private IEnumerable<(ContainerRecord Linked, string Address, string Alias)> LinkedContainers(ContainerRecord record,
        bool defaultBridgeOnly)
    {
        foreach (var (target, alias) in ContainerLinks.Parse(record.HostConfig.Links))
        {
            if (Find(target) is not { State.Running: true } linked) continue;
            var shared = linked.Endpoints.FirstOrDefault(e => record.Endpoints.Any(o => o.NetworkId == e.NetworkId)
                && (!defaultBridgeOnly || _networks.Find(e.NetworkId) is { IsDefault: true }));
            if (shared is not null) yield return (linked, shared.IPAddress, alias);
        }
    }
}
