using Berth.Engine.Events;
using Berth.Engine.Model;

namespace Berth.Engine.Networks;

public sealed partial class NetworkService
{
    /// <summary>The engine's event bus (BerthEngine hands its own in; a service built alone keeps a private one).</summary>
    public EventBus Events { get; set; } = new();

    /// <summary>dockerd's network events: create/destroy carry name and type, connect/disconnect also the container.</summary>
    public void Publish(NetworkRecord network, string action, string? containerId = null)
    {
        var attributes = new Dictionary<string, string> { ["name"] = network.Name, ["type"] = network.Driver };
        if (containerId is not null) attributes["container"] = containerId;
        Events.Publish(EventTypes.Network, action, network.Id, attributes);
    }

    /// <summary>The disconnect event of an endpoint going away (its network may already be gone).</summary>
    public void PublishDisconnect(EndpointRecord endpoint, string containerId)
    {
        var network = Find(endpoint.NetworkId)
            ?? new NetworkRecord { Id = endpoint.NetworkId, Name = endpoint.NetworkName };
        Publish(network, "disconnect", containerId);
    }
}
