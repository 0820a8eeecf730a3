using System.Text.Json.Serialization;

namespace Berth.Engine.Events;

/// <summary>Docker's event types (the `Type` field and the `type` filter).</summary>
public static class EventTypes
{
    public const string Container = "container";
    public const string Image = "image";
    public const string Network = "network";
    public const string Volume = "volume";
    public const string Daemon = "daemon";
}

public sealed record EventActor(
    [property: JsonPropertyName("ID")] string Id,
    [property: JsonPropertyName("Attributes")] IReadOnlyDictionary<string, string> Attributes);

/// <summary>One event as dockerd sends it on `GET /events`: the current fields plus the old status/id/from, which
/// dockerd fills for container and image events only.</summary>
public sealed record EngineEvent
{
    [JsonPropertyName("status"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Status { get; init; }

    [JsonPropertyName("id"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? LegacyId { get; init; }

    [JsonPropertyName("from"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? From { get; init; }

    [JsonPropertyName("Type")] public required string Type { get; init; }
    [JsonPropertyName("Action")] public required string Action { get; init; }
    [JsonPropertyName("Actor")] public required EventActor Actor { get; init; }
    [JsonPropertyName("scope")] public string Scope { get; init; } = "local";
    [JsonPropertyName("time")] public long Time { get; init; }
    [JsonPropertyName("timeNano")] public long TimeNano { get; init; }

    public static EngineEvent Create(string type, string action, string actorId,
        IReadOnlyDictionary<string, string>? attributes, DateTimeOffset now)
    {
        attributes ??= new Dictionary<string, string>();
        long nanos = (now - DateTimeOffset.UnixEpoch).Ticks * 100;
        bool legacy = type is EventTypes.Container or EventTypes.Image;
        return new EngineEvent
        {
            Type = type, Action = action, Actor = new EventActor(actorId, attributes),
            Status = legacy ? action : null, LegacyId = legacy ? actorId : null,
            From = type == EventTypes.Container ? attributes.GetValueOrDefault("image") : null,
            Time = now.ToUnixTimeSeconds(), TimeNano = nanos,
        };
    }
}
