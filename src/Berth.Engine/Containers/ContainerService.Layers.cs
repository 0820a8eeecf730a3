using System.Text.Json;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Linux;
using Berth.Runtime.Files;
using Berth.Runtime.Images;

namespace Berth.Engine.Containers;

/// <summary>A container's changes as Docker shows them: `docker diff` kinds.</summary>
public enum ChangeKind { Modified = 0, Added = 1, Deleted = 2 }

public sealed record ContainerChange(string Path, ChangeKind Kind);

/// <summary>What `docker commit` asks for.</summary>
public sealed record CommitRequest(string? Reference, IReadOnlyList<string> Changes, string? Comment, string? Author,
    ImageConfig? Config = null, bool Pause = true);

public sealed partial class ContainerService
{
    /// <summary>The overlay upper directory of a container: what it changed against its image.</summary>
    public string UpperDirectory(string id) => Path.Combine(BundleOf(id), "upper");

    /// <summary>Files the runtime creates in the upper directory only as targets for the engine's bind mounts
    /// (/etc/hosts, /etc/hostname, /etc/resolv.conf): not the container's changes.</summary>
    public static bool IsMountPlaceholder(string relative) => relative is "etc/hosts" or "etc/hostname" or "etc/resolv.conf";

    private ImageRecord ImageOf(ContainerRecord record) => _images.Find(record.ImageId)
        ?? throw new ConflictException($"the image {record.Config.Image} of container {record.ShortId} is gone");

    /// <summary>`docker commit`: the container's upper directory as a layer on its image, with its config (and the
    /// request's, then the --change lines) as the new image's.</summary>
    public async Task<ImageRecord> CommitAsync(string idOrName, CommitRequest request, CancellationToken ct)
    {
        var record = Get(idOrName);
        var image = ImageOf(record);
        var config = JsonSerializer.Deserialize<ImageConfig>(JsonSerializer.Serialize(record.Config, EngineJson.Options))!;
        config.Hostname = "";
        config.Image = image.Id;
        if (request.Config is { } given)
        {
            if (given.Cmd is not null) config.Cmd = given.Cmd;
            if (given.Entrypoint is not null) config.Entrypoint = given.Entrypoint;
            if (given.Env is not null) config.Env = given.Env;
            if (given.Labels is not null) config.Labels = given.Labels;
            if (given.ExposedPorts is not null) config.ExposedPorts = given.ExposedPorts;
            if (!string.IsNullOrEmpty(given.WorkingDir)) config.WorkingDir = given.WorkingDir;
            if (!string.IsNullOrEmpty(given.User)) config.User = given.User;
        }
        ImageChanges.ApplyAll(config, request.Changes);
        string upper = UpperDirectory(record.Id);
        if (request.Reference is not null) ImageStore.NormalizeTag(request.Reference);
        await using var frozen = request.Pause ? await FreezeForCommitAsync(record) : null;
        var committed = await _images.CreateChildAsync(image, new ImageChild
        {
            Config = config, CreatedBy = string.Join(' ', new[] { record.Path }.Concat(record.Args)),
            Comment = string.IsNullOrEmpty(request.Comment) ? null : request.Comment,
            Author = string.IsNullOrEmpty(request.Author) ? null : request.Author,
            Tags = request.Reference is null ? [] : [request.Reference],
            WriteLayer = async (stream, token) =>
            {
                if (!Directory.Exists(upper))
                {
                    await stream.WriteAsync(new byte[1024], token); // never started: an empty layer (the end blocks alone), as dockerd commits it
                    return;
                }
                await using var archive = new DirectoryArchive(stream, new ArchiveOptions { OverlayWhiteouts = true, Skip = IsMountPlaceholder });
                using var root = RootedDirectory.Open(upper);
                await archive.AddTreeAsync(root.Handle, "", token);
            },
        }, ct);
        // dockerd's order: pause, commit, then unpause as the freeze ends.
        Publish(record, "commit", new Dictionary<string, string>
        {
            ["comment"] = request.Comment ?? "", ["imageID"] = committed.Id,
            ["imageRef"] = request.Reference is null ? "" : ImageStore.NormalizeTag(request.Reference),
        });
        return committed;
    }

    /// <summary>`docker diff`: every path of the upper directory, A when no image layer has it, C when one does, D for
    /// a whiteout; parents before children, as dockerd lists them.</summary>
    public IReadOnlyList<ContainerChange> Changes(string idOrName)
    {
        var record = Get(idOrName);
        if (!Directory.Exists(UpperDirectory(record.Id))) return []; // never started: nothing changed yet
        var layers = _images.LayerDirectories(ImageOf(record)).Select(RootedDirectory.Open).ToList();
        try
        {
            using var upper = RootedDirectory.Open(UpperDirectory(record.Id));
            var changes = new List<ContainerChange>();
            Walk(upper.Handle, "", layers, changes, parentAdded: false);
            return changes;
        }
        finally { foreach (var layer in layers) layer.Dispose(); }
    }

    private static void Walk(Microsoft.Win32.SafeHandles.SafeFileHandle directory, string relative, List<RootedDirectory> layers,
        List<ContainerChange> changes, bool parentAdded)
    {
        foreach (string name in RootedDirectory.ListNames(directory).Order(StringComparer.Ordinal))
        {
            string path = relative.Length == 0 ? name : relative + "/" + name;
            if (IsMountPlaceholder(path)) continue;
            var info = Interop.StatAt(directory, name);
            if (info is not { } node) continue;
            if (node.Type == Interop.S_IFCHR && node.DeviceMajor == 0 && node.DeviceMinor == 0)
            {
                changes.Add(new ContainerChange("/" + path, ChangeKind.Deleted));
                continue;
            }
            bool added = parentAdded || !layers.Any(l => ExistsIn(l, path));
            changes.Add(new ContainerChange("/" + path, added ? ChangeKind.Added : ChangeKind.Modified));
            if (node.IsDirectory)
            {
                using var child = Interop.OpenAt(directory, name, Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW);
                Walk(child, path, layers, changes, added);
            }
        }
    }

    private static bool ExistsIn(RootedDirectory layer, string path)
    {
        try
        {
            using var handle = layer.OpenInRoot(path, Interop.O_PATH | Interop.O_NOFOLLOW);
            var info = Interop.StatAt(handle, "");
            return info is not { Type: Interop.S_IFCHR, DeviceMajor: 0, DeviceMinor: 0 };
        }
        catch (LinuxException) { return false; }
    }

    /// <summary>`docker export`: the container's whole root filesystem (image layers and its changes, merged) as a
    /// tar.</summary>
    public async Task ExportAsync(string idOrName, Stream output, CancellationToken ct)
    {
        var record = Get(idOrName);
        // A running container's overlay is mounted already (its upper directory must not be a second mount's lower).
        var layers = new List<string> { UpperDirectory(record.Id) };
        layers.AddRange(_images.LayerDirectories(ImageOf(record)));
        using var view = record.State.Running ? null : new MergedView(layers, _options.ExecRoot);
        using var root = RootedDirectory.Open(view?.Path ?? Path.Combine(BundleOf(record.Id), "rootfs"));
        await using var archive = new DirectoryArchive(output, new ArchiveOptions { Skip = IsMountPlaceholder });
        await archive.AddTreeAsync(root.Handle, "", ct);
    }
}
