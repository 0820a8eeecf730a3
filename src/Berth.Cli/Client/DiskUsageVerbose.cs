using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`system df -v` as docker/cli writes it: a table per kind (images, containers, local volumes, build
/// cache), or a custom --format executed once over {Images, Containers, Volumes, BuildCache}.</summary>
public static class DiskUsageVerbose
{
    private const string ImageFormat =
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
    private const string ContainerFormat =
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
    private const string VolumeFormat = "table {{.Name}}\t{{.Links}}\t{{.Size}}";
    private const string BuildCacheFormat =
        "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

    private static readonly Dictionary<string, object?> Header = new()
    {
        ["Repository"] = "REPOSITORY", ["Tag"] = "TAG", ["ID"] = "IMAGE ID", ["CreatedSince"] = "CREATED",
        ["Size"] = "SIZE", ["SharedSize"] = "SHARED SIZE", ["UniqueSize"] = "UNIQUE SIZE", ["Containers"] = "CONTAINERS",
    };

    public static string Write(JsonNode? usage, string? format, DateTimeOffset now)
    {
        bool trunc = format is null || format.StartsWith("table", StringComparison.Ordinal);
        var images = Images.Rows(usage?["Images"] as JsonArray ?? [], trunc, now)
            .Select(r => { r["UniqueSize"] = r["Size"]; r["SharedSize"] = "0B"; return r; }).ToList();
        var containers = (usage?["Containers"] as JsonArray ?? []).OfType<JsonNode>().Select(c =>
        {
            c = c.DeepClone();
            c["SizeRootFs"] = 0L; // as docker/cli: no virtual size in this view
            return Containers.PsRow(c, trunc, now);
        }).ToList();
        var volumes = (usage?["Volumes"] as JsonArray ?? []).OfType<JsonNode>().Select(v => new Dictionary<string, object?>
        {
            ["Name"] = v.Str("Name") ?? "", ["Driver"] = v.Str("Driver") ?? "", ["Mountpoint"] = v.Str("Mountpoint") ?? "",
            ["Links"] = (v["UsageData"]?["RefCount"]?.GetValue<long>() ?? 0).ToString(CultureInfo.InvariantCulture),
            ["Size"] = Formatting.HumanSize(v["UsageData"]?["Size"]?.GetValue<long>() ?? 0),
        }).ToList();
        if (format is { Length: > 0 } custom && !trunc)
            return Cli.Render(custom, [new Dictionary<string, object?>
            {
                ["Images"] = images, ["Containers"] = containers, ["Volumes"] = volumes,
                ["BuildCache"] = new List<object?>(),
            }], new Dictionary<string, object?>());

        var header = new Dictionary<string, object?>(Header);
        string Section(string title, string tableFormat, IEnumerable<Dictionary<string, object?>> rows,
            Dictionary<string, object?> names) => title + "\n\n" + Cli.Render(tableFormat, rows, names);
        var containerHeader = new Dictionary<string, object?>
        {
            ["ID"] = "CONTAINER ID", ["Image"] = "IMAGE", ["Command"] = "COMMAND", ["LocalVolumes"] = "LOCAL VOLUMES",
            ["Size"] = "SIZE", ["RunningFor"] = "CREATED", ["Status"] = "STATUS", ["Names"] = "NAMES",
        };
        var volumeHeader = new Dictionary<string, object?> { ["Name"] = "VOLUME NAME", ["Links"] = "LINKS", ["Size"] = "SIZE" };
        var cacheHeader = new Dictionary<string, object?>
        {
            ["ID"] = "CACHE ID", ["CacheType"] = "CACHE TYPE", ["Size"] = "SIZE", ["CreatedSince"] = "CREATED",
            ["LastUsedSince"] = "LAST USED", ["UsageCount"] = "USAGE", ["Shared"] = "SHARED",
        };
        return Section("Images space usage:", ImageFormat, images, header) + "\n"
            + Section("Containers space usage:", ContainerFormat, containers, containerHeader) + "\n"
            + Section("Local Volumes space usage:", VolumeFormat, volumes, volumeHeader) + "\n"
            + Section("Build cache usage: 0B", BuildCacheFormat, [], cacheHeader);
    }
}
