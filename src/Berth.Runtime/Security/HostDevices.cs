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
                case Interop.S_IFCHR when name != "console":
                    devices.Add(new DeviceNode(inContainer, 'c', status.DeviceMajor, status.DeviceMinor,
                        status.Permissions, status.Uid, status.Gid));
                    break;
                case Interop.S_IFBLK:
                    devices.Add(new DeviceNode(inContainer, 'b', status.DeviceMajor, status.DeviceMinor,
                        status.Permissions, status.Uid, status.Gid));
                    break;
            }
        }
    }
}
