using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Berth.Networking.Dns;

/// <summary>One UDP socket that carries many forwarded queries at once: each gets a fresh message id, and answers
/// are matched back by id and source. The socket keeps the namespace it was created in.</summary>
public sealed class DnsUpstreamSocket : IDisposable
{
    private readonly Socket _socket;
    private readonly ConcurrentDictionary<ushort, (IPEndPoint Server, TaskCompletionSource<byte[]> Answer)> _pending = new();
    private readonly CancellationTokenSource _stop = new();

    public DnsUpstreamSocket(Socket socket)
    {
        _socket = socket;
        _ = ReceiveLoopAsync();
    }

    /// <summary>A UDP socket bound to an ephemeral port in the calling thread's network namespace.</summary>
    public static Socket CreateSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        return socket;
    }

    public async Task<byte[]?> QueryAsync(byte[] packet, IPEndPoint server, TimeSpan timeout)
    {
        ushort id;
        var entry = (server, new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously));
        do id = (ushort)Random.Shared.Next(0, 65536);
        while (!_pending.TryAdd(id, entry));
        try
        {
            var copy = (byte[])packet.Clone();
            BinaryPrimitives.WriteUInt16BigEndian(copy, id);
            await _socket.SendToAsync(copy, SocketFlags.None, server);
            return await entry.Item2.Task.WaitAsync(timeout);
        }
        catch (Exception e) when (e is TimeoutException or SocketException or ObjectDisposedException) { return null; }
        finally { _pending.TryRemove(id, out _); }
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[65535];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try { received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // e.g. ICMP port unreachable from an upstream: its query times out
            if (received.ReceivedBytes < 12) continue;
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(buffer);
            var from = (IPEndPoint)received.RemoteEndPoint;
            var fromAddress = from.Address.IsIPv4MappedToIPv6 ? from.Address.MapToIPv4() : from.Address;
            if (_pending.TryGetValue(id, out var entry) && entry.Server.Port == from.Port
                && (entry.Server.Address.IsIPv4MappedToIPv6 ? entry.Server.Address.MapToIPv4() : entry.Server.Address).Equals(fromAddress))
                entry.Answer.TrySetResult(buffer[..received.ReceivedBytes]);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
    }
}
