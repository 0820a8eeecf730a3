using System.Formats.Tar;
using Berth.Linux;

namespace Berth.Runtime.Images;

/// <summary>Unpacks one layer tar into a directory for overlayfs: owners, modes and times kept, devices made,
/// OCI whiteouts turned into overlay whiteouts (a 0:0 char device) and opaque directories (trusted.overlay.opaque).</summary>
public static class LayerExtractor
{
    public static async Task<long> ExtractAsync(Stream tar, string destination, CancellationToken ct)
    {
        long size = 0;
        var directories = new List<(string Path, TarEntry Entry)>();
        var reader = new TarReader(tar, leaveOpen: true);
        TarEntry? entry;
        while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
        {
            string relative = entry.Name.TrimStart('.', '/');
            if (relative.Length == 0) continue;
            string path = Path.GetFullPath(Path.Combine(destination, relative));
            if (!path.StartsWith(destination + "/", StringComparison.Ordinal) && path != destination)
                throw new ImageException($"invalid layer: {entry.Name} points outside the layer");
            string name = Path.GetFileName(path.TrimEnd('/'));
            string parent = Path.GetDirectoryName(path.TrimEnd('/'))!;
            Directory.CreateDirectory(parent);
            if (name == ".wh..wh..opq")
            {
                Interop.SetXattr(parent, "trusted.overlay.opaque", "y"u8.ToArray());
                continue;
            }
            if (name.StartsWith(".wh.", StringComparison.Ordinal))
            {
                string hidden = Path.Combine(parent, name[4..]);
                Remove(hidden);
                Interop.MakeNode(hidden, Interop.S_IFCHR, 0, 0);
                continue;
            }
            if (entry.EntryType != TarEntryType.Directory) Remove(path);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    directories.Add((path, entry));
                    continue;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
                    {
                        if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(file, ct);
                        size += file.Length;
                    }
                    break;
                case TarEntryType.SymbolicLink:
                    File.CreateSymbolicLink(path, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    string target = Path.GetFullPath(Path.Combine(destination, entry.LinkName.TrimStart('.', '/')));
                    if (!target.StartsWith(destination + "/", StringComparison.Ordinal)) throw new ImageException($"invalid layer: hard link {entry.Name} points outside");
                    File.Copy(target, path); // overlay lowerdirs are read-only: a copy behaves the same
                    continue;
                case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                    var posix = (PosixTarEntry)entry;
                    uint type = entry.EntryType switch { TarEntryType.CharacterDevice => Interop.S_IFCHR, TarEntryType.BlockDevice => Interop.S_IFBLK, _ => Interop.S_IFIFO };
                    Interop.MakeNode(path, type | (uint)entry.Mode, (uint)posix.DeviceMajor, (uint)posix.DeviceMinor);
                    break;
                default:
                    continue; // pax headers and the like carry no file
            }
            ApplyMetadata(path, entry);
        }
        // Directories last: writing into them changed their times, and a read-only mode would block extraction.
        foreach (var (path, dirEntry) in directories) ApplyMetadata(path, dirEntry);
        return size;
    }

    private static void ApplyMetadata(string path, TarEntry entry)
    {
        Interop.ChownNoFollow(path, entry.Uid, entry.Gid);
        if (entry.EntryType == TarEntryType.SymbolicLink) return;
        File.SetUnixFileMode(path, (UnixFileMode)((int)entry.Mode & 0xfff));
        try { File.SetLastWriteTimeUtc(path, entry.ModificationTime.UtcDateTime); } catch (IOException) { }
    }

    private static void Remove(string path)
    {
        if (Directory.Exists(path) && !File.GetAttributes(path).HasFlag(FileAttributes.ReparsePoint)) Directory.Delete(path, recursive: true);
        else if (File.Exists(path) || new FileInfo(path).LinkTarget is not null) File.Delete(path);
    }
}
