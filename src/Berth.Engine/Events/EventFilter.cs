namespace Berth.Engine.Events;

/// <summary>`GET /events?filters=` as dockerd reads it (daemon/events/filter.go): values of one key are alternatives,
/// keys must all match. container/network/volume match the actor's id or name by prefix; image matches the id or
/// name with or without its tag; event matches the action exactly, except that health_status, exec_create and
/// exec_start also match their "action: detail" forms; label matches the actor's attributes (key or key=value).</summary>
public sealed class EventFilter(IReadOnlyDictionary<string, List<string>> filters)
{
    public static readonly string[] Keys =
        ["type", "event", "container", "image", "label", "network", "volume", "daemon", "plugin", "node", "service",
         "secret", "config", "scope"];

    private static readonly HashSet<string> ActionsWithDetail = ["health_status", "exec_create", "exec_start"];

    public bool Includes(EngineEvent ev) =>
        MatchesEvent(ev.Action)
        && Exact("type", ev.Type)
        && Exact("scope", ev.Scope)
        && NameOf(ev, EventTypes.Container)
        && NameOf(ev, EventTypes.Network)
        && NameOf(ev, EventTypes.Volume)
        && NameOf(ev, EventTypes.Daemon)
        && MatchesImage(ev)
        && MatchesLabels(ev.Actor.Attributes)
        && new[] { "plugin", "node", "service", "secret", "config" }.All(k => !Has(k) || Exact(k, ev.Type));

    private bool Has(string key) => filters.TryGetValue(key, out var values) && values.Count > 0;

    private bool Exact(string key, string value) => !Has(key) || filters[key].Contains(value);

    private bool Fuzzy(string key, string value) =>
        !Has(key) || filters[key].Any(v => v == value || (value.Length > 0 && value.StartsWith(v, StringComparison.Ordinal)));

    private bool MatchesEvent(string action)
    {
        if (!Has("event")) return true;
        if (filters["event"].Any(ActionsWithDetail.Contains)) return Fuzzy("event", action);
        return Exact("event", action);
    }

    private bool NameOf(EngineEvent ev, string type) =>
        !Has(type) || Fuzzy(type, ev.Actor.Id) || Fuzzy(type, ev.Actor.Attributes.GetValueOrDefault("name") ?? "");

    private bool MatchesImage(EngineEvent ev)
    {
        if (!Has("image")) return true;
        string name = ev.Actor.Attributes.GetValueOrDefault(ev.Type == EventTypes.Image ? "name" : "image") ?? "";
        var values = filters["image"];
        return values.Contains(ev.Actor.Id) || values.Contains(name)
            || values.Contains(StripTag(ev.Actor.Id)) || values.Contains(StripTag(name));
    }

    private bool MatchesLabels(IReadOnlyDictionary<string, string> attributes) =>
        !Has("label") || filters["label"].All(label =>
        {
            var kv = label.Split('=', 2);
            return attributes.TryGetValue(kv[0], out var value) && (kv.Length == 1 || value == kv[1]);
        });

    /// <summary>"repo:tag" → "repo" (a digest or a registry port stays).</summary>
    private static string StripTag(string reference)
    {
        int at = reference.IndexOf('@');
        if (at >= 0) return reference[..at];
        int colon = reference.LastIndexOf(':');
        return colon > reference.LastIndexOf('/') && !reference.StartsWith("sha256:", StringComparison.Ordinal)
            ? reference[..colon] : reference;
    }
}
