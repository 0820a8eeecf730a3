using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>statx(2): what the BCL does not tell about a node (type bits, owner, identity, device numbers).
/// struct statx has one layout on every architecture, unlike struct stat.</summary>
public static unsafe partial class Interop
{
    private const uint STATX_BASIC_STATS = 0x7ff;
    private const int StatxSize = 256;

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(SafeHandle dir, string name, int flags, uint mask, byte* buffer);

    /// <summary>The node at <paramref name="path"/> itself (a symlink is not followed); null when nothing is there.</summary>
    public static NodeInfo? StatNoFollow(string path) => StatPath(path, AT_SYMLINK_NOFOLLOW);

    /// <summary>The node <paramref name="path"/> leads to (symlinks followed); null when nothing is there.</summary>
    public static NodeInfo? Stat(string path) => StatPath(path, 0);

    private static NodeInfo? StatPath(string path, int flags)
    {
        byte* buffer = stackalloc byte[StatxSize];
        if (statx(AT_FDCWD, path, flags, STATX_BASIC_STATS, buffer) != 0)
            return NullWhenMissing($"statx {path}");
        return Decode(new ReadOnlySpan<byte>(buffer, StatxSize));
    }

    /// <summary><paramref name="name"/> in <paramref name="dir"/> (not followed), or the fd itself when the name is
    /// empty. Null when the name does not exist.</summary>
    public static NodeInfo? StatAt(SafeHandle dir, string name)
    {
        byte* buffer = stackalloc byte[StatxSize];
        int flags = AT_SYMLINK_NOFOLLOW | (name.Length == 0 ? AT_EMPTY_PATH : 0);
        if (statx(dir, name, flags, STATX_BASIC_STATS, buffer) != 0)
            return NullWhenMissing($"statx {name}");
        return Decode(new ReadOnlySpan<byte>(buffer, StatxSize));
    }

    private static NodeInfo? NullWhenMissing(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        if (errno == Errno.ENOENT) return null;
        throw new LinuxException(what, errno);
    }

    // Offsets of struct statx (include/uapi/linux/stat.h): nlink 16, uid 20, gid 24, mode 28, ino 32, size 40,
    // mtime 112 (seconds) and 120 (nanoseconds), rdev_major 128, rdev_minor 132, dev_major 136, dev_minor 140.
    private static NodeInfo Decode(ReadOnlySpan<byte> s) => new(
        Mode: BinaryPrimitives.ReadUInt16LittleEndian(s[28..]),
        Uid: BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
        Gid: BinaryPrimitives.ReadUInt32LittleEndian(s[24..]),
        Links: BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
        Device: ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(s[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(s[140..]),
        Inode: BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
        Size: BinaryPrimitives.ReadInt64LittleEndian(s[40..]),
        DeviceMajor: BinaryPrimitives.ReadUInt32LittleEndian(s[128..]),
        DeviceMinor: BinaryPrimitives.ReadUInt32LittleEndian(s[132..]),
        ModifiedSeconds: BinaryPrimitives.ReadInt64LittleEndian(s[112..]),
        ModifiedNanoseconds: BinaryPrimitives.ReadUInt32LittleEndian(s[120..]));
}

/// <summary>What statx says about a node. Device is the filesystem's (major:minor packed); DeviceMajor/Minor are the
/// node's own numbers when it is a device.</summary>
public readonly record struct NodeInfo(uint Mode, uint Uid, uint Gid, uint Links, ulong Device, ulong Inode, long Size,
    uint DeviceMajor, uint DeviceMinor, long ModifiedSeconds = 0, uint ModifiedNanoseconds = 0)
{
    public DateTimeOffset Modified =>
        DateTimeOffset.FromUnixTimeSeconds(ModifiedSeconds).AddTicks(ModifiedNanoseconds / 100);

    public uint Type => Mode & Interop.S_IFMT;
    public uint Permissions => Mode & 0xFFF;
    public bool IsDirectory => Type == Interop.S_IFDIR;
    public bool IsRegular => Type == Interop.S_IFREG;
    public bool IsSymlink => Type == Interop.S_IFLNK;
}
