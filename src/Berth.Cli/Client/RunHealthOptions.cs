using System.CommandLine;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`run`/`create`'s --health-* and --no-healthcheck, into the create body's Healthcheck as the docker CLI
/// builds it (zero fields left out, CMD-SHELL for --health-cmd, ["NONE"] for --no-healthcheck).</summary>
public sealed class RunHealthOptions
{
    private readonly Option<string?> _cmd = new("--health-cmd") { Description = "Command to run to check health" };
    private readonly Option<string?> _interval = new("--health-interval") { Description = "Time between running the check (ms|s|m|h)" };
    private readonly Option<string?> _timeout = new("--health-timeout") { Description = "Maximum time to allow one check to run (ms|s|m|h)" };
    private readonly Option<int?> _retries = new("--health-retries") { Description = "Consecutive failures needed to report unhealthy" };
    private readonly Option<string?> _startPeriod = new("--health-start-period") { Description = "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)" };
    private readonly Option<string?> _startInterval = new("--health-start-interval") { Description = "Time between running the check during the start period (ms|s|m|h)" };
    private readonly Option<bool> _none = new("--no-healthcheck") { Description = "Disable any container-specified HEALTHCHECK" };

    public IEnumerable<Option> All => [_cmd, _interval, _timeout, _retries, _startPeriod, _startInterval, _none];

    public JsonObject? Read(ParseResult parse)
    {
        var durations = new (string Key, Option<string?> Option)[]
        {
            ("Interval", _interval), ("Timeout", _timeout), ("StartPeriod", _startPeriod), ("StartInterval", _startInterval),
        };
        string? cmd = parse.GetValue(_cmd);
        int? retries = parse.GetValue(_retries);
        bool any = cmd is not null || retries is not null || durations.Any(d => parse.GetValue(d.Option) is not null);
        if (parse.GetValue(_none))
        {
            if (any) throw new CliException("--no-healthcheck conflicts with --health-* options", 125);
            return new JsonObject { ["Test"] = new JsonArray("NONE") };
        }
        if (!any) return null;
        var health = new JsonObject();
        if (!string.IsNullOrEmpty(cmd)) health["Test"] = new JsonArray("CMD-SHELL", cmd);
        foreach (var (key, option) in durations)
        {
            if (parse.GetValue(option) is not { } text) continue;
            string flag = option.Name;
            if (!Api.GoDuration.TryParse(text, out var span))
                throw new CliException($"invalid argument \"{text}\" for \"{flag}\" flag: time: invalid duration \"{text}\"", 125);
            if (span < TimeSpan.Zero) throw new CliException($"{flag} cannot be negative", 125);
            if (span > TimeSpan.Zero) health[key] = span.Ticks * 100;
        }
        if (retries < 0) throw new CliException("--health-retries cannot be negative", 125);
        if (retries > 0) health["Retries"] = retries;
        return health;
    }
}
