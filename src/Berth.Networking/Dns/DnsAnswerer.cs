using System.Net;

namespace Berth.Networking.Dns;

/// <summary>Answers one query from a container: container names from <see cref="IDnsNames"/>, the rest forwarded.</summary>
public sealed class DnsAnswerer(IDnsNames names, DnsForwarder forwarder, HostResolvConf hostResolvConf)
{
    public const int MaxUdpSize = 512;
    private readonly DnsAnswerCache _cache = new();
    private int _rotation;

    /// <summary>The answer to send back, or null to drop the packet (malformed or not a query).</summary>
    public async ValueTask<byte[]?> AnswerAsync(string clientId, byte[] packet, bool overTcp, DnsUpstreamSockets sockets)
    {
        var local = AnswerLocally(clientId, packet, overTcp, out var forward);
        if (local is not null || forward is null) return local;
        return await ForwardAsync(clientId, packet, forward, overTcp, sockets);
    }

    /// <summary>What the engine answers itself, at once: container names, PTR of their addresses, NXDOMAIN for an
    /// unknown single label, NOTIMP for other opcodes. Null otherwise: then <paramref name="toForward"/> is the query
    /// to hand to <see cref="ForwardAsync"/>, or null when the packet is to be dropped.</summary>
    public byte[]? AnswerLocally(string clientId, ReadOnlySpan<byte> packet, bool overTcp, out DnsQuery? toForward)
    {
        toForward = null;
        var query = DnsQuery.Parse(packet);
        if (query is null) return null;
        int limit = overTcp ? 65535 : query.EdnsUdpSize ?? MaxUdpSize;
        if (query.Opcode != 0) return DnsResponse.Failure(packet, query, DnsResponse.NotImp);
        if (query.Class == DnsQuery.ClassIn && Local(clientId, packet, query, limit) is { } local) return local;
        toForward = query;
        return null;
    }

    /// <summary>Anything else: the client's --dns servers, else the host's; from the cache within the answer's TTL.
    /// SERVFAIL when no server answers.</summary>
    public async Task<byte[]> ForwardAsync(string clientId, byte[] packet, DnsQuery query, bool overTcp, DnsUpstreamSockets sockets)
    {
        int limit = overTcp ? 65535 : query.EdnsUdpSize ?? MaxUdpSize;
        var servers = names.DnsServers(clientId);
        if (servers.Count == 0) servers = hostResolvConf.Servers();
        string key = DnsAnswerCache.Key(query, servers);
        byte[]? forwarded = _cache.Get(key, query.Id);
        if (forwarded is null)
        {
            forwarded = await forwarder.ForwardAsync(packet, servers, sockets);
            if (forwarded is null || forwarded.Length < 12) return DnsResponse.Failure(packet, query, DnsResponse.ServFail);
            // The client asked over TCP for the whole answer: fetch it over TCP when upstream's UDP one was cut.
            if (overTcp && (forwarded[2] & 0x02) != 0
                && await forwarder.ForwardTcpAsync(packet, servers, sockets) is { Length: >= 12 } whole)
                forwarded = whole;
            _cache.Put(key, (byte[])forwarded.Clone());
            forwarded[0] = packet[0];
            forwarded[1] = packet[1];
        }
        return forwarded.Length > limit ? DnsResponse.Truncate(forwarded, query) : forwarded;
    }

    private byte[]? Local(string clientId, ReadOnlySpan<byte> packet, DnsQuery query, int limit)
    {
        if (query.Type == DnsQuery.TypePtr && DnsQuery.ReverseAddress(query.Name) is { } address)
        {
            string? owner = names.ReverseLookup(clientId, address);
            return owner is null ? null : DnsResponse.Build(packet, query, DnsResponse.NoError, [], owner, limit);
        }
        var found = names.Lookup(clientId, query.Name);
        if (found is null)
        {
            // A single label (no dot) is a container name or nothing: answer for our scope rather than leak it out.
            bool inScope = !query.Name.Contains('.') && query.Name.Length > 0;
            return inScope ? DnsResponse.Build(packet, query, DnsResponse.NxDomain, [], null, limit) : null;
        }
        var family = query.Type switch
        {
            DnsQuery.TypeA => System.Net.Sockets.AddressFamily.InterNetwork,
            DnsQuery.TypeAaaa => System.Net.Sockets.AddressFamily.InterNetworkV6,
            _ => System.Net.Sockets.AddressFamily.Unknown,
        };
        // Other types (and AAAA of IPv4-only names) get an empty NOERROR so clients never wait on them.
        var matching = new List<IPAddress>(found.Count);
        foreach (var candidate in found)
            if (candidate.AddressFamily == family) matching.Add(candidate);
        if (matching.Count > 1)
        {
            // Round robin: each answer starts one further along, as compose --scale clients expect.
            int start = (int)((uint)Interlocked.Increment(ref _rotation) % (uint)matching.Count);
            matching = [.. matching[start..], .. matching[..start]];
        }
        return DnsResponse.Build(packet, query, DnsResponse.NoError, matching, null, limit);
    }
}
