using System.Text.Json;
using Berth.Engine;
using Berth.Engine.Build;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>`POST /build` as dockerd's legacy builder answers it: a stream of {"stream"} lines, {"aux":{"ID"}} for the
/// image, and a failure as {"errorDetail"} once the stream has begun (before that, a plain HTTP error).</summary>
public static class BuildEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapPost("/build", async (HttpContext ctx) =>
        {
            var query = ctx.Request.Query;
            if (query["platform"].ToString() is { Length: > 0 } platform && platform is not ("linux" or "linux/amd64"))
                throw new BadRequestException($"platform {platform} is not supported: Berth builds linux/amd64 images");
            var request = new BuildRequest
            {
                Dockerfile = query["dockerfile"].ToString() is { Length: > 0 } file ? file : "Dockerfile",
                Tags = query["t"].Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).ToList(),
                BuildArgs = JsonMap<string?>(query["buildargs"], "buildargs"),
                Labels = JsonMap<string>(query["labels"], "labels"),
                Target = query["target"],
                NoCache = DockerResults.Flag(ctx, "nocache"),
                Quiet = DockerResults.Flag(ctx, "q"),
                Pull = DockerResults.Flag(ctx, "pull"),
                NetworkMode = query["networkmode"].ToString() is { Length: > 0 } network ? network : "default",
                RemoveIntermediate = query["rm"].ToString() is not ("0" or "false"),
                ForceRemove = DockerResults.Flag(ctx, "forcerm"),
            };
            foreach (string tag in request.Tags) Berth.Runtime.Images.ImageStore.NormalizeTag(tag); // bad tags: 400 up front
            // remote=: a git repository or a URL the daemon fetches instead of the body.
            await using var remote = query["remote"].ToString() is { Length: > 0 } url
                ? await engine.Builder.OpenRemoteContextAsync(url, request.Dockerfile, ctx.RequestAborted) : null;
            var output = new StreamOutput(ctx);
            try
            {
                var image = await engine.Builder.BuildAsync(remote ?? ctx.Request.Body, request, output, ctx.RequestAborted);
                // With q=1 the image ID is all dockerd says (the docker CLI prints it for -q).
                if (request.Quiet) await output.WriteAsync(image.Id + "\n");
            }
            catch (Exception e) when (output.Started && e is BuildException or EngineException or Berth.Runtime.Images.ImageException)
            {
                int code = e is BuildException build ? build.Code : 1;
                await output.LineAsync(new { errorDetail = new { code, message = e.Message }, error = e.Message });
            }
            catch (BuildException e) { throw new BadRequestException(e.Message); }
        }).TakesArchive();

        app.MapPost("/build/prune", async (HttpContext ctx) =>
        {
            var used = engine.Containers.All.Select(c => c.ImageId).ToHashSet();
            var (deleted, reclaimed) = engine.Images.PruneCache(used.Contains);
            await DockerResults.Json(ctx, new { CachesDeleted = deleted, SpaceReclaimed = reclaimed });
        });

        app.MapPost("/build/cancel", (HttpContext ctx) => DockerResults.NoContent(ctx));
    }

    private static Dictionary<string, T> JsonMap<T>(string? json, string name)
    {
        if (string.IsNullOrEmpty(json)) return new();
        try { return JsonSerializer.Deserialize<Dictionary<string, T>>(json) ?? new(); }
        catch (JsonException e) { throw new BadRequestException($"invalid {name}: {e.Message}"); }
    }

    private sealed class StreamOutput(HttpContext ctx) : IBuildOutput
    {
        public bool Started { get; private set; }

        public Task WriteAsync(string text) => LineAsync(new { stream = text });

        public Task AuxAsync(string imageId) => LineAsync(new { aux = new { ID = imageId } });

        public async Task LineAsync(object message)
        {
            if (!Started)
            {
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = DockerResults.JsonType;
                Started = true;
            }
            await ctx.Response.WriteAsync(JsonSerializer.Serialize(message) + "\r\n");
            await ctx.Response.Body.FlushAsync();
        }
    }
}
