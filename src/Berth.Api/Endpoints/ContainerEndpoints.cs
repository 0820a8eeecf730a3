using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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
            var record = containers.Create(request, ctx.Request.Query["name"]);
            await DockerResults.Json(ctx, new { Id = record.Id, Warnings = Array.Empty<string>() }, 201);
        });

        app.MapGet("/containers/json", async (HttpContext ctx) =>
        {
            bool all = DockerResults.Flag(ctx, "all");
            int? limit = DockerResults.Int(ctx, "limit");
            var filters = ContainerFilters.Parse(ctx.Request.Query["filters"]);
            var list = containers.All
                .Where(c => all || c.State.Running || limit is > 0 || filters.HasStatusFilter)
                .Where(c => filters.Matches(c, engine))
                .OrderByDescending(c => c.Created)
                .Take(limit is > 0 ? limit.Value : int.MaxValue)
                .Select(c => ContainerViews.ListItem(engine, c, DockerResults.Flag(ctx, "size")))
                .ToList();
            await DockerResults.Json(ctx, list);
        });

        app.MapGet("/containers/{id}/json", async (HttpContext ctx, string id) =>
            await DockerResults.Json(ctx, ContainerViews.Inspect(engine, containers.Get(id))));

        app.MapPost("/containers/{id}/start", async (HttpContext ctx, string id) =>
        {
            await containers.StartAsync(id);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/stop", async (HttpContext ctx, string id) =>
        {
            await containers.StopAsync(id, DockerResults.Int(ctx, "t") ?? DockerResults.Int(ctx, "timeout"), ctx.Request.Query["signal"]);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/restart", async (HttpContext ctx, string id) =>
        {
            await containers.RestartAsync(id, DockerResults.Int(ctx, "t") ?? DockerResults.Int(ctx, "timeout"));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/kill", async (HttpContext ctx, string id) =>
        {
            await containers.KillAsync(id, ctx.Request.Query["signal"]);
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
            var record = containers.Get(id);
            if (record.State.Running && record.Config.Tty)
                await containers.Runtime.ResizeAsync(record.Id, DockerResults.Int(ctx, "h") ?? 24, DockerResults.Int(ctx, "w") ?? 80);
            ctx.Response.StatusCode = 200;
        });

        // The CLI sends /wait before /start and blocks until the headers arrive: send them at once.
        app.MapPost("/containers/{id}/wait", async (HttpContext ctx, string id) =>
        {
            string? condition = ctx.Request.Query["condition"];
            containers.Get(id);
            if (condition is not (null or "" or "not-running" or "next-exit" or "removed"))
                throw new BadRequestException($"invalid condition: \"{condition}\"");
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
            await containers.RemoveAsync(id, DockerResults.Flag(ctx, "force"));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/prune", async (HttpContext ctx) =>
        {
            var deleted = new List<string>();
            foreach (var c in containers.All.Where(c => !c.State.Running))
            {
                await containers.RemoveAsync(c.Id, force: false);
                deleted.Add(c.Id);
            }
            await DockerResults.Json(ctx, new { ContainersDeleted = deleted, SpaceReclaimed = 0 });
        });

        app.MapGet("/containers/{id}/logs", async (HttpContext ctx, string id) =>
        {
            var record = containers.Get(id);
            bool stdout = DockerResults.Flag(ctx, "stdout"), stderr = DockerResults.Flag(ctx, "stderr");
            if (!stdout && !stderr) throw new BadRequestException("Bad parameters: you must choose at least one stream");
            bool timestamps = DockerResults.Flag(ctx, "timestamps");
            string? tailText = ctx.Request.Query["tail"];
            int? tail = string.IsNullOrEmpty(tailText) || tailText == "all" ? null
                : int.TryParse(tailText, out int t) && t >= 0 ? t : throw new BadRequestException($"invalid value for tail: {tailText}");
            var since = ParseUnixTime(ctx.Request.Query["since"]);
            var until = ParseUnixTime(ctx.Request.Query["until"]);
            bool tty = record.Config.Tty;
            ctx.Response.StatusCode = 200;
            ctx.Response.ContentType = tty ? StdStreamWriter.RawType : StdStreamWriter.MultiplexedType;
            await ctx.Response.StartAsync();
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
            // Registered before the 101 goes out: the CLI sends start the moment it sees the upgrade, and an attach
            // registered after that start would miss the container's output.
            using var attachCancel = new CancellationTokenSource();
            var attaching = DockerResults.Flag(ctx, "stream") ? containers.AttachAsync(id, attachCancel.Token) : Task.FromResult<AttachSession?>(null);
            var connection = await Hijack.AcceptAsync(ctx, tty ? StdStreamWriter.RawType : StdStreamWriter.MultiplexedType);
            var writer = new StdStreamWriter(connection.Output, !tty);
            // A hijacked client half-closes its side when it sends no stdin; that must not end the attach.
            var ct = connection.Upgraded ? CancellationToken.None : ctx.RequestAborted;
            try
            {
                if (DockerResults.Flag(ctx, "logs"))
                    await foreach (var entry in containers.ReadLogsAsync(id, false, null, null, ct))
                        if (entry.Stream == StdStream.Stdout ? stdout : stderr)
                            await writer.WriteAsync(entry.Stream, entry.Line, ct);
                await using var session = await attaching;
                if (session is null) return;
                if (stdin && session.Stdin is { } input && connection.Upgraded)
                    _ = PumpStdinAsync(connection.Input!, input, record.Config.StdinOnce);
                await foreach (var (stream, data) in session.ReadOutputAsync(ct))
                    if (stream == StdStream.Stdout ? stdout : stderr)
                        await writer.WriteAsync(stream, data, ct);
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

    internal static async Task PumpStdinAsync(Stream client, Stream stdin, bool closeWhenDone)
    {
        try
        {
            await client.CopyToAsync(stdin);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
        finally
        {
            if (closeWhenDone) await stdin.DisposeAsync();
        }
    }

    private static DateTimeOffset? ParseUnixTime(string? value)
    {
        if (string.IsNullOrEmpty(value) || value == "0") return null;
        if (decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal seconds))
            return DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, out var time)) return time;
        throw new BadRequestException($"invalid time value: {value}");
    }
}

/// <summary>`GET /containers/json?filters=` as Docker reads it: {"name":["x"],"status":["running"],...}.</summary>
public sealed class ContainerFilters
{
    private readonly Dictionary<string, List<string>> _filters;

    private ContainerFilters(Dictionary<string, List<string>> filters) => _filters = filters;

    public bool HasStatusFilter => _filters.ContainsKey("status") || _filters.ContainsKey("exited");

    public static ContainerFilters Parse(string? json)
    {
        var filters = new Dictionary<string, List<string>>();
        if (string.IsNullOrEmpty(json)) return new(filters);
        JsonNode? node;
        try { node = JsonNode.Parse(json); }
        catch (JsonException e) { throw new BadRequestException($"invalid filter: {e.Message}", e); }
        if (node is not JsonObject obj) throw new BadRequestException("invalid filter: expected a JSON object");
        foreach (var (key, value) in obj)
        {
            // Both {"name":["x"]} and the older {"name":{"x":true}} forms.
            filters[key] = value switch
            {
                JsonArray array => array.Select(v => v?.GetValue<string>() ?? "").ToList(),
                JsonObject map => map.Where(kv => kv.Value?.GetValue<bool>() == true).Select(kv => kv.Key).ToList(),
                _ => throw new BadRequestException($"invalid filter '{key}'"),
            };
            if (key is not ("name" or "id" or "status" or "label" or "exited" or "ancestor" or "network" or "before" or "since" or "publish" or "expose"))
                throw new BadRequestException($"invalid filter '{key}'");
        }
        return new(filters);
    }

    public bool Matches(ContainerRecord c, BerthEngine engine)
    {
        foreach (var (key, values) in _filters)
        {
            if (values.Count == 0) continue;
            bool ok = key switch
            {
                "name" => values.Any(v => c.Name.Contains(v.TrimStart('/'), StringComparison.Ordinal)
                    || System.Text.RegularExpressions.Regex.IsMatch("/" + c.Name, v)),
                "id" => values.Any(v => c.Id.StartsWith(v, StringComparison.Ordinal)),
                "status" => values.Contains(c.State.Status),
                "exited" => !c.State.Running && c.State.Status == "exited" && values.Contains(c.State.ExitCode.ToString()),
                "label" => values.All(v => v.Split('=', 2) is var kv && c.Config.Labels is { } labels
                    && labels.TryGetValue(kv[0], out var actual) && (kv.Length == 1 || actual == kv[1])),
                "ancestor" => values.Any(v => engine.Images.Find(v)?.Id == c.ImageId || c.Config.Image == v),
                "network" => values.Any(v => c.RequestedNetworks.ContainsKey(v) || c.Endpoints.Any(e => e.NetworkId.StartsWith(v, StringComparison.Ordinal))),
                "publish" => values.Any(v => c.Ports.Any(p => p.HostPort.ToString() == v.Split('/')[0])),
                "expose" => values.Any(v => c.Config.ExposedPorts?.ContainsKey(v.Contains('/') ? v : v + "/tcp") == true),
                _ => true,
            };
            if (!ok) return false;
        }
        return true;
    }
}
