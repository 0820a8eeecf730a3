using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Runtime.Files;

namespace Berth.Runtime.Images;

public sealed partial class ImageStore
{
    /// <summary>`docker save`: images in the docker-save layout dockerd 20.10 loads (manifest.json, the config as
    /// &lt;id&gt;.json, each layer as &lt;dir&gt;/layer.tar, a repositories file). Layers are archived again from the
    /// store; when an archive's digest is not the recorded diff id (a layer that came from another tool's tar), the
    /// saved config names the new digest, so the archive is consistent in itself.</summary>
    public async Task SaveAsync(IReadOnlyList<string> references, Stream output, CancellationToken ct)
    {
        var wanted = new List<(ImageRecord Image, List<string> Tags)>();
        foreach (string reference in references)
        {
            var image = Find(reference) ?? throw ImageNotFoundException.For(reference);
            var entry = wanted.FirstOrDefault(w => w.Image.Id == image.Id);
            if (entry.Image is null) wanted.Add(entry = (image, []));
            if (TryNormalizeTag(reference) is { } tag && image.RepoTags.Contains(tag) && !entry.Tags.Contains(tag)) entry.Tags.Add(tag);
        }
        string scratch = Path.Combine(Temp, "save-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(scratch);
        try
        {
            await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
            var written = new Dictionary<string, string>(); // stored diff id → archive digest
            var manifest = new JsonArray();
            var repositories = new JsonObject();
            foreach (var (image, tags) in wanted)
            {
                var layerNames = new JsonArray();
                var diffIds = new List<string>();
                foreach (string diffId in image.LayerDiffIds)
                {
                    if (!written.TryGetValue(diffId, out string? digest))
                    {
                        string file = Path.Combine(scratch, diffId[7..] + ".tar");
                        await using (var layerFile = new FileStream(file, FileMode.CreateNew, FileAccess.ReadWrite))
                        {
                            await WriteLayerTarAsync(diffId, layerFile, ct);
                            layerFile.Position = 0;
                            digest = "sha256:" + Convert.ToHexString(await SHA256.HashDataAsync(layerFile, ct)).ToLowerInvariant();
                        }
                        await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, digest[7..] + "/") { Mode = (UnixFileMode)0x1ed }, ct);
                        await writer.WriteEntryAsync(file, digest[7..] + "/layer.tar", ct);
                        File.Delete(file);
                        written[diffId] = digest;
                    }
                    diffIds.Add(digest);
                    layerNames.Add(digest[7..] + "/layer.tar");
                }
                byte[] config = File.ReadAllBytes(Path.Combine(Images, image.Id[7..] + ".json"));
                if (!diffIds.SequenceEqual(image.LayerDiffIds))
                {
                    var node = JsonNode.Parse(config)!;
                    node["rootfs"]!["diff_ids"] = new JsonArray(diffIds.Select(d => (JsonNode?)d).ToArray());
                    config = JsonSerializer.SerializeToUtf8Bytes(node);
                }
                string configName = Convert.ToHexString(SHA256.HashData(config)).ToLowerInvariant() + ".json";
                await WriteBytesAsync(writer, configName, config, ct);
                manifest.Add(new JsonObject
                {
                    ["Config"] = configName,
                    ["RepoTags"] = tags.Count == 0 ? null : new JsonArray(tags.Select(t => (JsonNode?)t).ToArray()),
                    ["Layers"] = layerNames,
                });
                foreach (string tag in tags)
                {
                    int colon = tag.LastIndexOf(':');
                    var repo = repositories[tag[..colon]] as JsonObject ?? new JsonObject();
                    repositories[tag[..colon]] = repo;
                    repo[tag[(colon + 1)..]] = diffIds.Count > 0 ? diffIds[^1][7..] : "";
                }
            }
            await WriteBytesAsync(writer, "manifest.json", JsonSerializer.SerializeToUtf8Bytes(manifest), ct);
            if (repositories.Count > 0) await WriteBytesAsync(writer, "repositories", JsonSerializer.SerializeToUtf8Bytes(repositories), ct);
        }
        finally { RootedDirectory.RemoveTree(scratch); }
    }

    private static Task WriteBytesAsync(TarWriter writer, string name, byte[] bytes, CancellationToken ct) =>
        writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = (UnixFileMode)0x1a4, ModificationTime = DateTimeOffset.UtcNow, DataStream = new MemoryStream(bytes),
        }, ct);
}
