using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>Creating and stamping filesystem nodes the BCL cannot: device nodes, hard links, owners and times of
/// symlinks themselves, and flushing a directory entry to disk.</summary>
public static unsafe partial class Interop
{
    public const uint S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000;
    private const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Libc, EntryPoint = "mknod", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknod(string path, uint mode, ulong dev);

    [LibraryImport(Libc, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lchown(string path, int uid, int gid);

    [LibraryImport(Libc, EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int linkat(int oldDirFd, string oldPath, int newDirFd, string newPath, int flags);

    [LibraryImport(Libc, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int utimensat(int dirFd, string path, Timespec* times, int flags);

    [LibraryImport(Libc, EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(SafeHandle fd);

    /// <summary>mknod(2); <paramref name="mode"/> carries the type bits (S_IFCHR...) and the permissions.</summary>
    public static void MakeNode(string path, uint mode, uint major, uint minor)
    {
        // glibc's makedev encoding.
        ulong dev = ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
        if (mknod(path, mode, dev) != 0) throw LinuxException.FromLastError($"mknod {path}");
    }

    /// <summary>lchown(2): changes the owner of a symlink itself rather than its target.</summary>
    public static void ChownNoFollow(string path, int uid, int gid)
    {
        if (lchown(path, uid, gid) != 0) throw LinuxException.FromLastError($"lchown {path}");
    }

    /// <summary>A hard link; a symlink as <paramref name="existing"/> is linked itself, not followed.</summary>
    public static void HardLink(string existing, string newPath)
    {
        if (linkat(AT_FDCWD, existing, AT_FDCWD, newPath, 0) != 0) throw LinuxException.FromLastError($"link {newPath} to {existing}");
    }

    /// <summary>Sets access and modification times with nanosecond precision, on a symlink itself when it is one.</summary>
    public static void SetTimesNoFollow(string path, DateTimeOffset accessed, DateTimeOffset modified)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = ToTimespec(accessed);
        times[1] = ToTimespec(modified);
        if (utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) != 0) throw LinuxException.FromLastError($"utimensat {path}");
    }

    private static Timespec ToTimespec(DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest);
        if (rest < 0) { seconds--; rest += TimeSpan.TicksPerSecond; }
        return new Timespec { Seconds = seconds, Nanoseconds = rest * 100 };
    }

    /// <summary>fsync(2) on a directory so a rename into it survives a power loss.</summary>
    public static void FsyncDirectory(string path)
    {
        using var handle = Open(path, O_RDONLY);
        if (fsync(handle) != 0) throw LinuxException.FromLastError($"fsync {path}");
    }
}
