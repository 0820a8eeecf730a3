using Berth.Engine.Model;
using Berth.Engine.Volumes;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Berth.Engine.Containers;

/// <summary>`--mount type=volume,volume-subpath=sub`: the subpath is opened by fd inside the volume, no symlink on the
/// way, and that very directory is what the container gets. runc resolves mount sources by path when it creates the
/// container, so a path checked first and handed over later could be swapped for a symlink to the host meanwhile;
/// instead the opened fd is bind-mounted onto a staging directory of the container under the exec root (never under
/// a directory the engine deletes recursively) and runc binds the staging directory. Unmounted at teardown.</summary>
public sealed partial class ContainerService
{
    private string SubpathStagingOf(string id) => Path.Combine(_options.ExecRoot, "subpaths", id);

    /// <summary>The subpath's directory, held open; refused as dockerd does when it is missing, not a directory or
    /// reached through a symlink.</summary>
    private SafeFileHandle OpenSubpath(MountPointRecord m)
    {
        using var volume = RootedDirectory.Open(VolumeStore.DataPath(m.Name!));
        try { return volume.OpenDirectory(m.Subpath!.Trim('/')); }
        catch (UnsafePathException e)
        {
            throw new BadRequestException($"cannot access path {m.Subpath} in volume {m.Name}: {e.Message}");
        }
    }

    /// <summary>The source runc binds for a volume mount: the volume's data directory, or the subpath pinned on the
    /// container's staging directory number <paramref name="index"/>.</summary>
    private string StageVolumeSource(ContainerRecord record, MountPointRecord m, int index)
    {
        if (m.Subpath is null) return VolumeStore.DataPath(m.Name!);
        using var subpath = OpenSubpath(m);
        string staging = Path.Combine(SubpathStagingOf(record.Id), index.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(staging);
        Interop.Unmount(staging); // a leftover of a start the daemon did not finish
        Interop.Mount(RootedDirectory.ProcPath(subpath), staging, null, Interop.MS_BIND, null);
        return staging;
    }

    /// <summary>Unmounts the staging directories of a container's subpaths and removes them (rmdir only: what is
    /// still mounted is left, never deleted through).</summary>
    private void ReleaseSubpaths(string id)
    {
        string directory = SubpathStagingOf(id);
        if (!Directory.Exists(directory)) return;
        try
        {
            foreach (string staging in Directory.GetDirectories(directory))
            {
                Interop.Unmount(staging);
                Directory.Delete(staging, recursive: false);
            }
            Directory.Delete(directory, recursive: false);
        }
        catch (Exception e) when (e is IOException or LinuxException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "releasing the volume subpaths of {Id} failed", id);
        }
    }
}
