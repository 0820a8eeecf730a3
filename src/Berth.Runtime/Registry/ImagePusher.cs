using System.IO.Compression;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Microsoft.Extensions.Logging;

namespace Berth.Runtime.Registry;

/// <summary>`docker push`: each layer is skipped when the registry has its blob, mounted from another repository of
/// the same registry when the layer came from there, or else compressed and uploaded while it is being written (no
/// temporary file); then the config and the manifest. An image pushed as it was pulled keeps its manifest, and so
/// its digest.</summary>
public sealed class ImagePusher(RegistryHosts hosts, ImageStore store, ILogger logger)
{
    public Task PushAsync(RemoteReference reference, ImageRecord image, RegistryCredentials? credentials,
        ProgressStream progress, CancellationToken ct) => PushAsync([(reference, image)], credentials, progress, ct);

    /// <summary>Pushes each tag of one repository in turn (a push without a tag pushes every tag the repository has
    /// here, as dockerd's `docker push -a`), under one "The push refers to repository" line.</summary>
    public async Task PushAsync(IReadOnlyList<(RemoteReference Reference, ImageRecord Image)> tagged,
        RegistryCredentials? credentials, ProgressStream progress, CancellationToken ct)
    {
        await progress.MessageAsync($"The push refers to repository [{tagged[0].Reference.FullName}]");
        foreach (var (reference, image) in tagged) await PushTagAsync(reference, image, credentials, progress, ct);
    }

    private async Task PushTagAsync(RemoteReference reference, ImageRecord image, RegistryCredentials? credentials,
        ProgressStream progress, CancellationToken ct)
    {
        var client = hosts.Client(reference.Domain, credentials);
        var layers = image.LayerDiffIds.ToList();
        foreach (string diffId in layers) await progress.LayerAsync(diffId[7..19], "Preparing");
        var blobs = new LayerBlob[layers.Count];
        using var gate = new SemaphoreSlim(Math.Max(1, hosts.Options.MaxConcurrentUploads));
        await Task.WhenAll(layers.Select(async (diffId, i) =>
        {
            await gate.WaitAsync(ct);
            try { blobs[i] = await PushLayerAsync(client, reference, diffId, progress, ct); }
            finally { gate.Release(); }
        }));

        byte[] config = WithDiffIds(store.ConfigBytes(image), layers, blobs);
        string configDigest = ImageStore.Sha256Of(config);
        if (!await client.BlobExistsAsync(reference.Path, configDigest, ct))
            await client.UploadBlobAsync(reference.Path, new MemoryStream(config), () => configDigest, ct);

        var (manifest, mediaType) = StoredManifestFor(image, configDigest, blobs) ?? BuildManifest(config.Length, configDigest, blobs);
        string tag = reference.Tag ?? "latest";
        string digest = await client.PutManifestAsync(reference.Path, tag, manifest, mediaType, ct);
        store.AddRepoDigest($"{reference.FamiliarName}@{digest}", image.Id);
        logger.LogInformation("pushed {Image} as {Reference} ({Digest})", image.Id, reference, digest);
        await progress.MessageAsync($"{tag}: digest: {digest} size: {manifest.Length}");
        await progress.AuxAsync(json =>
        {
            json.WriteString("Tag", tag);
            json.WriteString("Digest", digest);
            json.WriteNumber("Size", manifest.Length);
        });
    }

    private async Task<LayerBlob> PushLayerAsync(RegistryClient client, RemoteReference reference, string diffId,
        ProgressStream progress, CancellationToken ct)
    {
        string id = diffId[7..19];
        var known = store.BlobOf(diffId);
        if (known is not null)
        {
            if (await client.BlobExistsAsync(reference.Path, known.Digest, ct))
            {
                await progress.LayerAsync(id, "Layer already exists");
                return Remember(diffId, known, reference);
            }
            foreach (string source in known.Sources)
            {
                int slash = source.IndexOf('/');
                if (slash < 0 || source[..slash] != reference.Domain || source[(slash + 1)..] == reference.Path) continue;
                string from = source[(slash + 1)..];
                try
                {
                    if (!await client.MountBlobAsync(reference.Path, known.Digest, from, ct)) continue;
                }
                catch (RegistryException e) when (e.Kind is RegistryErrorKind.Unauthorized or RegistryErrorKind.NotFound) { continue; }
                await progress.LayerAsync(id, $"Mounted from {from}");
                return Remember(diffId, known, reference);
            }
        }
        var blob = await UploadLayerAsync(client, reference, diffId, id, progress, ct);
        await progress.LayerAsync(id, "Pushed");
        return Remember(diffId, blob, reference);
    }

    private LayerBlob Remember(string diffId, LayerBlob blob, RemoteReference reference)
    {
        var sources = blob.Sources.Append(reference.FullName).Distinct().TakeLast(16).ToList();
        var updated = blob with { Sources = sources };
        store.RememberBlob(diffId, updated);
        return updated;
    }

    /// <summary>tar → gzip → pipe → registry, hashing and counting what goes out.</summary>
    private async Task<LayerBlob> UploadLayerAsync(RegistryClient client, RemoteReference reference, string diffId,
        string id, ProgressStream progress, CancellationToken ct)
    {
        using var tarHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 512 << 10));
        var produce = Task.Run(async () =>
        {
            try
            {
                await using (var gzip = new GZipStream(pipe.Writer.AsStream(leaveOpen: true), CompressionLevel.Fastest, leaveOpen: false))
                await using (var tar = new ObservingWriteStream(gzip, tarHash.AppendData, leaveOpen: true))
                    await store.WriteLayerTarAsync(diffId, tar, ct);
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, ct);
        long sent = 0, reported = 0;
        using var body = new HashingStream(pipe.Reader.AsStream(), n =>
        {
            sent += n;
            if (sent - reported < 512 * 1024) return;
            reported = sent;
            _ = progress.ProgressAsync(id, "Pushing", sent, 0);
        });
        string? digest = null;
        await client.UploadBlobAsync(reference.Path, body, () => digest ??= "sha256:" + Convert.ToHexStringLower(body.Hash()), ct);
        await produce;
        string written = "sha256:" + Convert.ToHexStringLower(tarHash.GetHashAndReset());
        return new LayerBlob(digest!, MediaTypes.DockerLayerGzip, sent, [], written == diffId ? null : written);
    }

    /// <summary>The config as stored, or with rootfs.diff_ids replaced where a layer's blob holds a tar written anew.</summary>
    private static byte[] WithDiffIds(byte[] config, List<string> layers, LayerBlob[] blobs)
    {
        if (blobs.All(b => b.DiffId is null)) return config;
        var document = JsonNode.Parse(config)!;
        document["rootfs"]!["diff_ids"] = new JsonArray(layers.Select((d, i) => (JsonNode?)JsonValue.Create(blobs[i].DiffId ?? d)).ToArray());
        return System.Text.Encoding.UTF8.GetBytes(document.ToJsonString());
    }

    private (byte[], string)? StoredManifestFor(ImageRecord image, string configDigest, LayerBlob[] blobs)
    {
        foreach (string repoDigest in image.RepoDigests)
        {
            if (store.StoredManifest(repoDigest[(repoDigest.LastIndexOf('@') + 1)..]) is not var (bytes, type)) continue;
            try
            {
                var manifest = ManifestParser.Manifest(ManifestParser.ParseJson(bytes), type);
                if (manifest.Config.Digest == configDigest && manifest.Layers.Select(l => l.Digest).SequenceEqual(blobs.Select(b => b.Digest)))
                    return (bytes, type);
            }
            catch (RegistryException) { }
        }
        return null;
    }

    private static (byte[], string) BuildManifest(long configSize, string configDigest, LayerBlob[] blobs)
    {
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.DockerManifest,
            ["config"] = new JsonObject { ["mediaType"] = MediaTypes.DockerConfig, ["size"] = configSize, ["digest"] = configDigest },
            ["layers"] = new JsonArray(blobs.Select(b => (JsonNode)new JsonObject
            {
                ["mediaType"] = b.MediaType, ["size"] = b.Size, ["digest"] = b.Digest,
            }).ToArray()),
        };
        return (System.Text.Encoding.UTF8.GetBytes(manifest.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })), MediaTypes.DockerManifest);
    }
}
