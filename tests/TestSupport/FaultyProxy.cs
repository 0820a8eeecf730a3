using System.Net;
using System.Net.Sockets;

namespace Berth.TestSupport;

/// <summary>A TCP proxy on a loopback port of its own in front of a loopback server (a registry), that can cut a
/// connection once it has sent a number of bytes back, and slow what it sends back: a network that fails half way.</summary>
public sealed class FaultyProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _target;
    private readonly Task _accepting;
    private long _forwarded;
    private int _cuts;

    public FaultyProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Host => $"127.0.0.1:{Port}";
    /// <summary>Bytes sent back to clients so far, over every connection.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);
    /// <summary>A connection that has sent this many bytes back is closed (while <see cref="CutsLeft"/> &gt; 0).</summary>
    public long CutAfterBytes { get; set; } = long.MaxValue;
    public int CutsLeft { get; set; }
    /// <summary>How many connections were cut.</summary>
    public int Cuts => Volatile.Read(ref _cuts);
    /// <summary>A pause after each 16 KiB sent back (0: none).</summary>
    public TimeSpan DelayPerChunk { get; set; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var up = PumpAsync(client.GetStream(), server.GetStream(), back: false, cut);
                var down = PumpAsync(server.GetStream(), client.GetStream(), back: true, cut);
                await Task.WhenAny(up, down);
                await cut.CancelAsync();
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool back, CancellationTokenSource cut)
    {
        var buffer = new byte[16 * 1024];
        long sent = 0;
        try
        {
            while (true)
            {
                int n = await from.ReadAsync(buffer, cut.Token);
                if (n == 0) return;
                if (back && sent + n > CutAfterBytes && CutsLeft > 0)
                {
                    CutsLeft--;
                    Interlocked.Increment(ref _cuts);
                    int part = (int)Math.Max(0, CutAfterBytes - sent);
                    await to.WriteAsync(buffer.AsMemory(0, part), cut.Token);
                    Interlocked.Add(ref _forwarded, part);
                    return; // both sides are closed by the caller
                }
                await to.WriteAsync(buffer.AsMemory(0, n), cut.Token);
                if (!back) continue;
                sent += n;
                Interlocked.Add(ref _forwarded, n);
                if (DelayPerChunk > TimeSpan.Zero) await Task.Delay(DelayPerChunk, cut.Token);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _accepting; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
