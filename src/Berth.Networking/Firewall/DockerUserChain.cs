using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

/// <summary>Living next to dockerd: it sets the iptables filter FORWARD policy to DROP (and it stays after dockerd
/// exits), and a drop in any base chain is final, so traffic forwarded to Berth's bridges would die there. Docker's
/// documented way for other bridges is ACCEPT rules in its DOCKER-USER chain: when that chain exists (ip or ip6), each
/// Berth bridge gets `-i br -j ACCEPT` and `-o br -j ACCEPT` there, removed with the bridge. Berth's own forward chain
/// still filters that traffic. The chain belongs to iptables, so the rules go in with iptables(8), which keeps them
/// in the form iptables-nft can read back; the in-process nftables listing only checks whether work is needed.</summary>
public sealed class DockerUserChain(INftables nft, ILogger logger)
{
    private const string Chain = "DOCKER-USER";

    /// <summary>dockerd 27 and later make the chain and the DROP policy for IPv6 too (ip6tables is on by default).</summary>
    private static readonly (string Family, string Tool)[] Families = [("ip", "iptables"), ("ip6", "ip6tables")];

    /// <summary>Adds the accept rules missing for <paramref name="bridges"/>; a no-op without dockerd's chain.</summary>
    public void Ensure(IEnumerable<string> bridges)
    {
        var names = bridges as IReadOnlyCollection<string> ?? bridges.ToList();
        foreach (var (family, tool) in Families)
        {
            string? listing = nft.List($"chain {family} filter {Chain}");
            if (listing is null) continue;
            foreach (string bridge in names)
                foreach (var (direction, keyword) in new[] { ("-i", "iifname"), ("-o", "oifname") })
                    if (!listing.Contains($"{keyword} \"{bridge}\"", StringComparison.Ordinal))
                    {
                        logger.LogInformation("dockerd's {Chain} chain found ({Tool}): accepting forwarded traffic {Direction} {Bridge}",
                            Chain, tool, direction, bridge);
                        Run(tool, "-I", Chain, direction, bridge, "-j", "ACCEPT");
                    }
        }
    }

    public void Remove(string bridge)
    {
        foreach (var (family, tool) in Families)
        {
            if (nft.List($"chain {family} filter {Chain}") is null) continue;
            foreach (string direction in new[] { "-i", "-o" })
                for (int i = 0; i < 8 && Run(tool, "-D", Chain, direction, bridge, "-j", "ACCEPT"); i++) { }
        }
    }

    private bool Run(string tool, params string[] args)
    {
        if (ExternalTool.Run(tool, ["-w", .. args]) is not { } result)
        {
            logger.LogWarning("{Tool}(8) is not available to open dockerd's {Chain} chain for Berth's bridges", tool, Chain);
            return false;
        }
        if (result.ExitCode != 0 && args[0] != "-D") logger.LogWarning("{Tool} {Args} failed: {Error}", tool, string.Join(' ', args), result.Error);
        return result.ExitCode == 0;
    }
}
