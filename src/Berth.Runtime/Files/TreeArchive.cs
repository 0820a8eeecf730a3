using System.Formats.Tar;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>Writes a node of a container's filesystem as a tar stream (`docker cp` out of a container): entries are
/// written one by one as the tree is walked by fd, each file streamed from its own fd, so nothing is held whole and no
/// symlink is ever followed (it is archived as a link). Owners, modes, times and hard links are kept.</summary>
public static class TreeArchive
{
    private const int DirectoryFlags = Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW;

    /// <summary>Archives <paramref name="name"/> of <paramref name="parent"/> ("." for the directory itself) under the
    /// archive name <paramref name="archiveName"/>.</summary>
    public static async Task WriteAsync(SafeFileHandle parent, string name, string archiveName, Stream output,
        CancellationToken ct)
    {
        var info = Interop.StatAt(parent, name) ?? throw new LinuxException($"statx {name}", Errno.ENOENT);
        // Headers and small files go out in 64 KiB sends: written straight to a response body, every 512-byte header
        // was a flush of its own (a send and a thread hop per entry).
        var buffered = new BufferedStream(output, 64 * 1024);
        await using (var writer = new TarWriter(buffered, TarEntryFormat.Gnu, leaveOpen: true))
        {
            var links = new Dictionary<(ulong, ulong), string>();
            await WriteNodeAsync(writer, parent, name, archiveName, info, links, ct);
        }
        await buffered.FlushAsync(ct); // not disposed: the output stays open for its owner
    }

    private static async Task WriteNodeAsync(TarWriter writer, SafeFileHandle parent, string name, string archiveName,
        NodeInfo info, Dictionary<(ulong, ulong), string> links, CancellationToken ct)
    {
        if (info.IsDirectory)
        {
            await writer.WriteEntryAsync(Entry(TarEntryType.Directory, archiveName + "/", info), ct);
            using var directory = Interop.OpenAt(parent, name, DirectoryFlags);
            var names = RootedDirectory.ListNames(directory);
            names.Sort(StringComparer.Ordinal);
            foreach (string child in names)
            {
                if (Interop.StatAt(directory, child) is not { } childInfo) continue; // gone meanwhile
                await WriteNodeAsync(writer, directory, child, archiveName + "/" + child, childInfo, links, ct);
            }
            return;
        }
        if (!info.IsDirectory && info.Links > 1)
        {
            if (links.TryGetValue((info.Device, info.Inode), out string? first))
            {
                var link = Entry(TarEntryType.HardLink, archiveName, info);
                link.LinkName = first;
                await writer.WriteEntryAsync(link, ct);
                return;
            }
            links[(info.Device, info.Inode)] = archiveName;
        }
        switch (info.Type)
        {
            case Interop.S_IFREG:
                var entry = Entry(TarEntryType.RegularFile, archiveName, info);
                using (var handle = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_NOFOLLOW | Interop.O_NONBLOCK))
                await using (var data = new HandleReadStream(handle))
                {
                    entry.DataStream = data;
                    await writer.WriteEntryAsync(entry, ct);
                }
                return;
            case Interop.S_IFLNK:
                var symlink = Entry(TarEntryType.SymbolicLink, archiveName, info);
                symlink.LinkName = Interop.ReadLinkAt(parent, name);
                await writer.WriteEntryAsync(symlink, ct);
                return;
            case Interop.S_IFCHR or Interop.S_IFBLK or Interop.S_IFIFO:
                var type = info.Type switch
                {
                    Interop.S_IFCHR => TarEntryType.CharacterDevice,
                    Interop.S_IFBLK => TarEntryType.BlockDevice,
                    _ => TarEntryType.Fifo,
                };
                var device = Entry(type, archiveName, info);
                if (type != TarEntryType.Fifo)
                {
                    device.DeviceMajor = (int)info.DeviceMajor;
                    device.DeviceMinor = (int)info.DeviceMinor;
                }
                await writer.WriteEntryAsync(device, ct);
                return;
            default:
                return; // sockets are not archived (as Go's archive/tar)
        }
    }

    private static GnuTarEntry Entry(TarEntryType type, string name, NodeInfo info) => new(type, name)
    {
        Mode = (UnixFileMode)info.Permissions,
        Uid = (int)info.Uid,
        Gid = (int)info.Gid,
        ModificationTime = info.Modified,
    };
}
