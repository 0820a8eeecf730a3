using System.Text.Json.Nodes;
using Berth.Runtime.Images;

namespace Berth.Engine.Containers.Health;

/// <summary>A container's health check as it runs: Docker's Healthcheck config with its defaults applied
/// (interval and timeout 30 s, start interval 5 s, 3 retries).</summary>
public sealed record HealthSettings(IReadOnlyList<string> Command, TimeSpan Interval, TimeSpan Timeout,
    TimeSpan StartPeriod, TimeSpan StartInterval, int Retries)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultStartInterval = TimeSpan.FromSeconds(5);
    public const int DefaultRetries = 3;
    /// <summary>Docker keeps this much of a probe's output.</summary>
    public const int MaxOutput = 4096;
    public const int MaxLogEntries = 5;

    private static readonly string[] Durations = ["Interval", "Timeout", "StartPeriod", "StartInterval"];

    /// <summary>The command to run, or null when there is no check (none configured, or Test ["NONE"]).</summary>
    public static HealthSettings? From(JsonObject? config)
    {
        if (config?["Test"] is not JsonArray test || test.Count == 0) return null;
        var words = test.Select(w => w?.GetValue<string>() ?? "").ToList();
        IReadOnlyList<string>? command = words[0] switch
        {
            "CMD" when words.Count > 1 => words[1..],
            "CMD-SHELL" when words.Count > 1 => ["/bin/sh", "-c", string.Join(' ', words[1..])],
            _ => null,
        };
        if (command is null) return null;
        return new HealthSettings(command, Duration(config, "Interval", DefaultInterval), Duration(config, "Timeout", DefaultTimeout),
            Duration(config, "StartPeriod", TimeSpan.Zero), Duration(config, "StartInterval", DefaultStartInterval),
            Number(config, "Retries") is > 0 and var retries ? (int)Math.Min(retries, int.MaxValue) : DefaultRetries);
    }

    /// <summary>The wait before the next probe: the start interval while the start period lasts.</summary>
    public TimeSpan NextWait(TimeSpan sinceStart) =>
        StartPeriod > TimeSpan.Zero && sinceStart < StartPeriod ? StartInterval : Interval;

    /// <summary>dockerd's merge at create: the container's fields win, each unset one comes from the image; the
    /// result is checked as dockerd checks it (durations 0 or at least 1 ms, retries not negative).</summary>
    public static JsonObject? Merge(JsonObject? container, HealthConfig? image)
    {
        JsonObject? merged = container?.DeepClone().AsObject();
        if (image is not null)
        {
            merged ??= new JsonObject();
            if (merged["Test"] is not JsonArray { Count: > 0 } && image.Test is { Count: > 0 })
                merged["Test"] = new JsonArray(image.Test.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
            Default(merged, "Interval", image.Interval);
            Default(merged, "Timeout", image.Timeout);
            Default(merged, "StartPeriod", image.StartPeriod);
            Default(merged, "StartInterval", image.StartInterval);
            Default(merged, "Retries", image.Retries);
        }
        if (merged is null) return null;
        foreach (string name in Durations)
        {
            long value = Number(merged, name);
            if (value != 0 && value < 1_000_000)
                throw new BadRequestException($"{name} in Healthcheck cannot be less than 1ms");
        }
        if (Number(merged, "Retries") < 0) throw new BadRequestException("Retries in Healthcheck cannot be negative");
        return merged;
    }

    private static void Default(JsonObject config, string name, long imageValue)
    {
        if (Number(config, name) == 0 && imageValue != 0) config[name] = imageValue;
    }

    private static long Number(JsonObject config, string name)
    {
        try { return config[name]?.GetValue<long>() ?? 0; }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new BadRequestException($"invalid {name} in Healthcheck: a number of nanoseconds is expected");
        }
    }

    private static TimeSpan Duration(JsonObject config, string name, TimeSpan fallback) =>
        Number(config, name) is > 0 and var nanos ? TimeSpan.FromTicks(nanos / 100) : fallback;
}
