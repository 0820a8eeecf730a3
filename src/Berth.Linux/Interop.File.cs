using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public static partial class Interop
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_CLOEXEC = 0x80000;

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    /// <summary>open(2) as a SafeFileHandle that closes the fd.</summary>
    public static SafeFileHandle Open(string path, int flags, int mode = 0)
    {
        int fd = open(path, flags | O_CLOEXEC, mode);
        if (fd < 0) throw LinuxException.FromLastError($"open {path}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }
}
