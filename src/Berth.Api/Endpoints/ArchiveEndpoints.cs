using System.Globalization;
using System.Text;
using System.Text.Json;
using Berth.Engine;
using Berth.Engine.Containers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>HEAD/GET/PUT /containers/{id}/archive (`docker cp`): the path's stat in X-Docker-Container-Path-Stat,
/// a tar streamed out as the tree is walked, a tar streamed in through the hardened extractor.</summary>
public static class ArchiveEndpoints
{
    public const string StatHeader = "X-Docker-Container-Path-Stat";

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var containers = engine.Containers;

        app.MapMethods("/containers/{id}/archive", ["HEAD"], async (HttpContext ctx, string id) =>
        {
            string path = PathOf(ctx);
            using var fs = await containers.OpenFilesystemAsync(id, ctx.RequestAborted);
            ctx.Response.Headers[StatHeader] = Encode(containers.StatPath(fs, path));
            ctx.Response.StatusCode = 200;
        });

        app.MapGet("/containers/{id}/archive", async (HttpContext ctx, string id) =>
        {
            string path = PathOf(ctx);
            using var fs = await containers.OpenFilesystemAsync(id, ctx.RequestAborted);
            ctx.Response.Headers[StatHeader] = Encode(containers.StatPath(fs, path));
            ctx.Response.ContentType = "application/x-tar";
            ctx.Response.StatusCode = 200;
            await containers.WriteArchiveAsync(fs, path, ctx.Response.Body, ctx.RequestAborted);
        });

        app.MapPut("/containers/{id}/archive", async (HttpContext ctx, string id) =>
        {
            string path = PathOf(ctx);
            using var fs = await containers.OpenFilesystemAsync(id, ctx.RequestAborted);
            var directory = containers.OpenExtractionPoint(fs, path);
            await containers.ExtractArchiveAsync(directory, ctx.Request.Body,
                DockerResults.Flag(ctx, "noOverwriteDirNonDir"), DockerResults.Flag(ctx, "copyUIDGID"), ctx.RequestAborted);
            ctx.Response.StatusCode = 200;
        }).TakesArchive();
    }

    private static string PathOf(HttpContext ctx) =>
        ctx.Request.Query["path"].ToString() is { Length: > 0 } path ? path
            : throw new BadRequestException("path is required: give the path inside the container (?path=)");

    /// <summary>base64 of {"name","size","mode","mtime","linkTarget"} as dockerd sends it (mode is Go's FileMode).</summary>
    public static string Encode(ContainerPathStat stat)
    {
        string json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["name"] = stat.Name, ["size"] = stat.Size, ["mode"] = stat.Mode,
            ["mtime"] = GoTime(stat.Mtime), ["linkTarget"] = stat.LinkTarget,
        });
        return Convert.ToBase64String(Encoding.UTF8.GetBytes(json));
    }

    /// <summary>Go's RFC3339Nano: fraction digits without trailing zeros, none when whole.</summary>
    private static string GoTime(DateTimeOffset time)
    {
        string text = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture)
            .TrimEnd('0').TrimEnd('.');
        return text + "Z";
    }
}
