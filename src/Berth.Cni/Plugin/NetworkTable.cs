using System.Text;
using Berth.Cni.Attachments;
using Berth.Networking.Firewall;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Cni.Plugin;

/// <summary>One nftables table per CNI network, the engine's ruleset (maps keyed by [address .] protocol . port,
/// loopback and direct-routing guards, hairpin and loopback masquerade, the forward filter) rendered by the same
/// <see cref="RulesetRenderer"/>. A call changes only its attachment's map elements, in one transaction; when that
/// fails (first attachment, table flushed by hand, elements half-gone after a crash) the whole table is rebuilt from
/// the attachment records, which is also how a retried ADD repairs.</summary>
public sealed class NetworkTable(INftables nft, string network)
{
    public string Name { get; } = TableName(network);

    /// <summary>"berth_cni_" and the network name in nft's identifier alphabet, at most 64 characters.</summary>
    public static string TableName(string network)
    {
        var s = new StringBuilder(CniPortClaims.TablePrefix);
        foreach (char c in network) s.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_');
        return s.Length > 64 ? s.ToString(0, 64) : s.ToString();
    }

    /// <summary>Swaps <paramref name="before"/>'s elements for <paramref name="after"/>'s; <paramref name="all"/> is
    /// every attachment of the network as it is to be (after included), used when the table must be rebuilt.</summary>
    public void Replace(Attachment? before, Attachment? after, IReadOnlyList<Attachment> all)
    {
        if (all.Count == 0)
        {
            if (before is not null) Remove(before);
            return;
        }
        var script = new StringBuilder();
        if (before is { PortMappings.Count: > 0 })
            script.Append(RulesetRenderer.RenderRemovePublications(Name, before.Publications(before.Owner)));
        if (after is { PortMappings.Count: > 0 })
            script.Append(RulesetRenderer.RenderAddPublications(Name, after.Publications(after.Owner)));
        try
        {
            if (script.Length > 0) nft.Run(script.ToString());
            else if (!Exists()) Rebuild(all);
        }
        catch (NftablesException)
        {
            Rebuild(all);
        }
    }

    /// <summary>Whether the map holds <paramref name="mapping"/> (`get element` fails for a missing key).</summary>
    public bool HasMapping(Spec.PortMapping mapping, System.Net.IPAddress containerIp)
    {
        string key = (mapping.HostIp is null ? "" : $"{mapping.HostIp} . ")
            + $"{Networking.Ports.ContainerPort.Name(mapping.Protocol)} . {mapping.HostPort}";
        string map = mapping.HostIp is null ? RulesetRenderer.AnyMap : RulesetRenderer.AddressMap;
        try
        {
            nft.Run($"get element ip {Name} {map} {{ {key} }}\n");
            return true;
        }
        catch (NftablesException) { return false; }
    }

    public bool Exists() => nft.List($"chain ip {Name} publish") is not null;

    public void Rebuild(IReadOnlyList<Attachment> all)
    {
        var manager = new FirewallManager(nft, Name);
        manager.Initialize(Networks(all), all.SelectMany(a => a.Publications(a.Owner)));
    }

    /// <summary>The last attachment went: the table, its untouched user table and dockerd DOCKER-USER rules go.</summary>
    public void Remove(Attachment last)
    {
        new FirewallManager(nft, Name).RemoveTable();
        new DockerUserChain(nft, NullLogger.Instance).Remove(last.Bridge);
    }

    private static IEnumerable<NetworkFirewallSpec> Networks(IEnumerable<Attachment> all) =>
        all.GroupBy(a => a.Bridge).Select(g => new NetworkFirewallSpec(g.Key, g.First().Subnet));
}
