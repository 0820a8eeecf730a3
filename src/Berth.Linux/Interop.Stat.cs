using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>What lstat tells about a node that the BCL does not: its type bits, owner and device numbers.</summary>
public readonly record struct NodeStatus(uint Mode, uint Uid, uint Gid, uint DeviceMajor, uint DeviceMinor)
{
    public uint Type => Mode & 0xF000;
    public uint Permissions => Mode & 0xFFF;
}

/// <summary>statx(2), whose struct layout is the same on every architecture (struct stat is not).</summary>
public static unsafe partial class Interop
{
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int StatxSize = 256;

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The node at <paramref name="path"/> itself (a symlink is not followed).</summary>
    public static NodeStatus StatNoFollow(string path)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, buffer) != 0)
            throw LinuxException.FromLastError($"statx {path}");
        // Offsets of struct statx (include/uapi/linux/stat.h): uid 20, gid 24, mode 28, rdev_major 128, rdev_minor 132.
        return new NodeStatus(*(ushort*)(buffer + 28), *(uint*)(buffer + 20), *(uint*)(buffer + 24),
            *(uint*)(buffer + 128), *(uint*)(buffer + 132));
    }
}
