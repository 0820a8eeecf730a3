using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>statx(2): file identity (inode, link count), which the BCL does not expose. statx has one layout on every
/// architecture, unlike struct stat.</summary>
public static unsafe partial class Interop
{
    private const int StatxSize = 256;
    private const uint STATX_NLINK = 0x4, STATX_INO = 0x100, STATX_SIZE = 0x200;
    private const int ENOENT = 2;

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    /// <summary>Inode number, link count and size of <paramref name="path"/> (a symlink itself, not followed);
    /// null when nothing is there.</summary>
    public static FileIdentity? Identity(string path)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_NLINK | STATX_SIZE, buffer) != 0)
        {
            if (Marshal.GetLastPInvokeError() == ENOENT) return null;
            throw LinuxException.FromLastError($"statx {path}");
        }
        var data = new ReadOnlySpan<byte>(buffer, StatxSize);
        // struct statx, host byte order: stx_nlink at 16, stx_ino at 32, stx_size at 40.
        uint links = MemoryMarshal.Read<uint>(data[16..]);
        ulong inode = MemoryMarshal.Read<ulong>(data[32..]);
        long size = MemoryMarshal.Read<long>(data[40..]);
        return new FileIdentity(inode, links, size);
    }
}

public readonly record struct FileIdentity(ulong Inode, uint Links, long Size);
