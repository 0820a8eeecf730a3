using Berth.Engine.Events;
using Berth.Engine.Model;

namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    /// <summary>The engine's event bus (BerthEngine hands its own in; a service built alone keeps a private one).</summary>
    public EventBus Events { get; set; } = new();

    /// <summary>A container event with dockerd's attributes: the image as asked for, the name, the labels, and
    /// whatever the action adds (exitCode, signal, execID...).</summary>
    public void Publish(ContainerRecord record, string action, IReadOnlyDictionary<string, string>? extra = null)
    {
        var attributes = new Dictionary<string, string>(record.Config.Labels ?? new());
        attributes["image"] = record.Config.Image;
        attributes["name"] = record.Name;
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) attributes[key] = value;
        Events.Publish(EventTypes.Container, action, record.Id, attributes);
    }

    private void Publish(string id, string action, IReadOnlyDictionary<string, string>? extra = null)
    {
        if (_store.Get(id) is { } record) Publish(record, action, extra);
    }

    private void PublishKill(ContainerRecord record, int signal) =>
        Publish(record, "kill", new Dictionary<string, string> { ["signal"] = signal.ToString() });
}
