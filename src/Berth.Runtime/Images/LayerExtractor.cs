using System.Formats.Tar;
using System.Text;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Images;

/// <summary>Unpacks one layer tar into a directory that overlayfs can use as a lower layer: owners, modes (setuid
/// included), times and xattrs kept; devices, fifos and hard links made; OCI whiteouts turned into overlay whiteouts
/// (a 0:0 char device) and opaque directories (trusted.overlay.opaque=y).
/// Nothing is ever reached outside the destination: the destination is held open as a <see cref="RootedDirectory"/>
/// and every call names a node by a parent directory fd and one name; parents are opened component by component
/// without following symlinks (an entry through a symlink is refused), ".." escapes are refused, and the directory
/// modes applied at the end go through a handle checked to be the directory that was created.</summary>
public sealed class LayerExtractor
{
    private const string WhiteoutPrefix = ".wh.", OpaqueMarker = ".wh..wh..opq", WhiteoutMetaPrefix = ".wh..wh.";
    private const int DirectoryDefault = 0x1ed; // 0755, as Docker creates missing parents
    private const string XattrPrefix = "SCHILY.xattr.";

    private readonly RootedDirectory _root;
    private readonly ILogger _logger;
    // Directory entries whose metadata waits for the end, with the identity of the directory that was made for them.
    private readonly List<DeferredDirectory> _deferred = new();
    private string? _parentPath;
    private SafeFileHandle? _parent;
    private long _size;

    private readonly Dictionary<string, int> _deferredIndex = new(StringComparer.Ordinal);

    private readonly record struct DeferredDirectory(string Relative, TarEntry Entry, ulong Device, ulong Inode,
        bool Skip);

    private readonly CopyOptions? _copy;
    private readonly Action<string, long>? _fileContent;

    private LayerExtractor(RootedDirectory root, ILogger? logger, CopyOptions? copy = null, Action<string, long>? fileContent = null)
    {
        _root = root;
        _logger = logger ?? NullLogger.Instance;
        _copy = copy;
        _fileContent = fileContent;
    }

    /// <summary>An archive sent by `docker cp` rather than a layer: ".wh." names are plain files, the destination
    /// directory itself keeps its metadata, owners are <paramref name="Owner"/> unless null (copyUIDGID keeps the
    /// archive's), and with <paramref name="NoOverwriteDirNonDir"/> a directory never replaces a non-directory or the
    /// other way round.</summary>
    public sealed record CopyOptions((int Uid, int Gid)? Owner, bool NoOverwriteDirNonDir);

    /// <summary>Extracts a `docker cp` archive under <paramref name="destination"/> (a directory held open inside the
    /// container's root), with every guarantee of <see cref="ExtractAsync"/>. Errors as there.</summary>
    public static async Task ExtractCopyAsync(Stream tar, RootedDirectory destination, CopyOptions options,
        ILogger? logger, CancellationToken ct)
    {
        var extractor = new LayerExtractor(destination, logger, options);
        await extractor.RunAsync(tar, ct);
    }

    /// <summary>Extracts the tar stream (uncompressed) into <paramref name="destination"/>, which must exist.
    /// Returns the layer's size: the bytes of its regular files, hard links counted once.
    /// Hostile or broken input is an <see cref="ImageException"/>; a full disk an
    /// <see cref="ImageStorageException"/>. <paramref name="fileContent"/> hears, before they are read, that the next
    /// bytes of the tar are the content of a file (its path below the destination, and its length).</summary>
    public static async Task<long> ExtractAsync(Stream tar, string destination, ILogger? logger, CancellationToken ct,
        Action<string, long>? fileContent = null)
    {
        using var root = RootedDirectory.Open(destination);
        var extractor = new LayerExtractor(root, logger, fileContent: fileContent);
        return await extractor.RunAsync(tar, ct);
    }

    private async Task<long> RunAsync(Stream tar, CancellationToken ct)
    {
        var extractor = this;
        var reader = new TarReader(tar, leaveOpen: true);
        try
        {
            TarEntry? entry;
            while ((entry = await reader.GetNextEntryAsync(copyData: false, ct)) is not null)
                await extractor.ExtractEntryAsync(entry, ct);
            extractor.ApplyDeferredDirectories();
            return extractor._size;
        }
        catch (Exception e) when (ArchiveDecompression.IsCorruptData(e))
        {
            throw new ImageException($"invalid tar archive: {e.Message}");
        }
        catch (UnsafePathException e) { throw new ImageException($"invalid layer: {e.Message}"); }
        catch (Exception e) when (IsNoSpace(e))
        {
            throw new ImageStorageException($"failed to extract layer: no space left on device ({e.Message})");
        }
        catch (LinuxException e) when (_copy is null) { throw new ImageException($"failed to extract layer: {e.Message}"); }
        finally { extractor._parent?.Dispose(); }
    }

    /// <summary>ENOSPC or EDQUOT, from our own calls or from a FileStream write.</summary>
    internal static bool IsNoSpace(Exception e) => e switch
    {
        LinuxException linux => linux.Errno is Errno.ENOSPC or Errno.EDQUOT,
        IOException io => io.HResult is Errno.ENOSPC or Errno.EDQUOT || (io.HResult & 0xffff) is 0x70 or 0x27
            || io.Message.Contains("No space left on device", StringComparison.Ordinal)
            || io.Message.Contains("quota exceeded", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

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
            if (type == TarEntryType.Directory && _copy is null) Defer("", entry, Parent(""), ".");
            return;
        }
        string parentPath = ParentOf(relative), name = relative[(parentPath.Length == 0 ? 0 : parentPath.Length + 1)..];
        var parent = Parent(parentPath);

        if (_copy is null && name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            ExtractWhiteout(parent, name, entry);
            return;
        }
        switch (type)
        {
            case TarEntryType.Directory:
                var existing = Interop.StatAt(parent, name);
                if (existing is not { IsDirectory: true })
                {
                    if (existing is not null) RemoveExisting(parent, name, existing.Value, type, relative);
                    Interop.MkdirAt(parent, name, DirectoryDefault);
                }
                Defer(relative, entry, parent, name);
                return; // metadata at the end: a read-only mode would block what goes inside
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                _fileContent?.Invoke(relative, entry.Length);
                await ExtractFileAsync(parent, name, entry, relative, ct);
                return;
            case TarEntryType.SymbolicLink:
                Replace(parent, name, type, relative, () => Interop.SymlinkAt(entry.LinkName, parent, name));
                break;
            case TarEntryType.HardLink:
                ExtractHardLink(parent, name, entry);
                return; // shares its target's inode and metadata
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                uint kind = type switch
                {
                    TarEntryType.CharacterDevice => Interop.S_IFCHR,
                    TarEntryType.BlockDevice => Interop.S_IFBLK,
                    _ => Interop.S_IFIFO,
                };
                uint mode = kind | ((uint)entry.Mode & 0xfff);
                var (major, minor) = DeviceNumbers(entry);
                Replace(parent, name, type, relative, () => Interop.MknodAt(parent, name, mode, (uint)major, (uint)minor));
                break;
            default:
                _logger.LogWarning("layer entry {Name} of type {Type} skipped", entry.Name, type);
                return;
        }
        ApplyMetadataAt(parent, name, entry);
    }

    /// <summary>".wh.name" hides name of the lower layers (a 0:0 char device); ".wh..wh..opq" makes the directory
    /// opaque. Both only ever touch the entry's own parent, which was opened inside the root.</summary>
    private void ExtractWhiteout(SafeFileHandle parent, string name, TarEntry entry)
    {
        if (name == OpaqueMarker)
        {
            Interop.SetXattrFd(parent, "trusted.overlay.opaque", "y"u8, entry.Name);
            return;
        }
        if (name.StartsWith(WhiteoutMetaPrefix, StringComparison.Ordinal)) return; // other .wh..wh.: aufs bookkeeping
        string hidden = name[WhiteoutPrefix.Length..];
        RootedDirectory.CheckName(hidden, $"whiteout {entry.Name}");
        Replace(parent, hidden, TarEntryType.CharacterDevice, hidden, () => Interop.MknodAt(parent, hidden, Interop.S_IFCHR, 0, 0));
        Interop.ChownAtNoFollow(parent, hidden, entry.Uid, entry.Gid);
    }

    private async Task ExtractFileAsync(SafeFileHandle parent, string name, TarEntry entry, string relative,
        CancellationToken ct)
    {
        const int flags = Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW;
        SafeFileHandle handle;
        try { handle = Interop.OpenAt(parent, name, flags, 0x180); }
        catch (LinuxException e) when (e.Errno == Errno.EEXIST)
        {
            RemoveExisting(parent, name, null, TarEntryType.RegularFile, relative);
            handle = Interop.OpenAt(parent, name, flags, 0x180);
        }
        using (handle)
        {
            if (entry.DataStream is not null) await HandleWriter.CopyAsync(entry.DataStream, handle, ct);
            _size += entry.Length;
            ApplyMetadataFd(handle, entry);
        }
    }

    private void ExtractHardLink(SafeFileHandle parent, string name, TarEntry entry)
    {
        string target = Clean(entry.LinkName);
        if (target.Length == 0) throw new ImageException($"invalid layer: hard link {entry.Name} points to a directory");
        string targetParentPath = ParentOf(target);
        string targetName = target[(targetParentPath.Length == 0 ? 0 : targetParentPath.Length + 1)..];
        // The target's parent is opened like any other (no symlink on the way, nothing created): the link can only
        // ever name a node that is already inside the root.
        using var targetParent = _root.OpenDirectory(targetParentPath);
        var info = Interop.StatAt(targetParent, targetName)
            ?? throw new ImageException(
                $"invalid layer: hard link {entry.Name} to {entry.LinkName}: no such file in the layer");
        if (info.IsDirectory) throw new ImageException($"invalid layer: hard link {entry.Name} points to a directory");
        if (targetParentPath == ParentOf(Clean(entry.Name)) && targetName == name) return; // a link to itself
        Replace(parent, name, TarEntryType.HardLink, Clean(entry.Name), () => Interop.LinkAt(targetParent, targetName, parent, name));
    }

    // ------------------------------------------------------------------ metadata

    /// <summary>Owner first (chown clears setuid bits and capabilities), then xattrs, mode and times; by parent fd and
    /// name, never following a final symlink.</summary>
    private void ApplyMetadataAt(SafeFileHandle parent, string name, TarEntry entry)
    {
        var (uid, gid) = OwnerOf(entry);
        Interop.ChownAtNoFollow(parent, name, uid, gid);
        foreach (var (attribute, value) in Xattrs(entry))
        {
            string path = RootedDirectory.ProcPath(parent, name);
            TrySetXattr(() => Interop.SetXattr(path, attribute, value), attribute, entry.Name);
        }
        if (entry.EntryType != TarEntryType.SymbolicLink)
            Interop.ChmodAtNoFollow(parent, name, (uint)entry.Mode & 0xfff);
        Interop.SetTimesAtNoFollow(parent, name, entry.ModificationTime, entry.ModificationTime);
    }

    /// <summary>The same on an open file or directory.</summary>
    private void ApplyMetadataFd(SafeFileHandle handle, TarEntry entry)
    {
        var (uid, gid) = OwnerOf(entry);
        Interop.ChownFd(handle, uid, gid, entry.Name);
        foreach (var (attribute, value) in Xattrs(entry))
            TrySetXattr(() => Interop.SetXattrFd(handle, attribute, value, entry.Name), attribute, entry.Name);
        Interop.ChmodFd(handle, (uint)entry.Mode & 0xfff, entry.Name);
        Interop.SetTimesFd(handle, entry.ModificationTime, entry.ModificationTime, entry.Name);
    }

    private void Defer(string relative, TarEntry entry, SafeFileHandle parent, string name)
    {
        var info = Interop.StatAt(parent, name)!.Value;
        // A directory named twice takes its last entry's metadata.
        if (_deferredIndex.TryGetValue(relative, out int earlier))
            _deferred[earlier] = _deferred[earlier] with { Skip = true };
        _deferredIndex[relative] = _deferred.Count;
        _deferred.Add(new DeferredDirectory(relative, entry, info.Device, info.Inode, false));
    }

    private (int Uid, int Gid) OwnerOf(TarEntry entry) => _copy?.Owner ?? (entry.Uid, entry.Gid);

    /// <summary>Removes what is in the way of an entry; with noOverwriteDirNonDir of `docker cp` what is there keeps
    /// its kind instead. Only called when something is there: a new name costs no extra stat.</summary>
    private void RemoveExisting(SafeFileHandle parent, string name, NodeInfo? known, TarEntryType type, string relative)
    {
        CheckOverwrite(known ?? Interop.StatAt(parent, name), type, relative);
        RootedDirectory.RemoveEntry(parent, name);
    }

    /// <summary>noOverwriteDirNonDir of `docker cp`: what is there keeps its kind.</summary>
    private void CheckOverwrite(NodeInfo? found, TarEntryType type, string relative)
    {
        if (_copy is not { NoOverwriteDirNonDir: true } || found is not { } existing) return;
        bool directory = type == TarEntryType.Directory;
        if (existing.IsDirectory && !directory)
            throw new ImageException($"cannot overwrite directory \"/{relative}\" with non-directory");
        if (!existing.IsDirectory && directory)
            throw new ImageException($"cannot overwrite non-directory \"/{relative}\" with directory");
    }

    /// <summary>Directories last, deepest first (writing into them changed their times). Each is reopened without
    /// following symlinks and must still be the very directory made for its entry: one a later entry replaced (by a
    /// symlink to a host path, say) is skipped, so its mode can never land on what the symlink points to.</summary>
    private void ApplyDeferredDirectories()
    {
        DisposeParent();
        for (int i = _deferred.Count - 1; i >= 0; i--)
        {
            var (relative, entry, device, inode, skip) = _deferred[i];
            if (skip) continue;
            SafeFileHandle handle;
            try { handle = _root.OpenDirectory(relative); }
            catch (UnsafePathException e)
            {
                _logger.LogDebug("metadata of directory {Name} not applied: {Reason}", entry.Name, e.Message);
                continue;
            }
            using (handle)
            {
                var info = Interop.StatAt(handle, "")!.Value;
                if (info.Device != device || info.Inode != inode) continue; // replaced by a later entry
                ApplyMetadataFd(handle, entry);
            }
        }
    }

    /// <summary>The entry's xattrs that may be restored. trusted.* (overlayfs reads trusted.overlay.* from lower
    /// layers: redirect, metacopy, opaque) and security.* other than file capabilities are not taken from archives,
    /// as containerd keeps only security.capability among them.</summary>
    private IEnumerable<(string Name, byte[] Value)> Xattrs(TarEntry entry)
    {
        if (entry is not PaxTarEntry pax) yield break;
        foreach (var (key, value) in pax.ExtendedAttributes)
        {
            if (!key.StartsWith(XattrPrefix, StringComparison.Ordinal)) continue;
            string name = key[XattrPrefix.Length..];
            if (!XattrAllowed(name))
            {
                _logger.LogWarning("xattr {Attribute} of {Entry} not taken from the archive", name, entry.Name);
                continue;
            }
            // TarReader hands PAX values over as UTF-8 text: a binary value that did not survive cannot be restored.
            if (value.Contains('\uFFFD'))
            {
                _logger.LogWarning("xattr {Attribute} of {Entry} is not valid UTF-8 after tar decoding; skipped",
                    name, entry.Name);
                continue;
            }
            yield return (name, Encoding.UTF8.GetBytes(value));
        }
    }

    public static bool XattrAllowed(string name) =>
        name == "security.capability" ||
        !(name.StartsWith("trusted.", StringComparison.Ordinal)
          || name.StartsWith("security.", StringComparison.Ordinal));

    private void TrySetXattr(Action set, string name, string entryName)
    {
        try { set(); }
        catch (LinuxException e) when (e.Errno is Errno.ENOTSUP or Errno.EPERM)
        {
            _logger.LogWarning("xattr {Attribute} of {Entry} not set: {Error}", name, entryName, e.Message);
        }
    }

    // ------------------------------------------------------------------ paths

    /// <summary>The open parent directory for entries under <paramref name="relative"/>, made (0755) when missing.
    /// One handle is kept while consecutive entries share a parent; every change an entry makes is a child of its
    /// own parent, so the kept handle never goes stale.</summary>
    private SafeFileHandle Parent(string relative)
    {
        if (_parent is not null && _parentPath == relative) return _parent;
        DisposeParent();
        _parent = _root.OpenDirectory(relative, DirectoryDefault);
        _parentPath = relative;
        return _parent;
    }

    private void DisposeParent()
    {
        _parent?.Dispose();
        _parent = null;
        _parentPath = null;
    }

    /// <summary>Creates a node; when something is already there, removes it (a directory with its content) and tries
    /// once more.</summary>
    private void Replace(SafeFileHandle parent, string name, TarEntryType type, string relative, Action create)
    {
        try { create(); }
        catch (LinuxException e) when (e.Errno == Errno.EEXIST)
        {
            RemoveExisting(parent, name, null, type, relative);
            create();
        }
    }

    /// <summary>A device entry's numbers; a V7 header has no fields for them (Go's archive/tar reads 0:0 there too).
    /// </summary>
    internal static (int Major, int Minor) DeviceNumbers(TarEntry entry) =>
        entry is PosixTarEntry posix ? (posix.DeviceMajor, posix.DeviceMinor) : (0, 0);

    /// <summary>The entry name as a clean relative path ("" for the root); ImageException when it climbs out.</summary>
    internal static string Clean(string name)
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
            else if (part.Contains('\0')) throw new ImageException($"invalid layer: {name} holds a NUL character");
            else parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static string ParentOf(string relative)
    {
        int slash = relative.LastIndexOf('/');
        return slash < 0 ? "" : relative[..slash];
    }
}
