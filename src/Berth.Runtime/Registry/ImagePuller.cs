using System.Text.Json;
using Berth.Runtime.Images;
using Microsoft.Extensions.Logging;

namespace Berth.Runtime.Registry;

/// <summary>`docker pull`: resolves the reference to one manifest (picking the platform from an index), then fetches
/// the layers not yet present concurrently, each streamed straight from the registry through its digest check and
/// decompression into its own directory (overlay layers do not depend on each other). A layer lands in the store whole
/// or not at all; the image record, tag and repository digest come last.</summary>
public sealed class ImagePuller(RegistryHosts hosts, ImageStore store, ILogger logger)
{
    private const int LayerAttempts = 3;

    /// <summary>Pulls the tag or digest the reference names; a reference with neither (the API's fromImage without a
    /// tag, `docker pull -a`) pulls every tag of the repository, as dockerd does. Returns the last image pulled.</summary>
    public async Task<ImageRecord> PullAsync(RemoteReference reference, Platform platform, RegistryCredentials? credentials,
        ProgressStream progress, CancellationToken ct)
    {
        var client = hosts.Client(reference.Domain, credentials);
        var announced = new HashSet<string>(StringComparer.Ordinal); // a mirror's failure does not repeat "Pulling from"
        if (reference.Tag is not null || reference.Digest is not null)
        {
            var (image, newer) = await MirrorOrOriginAsync(client, () => PullOneAsync(client, reference, platform, progress, announced, ct));
            await StatusAsync(progress, reference.ToString(), newer);
            return image;
        }
        var tags = await MirrorOrOriginAsync(client, () => client.ListTagsAsync(reference.Path, ct));
        if (tags.Count == 0) throw new RegistryException($"no tags found for {reference.FamiliarName}", RegistryErrorKind.NotFound);
        ImageRecord? last = null;
        bool anyNewer = false;
        foreach (string tag in tags)
        {
            var (image, newer) = await MirrorOrOriginAsync(client, () => PullOneAsync(client, reference with { Tag = tag }, platform, progress, announced, ct));
            last = image;
            anyNewer |= newer;
        }
        await StatusAsync(progress, reference.FamiliarName, anyNewer);
        return last!;
    }

    /// <summary>Runs <paramref name="work"/> again on the next mirror or the origin when a mirror fails it (layers
    /// already landed are not fetched again).</summary>
    private async Task<T> MirrorOrOriginAsync<T>(RegistryClient client, Func<Task<T>> work)
    {
        while (true)
        {
            try { return await work(); }
            catch (Exception e) when (e is RegistryException or IOException or HttpRequestException && client.LeaveMirror())
            {
                logger.LogWarning("registry mirror failed, trying the next endpoint: {Error}", e.Message);
            }
        }
    }

    /// <summary>What the registry says the reference is, without pulling it (GET /distribution/{name}/json): the
    /// descriptor it resolves to (an index's own, for an index) and the platforms it offers.</summary>
    public async Task<(Descriptor Descriptor, IReadOnlyList<Platform> Platforms)> InspectAsync(RemoteReference reference,
        RegistryCredentials? credentials, CancellationToken ct)
    {
        var client = hosts.Client(reference.Domain, credentials);
        var (bytes, contentType, digest) = await MirrorOrOriginAsync(client, () => FetchManifestAsync(client, reference, ct));
        var document = ManifestParser.ParseJson(bytes);
        string mediaType = ManifestParser.MediaTypeOf(document, contentType);
        var descriptor = new Descriptor(mediaType, digest, bytes.Length);
        if (MediaTypes.IsIndex(mediaType))
            return (descriptor, ManifestParser.IndexEntries(document).Where(e => e.Platform is not null).Select(e => e.Platform!).ToList());
        var manifest = ManifestParser.Manifest(document, mediaType);
        byte[] config = await MirrorOrOriginAsync(client, () => client.GetSmallBlobAsync(reference.Path, manifest.Config.Digest, manifest.Config.Size, ct));
        var node = ManifestParser.ParseJson(config);
        var platform = new Platform(node["os"]?.GetValue<string>() ?? "", node["architecture"]?.GetValue<string>() ?? "",
            node["variant"]?.GetValue<string>());
        return (descriptor, [platform]);
    }

    private static Task StatusAsync(ProgressStream progress, string name, bool newer) =>
        progress.MessageAsync(newer ? $"Status: Downloaded newer image for {name}" : $"Status: Image is up to date for {name}");

    /// <summary>One tag or digest: manifest, config, the layers not yet here, then the image record. Whether anything
    /// changed here (layers fetched, or a tag or digest newly set).</summary>
    private async Task<(ImageRecord Image, bool Newer)> PullOneAsync(RegistryClient client, RemoteReference reference, Platform platform,
        ProgressStream progress, HashSet<string> announced, CancellationToken ct)
    {
        var (manifestBytes, manifestType, digest) = await ResolveAsync(client, reference, platform, ct);
        if (announced.Add(reference.TagOrDigest))
            await progress.MessageAsync($"Pulling from {reference.Path}", reference.TagOrDigest);

        var manifest = ManifestParser.Manifest(ManifestParser.ParseJson(manifestBytes), manifestType);
        byte[] configBytes = await client.GetSmallBlobAsync(reference.Path, manifest.Config.Digest, manifest.Config.Size, ct);
        var diffIds = DiffIds(configBytes, manifest.Layers.Count);
        string? tag = reference.Digest is null ? reference.ToString() : null;
        string imageId = ImageStore.Sha256Of(configBytes);
        var existing = store.Find(imageId);

        var jobs = manifest.Layers.Select((layer, i) => new LayerJob(layer, diffIds[i])).ToList();
        try
        {
            bool fetched = await FetchLayersAsync(client, reference, jobs, progress, ct);
            string repoDigest = $"{reference.FamiliarName}@{digest}";
            bool upToDate = !fetched && existing is not null && (tag is null ? existing.RepoDigests.Contains(repoDigest) : existing.RepoTags.Contains(tag));
            var image = store.CommitPulled(configBytes, tag, repoDigest, manifestBytes, manifestType);
            logger.LogInformation("pulled {Reference} ({Digest}) as {Image}", reference, digest, image.Id);
            await progress.MessageAsync($"Digest: {digest}");
            return (image, !upToDate);
        }
        finally
        {
            store.ReleasePull(jobs.Select(j => j.DiffId));
        }
    }

    /// <summary>The manifest the reference names; an index is resolved to the platform's entry. The digest returned is
    /// the one the reference resolved to (the index's, for an index), as `docker pull` reports it.</summary>
    private static async Task<(byte[] Bytes, string MediaType, string Digest)> ResolveAsync(RegistryClient client,
        RemoteReference reference, Platform platform, CancellationToken ct)
    {
        var (bytes, contentType, digest) = await FetchManifestAsync(client, reference, ct);
        var document = ManifestParser.ParseJson(bytes);
        string mediaType = ManifestParser.MediaTypeOf(document, contentType);
        if (MediaTypes.IsIndex(mediaType))
        {
            var entry = ManifestParser.Select(ManifestParser.IndexEntries(document), platform, reference.ToString());
            var (entryBytes, entryType, _) = await client.GetManifestAsync(reference.Path, entry.Digest, ct);
            string entryMediaType = ManifestParser.MediaTypeOf(ManifestParser.ParseJson(entryBytes), entryType ?? entry.MediaType);
            if (!MediaTypes.IsManifest(entryMediaType))
                throw new RegistryException($"unsupported manifest media type {entryMediaType} in the index of {reference}", RegistryErrorKind.Unsupported);
            return (entryBytes, entryMediaType, digest);
        }
        if (!MediaTypes.IsManifest(mediaType))
            throw new RegistryException($"unsupported manifest media type {mediaType} for {reference}", RegistryErrorKind.Unsupported);
        return (bytes, mediaType, digest);
    }

    /// <summary>The manifest the reference names as the registry serves it, with dockerd's messages for a missing one
    /// and for Docker Hub's refusal.</summary>
    private static async Task<(byte[] Bytes, string? ContentType, string Digest)> FetchManifestAsync(RegistryClient client,
        RemoteReference reference, CancellationToken ct)
    {
        try { return await client.GetManifestAsync(reference.Path, reference.TagOrDigest, ct); }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            throw new RegistryException($"manifest for {reference} not found: manifest unknown: manifest unknown", e.Kind, e);
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthorized && reference.IsDockerHub)
        {
            throw new RegistryException($"pull access denied for {reference.FamiliarName}, repository does not exist or may require 'docker login': {e.Message}", e.Kind, e);
        }
    }

    private static List<string> DiffIds(byte[] config, int layers)
    {
        List<string>? diffIds;
        try
        {
            using var document = JsonDocument.Parse(config);
            diffIds = document.RootElement.TryGetProperty("rootfs", out var rootfs) && rootfs.TryGetProperty("diff_ids", out var ids)
                ? ids.EnumerateArray().Select(i => i.GetString() ?? "").ToList() : null;
        }
        catch (JsonException e) { throw new RegistryException($"invalid image config: {e.Message}"); }
        if (diffIds is null || diffIds.Count != layers)
            throw new RegistryException($"invalid image config: {diffIds?.Count ?? 0} diff ids for {layers} layers");
        foreach (string id in diffIds)
            if (!ImageReference.DigestPattern().IsMatch(id)) throw new RegistryException($"invalid image config: diff id \"{id}\"", RegistryErrorKind.Unsupported);
        return diffIds;
    }

    private sealed class LayerJob(Descriptor blob, string diffId)
    {
        public Descriptor Blob { get; } = blob;
        public string DiffId { get; } = diffId;
        public string Id => Blob.Digest[7..19];
        public long Current;
        public long Reported = -1;
        public volatile bool Downloading;
        public Exception? Failure;
    }

    /// <summary>Layers present are reported "Already exists"; the others are fetched, at most MaxConcurrentDownloads
    /// at a time. Returns whether anything was fetched.</summary>
    private async Task<bool> FetchLayersAsync(RegistryClient client, RemoteReference reference, List<LayerJob> jobs,
        ProgressStream progress, CancellationToken ct)
    {
        var missing = new List<LayerJob>();
        foreach (var job in jobs.DistinctBy(j => j.DiffId))
        {
            if (store.HasLayer(job.DiffId))
            {
                store.GuardLayer(job.DiffId);
                await progress.LayerAsync(job.Id, "Already exists");
            }
            else
            {
                missing.Add(job);
                await progress.LayerAsync(job.Id, "Pulling fs layer");
            }
        }
        if (missing.Count == 0) return false;
        using var gate = new SemaphoreSlim(Math.Max(1, hosts.Options.MaxConcurrentDownloads));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        foreach (var job in missing.Skip(hosts.Options.MaxConcurrentDownloads)) await progress.LayerAsync(job.Id, "Waiting");
        var ticker = ReportAsync(missing, progress, stop.Token);
        try
        {
            // The first failure cancels the others: nothing more is fetched for an image that cannot be made.
            await Task.WhenAll(missing.Select(async job =>
            {
                await gate.WaitAsync(stop.Token);
                try { await FetchLayerAsync(client, reference, job, progress, stop.Token); }
                catch { await stop.CancelAsync(); throw; }
                finally { gate.Release(); }
            }));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw missing.Select(j => j.Failure).FirstOrDefault(f => f is not null) ?? new RegistryException("pull cancelled");
        }
        finally
        {
            await stop.CancelAsync();
            try { await ticker; } catch (OperationCanceledException) { }
        }
        return true;
    }

    /// <summary>Every 100 ms, a "Downloading" line for each layer whose count moved (dockerd's rate).</summary>
    private static async Task ReportAsync(List<LayerJob> jobs, ProgressStream progress, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (await timer.WaitForNextTickAsync(ct))
            foreach (var job in jobs)
            {
                long current = Interlocked.Read(ref job.Current);
                if (!job.Downloading || current == job.Reported) continue;
                job.Reported = current;
                await progress.ProgressAsync(job.Id, "Downloading", current, job.Blob.Size);
            }
    }

    private async Task FetchLayerAsync(RegistryClient client, RemoteReference reference, LayerJob job, ProgressStream progress,
        CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var (body, length, response) = await client.GetBlobAsync(reference.Path, job.Blob.Digest, ct);
                using (response)
                {
                    if (length is long declared && declared != job.Blob.Size)
                        throw new RegistryException($"blob {job.Blob.Digest} is {declared} bytes, its descriptor says {job.Blob.Size}", RegistryErrorKind.DigestMismatch);
                    job.Downloading = true;
                    await using var counting = new CountingStream(body, job.Blob.Size, n => Interlocked.Exchange(ref job.Current, n));
                    var source = new LayerBlob(job.Blob.Digest, job.Blob.MediaType, job.Blob.Size, [reference.FullName]);
                    try { await store.ExtractPulledLayerAsync(counting, source, job.DiffId, ct); }
                    catch (ImageException e) when (e is not ImageStorageException)
                    {
                        // A wrong digest, or bytes that are no layer at all (a corrupted blob fails to decompress
                        // before its digest can be checked): either way this blob is refused.
                        throw new RegistryException(e.Message.Contains(" has digest ", StringComparison.Ordinal)
                            ? $"filesystem layer verification failed for digest {job.Blob.Digest}"
                            : $"failed to register layer {job.Blob.Digest}: {e.Message}", RegistryErrorKind.DigestMismatch, e);
                    }
                    finally { job.Downloading = false; }
                }
                await progress.ProgressAsync(job.Id, "Downloading", job.Blob.Size, job.Blob.Size);
                await progress.LayerAsync(job.Id, "Verifying Checksum");
                await progress.LayerAsync(job.Id, "Download complete");
                await progress.ProgressAsync(job.Id, "Extracting", job.Blob.Size, job.Blob.Size);
                await progress.LayerAsync(job.Id, "Pull complete");
                return;
            }
            catch (Exception e) when (attempt < LayerAttempts && !ct.IsCancellationRequested && IsTransient(e))
            {
                int seconds = 1 << (attempt - 1);
                logger.LogWarning("layer {Digest} of {Reference}: {Error}; retrying in {Seconds} s", job.Blob.Digest, reference, e.Message, seconds);
                await progress.LayerAsync(job.Id, $"Retrying in {seconds} second{(seconds == 1 ? "" : "s")}");
                await Task.Delay(TimeSpan.FromSeconds(seconds), ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                job.Failure = e;
                throw;
            }
        }
    }

    /// <summary>A cut connection or a server error: worth another try. A wrong digest or a bad archive is not.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        RegistryException r => r.Kind == RegistryErrorKind.Unreachable,
        IOException or HttpRequestException => true,
        ImageException { InnerException: IOException or HttpRequestException } => true,
        _ => false,
    };
}
