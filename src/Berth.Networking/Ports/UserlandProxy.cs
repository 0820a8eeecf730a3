using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Ports;

/// <summary>In-process TCP forwarder for what the kernel cannot NAT: an IPv6 host address (`::`, `::1`) published to
/// an IPv4-only container. One listener per published address, on the socket the allocator already bound.</summary>
public sealed class UserlandProxy(ILogger<UserlandProxy>? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger<UserlandProxy>.Instance;
    private readonly ConcurrentDictionary<string, List<CancellationTokenSource>> _running = new();

    public void Start(string ownerId, PublishedPort port, IPAddress containerIp, int containerPort, Socket? reserved = null)
    {
        if (port.ContainerPort.Protocol != PortProtocol.Tcp)
        {
            _logger.LogInformation("{Ip}:{Port}/{Proto} is reserved but not proxied (only TCP is proxied for IPv6 addresses)",
                port.HostIp, port.HostPort, ContainerPort.Name(port.ContainerPort.Protocol));
            return;
        }
        var listener = reserved ?? new Socket(port.HostIp.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { DualMode = false };
        if (reserved is null) listener.Bind(new IPEndPoint(port.HostIp, port.HostPort));
        listener.Listen(512);
        var cts = new CancellationTokenSource();
        _running.GetOrAdd(ownerId, _ => new()).Add(cts);
        _ = AcceptLoopAsync(listener, new IPEndPoint(containerIp, containerPort), reserved is null, cts.Token);
    }

    public void Stop(string ownerId)
    {
        if (_running.TryRemove(ownerId, out var list))
            foreach (var cts in list) cts.Cancel();
    }

    private async Task AcceptLoopAsync(Socket listener, IPEndPoint target, bool ownsListener, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(ct);
                _ = ForwardAsync(client, target, ct);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { }
        finally
        {
            if (ownsListener) listener.Dispose();
        }
    }

    private async Task ForwardAsync(Socket client, IPEndPoint target, CancellationToken ct)
    {
        using (client)
        using (var upstream = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp))
        {
            try
            {
                await upstream.ConnectAsync(target, ct);
                using var a = new NetworkStream(client, ownsSocket: false);
                using var b = new NetworkStream(upstream, ownsSocket: false);
                var toUpstream = Pump(a, b, upstream, ct);
                var toClient = Pump(b, a, client, ct);
                await Task.WhenAll(toUpstream, toClient);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                _logger.LogDebug("proxy to {Target}: {Error}", target, e.Message);
            }
        }
    }

    private static async Task Pump(Stream from, Stream to, Socket toSocket, CancellationToken ct)
    {
        try { await from.CopyToAsync(to, 64 * 1024, ct); }
        finally
        {
            try { toSocket.Shutdown(SocketShutdown.Send); } catch (SocketException) { } catch (ObjectDisposedException) { }
        }
    }
}
