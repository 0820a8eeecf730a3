using System.Net;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>A container's gateway endpoints, one per family, chosen as dockerd 28 chooses them (<see cref="GatewayOrder"/>):
/// the default route of each family goes through its gateway endpoint and the ports of each family are published to
/// it. A connect or disconnect that changes the choice moves both, as libnetwork re-programs them.</summary>
public sealed partial class ContainerService
{
    /// <summary>The choice among the container's endpoints, <paramref name="leaving"/> left out.</summary>
    private (EndpointRecord? V4, EndpointRecord? V6) ChooseGateways(ContainerRecord record, EndpointRecord? leaving = null)
    {
        var priorities = record.RequestedNetworks
            .Select(kv => (Network: _networks.Find(kv.Key)?.Id, Priority: kv.Value?.GwPriority ?? 0))
            .Where(p => p.Network is not null)
            .ToDictionary(p => p.Network!, p => p.Priority);
        return GatewayOrder.Choose(record.Endpoints.Where(e => !ReferenceEquals(e, leaving))
            .Select(e => _networks.GatewayCandidateOf(e, priorities.GetValueOrDefault(e.NetworkId))));
    }

    /// <summary>At start, once every endpoint is attached: routes, then ports (undone by the caller's steps).</summary>
    private void ProgramGateways(ContainerRecord record, string netns)
    {
        if (record.Endpoints.Count == 0) return;
        var (v4, v6) = ChooseGateways(record);
        _networks.SetDefaultRoutes(netns, v4, v6);
        GatewayOrder.Mark(record, v4, v6);
        record.Ports = PublishThrough(record, v4, v6);
    }

    /// <summary>Ports through the gateway endpoints: none when the IPv4 one is not on a bridge (dockerd publishes nothing
    /// on macvlan and ipvlan networks, nor on internal ones, which give no gateway).</summary>
    private List<PublishedPortRecord> PublishThrough(ContainerRecord record, EndpointRecord? v4, EndpointRecord? v6)
    {
        if (_networks.BridgeNetworkOf(v4) is not { } bridge4) return [];
        var v6Target = _networks.BridgeNetworkOf(v6) is { } bridge6 && v6!.Ipv6Address.Length > 0
            ? new PublishTarget(IPAddress.Parse(v6.Ipv6Address), bridge6.BridgeName) : null;
        return _ports.Publish(record, new PublishTarget(IPAddress.Parse(v4!.IPAddress), bridge4.BridgeName), v6Target,
            BridgeOptions.HostBindingOf(bridge4));
    }

    /// <summary>A running container after a connect, or before a disconnect of <paramref name="leaving"/>: when the choice
    /// changes, the ports are published again through the new gateways and the default routes move. A failure puts
    /// the previous publications and routes back and is thrown.</summary>
    private void MoveGateways(ContainerRecord record, EndpointRecord? leaving = null)
    {
        var before = GatewayOrder.Current(record);
        var after = ChooseGateways(record, leaving);
        if (ReferenceEquals(before.V4, after.V4) && ReferenceEquals(before.V6, after.V6))
        {
            GatewayOrder.Mark(record, after.V4, after.V6);
            return;
        }
        _ports.Unpublish(record.Id);
        record.Ports = [];
        try
        {
            record.Ports = PublishThrough(record, after.V4, after.V6);
            _networks.SetDefaultRoutes(record.SandboxKey, after.V4, after.V6);
        }
        catch
        {
            _ports.Unpublish(record.Id);
            try
            {
                record.Ports = PublishThrough(record, before.V4, before.V6);
                _networks.SetDefaultRoutes(record.SandboxKey, before.V4, before.V6);
            }
            catch (Exception e) { _logger.LogWarning(e, "restoring the gateways of {Id} failed", record.ShortId); }
            throw;
        }
        GatewayOrder.Mark(record, after.V4, after.V6);
    }
}
