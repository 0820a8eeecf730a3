using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Berth.Engine.Model;
using Berth.Engine.Store;
using Berth.Linux;
using Berth.Runtime.Files;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Volumes;

/// <summary>Volumes of the local driver under &lt;data-root&gt;/volumes: a directory per volume, its record beside
/// its data (crash-safe through <see cref="RecordStore{T}"/>). A volume with driver options (type/device/o) has that
/// filesystem mounted on its data directory while a running container uses it.</summary>
public sealed partial class VolumeService
{
    public const string LocalDriver = "local";
    private const string DataDirectoryName = "_data";
    private static readonly string[] OptionKeys = ["type", "device", "o"];

    private readonly string _directory;
    private readonly RecordStore<VolumeRecord> _store;
    private readonly Func<IReadOnlyCollection<ContainerRecord>> _containers;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();

    public VolumeService(string directory, Func<IReadOnlyCollection<ContainerRecord>> containers, ILogger logger)
    {
        _directory = directory;
        _containers = containers;
        _logger = logger;
        _store = new RecordStore<VolumeRecord>(directory, v => v.Name, "volume.json", logger);
        RemoveDirectoriesWithoutRecord();
    }

    /// <summary>Where the volume events of another part of the engine plug in (create, mount, unmount, destroy).
    /// Arguments: action, volume name, container id or null.</summary>
    public event Action<string, string, string?>? Changed;

    public IReadOnlyCollection<VolumeRecord> All => _store.All;

    public string DataPath(string name) => Path.Combine(_directory, name, DataDirectoryName);

    public VolumeRecord? Find(string name) => string.IsNullOrEmpty(name) ? null : _store.Get(name);

    public VolumeRecord Get(string name) => Find(name) ?? throw new NotFoundException($"get {name}: no such volume");

    /// <summary>`docker volume create`; an existing volume of that name is returned as it is (as dockerd does).
    /// A null or empty name makes an anonymous volume.</summary>
    public VolumeRecord Create(string? name, string? driver, IReadOnlyDictionary<string, string>? labels,
        IReadOnlyDictionary<string, string>? options)
    {
        driver = string.IsNullOrEmpty(driver) ? LocalDriver : driver;
        if (driver != LocalDriver)
            throw new NotFoundException($"error looking up volume plugin {driver}: plugin \"{driver}\" not found");
        bool anonymous = string.IsNullOrEmpty(name);
        name = anonymous ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) : name!;
        ValidateName(name);
        ValidateOptions(options);
        lock (_lock)
        {
            if (_store.Get(name) is { } existing) return existing;
            var record = new VolumeRecord
            {
                Name = name, Driver = driver, CreatedAt = DateTimeOffset.UtcNow,
                Labels = labels is null ? (anonymous ? new() : null) : new(labels),
                Options = options is null ? null : new(options),
            };
            if (anonymous) record.Labels![VolumeRecord.AnonymousLabel] = "";
            AtomicFile.EnsureDirectory(Path.Combine(_directory, name), RecordStore<VolumeRecord>.PrivateDirectory);
            // The data directory is what containers see: 0755 root, as dockerd makes it.
            Directory.CreateDirectory(DataPath(name));
            File.SetUnixFileMode(DataPath(name), (UnixFileMode)0x1ed);
            _store.Save(record);
            _logger.LogInformation("created volume {Name}", name);
            Changed?.Invoke("create", name, null);
            return record;
        }
    }

    /// <summary>Ids of the containers (running or not) that mount the volume.</summary>
    public List<string> Users(string name) => _containers()
        .Where(c => c.Mounts?.Any(m => m.Type == "volume" && m.Name == name) == true)
        .Select(c => c.Id).ToList();

    /// <summary>`docker volume rm`: refused (409) while a container refers to it, even with force (as dockerd).</summary>
    public void Remove(string name, bool force = false)
    {
        lock (_lock)
        {
            if (Find(name) is null)
            {
                if (force) return;
                throw new NotFoundException($"get {name}: no such volume");
            }
            var users = Users(name);
            if (users.Count > 0)
                throw new ConflictException($"remove {name}: volume is in use - [{string.Join(", ", users)}]");
            Unmount(name);
            _store.Delete(name);
            _logger.LogInformation("removed volume {Name}", name);
            Changed?.Invoke("destroy", name, null);
        }
    }

    /// <summary>`docker volume prune`: unused volumes, only anonymous ones unless <paramref name="all"/>.</summary>
    public (List<string> Deleted, long Reclaimed) Prune(bool all, Func<VolumeRecord, bool> matches)
    {
        var deleted = new List<string>();
        long reclaimed = 0;
        foreach (var volume in _store.All)
        {
            if (!all && !volume.Anonymous) continue;
            if (!matches(volume) || Users(volume.Name).Count > 0) continue;
            long size = Size(volume.Name);
            try { Remove(volume.Name); }
            catch (ConflictException) { continue; } // taken by a container created meanwhile
            deleted.Add(volume.Name);
            reclaimed += size;
        }
        return (deleted, reclaimed);
    }

    /// <summary>Bytes in the volume as dockerd counts them (`system df -v`'s UsageData.Size); -1 when unreadable.</summary>
    public long Size(string name)
    {
        try { return TreeSize.Of(DataPath(name)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException) { return -1; }
    }

    // ---------------------------------------------------------------- driver options

    /// <summary>Mounts the volume's filesystem (type/device/o) on its data directory when a container is about to use
    /// it and nothing is mounted there yet.</summary>
    public void MountForUse(string name, string containerId)
    {
        var volume = Get(name);
        Changed?.Invoke("mount", name, containerId);
        if (!volume.HasMountOptions) return;
        lock (_lock)
        {
            string target = DataPath(name);
            if (IsMounted(target)) return;
            var (flags, data) = ParseMountOptions(volume.Options!.GetValueOrDefault("o") ?? "");
            string type = volume.Options!.GetValueOrDefault("type") ?? "";
            string device = volume.Options!.GetValueOrDefault("device") ?? "";
            bool bind = (flags & Interop.MS_BIND) != 0 || type == "bind";
            if (bind)
            {
                Interop.Mount(device, target, null, flags | Interop.MS_BIND, null);
                if ((flags & Interop.MS_RDONLY) != 0)
                    Interop.Mount(null, target, null, flags | Interop.MS_BIND | Interop.MS_REMOUNT, null);
            }
            else Interop.Mount(device, target, type, flags, data.Length == 0 ? null : data);
        }
    }

    /// <summary>Unmounts the volume's filesystem when no running container uses it any more.</summary>
    public void ReleaseAfterUse(string name, string containerId)
    {
        Changed?.Invoke("unmount", name, containerId);
        if (Find(name) is not { HasMountOptions: true }) return;
        bool used = _containers().Any(c => c.Id != containerId && c.State.Running
            && c.Mounts?.Any(m => m.Type == "volume" && m.Name == name) == true);
        if (!used) Unmount(name);
    }

    private void Unmount(string name)
    {
        try { Interop.Unmount(DataPath(name)); }
        catch (LinuxException e) { _logger.LogWarning(e, "unmounting volume {Name} failed", name); }
    }

    private static bool IsMounted(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is { Length: > 4 } f && f[4] == path);

    /// <summary>mount(8)'s -o list: the flags the kernel takes as flags, the rest as the filesystem's data.</summary>
    public static (ulong Flags, string Data) ParseMountOptions(string options)
    {
        ulong flags = 0;
        var data = new List<string>();
        foreach (string option in options.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            switch (option)
            {
                case "ro": flags |= Interop.MS_RDONLY; break;
                case "rw": break;
                case "nosuid": flags |= Interop.MS_NOSUID; break;
                case "nodev": flags |= Interop.MS_NODEV; break;
                case "noexec": flags |= Interop.MS_NOEXEC; break;
                case "bind": flags |= Interop.MS_BIND; break;
                case "rbind": flags |= Interop.MS_BIND | Interop.MS_REC; break;
                case "suid" or "dev" or "exec" or "defaults": break;
                default: data.Add(option); break;
            }
        }
        return (flags, string.Join(',', data));
    }

    // ---------------------------------------------------------------- validation

    public static void ValidateName(string name)
    {
        if (name.Length < 2)
            throw new BadRequestException($"create {name}: volume name is too short, names should be at least two alphanumeric characters");
        if (!NamePattern().IsMatch(name))
            throw new BadRequestException($"create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path");
    }

    private static void ValidateOptions(IReadOnlyDictionary<string, string>? options)
    {
        if (options is null || options.Count == 0) return;
        foreach (string key in options.Keys)
            if (!OptionKeys.Contains(key)) throw new BadRequestException($"invalid option: \"{key}\"");
        if (!options.ContainsKey("type") && !(options.GetValueOrDefault("o") ?? "").Split(',').Contains("bind"))
            throw new BadRequestException("missing required option: \"type\"");
        if (!options.ContainsKey("device")) throw new BadRequestException("missing required option: \"device\"");
    }

    /// <summary>A daemon killed in create (before the record) or in rm (after it) leaves a directory without a record.</summary>
    private void RemoveDirectoriesWithoutRecord()
    {
        foreach (string dir in Directory.EnumerateDirectories(_directory))
        {
            string name = Path.GetFileName(dir);
            if (_store.Get(name) is not null || Directory.EnumerateFiles(dir, "volume.json.corrupt-*").Any()) continue;
            if (IsMounted(Path.Combine(dir, DataDirectoryName))) continue;
            _logger.LogWarning("removing {Directory}: a volume directory without a record", dir);
            try { RootedDirectory.RemoveTree(dir); }
            catch (Exception e) when (e is IOException or LinuxException) { _logger.LogWarning(e, "removing {Directory} failed", dir); }
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();
}
