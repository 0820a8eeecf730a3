using Berth.Linux;
using Berth.Networking.Netlink;

namespace Berth.Networking.Firewall;

/// <summary>The names of the host's nftables tables, asked of the kernel in one nfnetlink dump of tables alone.
/// `nft list tables` (nft 1.0.6) first fetches every set and element of every table: 100-130 ms and 20 MB of native
/// heap while one container publishes 10,000 ports, paid by each container start (berth-cni's claims) and after each
/// change (is our table still there?).</summary>
public sealed class NftTableNames : IDisposable
{
    /// <summary>nfgenmsg families (NFPROTO_*): `ip` is 2, `ip6` 10, `inet` 1.</summary>
    public const byte Ip = 2, Ip6 = 10;
    private const ushort NftMsgGetTable = (10 << 8) | 1; // NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE
    private const ushort NftaTableName = 1;

    private readonly Lock _lock = new();
    private NetlinkSocket? _socket;

    /// <summary>The names of the `ip` family's tables; from `nft list tables` when nfnetlink does not answer.</summary>
    public IReadOnlyList<string> IpTables(INftables nft) =>
        List()?.Where(t => t.Family == Ip).Select(t => t.Name).ToList()
        ?? (nft.List("tables") ?? "").Split('\n', StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("table ip ", StringComparison.Ordinal)).Select(l => l["table ip ".Length..]).ToList();

    /// <summary>(family, name) of every table; null when the kernel could not be asked.</summary>
    public IReadOnlyList<(byte Family, string Name)>? List()
    {
        lock (_lock)
        {
            try
            {
                _socket ??= NetlinkSocket.Open(Interop.NETLINK_NETFILTER);
                var request = new NetlinkMessageWriter(NftMsgGetTable, NetlinkMessageWriter.NLM_F_REQUEST | NetlinkMessageWriter.NLM_F_DUMP)
                    .Bytes([0, 0, 0, 0]); // nfgenmsg: every family, NFNETLINK_V0, resource id 0
                return _socket.Dump(request, "list nftables tables").Select(Parse).OfType<(byte, string)>().ToList();
            }
            catch (LinuxException)
            {
                _socket?.Dispose();
                _socket = null;
                return null;
            }
        }
    }

    /// <summary>One NFT_MSG_NEWTABLE answer: the nfgenmsg's family, then the attributes.</summary>
    internal static (byte Family, string Name)? Parse((ushort Type, byte[] Payload) message) =>
        message.Payload.Length >= 4 && NetlinkAttributes.Parse(message.Payload.AsSpan(4)).TryGetValue(NftaTableName, out var name)
            ? (message.Payload[0], NetlinkAttributes.String(name))
            : null;

    public void Dispose()
    {
        lock (_lock) _socket?.Dispose();
    }
}
