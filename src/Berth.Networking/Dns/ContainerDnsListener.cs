using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Berth.Networking.Namespaces;
using Microsoft.Extensions.Logging;

namespace Berth.Networking.Dns;

/// <summary>127.0.0.11:53 over UDP and TCP inside one container's network namespace. The sockets are made on a
/// dedicated thread that enters the namespace and ends (a socket keeps the namespace it was made in); serving them
/// is ordinary async I/O on the engine's event loop, with no thread or process per container.</summary>
public sealed class ContainerDnsListener : IDisposable
{
    public static readonly IPAddress Address = IPAddress.Parse("127.0.0.11");
    private const int MaxTcpConnections = 64;
    private const int MaxUdpInFlight = 256; // queries waiting on an upstream; a flood beyond it is dropped
    private static readonly TimeSpan TcpIdle = TimeSpan.FromSeconds(10);

    private readonly string _clientId;
    private readonly Socket _udp, _tcp;
    private readonly DnsUpstreamSockets _upstream;
    private readonly DnsAnswerer _answerer;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private int _tcpConnections, _udpInFlight;

    private ContainerDnsListener(string clientId, Socket udp, Socket tcp, DnsUpstreamSockets upstream,
        DnsAnswerer answerer, ILogger logger)
    {
        (_clientId, _udp, _tcp, _upstream, _answerer, _logger) = (clientId, udp, tcp, upstream, answerer, logger);
    }

    public static ContainerDnsListener Open(string clientId, string netnsPath, DnsAnswerer answerer,
        DnsUpstreamSocket hostUpstream, ILogger logger)
    {
        var (udp, tcp, upstream) = NetworkNamespace.Run(netnsPath, () =>
        {
            var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            var t = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                u.Bind(new IPEndPoint(Address, 53));
                t.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                t.Bind(new IPEndPoint(Address, 53));
                t.Listen(16);
                return (u, t, DnsUpstreamSocket.CreateSocket());
            }
            catch
            {
                u.Dispose();
                t.Dispose();
                throw;
            }
        });
        // A TCP socket to an upstream is made in the container's namespace too (rare: truncated answers only).
        Socket NewTcpSocket() => NetworkNamespace.Run(netnsPath,
            () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var listener = new ContainerDnsListener(clientId, udp, tcp,
            new DnsUpstreamSockets(new DnsUpstreamSocket(upstream), hostUpstream, NewTcpSocket), answerer, logger);
        _ = listener.ServeUdpAsync();
        _ = listener.AcceptTcpAsync();
        return listener;
    }

    /// <summary>Container names are answered inline, from the receive buffer, with no task or copy per query;
    /// only queries that leave for an upstream get a task of their own (at most <see cref="MaxUdpInFlight"/>), so a
    /// slow upstream never holds up container names.</summary>
    private async Task ServeUdpAsync()
    {
        var buffer = new byte[65535];
        var client = new SocketAddress(AddressFamily.InterNetwork);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                int received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, client, _stop.Token);
                var answer = _answerer.AnswerLocally(_clientId, buffer.AsSpan(0, received), overTcp: false, out var forward);
                if (answer is not null) await _udp.SendToAsync(answer, SocketFlags.None, client, _stop.Token);
                else if (forward is not null && Volatile.Read(ref _udpInFlight) < MaxUdpInFlight)
                    _ = ForwardUdpAsync(buffer[..received], forward, Copy(client));
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { }
        }
    }

    private static SocketAddress Copy(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.CopyTo(copy.Buffer);
        return copy;
    }

    private async Task ForwardUdpAsync(byte[] packet, DnsQuery query, SocketAddress client)
    {
        Interlocked.Increment(ref _udpInFlight);
        try
        {
            var answer = await _answerer.ForwardAsync(_clientId, packet, query, overTcp: false, _upstream);
            await _udp.SendToAsync(answer, SocketFlags.None, client);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        catch (Exception e) { _logger.LogWarning(e, "answering a DNS query of {Id} failed", _clientId[..12]); }
        finally { Interlocked.Decrement(ref _udpInFlight); }
    }

    private async Task AcceptTcpAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try { connection = await _tcp.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            if (Interlocked.Increment(ref _tcpConnections) > MaxTcpConnections)
            {
                Interlocked.Decrement(ref _tcpConnections);
                connection.Dispose();
                continue;
            }
            _ = ServeTcpAsync(connection);
        }
    }

    /// <summary>RFC 7766: length-prefixed messages, several per connection, until the client closes or idles.</summary>
    private async Task ServeTcpAsync(Socket connection)
    {
        try
        {
            using var stream = new NetworkStream(connection, ownsSocket: true);
            var prefix = new byte[2];
            while (!_stop.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                idle.CancelAfter(TcpIdle);
                await stream.ReadExactlyAsync(prefix, idle.Token);
                int length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
                if (length < 12) return;
                var packet = new byte[length];
                await stream.ReadExactlyAsync(packet, idle.Token);
                var answer = await _answerer.AnswerAsync(_clientId, packet, overTcp: true, _upstream);
                if (answer is null) return;
                var framed = new byte[answer.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                answer.CopyTo(framed, 2);
                await stream.WriteAsync(framed, _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or OperationCanceledException
            or SocketException or ObjectDisposedException) { }
        catch (Exception e) { _logger.LogWarning(e, "a DNS TCP connection of {Id} failed", _clientId[..12]); }
        finally { Interlocked.Decrement(ref _tcpConnections); }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Dispose();
        _upstream.Container.Dispose();
    }
}
