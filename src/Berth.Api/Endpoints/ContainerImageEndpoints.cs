using System.Text.Json;
using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Runtime.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>From containers to images and files: commit, diff (changes), export, and save (images/get).</summary>
public static class ContainerImageEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapPost("/commit", async (HttpContext ctx) =>
        {
            var query = ctx.Request.Query;
            string container = query["container"].ToString();
            if (container.Length == 0) throw new BadRequestException("No container was specified: commit needs container=");
            string? repo = query["repo"], tag = query["tag"];
            string? reference = string.IsNullOrEmpty(repo) ? null : ImageReference.ForTagging(repo, tag);
            ImageConfig? config = null;
            if (ctx.Request.ContentLength is > 0 || ctx.Request.Headers.TransferEncoding.Count > 0)
            {
                using var body = new MemoryStream();
                await ctx.Request.Body.CopyToAsync(body, ctx.RequestAborted);
                if (body.Length > 0)
                {
                    try { config = JsonSerializer.Deserialize<ImageConfig>(body.ToArray()); }
                    catch (JsonException e) { throw new BadRequestException($"invalid JSON in the request body: {e.Message}"); }
                }
            }
            var changes = query["changes"].Where(c => !string.IsNullOrEmpty(c)).Select(c => c!).ToList();
            var image = await engine.Containers.CommitAsync(container,
                new CommitRequest(reference, changes, query["comment"], query["author"], config,
                    Pause: query["pause"].ToString() is "" || DockerResults.Flag(ctx, "pause")), ctx.RequestAborted);
            await DockerResults.Json(ctx, new { Id = image.Id }, 201);
        });

        app.MapGet("/containers/{id}/changes", async (HttpContext ctx, string id) =>
            await DockerResults.Json(ctx, engine.Containers.Changes(id).Select(c => new { c.Path, Kind = (int)c.Kind }).ToList()));

        app.MapGet("/containers/{id}/export", async (HttpContext ctx, string id) =>
        {
            engine.Containers.Get(id); // 404 before the stream starts
            ctx.Response.ContentType = "application/x-tar";
            await engine.Containers.ExportAsync(id, ctx.Response.Body, ctx.RequestAborted);
        });

        app.MapGet("/images/get", async (HttpContext ctx) =>
        {
            var names = ctx.Request.Query["names"].Where(n => !string.IsNullOrEmpty(n)).Select(n => n!).ToList();
            if (names.Count == 0) throw new BadRequestException("no images to save: give names=");
            await SaveAsync(ctx, engine.Images, names);
        });
    }

    /// <summary>The docker-save tar of <paramref name="names"/>; unknown names are a 404 before anything is sent.</summary>
    public static async Task SaveAsync(HttpContext ctx, ImageStore images, IReadOnlyList<string> names)
    {
        foreach (string name in names)
            if (images.Find(name) is null) throw new NotFoundException(ImageNotFoundException.For(name).Message);
        ctx.Response.ContentType = "application/x-tar";
        await images.SaveAsync(names, ctx.Response.Body, ctx.RequestAborted);
    }
}
