using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

public static partial class Interop
{
    public const int O_DIRECTORY = 0x10000;

    [LibraryImport(Libc, EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(SafeFileHandle fd);

    /// <summary>fsync(2) of a directory: makes a rename or a new entry in it durable (.NET cannot open a directory
    /// as a file to flush it).</summary>
    public static void SyncDirectory(string path)
    {
        using var handle = Open(path, O_RDONLY | O_DIRECTORY);
        if (fsync(handle) != 0) throw LinuxException.FromLastError($"fsync {path}");
    }
}
