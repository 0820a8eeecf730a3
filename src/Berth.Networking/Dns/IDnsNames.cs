using System.Net;

namespace Berth.Networking.Dns;

/// <summary>What the resolver asks the engine, at the moment of each query (so a start, stop, connect, disconnect or
/// rename is seen at once). <paramref name="clientId"/> is the container whose namespace the query came from.</summary>
public interface IDnsNames
{
    /// <summary>Addresses of <paramref name="name"/> on the networks the client shares with its owners; null when
    /// no container or alias has that name there (then the query is forwarded or answered NXDOMAIN).</summary>
    IReadOnlyList<IPAddress>? Lookup(string clientId, string name);

    /// <summary>"name.network" of the container holding <paramref name="address"/> on a shared network, or null.</summary>
    string? ReverseLookup(string clientId, IPAddress address);

    /// <summary>The client's own --dns servers, or empty to use the host's resolv.conf servers.</summary>
    IReadOnlyList<IPAddress> DnsServers(string clientId);
}
