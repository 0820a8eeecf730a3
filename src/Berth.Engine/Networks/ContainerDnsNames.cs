using System.Net;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Networking.Dns;

namespace Berth.Engine.Networks;

/// <summary>The names the embedded resolver answers, indexed from the containers' endpoints and rebuilt whenever a
/// container record is saved (start, stop, connect, disconnect, rename, removal), so the next query sees the change.
/// On each user-defined network a running container answers to its <see cref="NamesOf">DNS names</see> there; the client's --link aliases name their targets (those of `network connect --link` on that network only). Only networks the client is on count, and the answer is
/// the address on that network.</summary>
public sealed class ContainerDnsNames(Func<IReadOnlyCollection<ContainerRecord>> containers, Func<long> version,
    NetworkService networks) : IDnsNames
{
    private sealed record Client(List<(string NetworkId, string NetworkName)> Networks,
        List<(string? NetworkId, string Alias, string Target)> Links,
        List<IPAddress> DnsServers);

    private sealed record Index(long Version, DateTime Built, Dictionary<string, Client> Clients,
        Dictionary<(string NetworkId, string Name), List<IPAddress>> Names, Dictionary<(string NetworkId, IPAddress), string> Reverse);

    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(2); // a safety net for a change saved nowhere
    private readonly Lock _rebuild = new();
    private Index? _index;

    public IReadOnlyList<IPAddress>? Lookup(string clientId, string name)
    {
        var index = Current();
        if (!index.Clients.TryGetValue(clientId, out var client)) return null;
        name = name.TrimEnd('.');
        List<IPAddress>? found = null;
        foreach (var (networkId, networkName) in client.Networks)
        {
            // "name.network" names a container on that one network, as Docker answers too.
            string bare = name.Length > networkName.Length + 1 && name.EndsWith(networkName, StringComparison.OrdinalIgnoreCase)
                && name[^(networkName.Length + 1)] == '.' ? name[..^(networkName.Length + 1)] : name;
            string target = client.Links.FirstOrDefault(l => (l.NetworkId is null || l.NetworkId == networkId)
                && string.Equals(l.Alias, bare, StringComparison.OrdinalIgnoreCase)).Target ?? bare;
            if (!index.Names.TryGetValue((networkId, target.ToLowerInvariant()), out var addresses)) continue;
            if (found is null && client.Networks.Count == 1) return addresses;
            found ??= [];
            found.AddRange(addresses.Where(a => !found.Contains(a)));
        }
        return found;
    }

    public string? ReverseLookup(string clientId, IPAddress address)
    {
        var index = Current();
        if (!index.Clients.TryGetValue(clientId, out var client)) return null;
        foreach (var (networkId, _) in client.Networks)
            if (index.Reverse.TryGetValue((networkId, address), out var name)) return name;
        return null;
    }

    public IReadOnlyList<IPAddress> DnsServers(string clientId) =>
        Current().Clients.TryGetValue(clientId, out var client) ? client.DnsServers : [];

    private Index Current()
    {
        var index = _index;
        long now = version();
        if (index is not null && index.Version == now && DateTime.UtcNow - index.Built < MaxAge) return index;
        lock (_rebuild)
        {
            index = _index;
            if (index is not null && index.Version == now && DateTime.UtcNow - index.Built < MaxAge) return index;
            return _index = Build(now);
        }
    }

    private Index Build(long stamp)
    {
        var clients = new Dictionary<string, Client>();
        var names = new Dictionary<(string, string), List<IPAddress>>();
        var reverse = new Dictionary<(string, IPAddress), string>();
        var userNetworks = networks.All.Where(n => !n.IsDefault).ToDictionary(n => n.Id, n => n.Name);
        foreach (var record in containers())
        {
            if (!record.State.Running) continue;
            var endpoints = Copy(record.Endpoints).Where(e => userNetworks.ContainsKey(e.NetworkId)).ToList();
            if (endpoints.Count == 0) continue;
            clients[record.Id] = new Client(
                endpoints.Select(e => (e.NetworkId, userNetworks[e.NetworkId])).ToList(),
                ContainerLinks.Parse(record.HostConfig.Links).Select(l => ((string?)null, l.Alias, l.Target))
                    .Concat(endpoints.SelectMany(e => ContainerLinks.Parse(record.RequestedNetworks.GetValueOrDefault(e.NetworkName)?.Links)
                        .Select(l => ((string?)e.NetworkId, l.Alias, l.Target)))).ToList(),
                (record.HostConfig.Dns ?? []).Select(s => IPAddress.TryParse(s, out var ip) ? ip : null).OfType<IPAddress>().ToList());
            foreach (var endpoint in endpoints)
            {
                // A for the IPv4 address, AAAA for the IPv6 one on a dual-stack network (the answerer picks by family).
                foreach (string text in new[] { endpoint.IPAddress, endpoint.Ipv6Address })
                {
                    if (!IPAddress.TryParse(text, out var address)) continue;
                    foreach (string name in NamesOf(record, endpoint.Aliases))
                    {
                        var key = (endpoint.NetworkId, name.ToLowerInvariant());
                        if (!names.TryGetValue(key, out var list)) names[key] = list = [];
                        if (!list.Contains(address)) list.Add(address);
                    }
                    reverse[(endpoint.NetworkId, address)] = $"{record.Name}.{userNetworks[endpoint.NetworkId]}";
                }
            }
        }
        return new Index(stamp, DateTime.UtcNow, clients, names, reverse);
    }

    /// <summary>A container's names on one user-defined network, as dockerd 28 lists them in DNSNames and answers them:
    /// its name, its aliases there, its short id, its hostname, each once.</summary>
    public static IEnumerable<string> NamesOf(ContainerRecord record, IEnumerable<string>? aliases) =>
        new string?[] { record.Name }.Concat(aliases ?? []).Append(record.ShortId).Append(record.Config.Hostname)
            .OfType<string>().Where(n => n.Length > 0).Distinct();

    /// <summary>The endpoint list changes under the container's lock meanwhile: copy it, retrying a torn read.</summary>
    private static List<EndpointRecord> Copy(List<EndpointRecord> endpoints)
    {
        for (int attempt = 0; ; attempt++)
        {
            try { return endpoints.ToList(); }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException && attempt < 3) { }
        }
    }
}
