using System.Formats.Tar;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Images;

/// <summary>How a directory tree becomes tar entries.</summary>
public sealed record ArchiveOptions
{
    /// <summary>Read an overlay upper directory: a 0:0 char device becomes ".wh.name", an opaque directory gets
    /// ".wh..wh..opq" (the layer form of the overlay's own markers).</summary>
    public bool OverlayWhiteouts { get; init; }
    /// <summary>Every entry owned by this uid:gid (COPY --chown; COPY without it gives root).</summary>
    public (int Uid, int Gid)? Owner { get; init; }
    /// <summary>Every entry's permission bits (COPY --chmod).</summary>
    public uint? Mode { get; init; }
    /// <summary>A relative path to leave out (the context's ignore rules), given the path below the walk's root.</summary>
    public Func<string, bool>? Skip { get; init; }
}

/// <summary>Writes a directory tree into a tar stream, every node reached by a parent directory fd and one name with
/// O_NOFOLLOW (a symlink is archived as a symlink, never followed): container upper directories (commit, diff, RUN
/// layers), merged root filesystems (export) and build context sources (COPY).</summary>
public sealed class DirectoryArchive : IAsyncDisposable
{
    private const string OpaqueXattr = "trusted.overlay.opaque";
    private readonly TarWriter _writer;
    private readonly ArchiveOptions _options;
    private readonly Dictionary<(ulong, ulong), string> _links = new();

    public DirectoryArchive(Stream output, ArchiveOptions? options = null)
    {
        _writer = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
        _options = options ?? new ArchiveOptions();
    }

    /// <summary>The whole tree under <paramref name="directory"/> as entries named below <paramref name="prefix"/>
    /// ("" for the root itself; entries for the prefix directory are not written);
    /// <paramref name="relative"/> is the directory's own path for <see cref="ArchiveOptions.Skip"/>.</summary>
    public async Task AddTreeAsync(SafeFileHandle directory, string prefix, CancellationToken ct, string relative = "")
    {
        foreach (string name in RootedDirectory.ListNames(directory).Order(StringComparer.Ordinal))
            await AddAsync(directory, name, Join(prefix, name), Join(relative, name), ct);
    }

    /// <summary>One node (a whole tree when it is a directory) named <paramref name="archiveName"/>.</summary>
    public Task AddNodeAsync(SafeFileHandle parent, string name, string archiveName, CancellationToken ct, string? relative = null) =>
        AddAsync(parent, name, archiveName, relative ?? name, ct);

    /// <summary>The entries of another tar (plain or gzip; ADD of a local archive) below <paramref name="prefix"/>;
    /// a name that would climb out of the prefix is refused.</summary>
    public Task AddArchiveAsync(Stream archive, string prefix, CancellationToken ct) =>
        Build.ContextIndex.ReadEntriesAsync(archive, async (entry, name) =>
        {
            var copy = new GnuTarEntry(entry) { Name = Join(prefix, name) + (entry.EntryType == TarEntryType.Directory ? "/" : "") };
            if (entry.EntryType == TarEntryType.HardLink) copy.LinkName = Join(prefix, LayerExtractor.Clean(entry.LinkName));
            if (_options.Owner is { } owner) { copy.Uid = owner.Uid; copy.Gid = owner.Gid; }
            await _writer.WriteEntryAsync(copy, ct);
        }, ct);

    /// <summary>One entry of another tar (a build context's: a directory, a regular file or a symlink) named
    /// <paramref name="archiveName"/>, written as the same node of a tree would be: this archive's owner and mode,
    /// whole-second times.</summary>
    public async Task AddEntryAsync(TarEntry source, string archiveName, CancellationToken ct)
    {
        var type = source.EntryType switch
        {
            TarEntryType.Directory => TarEntryType.Directory,
            TarEntryType.V7RegularFile when source.Name.EndsWith('/') => TarEntryType.Directory,
            TarEntryType.SymbolicLink => TarEntryType.SymbolicLink,
            _ => TarEntryType.RegularFile,
        };
        var time = DateTimeOffset.FromUnixTimeSeconds(source.ModificationTime.ToUnixTimeSeconds());
        var entry = new GnuTarEntry(type, type == TarEntryType.Directory ? archiveName + "/" : archiveName)
        {
            Uid = _options.Owner?.Uid ?? source.Uid, Gid = _options.Owner?.Gid ?? source.Gid,
            Mode = (UnixFileMode)(type == TarEntryType.SymbolicLink ? 0x1ff : _options.Mode ?? (uint)source.Mode & 0xfff),
            ModificationTime = time, AccessTime = time, ChangeTime = time,
        };
        if (type == TarEntryType.SymbolicLink) entry.LinkName = source.LinkName;
        if (type == TarEntryType.RegularFile) entry.DataStream = source.DataStream;
        await _writer.WriteEntryAsync(entry, ct);
    }

    /// <summary>The directories leading to <paramref name="path"/> and itself ("a/b/c"), each as the image in
    /// <paramref name="root"/> has it, or 0755 root-owned when it has none: a layer names the parents of what it adds,
    /// as Docker's layer diffs do.</summary>
    public async Task AddDirectoriesAsync(RootedDirectory root, string path, CancellationToken ct)
    {
        string walked = "";
        bool exists = true;
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string parentPath = walked;
            walked = Join(walked, part);
            NodeInfo? info = null;
            if (exists)
            {
                try
                {
                    using var parent = root.OpenInRoot(parentPath.Length == 0 ? "." : parentPath, Interop.O_RDONLY | Interop.O_DIRECTORY);
                    info = Interop.StatAt(parent, part);
                    if (info is { IsDirectory: true })
                    {
                        var entry = new GnuTarEntry(TarEntryType.Directory, walked + "/");
                        await WriteAsync(entry, info.Value, RootedDirectory.ProcPath(parent, part), ct, keepOwner: true);
                        continue;
                    }
                }
                catch (LinuxException) { }
                exists = false;
            }
            var time = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            await _writer.WriteEntryAsync(new GnuTarEntry(TarEntryType.Directory, walked + "/")
            {
                Mode = (UnixFileMode)0x1ed, ModificationTime = time, AccessTime = time, ChangeTime = time,
            }, ct);
        }
    }

    /// <summary>Writes the end-of-archive blocks (the output stays open).</summary>
    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "/" + name;

    private async Task AddAsync(SafeFileHandle parent, string name, string archiveName, string relative, CancellationToken ct)
    {
        if (_options.Skip?.Invoke(relative) == true) return;
        var info = Interop.StatAt(parent, name);
        if (info is null) return; // gone meanwhile
        var node = info.Value;
        string proc = RootedDirectory.ProcPath(parent, name);
        if (_options.OverlayWhiteouts && node.Type == Interop.S_IFCHR && node.DeviceMajor == 0 && node.DeviceMinor == 0)
        {
            int slash = archiveName.LastIndexOf('/');
            await WriteAsync(new GnuTarEntry(TarEntryType.RegularFile, archiveName[..(slash + 1)] + ".wh." + archiveName[(slash + 1)..]), node, proc, ct);
            return;
        }
        var type = node.Type switch
        {
            Interop.S_IFDIR => TarEntryType.Directory,
            Interop.S_IFLNK => TarEntryType.SymbolicLink,
            Interop.S_IFCHR => TarEntryType.CharacterDevice,
            Interop.S_IFBLK => TarEntryType.BlockDevice,
            Interop.S_IFIFO => TarEntryType.Fifo,
            Interop.S_IFREG => TarEntryType.RegularFile,
            _ => (TarEntryType?)null,
        };
        if (type is null) return; // sockets have no place in a layer
        if (type == TarEntryType.RegularFile && node.Links > 1)
        {
            if (_links.TryGetValue((node.Device, node.Inode), out string? first))
            {
                await WriteAsync(new GnuTarEntry(TarEntryType.HardLink, archiveName) { LinkName = first }, node, proc, ct);
                return;
            }
            _links[(node.Device, node.Inode)] = archiveName;
        }
        var entry = new GnuTarEntry(type.Value, type == TarEntryType.Directory ? archiveName + "/" : archiveName);
        switch (type)
        {
            case TarEntryType.SymbolicLink:
                entry.LinkName = new FileInfo(proc).LinkTarget ?? "";
                await WriteAsync(entry, node, proc, ct);
                return;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                entry.DeviceMajor = (int)node.DeviceMajor;
                entry.DeviceMinor = (int)node.DeviceMinor;
                await WriteAsync(entry, node, proc, ct);
                return;
            case TarEntryType.RegularFile:
                using (var handle = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_NOFOLLOW | Interop.O_NONBLOCK))
                await using (var data = new HandleReadStream(handle))
                {
                    entry.DataStream = data;
                    await WriteAsync(entry, node, proc, ct);
                }
                return;
            case TarEntryType.Directory:
                await WriteAsync(entry, node, proc, ct);
                using (var child = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW))
                {
                    if (_options.OverlayWhiteouts && Interop.GetXattr(proc, OpaqueXattr) is [(byte)'y'])
                        await WriteAsync(new GnuTarEntry(TarEntryType.RegularFile, archiveName + "/.wh..wh..opq"), node, proc, ct);
                    foreach (string childName in RootedDirectory.ListNames(child).Order(StringComparer.Ordinal))
                        await AddAsync(child, childName, archiveName + "/" + childName, relative + "/" + childName, ct);
                }
                return;
            default:
                await WriteAsync(entry, node, proc, ct);
                return;
        }
    }

    private async Task WriteAsync(GnuTarEntry entry, NodeInfo node, string proc, CancellationToken ct, bool keepOwner = false)
    {
        entry.Uid = keepOwner ? (int)node.Uid : _options.Owner?.Uid ?? (int)node.Uid;
        entry.Gid = keepOwner ? (int)node.Gid : _options.Owner?.Gid ?? (int)node.Gid;
        uint mode = entry.EntryType == TarEntryType.SymbolicLink ? 0x1ff : keepOwner ? node.Permissions : _options.Mode ?? node.Permissions;
        if (entry.EntryType == TarEntryType.RegularFile && entry.DataStream is null && entry.Name.Contains(".wh.")) mode = 0;
        entry.Mode = (UnixFileMode)mode;
        // Whole seconds and atime = ctime = mtime: archiving an extracted layer again gives the same bytes (the
        // diff id `docker save` must keep).
        DateTimeOffset time;
        try { time = File.GetLastWriteTimeUtc(proc); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { time = DateTimeOffset.UnixEpoch; }
        if (entry.Name.Contains(".wh.", StringComparison.Ordinal) && entry.DataStream is null) time = DateTimeOffset.UnixEpoch;
        time = DateTimeOffset.FromUnixTimeSeconds(time.ToUnixTimeSeconds());
        entry.ModificationTime = entry.AccessTime = entry.ChangeTime = time;
        await _writer.WriteEntryAsync(entry, ct);
    }
}
