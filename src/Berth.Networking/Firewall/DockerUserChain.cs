using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

/// <summary>Living next to dockerd: it sets the iptables filter FORWARD policy to DROP (and it stays after dockerd
/// exits), and a drop in any base chain is final, so traffic forwarded to Berth's bridges would die there. Docker's
/// documented way for other bridges is ACCEPT rules in its DOCKER-USER chain: when that chain exists, each Berth
/// bridge gets `-i br -j ACCEPT` and `-o br -j ACCEPT` there, removed with the bridge. Berth's own forward chain
/// still filters that traffic. The chain belongs to iptables, so the rules go in with iptables(8), which keeps them
/// in the form iptables-nft can read back; the in-process nftables listing only checks whether work is needed.</summary>
public sealed class DockerUserChain(INftables nft, ILogger logger)
{
    private const string Chain = "DOCKER-USER";

    public bool Exists => nft.List($"chain ip filter {Chain}") is not null;

    /// <summary>Adds the accept rules missing for <paramref name="bridges"/>; a no-op without dockerd's chain.</summary>
    public void Ensure(IEnumerable<string> bridges)
    {
        string? listing = nft.List($"chain ip filter {Chain}");
        if (listing is null) return;
        foreach (string bridge in bridges)
            foreach (var (direction, keyword) in new[] { ("-i", "iifname"), ("-o", "oifname") })
                if (!listing.Contains($"{keyword} \"{bridge}\"", StringComparison.Ordinal))
                {
                    logger.LogInformation("dockerd's {Chain} chain found: accepting forwarded traffic {Direction} {Bridge}", Chain, direction, bridge);
                    Iptables("-I", Chain, direction, bridge, "-j", "ACCEPT");
                }
    }

    public void Remove(string bridge)
    {
        if (!Exists) return;
        foreach (string direction in new[] { "-i", "-o" })
            for (int i = 0; i < 8 && Iptables("-D", Chain, direction, bridge, "-j", "ACCEPT"); i++) { }
    }

    private bool Iptables(params string[] args)
    {
        if (ExternalTool.Run("iptables", ["-w", .. args]) is not { } result)
        {
            logger.LogWarning("iptables(8) is not available to open dockerd's {Chain} chain for Berth's bridges", Chain);
            return false;
        }
        if (result.ExitCode != 0 && args[0] != "-D") logger.LogWarning("iptables {Args} failed: {Error}", string.Join(' ', args), result.Error);
        return result.ExitCode == 0;
    }
}
