using System.Text.Json;
using Berth.Engine;
using Berth.Engine.Events;
using Berth.Engine.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>`GET /events` as dockerd streams it: the past events asked for by since/until from the bus's history,
/// then live ones (one JSON object per line, flushed each) until `until` or the client goes.</summary>
public static class EventEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapGet("/events", async (HttpContext ctx) =>
        {
            var since = ParseTime("since", ctx.Request.Query["since"]);
            var until = ParseTime("until", ctx.Request.Query["until"]);
            if (since is { } s && until is { } u && u < s)
                throw new BadRequestException($"`since` time ({ctx.Request.Query["since"]}) cannot be after `until` time ({ctx.Request.Query["until"]})");
            var filter = new EventFilter(FilterJson.Parse(ctx.Request.Query["filters"], EventFilter.Keys));
            var now = DateTimeOffset.UtcNow;
            bool onlyPast = until is { } end && end <= now;
            using var subscription = engine.Events.Subscribe(since, until, live: !onlyPast);
            ctx.Response.ContentType = DockerResults.JsonType;
            await ctx.Response.StartAsync();
            // The headers go out now: clients wait for them before they report the stream as open.
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
            if (until is { } stopAt && !onlyPast) stop.CancelAfter(stopAt - now);
            try
            {
                foreach (var ev in subscription.Past.Where(filter.Includes)) await WriteAsync(ctx, ev, stop.Token);
                await foreach (var ev in subscription.Live.ReadAllAsync(stop.Token))
                {
                    if (until is { } last && ev.TimeNano > (last - DateTimeOffset.UnixEpoch).Ticks * 100) break;
                    if (filter.Includes(ev)) await WriteAsync(ctx, ev, stop.Token);
                }
            }
            catch (OperationCanceledException) { }
            catch (IOException) { }
        });
    }

    private static async Task WriteAsync(HttpContext ctx, EngineEvent ev, CancellationToken ct)
    {
        // Object and newline in one chunk, as dockerd: docker-py's stream splitter fails on a chunk of just "\n".
        byte[] line = [.. JsonSerializer.SerializeToUtf8Bytes(ev, EngineJson.Options), (byte)'\n'];
        await ctx.Response.Body.WriteAsync(line, ct);
        await ctx.Response.Body.FlushAsync(ct);
    }

    /// <summary>dockerd's timestamps: Unix seconds with an optional fraction ("0" is the epoch, not "unset"), or
    /// an RFC 3339 time.</summary>
    public static DateTimeOffset? ParseTime(string name, string? value) =>
        value == "0" ? DateTimeOffset.UnixEpoch : ContainerEndpoints.ParseUnixTime(name, value);
}
