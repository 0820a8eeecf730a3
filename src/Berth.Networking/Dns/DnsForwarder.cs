using System.Buffers.Binary;
using System.Net.Sockets;
using System.Collections.Concurrent;
using System.Net;

namespace Berth.Networking.Dns;

/// <summary>The two sockets a container's queries may leave by: its own namespace's (for ordinary upstreams, so the
/// container's network policy applies) and the host's (for host-loopback resolvers such as systemd-resolved).</summary>
public sealed record DnsUpstreamSockets(DnsUpstreamSocket Container, DnsUpstreamSocket Host,
    Func<System.Net.Sockets.Socket>? NewContainerTcpSocket = null);

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

    /// <summary>Over TCP, for a client that asked over TCP and got a truncated UDP answer from upstream.</summary>
    public async Task<byte[]?> ForwardTcpAsync(byte[] packet, IReadOnlyList<IPAddress> servers, DnsUpstreamSockets sockets)
    {
        foreach (var server in servers.Where(s => s.AddressFamily == AddressFamily.InterNetwork).Take(MaxServersTried))
        {
            Socket? socket = null;
            try
            {
                socket = IPAddress.IsLoopback(server) || sockets.NewContainerTcpSocket is null
                    ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
                    : sockets.NewContainerTcpSocket();
                using var timeout = new CancellationTokenSource(_timeout * 2);
                await socket.ConnectAsync(new IPEndPoint(server, 53), timeout.Token);
                using var stream = new NetworkStream(socket, ownsSocket: false);
                var framed = new byte[packet.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)packet.Length);
                packet.CopyTo(framed, 2);
                await stream.WriteAsync(framed, timeout.Token);
                var prefix = new byte[2];
                await stream.ReadExactlyAsync(prefix, timeout.Token);
                var answer = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
                await stream.ReadExactlyAsync(answer, timeout.Token);
                return answer;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException
                or Berth.Linux.LinuxException) { }
            finally { socket?.Dispose(); }
        }
        return null;
    }
}
