using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Runtime.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>`POST /{containers,images}/prune` as dockerd (networks: NetworkEndpoints): filters until (a time or a duration before now),
/// label and label! (key or key=value; all must hold), dangling for images; SpaceReclaimed from the bytes removed
/// (a container's writable layer, an image's layers).</summary>
public static class PruneEndpoints
{
    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapPost("/containers/prune", async (HttpContext ctx) =>
        {
            var filter = PruneFilter.Parse(ctx.Request.Query["filters"], []);
            var deleted = new List<string>();
            long reclaimed = 0;
            foreach (var c in engine.Containers.All.Where(c => !c.State.Running && !c.State.Restarting
                         && filter.Matches(c.Created, c.Config.Labels)))
            {
                long size = engine.Containers.DiskUsage(c).SizeRw;
                try { await engine.Containers.RemoveAsync(c.Id, force: false); }
                catch (EngineException) { continue; } // started or removed meanwhile
                deleted.Add(c.Id);
                reclaimed += size;
            }
            await DockerResults.Json(ctx, new { ContainersDeleted = deleted, SpaceReclaimed = reclaimed });
        });

        app.MapPost("/images/prune", async (HttpContext ctx) =>
        {
            var filter = PruneFilter.Parse(ctx.Request.Query["filters"], ["dangling"]);
            var used = engine.Containers.All.Select(c => c.ImageId).ToHashSet();
            var before = engine.Images.List().ToDictionary(i => i.Id);
            // Measured before: the prune deletes a freed layer's directory, its size file with it.
            var layerBytes = before.Values.SelectMany(i => i.LayerDiffIds).Distinct().ToDictionary(l => l, engine.Images.LayerSize);
            // The store keeps what other images name as parent (build steps) and takes untagged images only, unless
            // dangling=false (`docker image prune -a`); images that appeared meanwhile or fail a filter are kept.
            var items = engine.Images.PruneUnused(id => used.Contains(id)
                || !before.TryGetValue(id, out var image) || !filter.Matches(image.Created, image.Config.Labels),
                all: filter.Dangling == false);
            ImageEvents.Removed(engine, null, items);
            var deleted = new JsonArray(items.Select(item => (JsonNode)(item.Untagged is { } tag
                ? new JsonObject { ["Untagged"] = tag } : new JsonObject { ["Deleted"] = item.Deleted }))
                .ToArray());
            // The layers no image names any more, each once: one shared by two pruned images is freed once, one
            // still used by a kept image not at all (dockerd sums the layers it actually removed).
            var kept = engine.Images.List().SelectMany(i => i.LayerDiffIds).ToHashSet();
            long reclaimed = layerBytes.Where(l => !kept.Contains(l.Key)).Sum(l => l.Value);
            await DockerResults.Json(ctx, new { ImagesDeleted = deleted.Count > 0 ? deleted : null, SpaceReclaimed = reclaimed });
        });
    }
}

/// <summary>The prune filters: until, label, label! (and dangling where the route allows it).</summary>
public sealed class PruneFilter
{
    private readonly DateTimeOffset? _until;
    private readonly List<string> _labels;
    private readonly List<string> _notLabels;

    private PruneFilter(DateTimeOffset? until, List<string> labels, List<string> notLabels, bool? dangling)
    {
        _until = until;
        _labels = labels;
        _notLabels = notLabels;
        Dangling = dangling;
    }

    public bool? Dangling { get; }

    public static PruneFilter Parse(string? json, IReadOnlyCollection<string> extra)
    {
        var filters = FilterJson.Parse(json, ["until", "label", "label!", .. extra]);
        DateTimeOffset? until = filters.TryGetValue("until", out var u) && u.Count > 0 ? Until(u[^1]) : null;
        return new PruneFilter(until, filters.GetValueOrDefault("label") ?? [], filters.GetValueOrDefault("label!") ?? [], ParseDangling(filters));
    }

    /// <summary>The dangling filter's last value (true/1, false/0), null without one.</summary>
    public static bool? ParseDangling(Dictionary<string, List<string>> filters) =>
        filters.TryGetValue("dangling", out var d) && d.Count > 0
            ? d[^1].ToLowerInvariant() switch
            {
                "true" or "1" => true,
                "false" or "0" => false,
                var other => throw new BadRequestException($"Invalid filter 'dangling={DockerResults.Shorten(other)}'"),
            }
            : null;

    public bool Matches(DateTimeOffset created, IReadOnlyDictionary<string, string>? labels)
    {
        labels ??= new Dictionary<string, string>();
        if (_until is { } until && created >= until) return false;
        return _labels.All(l => Has(labels, l)) && !_notLabels.Any(l => Has(labels, l));
    }

    /// <summary>A label filter, key or key=value, holds for these labels.</summary>
    public static bool Has(IReadOnlyDictionary<string, string> labels, string filter)
    {
        var kv = filter.Split('=', 2);
        return labels.TryGetValue(kv[0], out var value) && (kv.Length == 1 || value == kv[1]);
    }

    /// <summary>A Go duration before now ("24h"), else Unix seconds or an RFC 3339 time.</summary>
    public static DateTimeOffset Until(string value)
    {
        if (value.Length > 1 && char.IsAsciiLetter(value[^1]) && GoDuration.TryParse(value, out var span)) return DateTimeOffset.UtcNow - span;
        if (value == "0") return DateTimeOffset.UnixEpoch;
        try { return ContainerEndpoints.ParseUnixTime("until", value)!.Value; }
        catch (BadRequestException) when (!value.Contains('-'))
        {
            // dockerd's words (its GetTimestamp) for what is neither a duration, a date nor Unix seconds.
            throw new BadRequestException($"failed to parse value as time or duration: \"{DockerResults.Shorten(value)}\"");
        }
    }
}
