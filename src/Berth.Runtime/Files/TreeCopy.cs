using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>Copies a directory's content into another with owners, modes and times (a new volume filled from the
/// image's content at its path, as dockerd does). Both sides are held by fd and every node is named by its parent's
/// fd and one name: a symlink is copied as a symlink, never followed, on either side.</summary>
public static class TreeCopy
{
    private const int DirectoryFlags = Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW;

    /// <summary>True when the directory has no entries.</summary>
    public static bool IsEmpty(SafeFileHandle directory) => RootedDirectory.ListNames(directory).Count == 0;

    /// <summary>Copies what is in <paramref name="source"/> into <paramref name="destination"/> and gives the
    /// destination the source's owner and mode.</summary>
    public static void CopyContents(SafeFileHandle source, SafeFileHandle destination)
    {
        var links = new Dictionary<(ulong, ulong), (SafeFileHandle Parent, string Name)>();
        try
        {
            CopyDirectory(source, destination, links);
            var info = Interop.StatAt(source, "")!.Value;
            Interop.ChownFd(destination, (int)info.Uid, (int)info.Gid, "volume root");
            Interop.ChmodFd(destination, info.Permissions, "volume root");
        }
        finally
        {
            foreach (var (parent, _) in links.Values) parent.Dispose();
        }
    }

    private static void CopyDirectory(SafeFileHandle from, SafeFileHandle to,
        Dictionary<(ulong, ulong), (SafeFileHandle Parent, string Name)> links)
    {
        foreach (string name in RootedDirectory.ListNames(from))
        {
            if (Interop.StatAt(from, name) is not { } info) continue; // gone meanwhile
            if (info.IsDirectory)
            {
                Interop.MkdirAt(to, name, 0x1c0);
                using (var childFrom = Interop.OpenAt(from, name, DirectoryFlags))
                using (var childTo = Interop.OpenAt(to, name, DirectoryFlags))
                {
                    CopyDirectory(childFrom, childTo, links);
                    ApplyFd(childTo, info, name);
                }
                continue;
            }
            if (info.Links > 1 && links.TryGetValue((info.Device, info.Inode), out var first))
            {
                Interop.LinkAt(first.Parent, first.Name, to, name);
                continue;
            }
            if (info.IsRegular) CopyFile(from, to, name, info);
            else if (info.IsSymlink)
            {
                Interop.SymlinkAt(Interop.ReadLinkAt(from, name), to, name);
                Interop.ChownAtNoFollow(to, name, (int)info.Uid, (int)info.Gid);
                Interop.SetTimesAtNoFollow(to, name, info.Modified, info.Modified);
                continue;
            }
            else if (info.Type is Interop.S_IFCHR or Interop.S_IFBLK or Interop.S_IFIFO)
            {
                // A 0:0 character device is an overlay whiteout: nothing to copy.
                if (info.Type == Interop.S_IFCHR && info.DeviceMajor == 0 && info.DeviceMinor == 0) continue;
                Interop.MknodAt(to, name, info.Type | info.Permissions, info.DeviceMajor, info.DeviceMinor);
            }
            else continue; // sockets are not copied
            Interop.ChownAtNoFollow(to, name, (int)info.Uid, (int)info.Gid);
            Interop.ChmodAtNoFollow(to, name, info.Permissions);
            Interop.SetTimesAtNoFollow(to, name, info.Modified, info.Modified);
            if (info.Links > 1) links[(info.Device, info.Inode)] = (Interop.OpenAt(to, ".", DirectoryFlags), name);
        }
    }

    private static void CopyFile(SafeFileHandle from, SafeFileHandle to, string name, NodeInfo info)
    {
        using var source = Interop.OpenAt(from, name, Interop.O_RDONLY | Interop.O_NOFOLLOW | Interop.O_NONBLOCK);
        using var target = Interop.OpenAt(to, name,
            Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW, 0x180);
        using (var input = new FileStream(source, FileAccess.Read, bufferSize: 0))
        using (var output = new FileStream(target, FileAccess.Write, bufferSize: 0))
        {
            input.CopyTo(output, 128 * 1024);
            ApplyFd(target, info, name); // before the streams close the handles
        }
    }

    private static void ApplyFd(SafeFileHandle handle, NodeInfo info, string name)
    {
        Interop.ChownFd(handle, (int)info.Uid, (int)info.Gid, name);
        Interop.ChmodFd(handle, info.Permissions, name);
        Interop.SetTimesFd(handle, info.Modified, info.Modified, name);
    }
}
