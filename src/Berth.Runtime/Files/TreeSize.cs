using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>The bytes a directory tree holds as moby's directory.Size counts them (`system df` sizes, prune's
/// SpaceReclaimed): every node but directories, symlinks at their own size and never followed, a hard-linked inode
/// once. Walked by fd; what vanishes meanwhile is skipped.</summary>
public static class TreeSize
{
    private const int DirectoryFlags = Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW;

    /// <summary>The size of the tree at <paramref name="path"/> (an engine-made path); 0 when it does not exist.</summary>
    public static long Of(string path)
    {
        SafeFileHandle root;
        try { root = Interop.Open(path, DirectoryFlags); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR) { return 0; }
        using (root)
        {
            var seen = new HashSet<(ulong, ulong)>();
            return OfDirectory(root, seen);
        }
    }

    private static long OfDirectory(SafeFileHandle directory, HashSet<(ulong, ulong)> seen)
    {
        long size = 0;
        foreach (string name in RootedDirectory.ListNames(directory))
        {
            if (Interop.StatAt(directory, name) is not { } info) continue;
            if (info.IsDirectory)
            {
                SafeFileHandle child;
                try { child = Interop.OpenAt(directory, name, DirectoryFlags); }
                catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP) { continue; }
                using (child) size += OfDirectory(child, seen);
            }
            else if (info.Size > 0 && seen.Add((info.Device, info.Inode))) size += info.Size;
        }
        return size;
    }
}
