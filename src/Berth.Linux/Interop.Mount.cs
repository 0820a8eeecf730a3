using System.Runtime.InteropServices;

namespace Berth.Linux;

public static partial class Interop
{
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32,
        MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_SHARED = 1 << 20;
    public const int MNT_DETACH = 2;

    [LibraryImport(Libc, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport(Libc, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    public static void Mount(string? source, string target, string? fstype, ulong flags, string? data)
    {
        if (mount(source, target, fstype, flags, data) != 0)
            throw LinuxException.FromLastError($"mount {fstype ?? source ?? "(none)"} on {target}");
    }

    /// <summary>Unmounts; returns false when nothing was mounted there (EINVAL/ENOENT).</summary>
    public static bool Unmount(string target, int flags = MNT_DETACH)
    {
        if (umount2(target, flags) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is Errno.EINVAL or Errno.ENOENT) return false;
        throw new LinuxException($"umount {target}", errno);
    }
}
