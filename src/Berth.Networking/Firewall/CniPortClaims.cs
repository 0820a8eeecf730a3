using System.Net;
using System.Text.RegularExpressions;
using Berth.Networking.Ports;

namespace Berth.Networking.Firewall;

/// <summary>A host port mapped by a berth-cni attachment on this host: <see cref="Table"/> names its network's table.</summary>
public sealed record CniPortClaim(string Table, IPAddress? HostIp, PortProtocol Protocol, int HostPort);

/// <summary>The host ports berth-cni attachments map, read from their tables ("berth_cni_&lt;network&gt;", the engine's map
/// layout). berth-cni is a process per call and holds no socket, so the engine reads them before it publishes a port
/// (berth-cni, in turn, finds the engine's ports by their bound sockets): one host port has one owner.</summary>
public sealed partial class CniPortClaims(INftables nft)
{
    public const string TablePrefix = "berth_cni_";
    private readonly NftTableNames _tableNames = new();

    public IReadOnlyList<CniPortClaim> Read()
    {
        var claims = new List<CniPortClaim>();
        foreach (string table in CniTables(_tableNames.IpTables(nft)))
            foreach (string map in (string[])[RulesetRenderer.AnyMap, RulesetRenderer.AddressMap])
                if (nft.List($"map ip {table} {map}") is { } listing)
                    claims.AddRange(Parse(table, listing));
        return claims;
    }

    /// <summary>berth-cni's tables among the `ip` family's (their admins' "_user" tables hold no mapping).</summary>
    public static IEnumerable<string> CniTables(IEnumerable<string> ipTables) =>
        ipTables.Where(t => t.StartsWith(TablePrefix, StringComparison.Ordinal) && !t.EndsWith("_user", StringComparison.Ordinal));

    /// <summary>The keys of a `list map` of published_any ("tcp . 8080 : ...") or published_addr ("10.0.0.1 . tcp . 8080 : ...").</summary>
    public static IEnumerable<CniPortClaim> Parse(string table, string listing) =>
        Element().Matches(listing).Select(m => new CniPortClaim(table,
            m.Groups[1].Success ? IPAddress.Parse(m.Groups[1].Value) : null,
            ContainerPort.TryProtocol(m.Groups[2].Value, out var p) ? p : PortProtocol.Tcp, int.Parse(m.Groups[3].Value)));

    [GeneratedRegex(@"(?:(\d{1,3}(?:\.\d{1,3}){3}) \. )?(tcp|udp|sctp) \. (\d{1,5}) :")]
    private static partial Regex Element();
}
