using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Store;
using Berth.Runtime.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

public static class ImageEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var images = engine.Images;
        RegistryEndpoints.Map(app, engine);

        app.MapGet("/images/json", async (HttpContext ctx) =>
        {
            var all = images.List();
            // As dockerd: without all=1, untagged images that are a parent of another (build steps) are left out.
            var parents = DockerResults.Flag(ctx, "all") ? [] : all.Select(i => i.Parent).Where(p => p.Length > 0).ToHashSet();
            var filter = ImageListFilter.Parse(ctx.Request.Query["filters"], images.Find);
            var list = all.Where(i => i.RepoTags.Count > 0 || !parents.Contains(i.Id)).OrderByDescending(i => i.Created)
                .Select(i => filter.Tags(i) is { } tags ? Summary(i with { RepoTags = tags }) : null).OfType<JsonObject>().ToList();
            await DockerResults.Json(ctx, list);
        });

        // docker import (fromSrc=-) streams a tar; fromImage pulls from a registry.
        app.MapPost("/images/create", async (HttpContext ctx) =>
        {
            string? fromSrc = ctx.Request.Query["fromSrc"];
            string? fromImage = ctx.Request.Query["fromImage"];
            if (fromSrc is null)
            {
                if (string.IsNullOrEmpty(fromImage)) throw new BadRequestException("fromImage or fromSrc is required");
                await RegistryEndpoints.PullAsync(ctx, engine, fromImage, ctx.Request.Query["tag"]);
                return;
            }
            if (fromSrc != "-")
                throw new BadRequestException($"importing from a URL ({fromSrc}) is not supported: send the archive in the request body (fromSrc=-)");
            string? repo = ctx.Request.Query["repo"];
            string? tagParam = ctx.Request.Query["tag"];
            string? reference = string.IsNullOrEmpty(repo) ? null : string.IsNullOrEmpty(tagParam) ? repo : $"{repo}:{tagParam}";
            var changes = ctx.Request.Query["changes"].Where(c => !string.IsNullOrEmpty(c)).Select(c => c!).ToList();
            var image = await images.ImportAsync(ctx.Request.Body, reference, changes, ctx.Request.Query["message"], ctx.RequestAborted);
            engine.Events.Image("import", image.Id, image.Id);
            await DockerResults.Json(ctx, new { status = image.Id });
        }).TakesArchive();

        app.MapPost("/images/load", async (HttpContext ctx) =>
        {
            bool quiet = DockerResults.Flag(ctx, "quiet");
            // Nothing is written before the load has finished, so a bad archive is a plain 400 (as dockerd answers
            // when its stream has not begun).
            var loaded = await images.LoadAsync(ctx.Request.Body, ctx.RequestAborted);
            ImageEvents.Loaded(engine, loaded);
            ctx.Response.ContentType = DockerResults.JsonType;
            foreach (string line in loaded)
                await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { stream = line + "\n" }) + "\n");
            _ = quiet;
        }).TakesArchive();

        // Image names contain slashes (docker.io/library/webapp), so the rest of the path is parsed here.
        app.MapMethods("/images/{**rest}", ["GET", "POST", "DELETE"], async (HttpContext ctx, string rest) =>
        {
            string method = ctx.Request.Method;
            if (method == "GET" && rest.EndsWith("/json", StringComparison.Ordinal))
            {
                var image = Find(images, rest[..^5]);
                await DockerResults.Json(ctx, Inspect(image));
            }
            else if (method == "GET" && rest.EndsWith("/history", StringComparison.Ordinal))
            {
                var image = Find(images, rest[..^8]);
                await DockerResults.Json(ctx, ImageHistory.Of(images, image));
            }
            else if (method == "GET" && rest.EndsWith("/get", StringComparison.Ordinal))
            {
                await ContainerImageEndpoints.SaveAsync(ctx, images, [rest[..^4]]);
            }
            else if (method == "POST" && rest.EndsWith("/tag", StringComparison.Ordinal))
            {
                string? repo = ctx.Request.Query["repo"];
                if (string.IsNullOrEmpty(repo)) throw new BadRequestException("repository name must have at least one component");
                images.Tag(rest[..^4], repo, ctx.Request.Query["tag"]);
                ImageEvents.Tagged(engine, rest[..^4], repo, ctx.Request.Query["tag"]);
                ctx.Response.StatusCode = 201;
            }
            else if (method == "POST" && rest.EndsWith("/push", StringComparison.Ordinal))
            {
                await RegistryEndpoints.PushAsync(ctx, engine, rest[..^5]);
            }
            else if (method == "DELETE")
            {
                string? removedId = images.Find(rest)?.Id;
                var items = images.Remove(rest, DockerResults.Flag(ctx, "force"), engine.Containers.ImageUser);
                ImageEvents.Removed(engine, removedId, items);
                await DockerResults.Json(ctx, items.Select(i =>
                {
                    var o = new JsonObject();
                    if (i.Untagged is not null) o["Untagged"] = i.Untagged;
                    if (i.Deleted is not null) o["Deleted"] = i.Deleted;
                    return o;
                }).ToList());
            }
            else throw new NotFoundException($"page not found: {method} /images/{rest}");
        });
    }

    /// <summary>One item of GET /images/json (also `system df`'s, which fills in Containers and SharedSize).</summary>
    public static JsonObject Summary(ImageRecord i) => new()
    {
        ["Containers"] = -1,
        ["Created"] = i.Created.ToUnixTimeSeconds(),
        ["Id"] = i.Id,
        ["Labels"] = i.Config.Labels is { } labels ? JsonSerializer.SerializeToNode(labels) : null,
        ["ParentId"] = i.Parent ?? "",
        ["RepoDigests"] = Strings(i.RepoDigests),
        ["RepoTags"] = Strings(i.RepoTags),
        ["SharedSize"] = -1,
        ["Size"] = i.Size,
        ["VirtualSize"] = i.Size,
    };

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    private static ImageRecord Find(ImageStore images, string reference) =>
        images.Find(reference) ?? throw new NotFoundException($"No such image: {reference}");

    public static JsonObject Inspect(ImageRecord i) => new()
    {
        ["Id"] = i.Id,
        ["RepoTags"] = new JsonArray(i.RepoTags.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
        ["RepoDigests"] = Strings(i.RepoDigests),
        ["Parent"] = i.Parent ?? "",
        ["Comment"] = i.Comment,
        ["Created"] = DockerTimeConverter.Format(i.Created),
        ["DockerVersion"] = i.DockerVersion,
        ["Author"] = i.Author,
        ["Config"] = JsonSerializer.SerializeToNode(i.Config, EngineJson.Options),
        ["Architecture"] = i.Architecture,
        ["Os"] = i.Os,
        ["Size"] = i.Size,
        ["VirtualSize"] = i.Size,
        ["GraphDriver"] = new JsonObject { ["Data"] = null, ["Name"] = "overlay2" },
        ["RootFS"] = new JsonObject
        {
            ["Type"] = "layers",
            ["Layers"] = new JsonArray(i.LayerDiffIds.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
        },
        ["Metadata"] = new JsonObject { ["LastTagTime"] = DockerTimeConverter.ZeroTime },
    };
}
