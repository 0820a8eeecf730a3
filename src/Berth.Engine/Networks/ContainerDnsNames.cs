using System.Net;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Networking.Dns;

namespace Berth.Engine.Networks;

/// <summary>The names the embedded resolver answers, read from the containers' endpoints at query time, so a start,
/// stop, connect, disconnect, rename or removal is seen by the very next query. On each user-defined network a running
/// container answers to its name, its 12-character short id and its aliases there; the client's --link aliases
/// name their targets. Only networks the client itself is on count, and the answer is the address on that network.</summary>
public sealed class ContainerDnsNames(Func<IReadOnlyCollection<ContainerRecord>> containers, NetworkService networks)
    : IDnsNames
{
    public IReadOnlyList<IPAddress>? Lookup(string clientId, string name)
    {
        var all = Snapshot();
        var client = all.FirstOrDefault(c => c.Record.Id == clientId);
        if (client.Record is null) return null;
        name = name.TrimEnd('.');
        var found = new List<IPAddress>();
        foreach (var own in client.Endpoints.Where(e => IsUserDefined(e.NetworkId)))
        {
            // "name.network" names a container on that one network, as Docker answers too.
            string bare = name.EndsWith("." + own.NetworkName.ToLowerInvariant(), StringComparison.Ordinal)
                ? name[..^(own.NetworkName.Length + 1)] : name;
            string target = LinkTarget(client.Record, bare) ?? bare;
            foreach (var (record, endpoints) in all)
            {
                if (!record.State.Running) continue;
                foreach (var endpoint in endpoints.Where(e => e.NetworkId == own.NetworkId))
                {
                    if (Names(record, endpoint).Any(n => string.Equals(n, target, StringComparison.OrdinalIgnoreCase))
                        && IPAddress.TryParse(endpoint.IPAddress, out var address) && !found.Contains(address))
                        found.Add(address);
                }
            }
        }
        return found.Count > 0 ? found : null;
    }

    public string? ReverseLookup(string clientId, IPAddress address)
    {
        var all = Snapshot();
        var client = all.FirstOrDefault(c => c.Record.Id == clientId);
        if (client.Record is null) return null;
        string text = address.ToString();
        var shared = client.Endpoints.Where(e => IsUserDefined(e.NetworkId)).Select(e => e.NetworkId).ToHashSet();
        foreach (var (record, endpoints) in all)
        {
            if (!record.State.Running) continue;
            if (endpoints.FirstOrDefault(e => shared.Contains(e.NetworkId) && e.IPAddress == text) is { } endpoint)
                return $"{record.Name}.{endpoint.NetworkName}";
        }
        return null;
    }

    public IReadOnlyList<IPAddress> DnsServers(string clientId)
    {
        var client = containers().FirstOrDefault(c => c.Id == clientId);
        return (client?.HostConfig.Dns ?? []).Select(s => IPAddress.TryParse(s, out var ip) ? ip : null)
            .OfType<IPAddress>().ToList();
    }

    private static IEnumerable<string> Names(ContainerRecord record, EndpointRecord endpoint) =>
        [record.Name, record.ShortId, .. endpoint.Aliases ?? []];

    /// <summary>The container a --link alias of the client names ("target:alias" or dockerd's "/target:/client/alias").</summary>
    private static string? LinkTarget(ContainerRecord client, string alias)
    {
        foreach (string link in client.HostConfig.Links ?? [])
        {
            string[] parts = link.Split(':', 2);
            string target = parts[0].TrimStart('/');
            string linkAlias = parts.Length == 2 ? parts[1].Split('/').Last() : target;
            if (string.Equals(linkAlias, alias, StringComparison.OrdinalIgnoreCase)) return target;
        }
        return null;
    }

    private bool IsUserDefined(string networkId) => networks.Find(networkId) is { IsDefault: false };

    /// <summary>Each record with a copy of its endpoints: the lists change under the container's lock meanwhile.</summary>
    private List<(ContainerRecord Record, List<EndpointRecord> Endpoints)> Snapshot()
    {
        var result = new List<(ContainerRecord, List<EndpointRecord>)>();
        foreach (var record in containers())
        {
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    result.Add((record, record.Endpoints.ToList()));
                    break;
                }
                catch (InvalidOperationException) when (attempt < 3) { }
                catch (ArgumentException) when (attempt < 3) { }
            }
        }
        return result;
    }
}
