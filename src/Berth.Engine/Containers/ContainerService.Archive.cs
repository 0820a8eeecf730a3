using Berth.Engine.Model;
using Berth.Engine.Volumes;
using Berth.Linux;
using Berth.Runtime.Containers;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Microsoft.Win32.SafeHandles;

namespace Berth.Engine.Containers;

/// <summary>What HEAD /containers/{id}/archive reports of a path (X-Docker-Container-Path-Stat): Go's FileMode bits.</summary>
public sealed record ContainerPathStat(string Name, long Size, uint Mode, DateTimeOffset Mtime, string LinkTarget);

/// <summary>A container's filesystem as `docker cp` sees it: the root with every mount in place. A running
/// container's is its own view (/proc/PID/root, volumes, binds and tmpfs included); a stopped one's is its overlay,
/// mounted for the copy with its binds and volumes on it, under the container's lock (no start meanwhile).</summary>
public sealed class ContainerFilesystem : IDisposable
{
    private readonly Action? _release;

    internal ContainerFilesystem(ContainerRecord record, RootedDirectory root, Action? release)
    {
        Record = record;
        Root = root;
        _release = release;
    }

    public ContainerRecord Record { get; }
    public RootedDirectory Root { get; }

    public void Dispose()
    {
        Root.Dispose();
        _release?.Invoke();
    }
}

/// <summary>`docker cp`: the archive endpoints' engine side. Every path is resolved by the kernel inside the
/// container's root (openat2 RESOLVE_IN_ROOT): no "..", absolute symlink or mount of the host is reachable.</summary>
public sealed partial class ContainerService
{
    public async Task<ContainerFilesystem> OpenFilesystemAsync(string idOrName, CancellationToken ct)
    {
        var record = Get(idOrName);
        if (record.State.Running && TryOpenRunning(record) is { } running) return running;
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync(ct);
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            if (record.State.Running && TryOpenRunning(record) is { } started)
            {
                handle.Lock.Release();
                return started;
            }
            var image = _images.Find(record.ImageId)
                ?? throw new ConflictException($"the image of container {record.ShortId} is gone");
            string rootfs = ContainerRuntime.MountStoppedRootfs(_images.LayerDirectories(image), BundleOf(record.Id));
            try
            {
                MountForCopy(rootfs, record);
                return new ContainerFilesystem(record, RootedDirectory.Open(rootfs), () =>
                {
                    Interop.Unmount(rootfs); // lazily, with every mount below it
                    handle.Lock.Release();
                });
            }
            catch
            {
                Interop.Unmount(rootfs);
                throw;
            }
        }
        catch
        {
            handle.Lock.Release();
            throw;
        }
    }

    private static ContainerFilesystem? TryOpenRunning(ContainerRecord record)
    {
        try { return new ContainerFilesystem(record, RootedDirectory.Open($"/proc/{record.State.Pid}/root"), null); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ESRCH) { return null; } // it just exited
    }

    /// <summary>Binds and volumes of a stopped container onto its mounted overlay, parents first. Mount points are
    /// made as runc makes them, by fd without following symlinks; the mount goes onto the fd's /proc link.</summary>
    private void MountForCopy(string rootfs, ContainerRecord record)
    {
        using var root = RootedDirectory.Open(rootfs);
        foreach (var m in record.Mounts ?? [])
        {
            if (m.Type is not ("bind" or "volume")) continue;
            using var subpath = m is { Type: "volume", Subpath: not null } ? OpenSubpath(m) : null;
            string source = subpath is not null ? RootedDirectory.ProcPath(subpath)
                : m.Type == "volume" ? VolumeStore.DataPath(m.Name!) : m.Source;
            if (!Path.Exists(source)) continue;
            string relative = m.Destination.TrimStart('/');
            SafeFileHandle target;
            if (Directory.Exists(source)) target = root.OpenDirectory(relative, 0x1ed);
            else
            {
                int slash = relative.LastIndexOf('/');
                using var parent = root.OpenDirectory(slash < 0 ? "" : relative[..slash], 0x1ed);
                string name = relative[(slash + 1)..];
                target = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_CREAT | Interop.O_NOFOLLOW, 0x1a4);
            }
            using (target) Interop.Mount(source, RootedDirectory.ProcPath(target), null, Interop.MS_BIND | Interop.MS_REC, null);
        }
    }

    // ---------------------------------------------------------------- paths

    /// <summary>The path as dockerd takes it: absolute, cleaned, with a trailing "/" or "/." kept (they mean "the
    /// directory itself, followed"), and the name archive entries start with (Go's filepath.Base of it).</summary>
    public static (string Absolute, bool Trailing, string BaseName) SplitArchivePath(string path)
    {
        if (string.IsNullOrEmpty(path)) throw new BadRequestException("path cannot be empty");
        if (path.Contains('\0')) throw new BadRequestException("path contains a NUL character");
        string clean = MountResolver.CleanPath(path);
        bool trailing = clean == "/" || path.EndsWith('/') || path.EndsWith("/.", StringComparison.Ordinal) || path == ".";
        string baseName = path.EndsWith("/.", StringComparison.Ordinal) || path == "." ? "."
            : clean == "/" ? "/" : clean[(clean.LastIndexOf('/') + 1)..];
        return (clean, trailing, baseName);
    }

    /// <summary>The node at <paramref name="path"/>: its parent resolved inside the root (symlinks followed there),
    /// the last name itself not followed, unless the path ends with "/" or "/.". Null when it does not exist.</summary>
    private static (SafeFileHandle Parent, string Name, NodeInfo Info)? Lookup(RootedDirectory root, string path)
    {
        var (absolute, trailing, _) = SplitArchivePath(path);
        string parentPath = trailing ? absolute : absolute[..Math.Max(1, absolute.LastIndexOf('/'))];
        string name = trailing ? "." : absolute[(absolute.LastIndexOf('/') + 1)..];
        SafeFileHandle parent;
        try { parent = root.OpenInRoot(parentPath, Interop.O_PATH | Interop.O_DIRECTORY); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR) { return null; }
        catch (LinuxException e) { throw new BadRequestException($"{path}: {e.Message}"); }
        var info = Interop.StatAt(parent, name);
        if (info is null)
        {
            parent.Dispose();
            return null;
        }
        return (parent, name, info.Value);
    }

    public ContainerPathStat StatPath(ContainerFilesystem fs, string path)
    {
        var found = Lookup(fs.Root, path) ?? throw NotFoundInContainer(path, fs.Record);
        using var parent = found.Parent;
        var info = found.Info;
        string link = info.IsSymlink ? ResolveLink(fs.Root, SplitArchivePath(path).Absolute) : "";
        return new ContainerPathStat(SplitArchivePath(path).BaseName, info.Size, GoFileMode(info), info.Modified, link);
    }

    /// <summary>Where a symlink leads, followed link by link inside the root (for linkTarget and `docker cp -L`).</summary>
    private static string ResolveLink(RootedDirectory root, string absolute)
    {
        for (int hops = 0; hops < 40; hops++)
        {
            string dir = absolute[..Math.Max(1, absolute.LastIndexOf('/'))];
            string name = absolute[(absolute.LastIndexOf('/') + 1)..];
            if (name.Length == 0) return absolute;
            SafeFileHandle parent;
            try { parent = root.OpenInRoot(dir, Interop.O_PATH | Interop.O_DIRECTORY); }
            catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP)
            {
                return absolute; // a dangling link: where it points, as written
            }
            using var _ = parent;
            if (Interop.StatAt(parent, name) is not { IsSymlink: true }) return absolute;
            string target = Interop.ReadLinkAt(parent, name);
            absolute = MountResolver.CleanPath(target.StartsWith('/') ? target : dir + "/" + target);
        }
        throw new BadRequestException($"too many levels of symbolic links: {absolute}");
    }

    /// <summary>Go's os.FileMode: permission bits plus type and setuid/setgid/sticky flags in the high bits.</summary>
    public static uint GoFileMode(NodeInfo info)
    {
        uint mode = info.Mode & 0x1ff;
        mode |= info.Type switch
        {
            Interop.S_IFDIR => 1u << 31,
            Interop.S_IFLNK => 1u << 27,
            Interop.S_IFBLK => 1u << 26,
            Interop.S_IFCHR => (1u << 26) | (1u << 21),
            Interop.S_IFIFO => 1u << 25,
            0xc000 => 1u << 24, // socket
            _ => 0u,
        };
        if ((info.Mode & 0x800) != 0) mode |= 1u << 23;
        if ((info.Mode & 0x400) != 0) mode |= 1u << 22;
        if ((info.Mode & 0x200) != 0) mode |= 1u << 20;
        return mode;
    }

    private static NotFoundException NotFoundInContainer(string path, ContainerRecord record) =>
        new($"Could not find the file {path} in container {record.Name}");

    // ---------------------------------------------------------------- out and in

    /// <summary>GET /archive: the node at <paramref name="path"/> as a tar streamed to <paramref name="output"/>.</summary>
    public async Task WriteArchiveAsync(ContainerFilesystem fs, string path, Stream output, CancellationToken ct)
    {
        var found = Lookup(fs.Root, path) ?? throw NotFoundInContainer(path, fs.Record);
        using var parent = found.Parent;
        await TreeArchive.WriteAsync(parent, found.Name, SplitArchivePath(path).BaseName, output, ct);
    }

    /// <summary>Checks a PUT before its body is read: the extraction point exists, is a directory and is writable.</summary>
    public SafeFileHandle OpenExtractionPoint(ContainerFilesystem fs, string path)
    {
        string absolute = SplitArchivePath(path).Absolute;
        SafeFileHandle directory;
        try { directory = fs.Root.OpenInRoot(absolute, Interop.O_RDONLY | Interop.O_DIRECTORY); }
        catch (LinuxException e) when (e.Errno == Errno.ENOENT) { throw NotFoundInContainer(path, fs.Record); }
        catch (LinuxException e) when (e.Errno == Errno.ENOTDIR)
        {
            throw new BadRequestException($"extraction point is not a directory: {path}");
        }
        catch (LinuxException e) { throw new BadRequestException($"{path}: {e.Message}"); }
        var mount = (fs.Record.Mounts ?? []).Where(m => IsUnder(absolute, m.Destination))
            .MaxBy(m => m.Destination.Length);
        if (mount is { RW: false } || (mount is null && fs.Record.HostConfig.ReadonlyRootfs))
        {
            directory.Dispose();
            throw new EngineException(403, mount is null ? "container rootfs is marked read-only"
                : $"mounted volume is marked read-only");
        }
        return directory;
    }

    private static bool IsUnder(string path, string directory) =>
        path == directory || path.StartsWith(directory + "/", StringComparison.Ordinal);

    /// <summary>PUT /archive: a tar (plain, or compressed with gzip, bzip2, xz or zstd, as dockerd takes it) unpacked
    /// under the extraction point by the hardened layer extractor: nothing lands outside it, no symlink on the way is
    /// followed. Owners are root's unless <paramref name="copyUidGid"/>. Takes the directory handle.</summary>
    public async Task ExtractArchiveAsync(SafeFileHandle directory, Stream body, bool noOverwriteDirNonDir,
        bool copyUidGid, CancellationToken ct)
    {
        using var destination = RootedDirectory.FromHandle(directory, "extraction point");
        try
        {
            await using var tar = await ArchiveDecompression.OpenAsync(body, ct);
            await LayerExtractor.ExtractCopyAsync(tar, destination,
                new LayerExtractor.CopyOptions(copyUidGid ? null : (0, 0), noOverwriteDirNonDir), _logger, ct);
        }
        catch (LinuxException e) when (e.Errno == Errno.EROFS)
        {
            throw new EngineException(403, $"the destination is read-only: {e.Message}");
        }
        catch (LinuxException e) { throw new BadRequestException($"extracting the archive failed: {e.Message}"); }
    }
}
