using System.Formats.Tar;
using System.Text;
using Berth.Linux;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Runtime.Images;

/// <summary>Unpacks one layer tar into a directory that overlayfs can use as a lower layer: owners, modes (setuid
/// included), times and xattrs kept; devices, fifos and hard links made; OCI whiteouts turned into overlay whiteouts
/// (a 0:0 char device) and opaque directories (trusted.overlay.opaque=y). Nothing is ever written outside the
/// destination: ".." escapes and paths through symlinks are refused.</summary>
public sealed class LayerExtractor
{
    private const string WhiteoutPrefix = ".wh.", OpaqueMarker = ".wh..wh..opq", WhiteoutMetaPrefix = ".wh..wh.";
    private const UnixFileMode DirectoryDefault = (UnixFileMode)0x1ed; // 0755, as Docker creates missing parents

    private readonly string _root;
    private readonly ILogger _logger;
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal) { "" }; // relative dirs known to be real
    private readonly List<(string Relative, TarEntry Entry)> _directoryEntries = new();
    private long _size;

    private LayerExtractor(string destination, ILogger? logger)
    {
        _root = Path.GetFullPath(destination).TrimEnd('/');
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Extracts the tar stream (uncompressed) into <paramref name="destination"/>, which must exist.
    /// Returns the layer's size: the bytes of its regular files, hard links counted once.</summary>
    public static async Task<long> ExtractAsync(Stream tar, string destination, ILogger? logger, CancellationToken ct)
    {
        var extractor = new LayerExtractor(destination, logger);
        var reader = new TarReader(tar, leaveOpen: true);
        try
        {
            TarEntry? entry;
            while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
                await extractor.ExtractEntryAsync(entry, ct);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new ImageException($"invalid tar archive: {e.Message}");
        }
        catch (LinuxException e)
        {
            throw new ImageException($"failed to extract layer: {e.Message}");
        }
        // Directories last, deepest first: writing into them changed their times, and a read-only mode would block extraction.
        for (int i = extractor._directoryEntries.Count - 1; i >= 0; i--)
        {
            var (relative, dirEntry) = extractor._directoryEntries[i];
            extractor.ApplyMetadata(extractor.Full(relative), dirEntry);
        }
        return extractor._size;
    }

    private async Task ExtractEntryAsync(TarEntry entry, CancellationToken ct)
    {
        var type = entry.EntryType;
        if (type is TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes or TarEntryType.LongLink or TarEntryType.LongPath)
            return; // metadata for other entries; TarReader already folded it into them
        if (type == TarEntryType.SparseFile) throw new ImageException($"invalid layer: sparse file {entry.Name} is not supported");
        if (type is TarEntryType.V7RegularFile && entry.Name.EndsWith('/')) type = TarEntryType.Directory;

        string relative = Clean(entry.Name);
        if (relative.Length == 0)
        {
            if (type == TarEntryType.Directory) _directoryEntries.Add(("", entry));
            return;
        }
        string parent = ParentOf(relative), name = relative[(parent.Length == 0 ? 0 : parent.Length + 1)..];
        EnsureDirectory(parent, entry.Name);

        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            if (name == OpaqueMarker) Interop.SetXattr(Full(parent), "trusted.overlay.opaque", "y"u8);
            else if (!name.StartsWith(WhiteoutMetaPrefix, StringComparison.Ordinal)) // other .wh..wh. names are aufs bookkeeping
            {
                string hidden = Join(parent, name[WhiteoutPrefix.Length..]);
                Replace(hidden, path => Interop.MakeNode(path, Interop.S_IFCHR, 0, 0));
                Interop.ChownNoFollow(Full(hidden), entry.Uid, entry.Gid);
            }
            return;
        }

        string full = Full(relative);
        switch (type)
        {
            case TarEntryType.Directory:
                if (!_directories.Contains(relative))
                {
                    if (IsRealDirectory(full) is false) Remove(full);
                    Directory.CreateDirectory(full, DirectoryDefault);
                    _directories.Add(relative);
                }
                _directoryEntries.Add((relative, entry));
                return;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Forget(relative);
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
                FileStream file;
                try { file = new FileStream(full, options); }
                catch (IOException) when (Exists(full)) { Remove(full); file = new FileStream(full, options); }
                await using (file)
                {
                    if (entry.DataStream is not null) await entry.DataStream.CopyToAsync(file, 128 * 1024, ct);
                }
                _size += entry.Length;
                break;
            case TarEntryType.SymbolicLink:
                Forget(relative);
                Replace(relative, path => File.CreateSymbolicLink(path, entry.LinkName));
                break;
            case TarEntryType.HardLink:
                string target = Clean(entry.LinkName);
                EnsureDirectory(ParentOf(target), entry.LinkName);
                if (target.Length == 0 || _directories.Contains(target)) throw new ImageException($"invalid layer: hard link {entry.Name} points to a directory");
                Forget(relative);
                try { Replace(relative, path => Interop.HardLink(Full(target), path)); }
                catch (LinuxException e) { throw new ImageException($"invalid layer: hard link {entry.Name} to {entry.LinkName}: {e.Message}"); }
                return; // shares its target's inode and metadata
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                Forget(relative);
                var posix = (PosixTarEntry)entry;
                uint kind = type switch { TarEntryType.CharacterDevice => Interop.S_IFCHR, TarEntryType.BlockDevice => Interop.S_IFBLK, _ => Interop.S_IFIFO };
                Replace(relative, path => Interop.MakeNode(path, kind | ((uint)entry.Mode & 0xfff), (uint)posix.DeviceMajor, (uint)posix.DeviceMinor));
                break;
            default:
                _logger.LogWarning("layer entry {Name} of type {Type} skipped", entry.Name, type);
                return;
        }
        ApplyMetadata(full, entry);
    }

    /// <summary>Owner first (chown clears setuid bits and capabilities), then xattrs, mode and times.</summary>
    private void ApplyMetadata(string path, TarEntry entry)
    {
        Interop.ChownNoFollow(path, entry.Uid, entry.Gid);
        bool symlink = entry.EntryType == TarEntryType.SymbolicLink;
        if (entry is PaxTarEntry pax)
            foreach (var (key, value) in pax.ExtendedAttributes)
                if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal)) SetXattr(path, key["SCHILY.xattr.".Length..], value, entry.Name);
        if (!symlink) File.SetUnixFileMode(path, (UnixFileMode)((int)entry.Mode & 0xfff));
        Interop.SetTimesNoFollow(path, entry.ModificationTime, entry.ModificationTime);
    }

    private void SetXattr(string path, string name, string value, string entryName)
    {
        // TarReader hands PAX values over as UTF-8 text; a binary value that did not survive that cannot be restored.
        if (value.Contains('\uFFFD'))
        {
            _logger.LogWarning("xattr {Attribute} of {Entry} is not valid UTF-8 after tar decoding; skipped", name, entryName);
            return;
        }
        try { Interop.SetXattr(path, name, Encoding.UTF8.GetBytes(value)); }
        catch (LinuxException e) when (e.Errno is Errno.ENOTSUP or Errno.EPERM)
        {
            _logger.LogWarning("xattr {Attribute} of {Entry} not set: {Error}", name, entryName, e.Message);
        }
    }

    // ------------------------------------------------------------------ paths

    /// <summary>The entry name as a clean relative path ("" for the root); ImageException when it climbs out.</summary>
    private static string Clean(string name)
    {
        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0) throw new ImageException($"invalid layer: {name} points outside the layer");
                parts.RemoveAt(parts.Count - 1);
            }
            else parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static string ParentOf(string relative)
    {
        int slash = relative.LastIndexOf('/');
        return slash < 0 ? "" : relative[..slash];
    }

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    private string Full(string relative) => relative.Length == 0 ? _root : _root + "/" + relative;

    /// <summary>Makes sure every component of <paramref name="relative"/> is a real directory (created 0755 when missing),
    /// so that nothing is written through a symlink the layer planted.</summary>
    private void EnsureDirectory(string relative, string entryName)
    {
        if (_directories.Contains(relative)) return;
        EnsureDirectory(ParentOf(relative), entryName);
        string full = Full(relative);
        switch (IsRealDirectory(full))
        {
            case true: break;
            case null: Directory.CreateDirectory(full, DirectoryDefault); break;
            case false:
                throw new ImageException(new FileInfo(full).LinkTarget is not null
                    ? $"invalid layer: {entryName} goes through the symlink /{relative}"
                    : $"invalid layer: {entryName} needs /{relative} to be a directory");
        }
        _directories.Add(relative);
    }

    /// <summary>true for a directory, false for anything else (a symlink to a directory included), null when absent.</summary>
    private static bool? IsRealDirectory(string full)
    {
        var info = new FileInfo(full);
        if (info.LinkTarget is not null) return false;
        if (Directory.Exists(full)) return true;
        return info.Exists || File.Exists(full) ? false : null;
    }

    private static bool Exists(string full) => new FileInfo(full).LinkTarget is not null || Path.Exists(full);

    /// <summary>Creates a node; when something is already there, removes it and tries once more.</summary>
    private void Replace(string relative, Action<string> create)
    {
        string full = Full(relative);
        try { create(full); }
        catch (Exception e) when (e is IOException or LinuxException { Errno: Errno.EEXIST } && Exists(full))
        {
            Forget(relative);
            Remove(full);
            create(full);
        }
    }

    /// <summary>The path is about to become something other than a directory: it and everything below stop being known dirs.</summary>
    private void Forget(string relative)
    {
        if (_directories.Remove(relative)) _directories.RemoveWhere(d => d.StartsWith(relative + "/", StringComparison.Ordinal));
    }

    private static void Remove(string full)
    {
        if (new FileInfo(full).LinkTarget is null && Directory.Exists(full)) Directory.Delete(full, recursive: true);
        else File.Delete(full);
    }
}
