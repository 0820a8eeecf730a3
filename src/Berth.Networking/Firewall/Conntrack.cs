using Berth.Networking.Ports;
using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

/// <summary>NAT applies to the first packet of a flow only: a UDP client that was already talking to a host port
/// keeps its conntrack entry (to the host, or to a previous container) and never reaches a newly published container.
/// Deleting the entries for the port makes its next datagram a new flow that the publication's DNAT catches.
/// Uses conntrack(8) from conntrack-tools: it runs for UDP publications only, and the kernel offers no
/// delete-by-port short of dumping the whole table over ctnetlink.</summary>
public sealed class Conntrack(ILogger logger)
{
    public void DeleteUdpFlows(IEnumerable<PortPublication> publications)
    {
        foreach (var publication in publications.Where(p => p.Protocol == PortProtocol.Udp))
        {
            var args = new List<string> { "-D", "-p", "udp", "--orig-port-dst", publication.HostPort.ToString() };
            if (Ipv6RulesetRenderer.IsV6(publication)) args.InsertRange(0, ["-f", "ipv6"]);
            if (publication.HostIp is { } address && !address.Equals(System.Net.IPAddress.IPv6Any)) args.AddRange(["--orig-dst", address.ToString()]);
            Run(args);
        }
    }

    private void Run(List<string> args)
    {
        if (ExternalTool.Run("conntrack", args) is not { } result)
            logger.LogWarning("conntrack(8) is not available; stale UDP flows to published ports are not flushed");
        // Exit 1 with "0 flow entries have been deleted" is the common, harmless case.
        else if (result.ExitCode != 0 && !result.Error.Contains("0 flow entries", StringComparison.Ordinal))
            logger.LogWarning("conntrack {Args} failed: {Error}", string.Join(' ', args), result.Error);
    }
}
