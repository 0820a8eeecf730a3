using System.Collections.Concurrent;
using System.Net;

namespace Berth.Networking.Dns;

/// <summary>The two sockets a container's queries may leave by: its own namespace's (for ordinary upstreams, so the
/// container's network policy applies) and the host's (for host-loopback resolvers such as systemd-resolved).</summary>
public sealed record DnsUpstreamSockets(DnsUpstreamSocket Container, DnsUpstreamSocket Host);

/// <summary>Forwards queries to upstream servers in order with a short timeout each. A server that failed is
/// skipped for a while (unless all have failed), so a dead upstream does not cost every query a timeout.</summary>
public sealed class DnsForwarder(TimeSpan? timeout = null, TimeSpan? penalty = null)
{
    private readonly TimeSpan _timeout = timeout ?? TimeSpan.FromMilliseconds(1500);
    private readonly TimeSpan _penalty = penalty ?? TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<IPAddress, DateTime> _failedUntil = new();
    private const int MaxServersTried = 3;

    public async Task<byte[]?> ForwardAsync(byte[] packet, IReadOnlyList<IPAddress> servers, DnsUpstreamSockets sockets)
    {
        var now = DateTime.UtcNow;
        // The upstream sockets are IPv4, as container networks are.
        servers = servers.Where(s => s.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).ToList();
        var healthy = servers.Where(s => !_failedUntil.TryGetValue(s, out var until) || until < now).ToList();
        var order = healthy.Count > 0 ? healthy : servers.ToList();
        foreach (var server in order.Take(MaxServersTried))
        {
            var socket = IPAddress.IsLoopback(server) ? sockets.Host : sockets.Container;
            var target = new IPEndPoint(server, 53);
            byte[]? answer = await socket.QueryAsync(packet, target, _timeout);
            if (answer is not null)
            {
                _failedUntil.TryRemove(server, out _);
                return answer;
            }
            _failedUntil[server] = DateTime.UtcNow + _penalty;
        }
        return null;
    }
}
