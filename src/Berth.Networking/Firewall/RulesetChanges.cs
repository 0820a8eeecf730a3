using System.Net.Sockets;
using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

/// <summary>Wakes when the host's nftables ruleset changes: nfnetlink's notifications of every table, chain, rule or
/// set element added or removed, by anyone (`nft flush ruleset`, dockerd's iptables-nft, our own changes). The
/// firewall is checked on change instead of on a timer, so an idle engine does not wake for it.</summary>
public sealed class RulesetChanges : IDisposable
{
    /// <summary>A change comes as a burst of messages (one transaction, or a tool's several): one look after it.
    /// </summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];

    private RulesetChanges(Socket socket) => _socket = socket;

    /// <summary>Null where the kernel has no nfnetlink notifications for us: the caller falls back to a timer.</summary>
    public static RulesetChanges? TryOpen(ILogger logger)
    {
        SafeFdHandle? fd = null;
        try
        {
            fd = Interop.OpenNetlink(Interop.NETLINK_NETFILTER, 1u << (Interop.NFNLGRP_NFTABLES - 1));
            // A Socket over the descriptor: its receives wait in the runtime's epoll, with no thread of their own.
            var socket = new Socket(new SafeSocketHandle(fd.DangerousGetHandle(), ownsHandle: true)) { Blocking = false };
            fd.SetHandleAsInvalid();
            return new RulesetChanges(socket);
        }
        catch (Exception e) when (e is LinuxException or SocketException or PlatformNotSupportedException)
        {
            fd?.Dispose();
            logger.LogInformation(e, "no nftables change notifications; the firewall is checked every few seconds");
            return null;
        }
    }

    /// <summary>True after a change (or lost notifications: they overflowed the socket's buffer) and every message
    /// of its burst; false when <paramref name="patience"/> passed with none.</summary>
    public async Task<bool> WaitAsync(TimeSpan patience, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(patience);
        try { await _socket.ReceiveAsync(_buffer, SocketFlags.None, wait.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.NoBufferSpaceAvailable) { }
        await Task.Delay(Settle, ct);
        while (true)
        {
            try
            {
                if (_socket.Receive(_buffer) <= 0) return true;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.NoBufferSpaceAvailable) { }
            catch (SocketException) { return true; } // would block: the burst is consumed
        }
    }

    public void Dispose() => _socket.Dispose();
}
