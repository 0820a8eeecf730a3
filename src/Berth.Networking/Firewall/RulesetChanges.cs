using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

/// <summary>Wakes when tables of interest change in the host's nftables ruleset: nfnetlink's notifications of every
/// table, chain, rule or set element added or removed, by anyone (`nft flush ruleset`, dockerd's iptables-nft),
/// filtered by the table they name. The firewall is checked on change instead of on a timer, so an idle engine does
/// not wake for it, nor for other programs' tables.</summary>
public sealed class RulesetChanges : IDisposable
{
    /// <summary>A change comes as a burst of messages (one transaction, or a tool's several): one look after it.
    /// </summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);
    private const int HeaderSize = 16, NfGenMsgSize = 4;
    private const ushort NfnlSubsysNftables = 10, NftaTable = 1, AttributeTypeMask = 0x3fff;

    private readonly Socket _socket;
    private readonly HashSet<string> _tables;
    private readonly byte[] _buffer = new byte[64 * 1024];

    private RulesetChanges(Socket socket, IEnumerable<string> tables)
    {
        _socket = socket;
        _tables = new HashSet<string>(tables, StringComparer.Ordinal);
    }

    /// <summary>Null where the kernel has no nfnetlink notifications for us: the caller falls back to a timer.</summary>
    /// <param name="tables">The names of the tables whose changes count (of any family).</param>
    public static RulesetChanges? TryOpen(IEnumerable<string> tables, ILogger logger)
    {
        SafeFdHandle? fd = null;
        try
        {
            fd = Interop.OpenNetlink(Interop.NETLINK_NETFILTER, 1u << (Interop.NFNLGRP_NFTABLES - 1));
            // A Socket over the descriptor: its receives wait in the runtime's epoll, with no thread of their own.
            var socket = new Socket(new SafeSocketHandle(fd.DangerousGetHandle(), ownsHandle: true)) { Blocking = false };
            fd.SetHandleAsInvalid();
            return new RulesetChanges(socket, tables);
        }
        catch (Exception e) when (e is LinuxException or SocketException or PlatformNotSupportedException)
        {
            fd?.Dispose();
            logger.LogInformation(e, "no nftables change notifications; the firewall is checked every few seconds");
            return null;
        }
    }

    /// <summary>True after a change to one of the tables (or lost notifications: they overflowed the socket's
    /// buffer), with the rest of its burst consumed; false when <paramref name="patience"/> passed with none.</summary>
    public async Task<bool> WaitAsync(TimeSpan patience, CancellationToken ct)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(patience);
        while (true)
        {
            try
            {
                int n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, wait.Token);
                if (!Concerns(_buffer.AsSpan(0, n))) continue;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.NoBufferSpaceAvailable) { }
            break;
        }
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

    /// <summary>Whether any nftables message in <paramref name="datagram"/> names one of the tables: tables, chains,
    /// rules, sets and elements all carry their table's name as attribute 1.</summary>
    internal bool Concerns(ReadOnlySpan<byte> datagram)
    {
        while (datagram.Length >= HeaderSize)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < HeaderSize || length > datagram.Length) return false;
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            if (type >> 8 == NfnlSubsysNftables && TableOf(datagram[HeaderSize..length]) is { } table
                && _tables.Contains(table))
                return true;
            datagram = datagram[Math.Min(datagram.Length, (length + 3) & ~3)..];
        }
        return false;
    }

    private static string? TableOf(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < NfGenMsgSize) return null;
        var attributes = payload[NfGenMsgSize..];
        while (attributes.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            int type = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & AttributeTypeMask;
            if (length < 4 || length > attributes.Length) return null;
            if (type == NftaTable) return Encoding.UTF8.GetString(attributes[4..length].TrimEnd((byte)0));
            attributes = attributes[Math.Min(attributes.Length, (length + 3) & ~3)..];
        }
        return null;
    }

    public void Dispose() => _socket.Dispose();
}
