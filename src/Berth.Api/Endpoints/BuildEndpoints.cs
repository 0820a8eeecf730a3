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
            if (!string.IsNullOrEmpty(query["remote"]))
                throw new BadRequestException("building from a remote context (remote=) is not supported: send the context as a tar in the request body");
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
            };
            foreach (string tag in request.Tags) Berth.Runtime.Images.ImageStore.NormalizeTag(tag); // bad tags: 400 up front
            var output = new StreamOutput(ctx);
            try
            {
                await engine.Builder.BuildAsync(ctx.Request.Body, request, output, ctx.RequestAborted);
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
            int removed = engine.Images.PruneCache();
            await DockerResults.Json(ctx, new { CachesDeleted = Array.Empty<string>(), SpaceReclaimed = 0L });
            _ = removed;
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
