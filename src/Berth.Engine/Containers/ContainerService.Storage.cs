using Berth.Engine.Model;
using Berth.Engine.Volumes;
using Berth.Linux;
using Berth.Runtime.Containers;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>The container's side of storage: mounts resolved at create (volumes made then), turned into config.json
/// mounts at start, new volumes filled from the image, anonymous volumes removed with the container.</summary>
public sealed partial class ContainerService
{
    /// <summary>Set by the composition root (as <see cref="Dns"/>).</summary>
    public VolumeService? Volumes { get; set; }

    private VolumeService VolumeStore => Volumes ?? throw new InvalidOperationException("no volume service");

    private (List<MountPointRecord>, List<VolumeToCreate>) ResolveMounts(HostConfig hostConfig, ContainerConfig config) =>
        MountResolver.Resolve(hostConfig, config.Volumes?.Keys ?? Enumerable.Empty<string>(), Find);

    /// <summary>Makes (or finds) the volumes a new container names; called under the name lock, just before its
    /// record is saved.</summary>
    private void CreateVolumes(IEnumerable<VolumeToCreate> volumes)
    {
        foreach (var (name, labels, options, mount) in volumes)
        {
            var volume = VolumeStore.Create(name, mount.Driver, labels, options);
            mount.Name = volume.Name;
            mount.Driver = volume.Driver;
            mount.Source = VolumeStore.DataPath(volume.Name);
        }
    }

    /// <summary>config.json mounts of the container, in order (parents first). A missing `-v` bind source is made
    /// now (0755, as dockerd); volumes with driver options get their filesystem mounted.</summary>
    private List<MountSpec> MountSpecsOf(ContainerRecord record)
    {
        var mounts = record.Mounts
            ?? MountResolver.Resolve(record.HostConfig, [], _ => null, bindSourceMustExist: false).Mounts;
        var specs = new List<MountSpec>();
        for (int index = 0; index < mounts.Count; index++)
        {
            var m = mounts[index];
            switch (m.Type)
            {
                case "bind":
                    if (!Path.Exists(m.Source))
                    {
                        if (!m.CreateSource)
                            throw new BadRequestException($"invalid mount config for type \"bind\": bind source path does not exist: {m.Source}");
                        Directory.CreateDirectory(m.Source, (UnixFileMode)0x1ed);
                    }
                    specs.Add(new MountSpec(m.Source, m.Destination, !m.RW, "bind", BindOptions(m)));
                    break;
                case "volume":
                    VolumeStore.MountForUse(m.Name!, record.Id);
                    specs.Add(new MountSpec(StageVolumeSource(record, m, index), m.Destination, !m.RW, "bind", BindOptions(m)));
                    break;
                case "tmpfs":
                    specs.Add(new MountSpec("tmpfs", m.Destination, !m.RW, "tmpfs", TmpfsOptions(m.TmpfsOptions)));
                    break;
            }
        }
        return specs;
    }

    private static List<string> BindOptions(MountPointRecord m)
    {
        var options = new List<string> { m.NonRecursive ? "bind" : "rbind",
            m.Propagation.Length > 0 ? m.Propagation : "rprivate" };
        if (!m.RW) options.Add("ro");
        return options;
    }

    /// <summary>Docker's defaults for a tmpfs (noexec, nosuid, nodev), each overridden by its opposite when given.</summary>
    public static List<string> TmpfsOptions(string? given)
    {
        var options = new List<string> { "noexec", "nosuid", "nodev" };
        foreach (string option in (given ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            string? opposite = option switch
            {
                "exec" => "noexec", "noexec" => "exec", "suid" => "nosuid", "nosuid" => "suid",
                "dev" => "nodev", "nodev" => "dev", _ => null,
            };
            if (opposite is not null) options.Remove(opposite);
            if (!options.Contains(option)) options.Add(option);
        }
        return options;
    }

    /// <summary>At create, as dockerd's populateVolumes: each empty volume that asks for it gets the image's content
    /// at its path, owners and modes kept, read from a read-only view of the image's layers. Saves the record when a
    /// volume was filled (CopyData is then off for good).</summary>
    private void FillVolumesFromImage(ContainerRecord record, ImageRecord image)
    {
        if (record.Mounts?.Any(WantsCopy) != true) return;
        using (var view = new MergedView(_images.LayerDirectories(image), _options.ExecRoot)) FillVolumes(record, view.Path);
        _store.Save(record);
    }

    private static bool WantsCopy(MountPointRecord m) => m is { Type: "volume", CopyData: true, Subpath: null };

    /// <summary>Each empty volume that asks for it gets the content <paramref name="rootfs"/> has at its path. Done at
    /// create; at start (between runtime create and start, before the process runs) only for a container whose
    /// create did not get that far.</summary>
    private void FillVolumes(ContainerRecord record, string rootfs)
    {
        if (record.Mounts is null) return;
        foreach (var m in record.Mounts.Where(WantsCopy))
        {
            try { FillVolume(m, rootfs); }
            catch (LinuxException e)
            {
                throw new EngineException(500, $"filling volume {m.Name} from {m.Destination}: {e.Message}", e);
            }
            m.CopyData = false; // only ever once
        }
    }

    private void FillVolume(MountPointRecord m, string rootfs)
    {
        using var volume = RootedDirectory.Open(VolumeStore.DataPath(m.Name!));
        using var data = volume.OpenDirectory("");
        if (!TreeCopy.IsEmpty(data)) return;
        using var root = RootedDirectory.Open(rootfs);
        Microsoft.Win32.SafeHandles.SafeFileHandle source;
        try { source = root.OpenInRoot(m.Destination, Interop.O_RDONLY | Interop.O_DIRECTORY); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR) { return; }
        using (source) TreeCopy.CopyContents(source, data);
    }

    private void ReleaseVolumes(ContainerRecord record)
    {
        ReleaseSubpaths(record.Id);
        if (Volumes is null) return;
        foreach (var m in record.Mounts ?? [])
        {
            if (m.Type != "volume" || m.Name is null) continue;
            try { Volumes.ReleaseAfterUse(m.Name, record.Id); }
            catch (Exception e) { _logger.LogWarning(e, "releasing volume {Name} of {Id} failed", m.Name, record.ShortId); }
        }
    }

    /// <summary>`docker rm -v` and --rm: the container's anonymous volumes go with it (named ones stay).</summary>
    private void RemoveAnonymousVolumes(ContainerRecord record)
    {
        if (Volumes is null) return;
        foreach (var m in record.Mounts ?? [])
        {
            if (m.Type != "volume" || m.Name is null || Volumes.Find(m.Name) is not { Anonymous: true }) continue;
            try { Volumes.Remove(m.Name); }
            catch (EngineException e) { _logger.LogInformation("volume {Name} kept: {Reason}", m.Name, e.Message); }
        }
    }
}
