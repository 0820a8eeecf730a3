using System.Globalization;
using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Volumes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>/volumes: the local driver's volumes (create, list with filters, inspect, remove, prune).</summary>
public static class VolumeEndpoints
{
    private sealed class VolumeCreateRequest
    {
        public string? Name { get; set; }
        public string? Driver { get; set; }
        public Dictionary<string, string>? DriverOpts { get; set; }
        public Dictionary<string, string>? Labels { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapGet("/volumes", async (HttpContext ctx) =>
        {
            var filters = new VolumeFilters(engine.Volumes, ctx.Request.Query["filters"], prune: false);
            var volumes = engine.Volumes.All.Where(filters.Matches).OrderBy(v => v.Name, StringComparer.Ordinal)
                .Select(v => Inspect(engine.Volumes, v)).ToList();
            await DockerResults.Json(ctx, new { Volumes = volumes, Warnings = (string[]?)null });
        });

        app.MapPost("/volumes/create", async (HttpContext ctx) =>
        {
            var request = await DockerResults.ReadBody<VolumeCreateRequest>(ctx);
            var volume = engine.Volumes.Create(request.Name, request.Driver, request.Labels, request.DriverOpts);
            await DockerResults.Json(ctx, Inspect(engine.Volumes, volume), 201);
        });

        app.MapGet("/volumes/{name}", async (HttpContext ctx, string name) =>
            await DockerResults.Json(ctx, Inspect(engine.Volumes, engine.Volumes.Get(name))));

        app.MapDelete("/volumes/{name}", (HttpContext ctx, string name) =>
        {
            engine.Volumes.Remove(name, DockerResults.Flag(ctx, "force"));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/volumes/prune", async (HttpContext ctx) =>
        {
            var filters = new VolumeFilters(engine.Volumes, ctx.Request.Query["filters"], prune: true);
            // API 1.42 and later prune only anonymous volumes unless all=true.
            bool all = filters.All ?? ApiVersion.Of(ctx) < new Version(1, 42);
            var (deleted, reclaimed) = engine.Volumes.Prune(all, filters.Matches);
            await DockerResults.Json(ctx, new { VolumesDeleted = deleted, SpaceReclaimed = reclaimed });
        });
    }

    /// <summary>`system df`'s volumes as dockerd lists them: local volumes without driver options (those are someone
    /// else's storage), each with its UsageData.</summary>
    public static JsonArray DiskUsage(VolumeService volumes) =>
        new(volumes.All.Where(v => v.Driver == VolumeService.LocalDriver && !v.HasMountOptions)
            .OrderBy(v => v.Name, StringComparer.Ordinal)
            .Select(v => (JsonNode)Inspect(volumes, v, usage: true)).ToArray());

    /// <summary>A volume as `docker volume inspect` shows it; UsageData only for `system df -v`.</summary>
    public static JsonObject Inspect(VolumeService volumes, VolumeRecord v, bool usage = false)
    {
        var view = new JsonObject
        {
            ["CreatedAt"] = v.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["Driver"] = v.Driver,
            ["Labels"] = Map(v.Labels),
            ["Mountpoint"] = volumes.DataPath(v.Name),
            ["Name"] = v.Name,
            ["Options"] = Map(v.Options),
            ["Scope"] = "local",
        };
        if (usage)
            view["UsageData"] = new JsonObject { ["RefCount"] = volumes.Users(v.Name).Count, ["Size"] = volumes.Size(v.Name) };
        return view;
    }

    private static JsonObject? Map(Dictionary<string, string>? values)
    {
        if (values is null) return null;
        var map = new JsonObject();
        foreach (var (key, value) in values) map[key] = value;
        return map;
    }
}

/// <summary>Filters of `volume ls` (dangling, driver, label, name) and `volume prune` (label, label!, all).</summary>
public sealed class VolumeFilters
{
    private readonly VolumeService _volumes;
    private readonly Dictionary<string, List<string>> _filters;
    private readonly List<System.Text.RegularExpressions.Regex> _names;
    private readonly bool? _dangling;

    public VolumeFilters(VolumeService volumes, string? json, bool prune)
    {
        _volumes = volumes;
        _filters = FilterJson.Parse(json, prune ? ["label", "label!", "all"] : ["dangling", "driver", "label", "name"]);
        _names = (_filters.GetValueOrDefault("name") ?? []).Select(n => FilterJson.Regex("name", n)).ToList();
        _dangling = Bool("dangling");
        All = Bool("all");
    }

    /// <summary>`all=true` of prune; null when not given.</summary>
    public bool? All { get; }

    private bool? Bool(string key)
    {
        if (_filters.GetValueOrDefault(key) is not [.., var last]) return null;
        return last.ToLowerInvariant() switch
        {
            "true" or "1" => true,
            "false" or "0" => false,
            _ => throw new BadRequestException($"invalid filter '{key}={DockerResults.Shorten(last)}'"),
        };
    }

    public bool Matches(VolumeRecord v)
    {
        if (_names.Count > 0 && !_names.Any(r => FilterJson.IsMatch(r, v.Name))) return false;
        if (_filters.GetValueOrDefault("driver") is { Count: > 0 } drivers && !drivers.Contains(v.Driver)) return false;
        if (_filters.GetValueOrDefault("label") is { } labels && !labels.All(l => HasLabel(v, l))) return false;
        if (_filters.GetValueOrDefault("label!") is { } not && not.Any(l => HasLabel(v, l))) return false;
        if (_dangling is bool dangling && (_volumes.Users(v.Name).Count == 0) != dangling) return false;
        return true;
    }

    private static bool HasLabel(VolumeRecord v, string filter)
    {
        var kv = filter.Split('=', 2);
        return v.Labels?.TryGetValue(kv[0], out var actual) == true && (kv.Length == 1 || actual == kv[1]);
    }
}
