using Berth.Linux;

namespace Berth.Runtime.Security;

/// <summary>One device node for config.json's `linux.devices`.</summary>
public sealed record DeviceNode(string Path, char Type, uint Major, uint Minor, uint FileMode, uint Uid, uint Gid);

/// <summary>The device nodes under the host's /dev, which a privileged container gets, as dockerd does: every
/// character and block device, recursing into subdirectories except the ones each container has its own of
/// (pts, shm, mqueue, fd) and tools' private ones; console is left out (the container's is its terminal),
/// symlinks and other kinds of nodes are skipped.</summary>
public static class HostDevices
{
    private static readonly HashSet<string> SkippedDirectories =
        ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

    /// <param name="root">/dev, or a test's own directory.</param>
    /// <param name="containerRoot">the path they get inside the container.</param>
    public static List<DeviceNode> Scan(string root = "/dev", string containerRoot = "/dev")
    {
        var devices = new List<DeviceNode>();
        Walk(root, containerRoot, devices);
        return devices;
    }

    /// <summary>The character or block device at <paramref name="hostPath"/> (symlinks followed, as `--device
    /// /dev/disk/by-id/...` needs), to be made at <paramref name="containerPath"/>.</summary>
    public static DeviceNode Node(string hostPath, string containerPath)
    {
        var status = Interop.Stat(hostPath)
            ?? throw new ArgumentException($"error gathering device information while adding custom device \"{hostPath}\": no such file or directory");
        return ToNode(status, containerPath)
            ?? throw new ArgumentException($"error gathering device information while adding custom device \"{hostPath}\": not a device node");
    }

    private static DeviceNode? ToNode(NodeInfo status, string containerPath) => status.Type switch
    {
        Interop.S_IFCHR => new DeviceNode(containerPath, 'c', status.DeviceMajor, status.DeviceMinor,
            status.Permissions, status.Uid, status.Gid),
        Interop.S_IFBLK => new DeviceNode(containerPath, 'b', status.DeviceMajor, status.DeviceMinor,
            status.Permissions, status.Uid, status.Gid),
        _ => null,
    };

    private static void Walk(string directory, string containerDirectory, List<DeviceNode> devices)
    {
        IEnumerable<string> entries;
        try { entries = Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        foreach (string path in entries)
        {
            string name = Path.GetFileName(path);
            string inContainer = containerDirectory.TrimEnd('/') + "/" + name;
            NodeInfo status;
            try { if (Interop.StatNoFollow(path) is { } found) status = found; else continue; } // gone meanwhile
            catch (LinuxException) { continue; }
            switch (status.Type)
            {
                case 0x4000 when !SkippedDirectories.Contains(name):
                    Walk(path, inContainer, devices);
                    break;
                case Interop.S_IFCHR when name == "console":
                    break;
                case Interop.S_IFCHR or Interop.S_IFBLK:
                    devices.Add(ToNode(status, inContainer)!);
                    break;
            }
        }
    }
}
