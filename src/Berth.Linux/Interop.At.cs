using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

/// <summary>The *at family: every call names a node by a directory fd and one name (or a path resolved by the kernel
/// inside a root with openat2), so what a path string would reach through a planted symlink never matters.</summary>
public static unsafe partial class Interop
{
    public const int O_PATH = 0x200000, O_DIRECTORY = 0x10000, O_NOFOLLOW = 0x20000, O_NONBLOCK = 0x800;
    public const int AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_IN_ROOT = 0x10;
    public const uint S_IFMT = 0xf000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xa000;
    private const long SYS_openat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(SafeHandle dir, string name, int flags, int mode);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int syscall_openat2(long number, SafeHandle dir, string path, OpenHow* how, nuint size);

    [LibraryImport(Libc, EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(SafeHandle dir, string name, int mode);

    [LibraryImport(Libc, EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int symlinkat(string target, SafeHandle dir, string name);

    [LibraryImport(Libc, EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int linkat_fd(SafeHandle oldDir, string oldName, SafeHandle newDir, string newName,
        int flags);

    [LibraryImport(Libc, EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknodat(SafeHandle dir, string name, uint mode, ulong dev);

    [LibraryImport(Libc, EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(SafeHandle dir, string name, int flags);

    [LibraryImport(Libc, EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchownat(SafeHandle dir, string name, int uid, int gid, int flags);

    [LibraryImport(Libc, EntryPoint = "fchmodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fchmodat(SafeHandle dir, string name, uint mode, int flags);

    [LibraryImport(Libc, EntryPoint = "fchmod", SetLastError = true)]
    private static partial int fchmod(SafeHandle fd, uint mode);

    [LibraryImport(Libc, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int utimensat_fd(SafeHandle dir, string name, Timespec* times, int flags);

    [LibraryImport(Libc, EntryPoint = "futimens", SetLastError = true)]
    private static partial int futimens(SafeHandle fd, Timespec* times);

    [LibraryImport(Libc, EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(SafeHandle dir, string name, byte* buffer, nuint size);

    /// <summary>The target of the symlink <paramref name="name"/> in <paramref name="dir"/> (never followed).</summary>
    public static string ReadLinkAt(SafeHandle dir, string name)
    {
        byte* buffer = stackalloc byte[4096];
        nint n = readlinkat(dir, name, buffer, 4096);
        if (n < 0) throw LinuxException.FromLastError($"readlinkat {name}");
        return System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }

    [LibraryImport(Libc, EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int fsetxattr(SafeHandle fd, string name, byte* value, nuint size, int flags);

    /// <summary>openat(2) of one name in <paramref name="dir"/>; O_CLOEXEC always added.</summary>
    public static SafeFileHandle OpenAt(SafeHandle dir, string name, int flags, int mode = 0)
    {
        int fd = openat(dir, name, flags | O_CLOEXEC, mode);
        if (fd < 0) throw LinuxException.FromLastError($"openat {name}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>openat2(2): <paramref name="path"/> resolved by the kernel with <paramref name="resolve"/>
    /// (RESOLVE_IN_ROOT: "..", absolute names and symlinks all stay inside <paramref name="root"/>).</summary>
    public static SafeFileHandle OpenAt2(SafeHandle root, string path, int flags, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)(flags | O_CLOEXEC), Resolve = resolve };
        int fd;
        do fd = syscall_openat2(SYS_openat2, root, path, &how, (nuint)sizeof(OpenHow));
        while (fd < 0 && Marshal.GetLastPInvokeError() is Errno.EAGAIN or Errno.EINTR); // EAGAIN: a rename raced
        if (fd < 0) throw LinuxException.FromLastError($"openat2 {path}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    public static void MkdirAt(SafeHandle dir, string name, int mode)
    {
        if (mkdirat(dir, name, mode) != 0) throw LinuxException.FromLastError($"mkdirat {name}");
    }

    public static void SymlinkAt(string target, SafeHandle dir, string name)
    {
        if (symlinkat(target, dir, name) != 0) throw LinuxException.FromLastError($"symlinkat {name} -> {target}");
    }

    /// <summary>A hard link; a symlink as the old name is linked itself, never followed.</summary>
    public static void LinkAt(SafeHandle oldDir, string oldName, SafeHandle newDir, string newName)
    {
        if (linkat_fd(oldDir, oldName, newDir, newName, 0) != 0)
            throw LinuxException.FromLastError($"linkat {newName} to {oldName}");
    }

    /// <summary>mknodat(2); <paramref name="mode"/> carries the type bits (S_IFCHR...) and the permissions.</summary>
    public static void MknodAt(SafeHandle dir, string name, uint mode, uint major, uint minor)
    {
        if (mknodat(dir, name, mode, MakeDev(major, minor)) != 0) throw LinuxException.FromLastError($"mknodat {name}");
    }

    public static void UnlinkAt(SafeHandle dir, string name, bool directory)
    {
        if (unlinkat(dir, name, directory ? AT_REMOVEDIR : 0) != 0)
            throw LinuxException.FromLastError($"unlinkat {name}");
    }

    /// <summary>Owner of the node itself (a symlink is not followed).</summary>
    public static void ChownAtNoFollow(SafeHandle dir, string name, int uid, int gid)
    {
        if (fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            throw LinuxException.FromLastError($"fchownat {name}");
    }

    /// <summary>Owner of the open file itself.</summary>
    public static void ChownFd(SafeHandle fd, int uid, int gid, string what)
    {
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) throw LinuxException.FromLastError($"fchown {what}");
    }

    /// <summary>Mode of a node that is not a symlink; glibc does it on an O_PATH|O_NOFOLLOW fd (ENOTSUP on a
    /// symlink).</summary>
    public static void ChmodAtNoFollow(SafeHandle dir, string name, uint mode)
    {
        if (fchmodat(dir, name, mode, AT_SYMLINK_NOFOLLOW) != 0) throw LinuxException.FromLastError($"fchmodat {name}");
    }

    public static void ChmodFd(SafeHandle fd, uint mode, string what)
    {
        if (fchmod(fd, mode) != 0) throw LinuxException.FromLastError($"fchmod {what}");
    }

    /// <summary>Times of the node itself (a symlink is not followed).</summary>
    public static void SetTimesAtNoFollow(SafeHandle dir, string name, DateTimeOffset accessed, DateTimeOffset modified)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = ToTimespec(accessed);
        times[1] = ToTimespec(modified);
        if (utimensat_fd(dir, name, times, AT_SYMLINK_NOFOLLOW) != 0)
            throw LinuxException.FromLastError($"utimensat {name}");
    }

    /// <summary>Times of the open file itself.</summary>
    public static void SetTimesFd(SafeHandle fd, DateTimeOffset accessed, DateTimeOffset modified, string what)
    {
        Timespec* times = stackalloc Timespec[2];
        times[0] = ToTimespec(accessed);
        times[1] = ToTimespec(modified);
        if (futimens(fd, times) != 0) throw LinuxException.FromLastError($"futimens {what}");
    }

    public static void SetXattrFd(SafeHandle fd, string name, ReadOnlySpan<byte> value, string what)
    {
        fixed (byte* data = value)
        {
            if (fsetxattr(fd, name, data, (nuint)value.Length, 0) != 0)
                throw LinuxException.FromLastError($"setxattr {name} on {what}");
        }
    }

    /// <summary>fsync(2) of an open fd (a file's data, or a directory's entries).</summary>
    public static void Fsync(SafeHandle fd, string what)
    {
        if (fsync(fd) != 0) throw LinuxException.FromLastError($"fsync {what}");
    }

    [LibraryImport(Libc, EntryPoint = "syncfs", SetLastError = true)]
    private static partial int syncfs(SafeHandle fd);

    /// <summary>syncfs(2): writes out every dirty file of the filesystem holding <paramref name="fd"/>, one call
    /// for a whole extracted tree instead of an fsync per file.</summary>
    public static void SyncFilesystem(SafeHandle fd, string what)
    {
        if (syncfs(fd) != 0) throw LinuxException.FromLastError($"syncfs {what}");
    }

    // glibc's makedev encoding.
    private static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) |
        ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);
}
