using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Api.Streams;
using Berth.Api.Views;
using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Runtime.Containers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

public static class ContainerEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var containers = engine.Containers;

        app.MapPost("/containers/create", async (HttpContext ctx) =>
        {
            var request = await DockerResults.ReadBody<ContainerCreateRequest>(ctx);
            // As dockerd's router: one create may name several networks from API 1.44 on only.
            if (ApiVersion.Of(ctx) < new Version(1, 44) && request.NetworkingConfig?.EndpointsConfig is { Count: > 1 } endpoints)
                throw new BadRequestException($"Container cannot be created with multiple network endpoints: {string.Join(", ", endpoints.Keys)}");
            // As dockerd: before API 1.48 every endpoint has the same gateway priority.
            if (ApiVersion.Of(ctx) < new Version(1, 48))
                foreach (var endpoint in request.NetworkingConfig?.EndpointsConfig?.Values ?? Enumerable.Empty<EndpointSettings?>())
                    if (endpoint is not null) endpoint.GwPriority = 0;
            var record = containers.Create(request, ctx.Request.Query["name"]);
            await DockerResults.Json(ctx, new { Id = record.Id, Warnings = ContainerService.CreateWarnings(record) }, 201);
        });

        app.MapGet("/containers/json", async (HttpContext ctx) =>
        {
            bool all = DockerResults.Flag(ctx, "all");
            int? limit = DockerResults.Int(ctx, "limit");
            var filters = ContainerFilters.Parse(ctx.Request.Query["filters"]);
            var list = containers.All
                .Where(c => all || c.State.Running || c.State.Restarting || limit is > 0 || filters.HasStatusFilter)
                .Where(c => filters.Matches(c, engine))
                .OrderByDescending(c => c.Created)
                .Take(limit is > 0 ? limit.Value : int.MaxValue)
                .Select(c => ContainerViews.ListItem(engine, c, DockerResults.Flag(ctx, "size")))
                .ToList();
            await DockerResults.Json(ctx, list);
        });

        app.MapGet("/containers/{id}/json", async (HttpContext ctx, string id) =>
        {
            var record = containers.Get(id);
            var inspect = ContainerViews.Inspect(engine, record);
            if (ApiVersion.Of(ctx) < new Version(1, 45)) ContainerViews.AddLegacyAliases(engine, inspect, record);
            if (DockerResults.Flag(ctx, "size")) // `docker inspect -s`
            {
                var (rw, rootfs) = containers.DiskUsage(record);
                inspect["SizeRw"] = rw;
                inspect["SizeRootFs"] = rootfs;
            }
            await DockerResults.Json(ctx, inspect);
        });

        app.MapPost("/containers/{id}/start", async (HttpContext ctx, string id) =>
        {
            await containers.StartAsync(id);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/stop", async (HttpContext ctx, string id) =>
        {
            await containers.StopAsync(id, StopTimeout(ctx), SignalName(ctx));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/restart", async (HttpContext ctx, string id) =>
        {
            await containers.RestartAsync(id, StopTimeout(ctx));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/kill", async (HttpContext ctx, string id) =>
        {
            await containers.KillAsync(id, SignalName(ctx));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/rename", (HttpContext ctx, string id) =>
        {
            string? name = ctx.Request.Query["name"];
            if (string.IsNullOrEmpty(name)) throw new BadRequestException("Neither old nor new names may be empty");
            containers.Rename(id, name);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/resize", async (HttpContext ctx, string id) =>
        {
            // A terminal's size is two 16-bit numbers (struct winsize).
            int height = DockerResults.Int(ctx, "h", 0, ushort.MaxValue) ?? 24;
            int width = DockerResults.Int(ctx, "w", 0, ushort.MaxValue) ?? 80;
            var record = containers.Get(id);
            if (record.State.Running && record.Config.Tty)
                await containers.Runtime.ResizeAsync(record.Id, height, width);
            ctx.Response.StatusCode = 200;
        });

        // The CLI sends /wait before /start and blocks until the headers arrive: send them at once.
        app.MapPost("/containers/{id}/wait", async (HttpContext ctx, string id) =>
        {
            string? condition = ctx.Request.Query["condition"];
            containers.Get(id);
            if (condition is not (null or "" or "not-running" or "next-exit" or "removed"))
                throw new BadRequestException($"invalid condition: \"{DockerResults.Shorten(condition)}\"");
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = DockerResults.JsonType;
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync();
            int code;
            try { code = await containers.WaitAsync(id, condition, ctx.RequestAborted); }
            catch (OperationCanceledException) { return; }
            await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { StatusCode = code, Error = (object?)null }) + "\n");
        });

        app.MapDelete("/containers/{id}", async (HttpContext ctx, string id) =>
        {
            await containers.RemoveAsync(id, DockerResults.Flag(ctx, "force"), DockerResults.Flag(ctx, "v"));
            DockerResults.NoContent(ctx);
        });

        app.MapGet("/containers/{id}/logs", async (HttpContext ctx, string id) =>
        {
            var record = containers.Get(id);
            if (record.HostConfig.LogConfig.Type == "none")
                throw new UnsupportedException("configured logging driver does not support reading");
            bool stdout = DockerResults.Flag(ctx, "stdout"), stderr = DockerResults.Flag(ctx, "stderr");
            if (!stdout && !stderr) throw new BadRequestException("Bad parameters: you must choose at least one stream");
            bool timestamps = DockerResults.Flag(ctx, "timestamps");
            string? tailText = ctx.Request.Query["tail"];
            int? tail = ParseTail(tailText);
            var since = ParseUnixTime("since", ctx.Request.Query["since"]);
            var until = ParseUnixTime("until", ctx.Request.Query["until"]);
            bool tty = record.Config.Tty;
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = tty ? StdStreamWriter.RawType : StdStreamWriter.MultiplexedType;
            await ctx.Response.StartAsync();
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted); // headers now, even when no line comes for a while
            var writer = new StdStreamWriter(ctx.Response.Body, !tty);
            try
            {
                await foreach (var entry in containers.ReadLogsAsync(id, DockerResults.Flag(ctx, "follow"), tail, since, ctx.RequestAborted))
                {
                    if (until is not null && entry.Time > until) break;
                    if (entry.Stream == StdStream.Stdout ? !stdout : !stderr) continue;
                    byte[] line = timestamps ? Encoding.UTF8.GetBytes(DockerTimeConverter.Format(entry.Time) + " ").Concat(entry.Line).ToArray() : entry.Line;
                    await writer.WriteAsync(entry.Stream, line, ctx.RequestAborted);
                }
            }
            catch (OperationCanceledException) { }
        });

        app.MapPost("/containers/{id}/attach", async (HttpContext ctx, string id) =>
        {
            var record = containers.Get(id);
            bool stdin = DockerResults.Flag(ctx, "stdin"), stdout = DockerResults.Flag(ctx, "stdout"), stderr = DockerResults.Flag(ctx, "stderr");
            bool tty = record.Config.Tty;
            var detachKeys = TerminalInput.DetachScanner(tty, ctx.Request.Query["detachKeys"], "detach");
            // Registered before the 101 goes out: the CLI sends start the moment it sees the upgrade, and an attach
            // registered after that start would miss the container's output.
            using var attachCancel = new CancellationTokenSource();
            var attaching = DockerResults.Flag(ctx, "stream") ? containers.AttachAsync(id, attachCancel.Token) : Task.FromResult<AttachSession?>(null);
            var connection = await Hijack.AcceptAsync(ctx, tty ? StdStreamWriter.RawType : StdStreamWriter.MultiplexedType);
            var writer = new StdStreamWriter(connection.Output, !tty);
            // A hijacked client half-closes its side when it sends no stdin; that must not end the attach, its
            // hang-up does.
            using var leave = CancellationTokenSource.CreateLinkedTokenSource(
                connection.Upgraded ? connection.HungUp : ctx.RequestAborted);
            var ct = leave.Token;
            try
            {
                if (DockerResults.Flag(ctx, "logs"))
                    await foreach (var entry in containers.ReadLogsAsync(id, false, null, null, ct))
                        if (entry.Stream == StdStream.Stdout ? stdout : stderr)
                            await writer.WriteAsync(entry.Stream, entry.Line, ct);
                await using var session = await attaching;
                if (session is null) return;
                if (stdin && session.Stdin is { } input && connection.Upgraded)
                    _ = TerminalInput.CancelOnDetach(
                        // A terminal's stdin stays open for the next attach, as dockerd keeps it (StdinOnce or not).
                        PumpStdinAsync(connection.Input!, input, record.Config.StdinOnce && !tty, detachKeys), leave);
                await foreach (var (stream, data) in session.ReadOutputAsync(ct))
                    if (stream == StdStream.Stdout ? stdout : stderr)
                        await writer.WriteAsync(stream, data, ct);
            }
            // The detach keys found by the daemon (a client that sends them raw), or the client gone (the docker CLI
            // hangs up after reading them itself): the container runs on, and dockerd tells the event stream.
            catch (OperationCanceledException) when (leave.IsCancellationRequested)
            {
                if (containers.Find(record.Id) is { State.Running: true } running) containers.Publish(running, "detach");
            }
            // A start that failed fails the pending attach too: the client learns why from its start request.
            catch (Exception e) when (e is OperationCanceledException or IOException or EngineException) { }
            finally
            {
                attachCancel.Cancel();
                if (attaching.IsCompletedSuccessfully && attaching.Result is { } unused) await unused.DisposeAsync();
                if (connection.Upgraded) await connection.Output.DisposeAsync();
            }
        });

        ExecEndpoints.Map(app, engine);
    }

    /// <summary>Copies the client's stdin to the process. With a <paramref name="detach"/> scanner (a terminal) the
    /// detach keys end the copy instead of reaching the process: true then.</summary>
    internal static async Task<bool> PumpStdinAsync(Stream client, Stream stdin, bool closeWhenDone,
        DetachKeyScanner? detach = null)
    {
        try
        {
            if (detach is null)
            {
                await client.CopyToAsync(stdin);
                return false;
            }
            return await TerminalInput.CopyUntilDetachAsync(client, stdin, detach);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            if (closeWhenDone) await stdin.DisposeAsync();
        }
    }

    /// <summary>`t` (or `timeout`, its older name): seconds before SIGKILL; -1 waits for as long as it takes.
    /// The upper bound is what a timer can wait (about 24 days).</summary>
    private static int? StopTimeout(HttpContext ctx)
    {
        const int max = int.MaxValue / 1000;
        return DockerResults.Int(ctx, "t", -1, max) ?? DockerResults.Int(ctx, "timeout", -1, max);
    }

    /// <summary>The `signal` query value, checked before anything is done (Signals.Parse says why it is wrong).</summary>
    private static string? SignalName(HttpContext ctx)
    {
        string? signal = ctx.Request.Query["signal"];
        if (string.IsNullOrEmpty(signal)) return null;
        Signals.Parse(signal);
        return signal;
    }

    /// <summary>`tail`: "all" or a count of lines, 0 or more.</summary>
    public static int? ParseTail(string? value)
    {
        if (string.IsNullOrEmpty(value) || value == "all") return null;
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int lines)) return lines;
        // More lines than an int holds: all of them.
        if (value.All(char.IsAsciiDigit)) return null;
        throw new BadRequestException($"invalid value for tail: {DockerResults.Shorten(value)}: \"all\" or a number of lines");
    }

    /// <summary>`since`/`until`: Unix seconds with an optional fraction (Docker's form), or an RFC 3339 time.
    /// Values outside what a date can hold are refused.</summary>
    public static DateTimeOffset? ParseUnixTime(string name, string? value)
    {
        if (string.IsNullOrEmpty(value) || value == "0") return null;
        const NumberStyles number = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint;
        if (decimal.TryParse(value, number, CultureInfo.InvariantCulture, out decimal seconds))
        {
            decimal maxSeconds = (decimal)(DateTimeOffset.MaxValue - DateTimeOffset.UnixEpoch).TotalSeconds - 1;
            decimal minSeconds = -(decimal)(DateTimeOffset.UnixEpoch - DateTimeOffset.MinValue).TotalSeconds + 1;
            if (seconds < minSeconds || seconds > maxSeconds)
                throw new BadRequestException($"invalid value for {name}: {DockerResults.Shorten(value)} is out of range");
            return DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, out var time)) return time;
        throw new BadRequestException($"invalid value for {name}: {DockerResults.Shorten(value)}: Unix seconds or an RFC 3339 time");
    }
}

/// <summary>`GET /containers/json?filters=` as Docker reads it: {"name":["x"],"status":["running"],...}.
/// Name values are regular expressions, as in dockerd; they run with a match timeout.</summary>
public sealed class ContainerFilters
{
    private static readonly string[] Known =
        ["name", "id", "status", "label", "exited", "ancestor", "network", "before", "since", "publish", "expose", "health",
         "is-task", "volume"];

    private readonly Dictionary<string, List<string>> _filters;
    private readonly List<Regex> _names;

    private ContainerFilters(Dictionary<string, List<string>> filters)
    {
        _filters = filters;
        _names = filters.TryGetValue("name", out var names) ? names.Select(n => FilterJson.Regex("name", n)).ToList() : [];
    }

    public bool HasStatusFilter => _filters.ContainsKey("status") || _filters.ContainsKey("exited");

    public static ContainerFilters Parse(string? json) => new(FilterJson.Parse(json, Known));

    public bool Matches(ContainerRecord c, BerthEngine engine)
    {
        foreach (var (key, values) in _filters)
        {
            if (values.Count == 0) continue;
            bool ok = key switch
            {
                "name" => values.Any(v => c.Name.Contains(v.TrimStart('/'), StringComparison.Ordinal))
                    || _names.Any(r => FilterJson.IsMatch(r, "/" + c.Name)),
                "id" => values.Any(v => c.Id.StartsWith(v, StringComparison.Ordinal)),
                "status" => values.Contains(c.State.Status),
                "exited" => !c.State.Running && c.State.Status == "exited" && values.Contains(c.State.ExitCode.ToString()),
                "label" => values.All(v => v.Split('=', 2) is var kv && c.Config.Labels is { } labels
                    && labels.TryGetValue(kv[0], out var actual) && (kv.Length == 1 || actual == kv[1])),
                "ancestor" => values.Any(v => FindImage(engine, v)?.Id == c.ImageId || c.Config.Image == v),
                "network" => values.Any(v => c.RequestedNetworks.ContainsKey(v) || c.Endpoints.Any(e => e.NetworkId.StartsWith(v, StringComparison.Ordinal))
                    || engine.Networks.PredefinedOf(c) is { } predefined && (predefined.Name == v || predefined.Id.StartsWith(v, StringComparison.Ordinal))),
                "publish" => values.Any(v => c.Ports.Any(p => p.HostPort.ToString() == v.Split('/')[0])),
                "expose" => values.Any(v => c.Config.ExposedPorts?.ContainsKey(v.Contains('/') ? v : v + "/tcp") == true),
                "health" => values.Contains(c.State.Health?.Status ?? "none"),
                "is-task" => values.Contains("false"), // no swarm: no container is a task
                "before" => values.All(v => engine.Containers.Find(v) is { } other && c.Created < other.Created),
                "since" => values.All(v => engine.Containers.Find(v) is { } other && c.Created > other.Created),
                "volume" => values.Any(v => (c.HostConfig.Binds ?? []).Any(b => b.Split(':') is var p && (p[0] == v || p.ElementAtOrDefault(1) == v))),
                _ => true,
            };
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>An ancestor value that is no valid reference matches no image rather than failing the list.</summary>
    private static Runtime.Images.ImageRecord? FindImage(BerthEngine engine, string reference)
    {
        try { return engine.Images.Find(reference); }
        catch (Runtime.Images.ImageException) { return null; }
    }
}

/// <summary>Docker's `filters` query value: a JSON object of lists ({"name":["x"]}) or of sets ({"name":{"x":true}}),
/// parsed strictly (anything else is a 400), and its regular expressions with a match timeout.</summary>
public static class FilterJson
{
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    public static Dictionary<string, List<string>> Parse(string? json, IReadOnlyCollection<string> known)
    {
        var filters = new Dictionary<string, List<string>>();
        if (string.IsNullOrEmpty(json)) return filters;
        JsonNode? node;
        try { node = JsonNode.Parse(json); }
        catch (JsonException e) { throw new BadRequestException($"invalid filter: {e.Message}", e); }
        if (node is not JsonObject obj) throw new BadRequestException("invalid filter: expected a JSON object");
        foreach (var (key, value) in obj)
        {
            if (!known.Contains(key)) throw new BadRequestException($"invalid filter '{DockerResults.Shorten(key)}'");
            filters[key] = value switch
            {
                JsonArray array => array.Select(v => Text(key, v)).ToList(),
                JsonObject map => map.Where(kv => Enabled(key, kv.Value)).Select(kv => kv.Key).ToList(),
                _ => throw new BadRequestException($"invalid filter '{key}': expected a list of strings"),
            };
        }
        return filters;
    }

    /// <summary>A filter value as a regular expression (Go's RE2 and .NET agree on the common forms).</summary>
    public static Regex Regex(string key, string pattern)
    {
        try { return new Regex(pattern, RegexOptions.CultureInvariant, MatchTimeout); }
        catch (ArgumentException e)
        {
            throw new BadRequestException($"invalid filter '{key}': {DockerResults.Shorten(pattern)} is not a valid regular expression: {e.Message}");
        }
    }

    /// <summary>A match that takes too long is a client's pathological pattern: it is refused, not waited for.</summary>
    public static bool IsMatch(Regex regex, string input)
    {
        try { return regex.IsMatch(input); }
        catch (RegexMatchTimeoutException)
        {
            throw new BadRequestException($"filter pattern {DockerResults.Shorten(regex.ToString())} takes too long to match");
        }
    }

    private static string Text(string key, JsonNode? value) =>
        value is JsonValue v && v.TryGetValue(out string? text) ? text
            : throw new BadRequestException($"invalid filter '{key}': expected a list of strings");

    private static bool Enabled(string key, JsonNode? value) =>
        value is JsonValue v && v.TryGetValue(out bool enabled) ? enabled
            : throw new BadRequestException($"invalid filter '{key}': expected {{\"value\": true}}");
}
