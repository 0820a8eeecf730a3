using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Api.Views;
using Berth.Engine;
using Berth.Engine.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>Pause, unpause, update, top, stats and system df.</summary>
public static class ResourceEndpoints
{
    /// <summary>dockerd samples every second.</summary>
    private static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(1);

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var containers = engine.Containers;

        app.MapPost("/containers/{id}/pause", async (HttpContext ctx, string id) =>
        {
            await containers.PauseAsync(id);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/unpause", async (HttpContext ctx, string id) =>
        {
            await containers.UnpauseAsync(id);
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/containers/{id}/update", async (HttpContext ctx, string id) =>
        {
            var fields = await DockerResults.ReadBody<Dictionary<string, JsonNode?>>(ctx);
            var body = new JsonObject(fields.Select(f => KeyValuePair.Create(f.Key, f.Value?.DeepClone())));
            var warnings = await containers.UpdateAsync(id, body);
            await DockerResults.Json(ctx, new { Warnings = warnings });
        });

        app.MapGet("/containers/{id}/top", async (HttpContext ctx, string id) =>
        {
            var (titles, processes) = await containers.TopAsync(id, ctx.Request.Query["ps_args"]);
            await DockerResults.Json(ctx, new { Titles = titles, Processes = processes });
        });

        app.MapGet("/containers/{id}/stats", async (HttpContext ctx, string id) =>
        {
            var record = containers.Get(id);
            bool stream = !ctx.Request.Query.ContainsKey("stream") || DockerResults.Flag(ctx, "stream");
            bool oneShot = DockerResults.Flag(ctx, "one-shot");
            if (oneShot && stream) throw new BadRequestException("cannot have stream=true and one-shot=true");
            var version = containers.Runtime.Cgroups.Version;
            if (!stream)
            {
                var before = oneShot || !record.State.Running ? null : containers.Stats(record);
                if (before is not null) await Task.Delay(StatsInterval, ctx.RequestAborted);
                var now = containers.Stats(record);
                ctx.Response.ContentType = DockerResults.JsonType;
                await ctx.Response.Body.WriteAsync(StatsViews.Render(record, now, before, version), ctx.RequestAborted);
                return;
            }
            ctx.Response.ContentType = DockerResults.JsonType;
            Runtime.Resources.StatsSample? previous = null;
            // One writer for the stream, writing each object and its newline straight into the response's pipe.
            var body = ctx.Response.BodyWriter;
            await using var writer = new Utf8JsonWriter(body, StatsViews.WriterOptions);
            try
            {
                await foreach (var now in containers.StreamStats(record, StatsInterval, ctx.RequestAborted))
                {
                    writer.Reset(body);
                    StatsViews.Write(writer, record, now, previous, version);
                    writer.Flush();
                    body.Write("\n"u8);
                    await body.FlushAsync(ctx.RequestAborted);
                    if (now is null) return;
                    previous = now;
                }
            }
            catch (OperationCanceledException) { }
            catch (NotFoundException) { } // removed while streamed: the stream ends, as dockerd's does
        });

        app.MapGet("/system/df", async (HttpContext ctx) =>
        {
            var all = containers.All;
            var images = engine.Images.List().OrderByDescending(i => i.Created).Select(i =>
            {
                var item = ImageEndpoints.Summary(i);
                item["Containers"] = all.Count(c => c.ImageId == i.Id);
                item["SharedSize"] = 0;
                return item;
            }).ToList();
            var containerItems = all.OrderByDescending(c => c.Created)
                .Select(c => ContainerViews.ListItem(engine, c, size: true)).ToList();
            await DockerResults.Json(ctx, new
            {
                LayersSize = images.Sum(i => (long?)i["Size"] ?? 0),
                Images = images,
                Containers = containerItems,
                Volumes = VolumeEndpoints.DiskUsage(engine.Volumes),
                BuildCache = Array.Empty<object>(),
            });
        });
    }
}
