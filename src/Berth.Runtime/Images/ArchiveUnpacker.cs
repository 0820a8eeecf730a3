using System.Formats.Tar;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Images;

/// <summary>Unpacks a `docker load` archive (docker save or OCI layout) into a scratch directory: directories, regular
/// files and symlinks only (older docker save archives link duplicate layers), owners and modes ignored, every path
/// kept inside by fd-relative calls. Files are read back through <see cref="RootedDirectory.OpenInRoot"/>, so a
/// symlink in the archive can only ever name a file of the archive.</summary>
internal static class ArchiveUnpacker
{
    private const int FileFlags = Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW;

    public static async Task UnpackAsync(Stream tar, string destination, CancellationToken ct)
    {
        using var root = RootedDirectory.Open(destination);
        var reader = new TarReader(tar, leaveOpen: true);
        try
        {
            TarEntry? entry;
            while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
                await UnpackEntryAsync(root, entry, ct);
        }
        catch (Exception e) when (ArchiveDecompression.IsCorruptData(e))
        {
            throw new ImageException($"invalid archive: {e.Message}");
        }
        catch (UnsafePathException e) { throw new ImageException($"invalid archive: {e.Message}"); }
        catch (Exception e) when (LayerExtractor.IsNoSpace(e))
        {
            throw new ImageStorageException($"failed to unpack the archive: no space left on device ({e.Message})");
        }
        catch (LinuxException e) { throw new ImageException($"failed to unpack the archive: {e.Message}"); }
    }

    private static async Task UnpackEntryAsync(RootedDirectory root, TarEntry entry, CancellationToken ct)
    {
        var type = entry.EntryType;
        if (type is TarEntryType.V7RegularFile && entry.Name.EndsWith('/')) type = TarEntryType.Directory;
        string relative = LayerExtractor.Clean(entry.Name);
        if (relative.Length == 0) return;
        if (type == TarEntryType.Directory)
        {
            root.OpenDirectory(relative, 0x1c0).Dispose();
            return;
        }
        if (type is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile
            or TarEntryType.SymbolicLink)) return; // nothing else belongs in an image archive
        int slash = relative.LastIndexOf('/');
        using var parent = root.OpenDirectory(slash < 0 ? "" : relative[..slash], 0x1c0);
        string name = relative[(slash + 1)..];
        RootedDirectory.RemoveEntry(parent, name); // a later entry of the same name wins
        if (type == TarEntryType.SymbolicLink)
        {
            Interop.SymlinkAt(entry.LinkName, parent, name);
            return;
        }
        using var handle = Interop.OpenAt(parent, name, FileFlags, 0x180);
        if (entry.DataStream is null) return;
        await HandleWriter.CopyAsync(entry.DataStream, handle, ct);
    }

    public static bool Exists(RootedDirectory root, string name)
    {
        try { root.OpenInRoot(name, Interop.O_PATH).Dispose(); return true; }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR) { return false; }
    }

    /// <summary>A regular file of the archive, resolved inside it.</summary>
    public static FileStream OpenRead(RootedDirectory root, string name) =>
        new(OpenRegular(root, name, out _), FileAccess.Read);

    /// <summary>A regular file of the archive, at most <paramref name="maxBytes"/> long.</summary>
    public static byte[] ReadAll(RootedDirectory root, string name, int maxBytes)
    {
        using var handle = OpenRegular(root, name, out long size);
        if (size > maxBytes) throw new ImageException($"invalid archive: {name} is larger than {maxBytes} bytes");
        var bytes = new byte[size];
        int total = 0;
        while (total < bytes.Length)
        {
            int n = RandomAccess.Read(handle, bytes.AsSpan(total), total);
            if (n == 0) break;
            total += n;
        }
        return bytes[..total];
    }

    private static SafeFileHandle OpenRegular(RootedDirectory root, string name, out long size)
    {
        SafeFileHandle handle;
        try { handle = root.OpenInRoot(name, Interop.O_RDONLY | Interop.O_NONBLOCK); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
        {
            throw new ImageException($"invalid archive: {name} is missing");
        }
        catch (LinuxException e) { throw new ImageException($"invalid archive: {name}: {e.Message}"); }
        var info = Interop.StatAt(handle, "")!.Value;
        if (!info.IsRegular)
        {
            handle.Dispose();
            throw new ImageException($"invalid archive: {name} is not a regular file");
        }
        size = info.Size;
        return handle;
    }
}
