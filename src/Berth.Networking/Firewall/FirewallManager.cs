using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Firewall;

/// <summary>Owns one nftables table. Keeps the desired state in memory; the full table is applied in one
/// transaction at start, on network changes and on reload; publications are map elements added and removed
/// incrementally, so per-packet cost and per-change cost do not grow with the number of published ports.</summary>
public sealed class FirewallManager
{
    private readonly INftables _nft;
    private readonly string _table;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, NetworkFirewallSpec> _networks = new();
    private readonly Dictionary<string, List<PortPublication>> _publications = new();
    private readonly DockerUserChain _dockerUser;
    private readonly NftTableNames _tableNames = new();
    private bool _ipv6Table; // whether the last full apply rendered the ip6 table (it is absent with nothing v6 to hold)

    public FirewallManager(INftables nft, string tableName, ILogger<FirewallManager>? logger = null)
    {
        _nft = nft;
        _table = tableName;
        _logger = logger ?? NullLogger<FirewallManager>.Instance;
        _dockerUser = new DockerUserChain(nft, _logger);
    }

    public string TableName => _table;

    /// <summary>false: dockerd's --iptables=false: no table, no rules, nothing in DOCKER-USER (the admin's own
    /// firewall does it all); publications are still tracked, and their host ports still reserved by the caller.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Where admins filter traffic to published ports: a table Berth never modifies once created.</summary>
    public string UserTableName => _table + "_user";

    public void Initialize(IEnumerable<NetworkFirewallSpec> networks, IEnumerable<PortPublication> publications)
    {
        lock (_lock)
        {
            _networks.Clear();
            foreach (var n in networks) _networks[n.BridgeName] = n;
            _publications.Clear();
            foreach (var group in publications.GroupBy(p => p.OwnerId)) _publications[group.Key] = group.ToList();
            ApplyAll();
        }
    }

    public void AddNetwork(NetworkFirewallSpec network)
    {
        lock (_lock)
        {
            _networks[network.BridgeName] = network;
            ApplyAll();
        }
    }

    public void RemoveNetwork(string bridgeName)
    {
        lock (_lock)
        {
            if (_networks.Remove(bridgeName)) ApplyAll();
            _dockerUser.Remove(bridgeName);
        }
    }

    public void Publish(IReadOnlyList<PortPublication> publications)
    {
        if (publications.Count == 0) return;
        lock (_lock)
        {
            // The first v6 publication with no dual-stack network: the ip6 table is not there yet, render it whole.
            bool wholeTable = !_ipv6Table && publications.Any(Ipv6RulesetRenderer.IsV6);
            if (Enabled && !wholeTable) _nft.Run(RulesetRenderer.RenderAddPublications(_table, publications));
            foreach (var group in publications.GroupBy(p => p.OwnerId))
            {
                if (!_publications.TryGetValue(group.Key, out var list)) _publications[group.Key] = list = new();
                list.AddRange(group);
            }
            if (wholeTable) ApplyAll();
        }
    }

    public void Unpublish(string ownerId)
    {
        lock (_lock)
        {
            if (!_publications.Remove(ownerId, out var list) || list.Count == 0 || !Enabled) return;
            try { _nft.Run(RulesetRenderer.RenderRemovePublications(_table, list)); }
            catch (NftablesException e)
            {
                // Elements already gone (table flushed by an admin): re-apply what should be there.
                _logger.LogWarning("removing publications of {Owner} failed ({Error}); re-applying the table", ownerId, e.Message);
                ApplyAll();
            }
        }
    }

    /// <summary>The daemon stops with no container running: its table and its accept rules in dockerd's DOCKER-USER
    /// chain go. The `_user` table goes only while it is as Berth made it: rules an admin put there stay.</summary>
    public void RemoveTable()
    {
        if (!Enabled) return;
        lock (_lock)
        {
            if (TableExists()) _nft.Run($"delete table ip {_table}\n");
            _nft.Run(Ipv6RulesetRenderer.RenderTable(_table, []));
            if (_nft.List($"table ip {UserTableName}") is { } user && RulesetRenderer.IsUntouchedUserTable(user))
                _nft.Run($"delete table ip {UserTableName}\n");
            foreach (string bridge in _networks.Keys) _dockerUser.Remove(bridge);
        }
    }

    /// <summary>Whether the table is in place (always "yes" when Berth keeps none). Asked after every change to it: the
    /// kernel names its tables, where `nft list table` would fetch and print every map element (10,000 ports).</summary>
    public bool TableExists() => !Enabled || _tableNames.IpTables(_nft).Contains(_table, StringComparer.Ordinal);

    /// <summary>Opens dockerd's DOCKER-USER chain for our bridges when dockerd appeared since the last look.</summary>
    public void EnsureDockerUserRules()
    {
        if (!Enabled) return;
        List<string> bridges;
        lock (_lock) bridges = _networks.Keys.ToList();
        _dockerUser.Ensure(bridges);
    }

    public void Reload()
    {
        lock (_lock) ApplyAll();
    }

    public IReadOnlyList<PortPublication> Publications()
    {
        lock (_lock) return _publications.Values.SelectMany(l => l).ToList();
    }

    private void ApplyAll()
    {
        if (!Enabled) return;
        var watch = Stopwatch.StartNew();
        var publications = _publications.Values.SelectMany(l => l).ToList();
        string script = RulesetRenderer.RenderTable(_table, _networks.Values, publications)
            + RulesetRenderer.RenderUserTable(UserTableName) + Ipv6RulesetRenderer.RenderTable(_table, _networks.Values, publications);
        _nft.Run(script);
        _ipv6Table = _networks.Values.Any(n => n.Ipv6Subnet is not null) || publications.Any(Ipv6RulesetRenderer.IsV6);
        _dockerUser.Ensure(_networks.Keys);
        _logger.LogDebug("applied table {Table} in {Ms} ms", _table, watch.ElapsedMilliseconds);
    }
}
