using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public static partial class Interop
{
    public const int LOCK_EX = 2, LOCK_UN = 8;

    [LibraryImport(Libc, EntryPoint = "flock", SetLastError = true)]
    private static partial int flock(SafeFileHandle fd, int operation);

    /// <summary>flock(2), blocking, retried on EINTR; the lock goes when the fd is closed.</summary>
    public static void Flock(SafeFileHandle fd, int operation, string what)
    {
        while (flock(fd, operation) != 0)
        {
            var error = LinuxException.FromLastError($"flock {what}");
            if (error.Errno != Errno.EINTR) throw error;
        }
    }
}
