using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth events`: the engine's event stream as `docker events` prints it (or through --format).</summary>
public static class Events
{
    public static IEnumerable<Command> Create() => [EventsCommand()];

    private static Command EventsCommand()
    {
        var since = new Option<string?>("--since") { Description = "Show events created since this time (Unix time, RFC 3339 or a duration such as 10m)" };
        var until = new Option<string?>("--until") { Description = "Stream events until this time" };
        var filter = new Option<string[]>("--filter", "-f") { Description = "Filter: type=, event=, container=, image=, label=, network=, volume= (repeatable)" };
        var format = new Option<string?>("--format") { Description = "Format each event with a template ('json' for one JSON object a line). " + Containers.TemplateHelp };
        var events = new Command("events", "Get real time events from the engine") { since, until, filter, format };
        return events.Action(async (parse, api, ct) =>
        {
            var now = DateTimeOffset.UtcNow;
            var query = new List<string>();
            if (parse.GetValue(since) is { Length: > 0 } s) query.Add("since=" + EngineApi.Q(Timestamp(s, now)));
            if (parse.GetValue(until) is { Length: > 0 } u) query.Add("until=" + EngineApi.Q(Timestamp(u, now)));
            if (parse.GetValue(filter) is { Length: > 0 } filters) query.Add("filters=" + EngineApi.Q(Containers.FiltersJson(filters)));
            string? fmt = parse.GetValue(format);
            var template = fmt is { Length: > 0 } and not "json" ? GoTemplate.Parse(fmt) : null;
            using var response = await api.SendAsync(HttpMethod.Get, "/events" + (query.Count > 0 ? "?" + string.Join('&', query) : ""),
                ct, headersOnly: true);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.Length == 0) continue;
                var ev = JsonNode.Parse(line);
                string text = fmt == "json" ? line : template is not null ? template.Execute(ev) : Line(ev);
                await Console.Out.WriteLineAsync(text);
                await Console.Out.FlushAsync(ct);
            }
            return 0;
        });
    }

    /// <summary>docker's default line: time, type, action, actor id, then the attributes sorted by key.</summary>
    public static string Line(JsonNode? ev)
    {
        long nanos = ev?["timeNano"]?.GetValue<long>() ?? 0;
        var time = DateTimeOffset.UnixEpoch.AddTicks(nanos / 100).ToLocalTime();
        string stamp = time.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture) + (nanos % 100).ToString("00")
            + (time.Offset == TimeSpan.Zero ? "Z" : time.ToString("zzz", CultureInfo.InvariantCulture));
        string head = $"{stamp} {ev.Str("Type")} {ev.Str("Action")} {ev?["Actor"].Str("ID")}";
        if (ev?["Actor"]?["Attributes"] is not JsonObject { Count: > 0 } attributes) return head;
        var pairs = attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value?.GetValue<string>()}");
        return $"{head} ({string.Join(", ", pairs)})";
    }

    /// <summary>docker's timestamps on the client: a Go duration before now ("10m", "1h30m"), else passed on as given
    /// (Unix seconds or an RFC 3339 time, which the engine reads).</summary>
    public static string Timestamp(string value, DateTimeOffset now)
    {
        if (Api.GoDuration.TryParse(value, out var span) && value != "0")
        {
            var at = now - span;
            long ticks = (at - DateTimeOffset.UnixEpoch).Ticks;
            return $"{ticks / TimeSpan.TicksPerSecond}.{ticks % TimeSpan.TicksPerSecond * 100:000000000}";
        }
        return value;
    }
}
