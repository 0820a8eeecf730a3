using Berth.Engine.Model;

namespace Berth.Engine.Volumes;

/// <summary>A volume the container needs that may not exist yet: made (or found) just before the container's record
/// is saved.</summary>
public sealed record VolumeToCreate(string? Name, IReadOnlyDictionary<string, string>? Labels,
    IReadOnlyDictionary<string, string>? Options, MountPointRecord Mount);

/// <summary>Docker's mount resolution at create (moby's registerMountPoints and its Linux parser): --volumes-from
/// first, then Binds (`-v`), then Mounts (`--mount`), then HostConfig.Tmpfs, then an anonymous volume for each
/// Config.Volumes path nothing else covers. Pure but for the bind-source check of `--mount`; errors are Docker's
/// 400s.</summary>
public static class MountResolver
{
    private static readonly HashSet<string> Propagations = ["private", "rprivate", "slave", "rslave", "shared", "rshared"];
    private static readonly HashSet<string> Consistencies = ["consistent", "cached", "delegated"];

    public static (List<MountPointRecord> Mounts, List<VolumeToCreate> Volumes) Resolve(HostConfig hostConfig,
        IEnumerable<string> configVolumes, Func<string, ContainerRecord?> findContainer, bool bindSourceMustExist = true)
    {
        var byDestination = new Dictionary<string, MountPointRecord>(StringComparer.Ordinal);
        var volumes = new List<VolumeToCreate>();
        var explicitDestinations = new HashSet<string>(StringComparer.Ordinal);

        foreach (string spec in hostConfig.VolumesFrom ?? [])
        {
            var (idOrName, mode) = ParseVolumesFrom(spec);
            var other = findContainer(idOrName) ?? throw new BadRequestException($"No such container: {idOrName}");
            foreach (var m in other.Mounts ?? [])
            {
                if (m.Hidden) continue;
                byDestination[m.Destination] = Copy(m, rw: m.RW && !mode.Split(',').Contains("ro"));
            }
        }

        foreach (string bind in hostConfig.Binds ?? [])
        {
            var (mount, toCreate) = ParseBind(bind);
            if (!explicitDestinations.Add(mount.Destination) || hostConfig.Tmpfs?.ContainsKey(mount.Destination) == true)
                throw new BadRequestException($"Duplicate mount point: {mount.Destination}");
            byDestination[mount.Destination] = mount;
            if (toCreate is not null) volumes.Add(toCreate);
        }

        foreach (var request in hostConfig.Mounts ?? [])
        {
            var (mount, toCreate) = ParseMount(request, bindSourceMustExist);
            if (!explicitDestinations.Add(mount.Destination))
                throw new BadRequestException($"Duplicate mount point: {mount.Destination}");
            byDestination[mount.Destination] = mount;
            if (toCreate is not null) volumes.Add(toCreate);
        }

        foreach (var (target, options) in hostConfig.Tmpfs ?? [])
        {
            string destination = CleanTarget(target, "tmpfs");
            if (explicitDestinations.Contains(destination))
                throw new BadRequestException($"Duplicate mount point: {destination}");
            byDestination[destination] = new MountPointRecord
            {
                Type = "tmpfs", Destination = destination, TmpfsOptions = options ?? "", Hidden = true,
                RW = !(options ?? "").Split(',').Contains("ro"),
            };
        }

        foreach (string path in configVolumes)
        {
            string destination = CleanTarget(path, "volume");
            if (byDestination.ContainsKey(destination)) continue;
            var mount = new MountPointRecord
            {
                Type = "volume", Destination = destination, Driver = VolumeService.LocalDriver, CopyData = true,
            };
            byDestination[destination] = mount;
            volumes.Add(new VolumeToCreate(null, null, null, mount));
        }

        // Parents before children: /data before /data/logs.
        var mounts = byDestination.Values
            .OrderBy(m => m.Destination.Count(c => c == '/') - (m.Destination == "/" ? 1 : 0))
            .ThenBy(m => m.Destination, StringComparer.Ordinal).ToList();
        return (mounts, volumes);
    }

    private static MountPointRecord Copy(MountPointRecord m, bool rw) => new()
    {
        Type = m.Type, Name = m.Name, Source = m.Source, Destination = m.Destination, Driver = m.Driver, Mode = m.Mode,
        RW = rw, Propagation = m.Propagation, CopyData = false, Subpath = m.Subpath, TmpfsOptions = m.TmpfsOptions,
        NonRecursive = m.NonRecursive,
    };

    /// <summary>`-v [SRC:]DST[:MODE]`: an absolute SRC is a bind, another a volume name, none an anonymous volume.</summary>
    public static (MountPointRecord Mount, VolumeToCreate? Volume) ParseBind(string raw)
    {
        var parts = raw.Split(':', 4);
        if (parts[0].Length == 0) throw InvalidSpec(raw);
        string source = "", target, mode = "";
        switch (parts.Length)
        {
            case 1: target = parts[0]; break;
            case 2:
                if (ValidMode(parts[1])) throw InvalidSpec(raw);
                (source, target) = (parts[0], parts[1]);
                break;
            case 3: (source, target, mode) = (parts[0], parts[1], parts[2]); break;
            default: throw InvalidSpec(raw);
        }
        if (!ValidMode(mode)) throw new BadRequestException($"invalid mode: {mode}");
        var options = mode.Split(',');
        bool bind = source.StartsWith('/');
        string type = bind ? "bind" : "volume";
        string destination;
        try { destination = CleanTarget(target, type); }
        catch (BadRequestException e) { throw new BadRequestException($"invalid volume specification: '{raw}': {e.Message}"); }
        var mount = new MountPointRecord
        {
            Type = type, Destination = destination, Mode = mode, RW = !options.Contains("ro"),
        };
        if (bind)
        {
            mount.Source = CleanPath(source);
            mount.Propagation = options.FirstOrDefault(Propagations.Contains) ?? "rprivate";
            mount.CreateSource = true;
            return (mount, null);
        }
        if (options.Any(Propagations.Contains)) throw new BadRequestException($"invalid mode: {mode}");
        mount.Driver = VolumeService.LocalDriver;
        mount.CopyData = !options.Contains("nocopy");
        if (mount.Mode.Length == 0) mount.Mode = "z";
        if (source.Length > 0)
        {
            VolumeService.ValidateName(source);
            mount.Name = source;
        }
        else mount.Mode = "";
        return (mount, new VolumeToCreate(source.Length > 0 ? source : null, null, null, mount));
    }

    /// <summary>`--mount type=bind|volume|tmpfs,...` as the docker CLI sends it in HostConfig.Mounts.</summary>
    public static (MountPointRecord Mount, VolumeToCreate? Volume) ParseMount(MountRequest m, bool bindSourceMustExist)
    {
        string type = m.Type ?? "";
        if (type is not ("bind" or "volume" or "tmpfs"))
            throw MountConfig(type, type.Length == 0 ? "mount type unknown" : $"mount type unknown: {type}");
        if (string.IsNullOrEmpty(m.Target)) throw MountConfig(type, "field Target must not be empty");
        if (type != "bind" && m.BindOptions is not null) throw MountConfig(type, "field BindOptions must not be specified");
        if (type != "volume" && m.VolumeOptions is not null) throw MountConfig(type, "field VolumeOptions must not be specified");
        if (type != "tmpfs" && m.TmpfsOptions is not null) throw MountConfig(type, "field TmpfsOptions must not be specified");
        string destination = CleanTarget(m.Target, type);
        var mount = new MountPointRecord { Type = type, Destination = destination, RW = !m.ReadOnly };
        switch (type)
        {
            case "bind":
                if (string.IsNullOrEmpty(m.Source)) throw MountConfig(type, "field Source must not be empty");
                if (!m.Source.StartsWith('/'))
                    throw MountConfig(type, $"invalid mount path: '{m.Source}' mount path must be absolute");
                string propagation = m.BindOptions?.Propagation ?? "";
                if (propagation.Length > 0 && !Propagations.Contains(propagation))
                    throw MountConfig(type, $"invalid propagation mode: {propagation}");
                bool create = m.BindOptions?.CreateMountpoint == true;
                if (bindSourceMustExist && !create && !Path.Exists(m.Source))
                    throw MountConfig(type, $"bind source path does not exist: {m.Source}");
                mount.Source = CleanPath(m.Source);
                mount.Propagation = propagation.Length > 0 ? propagation : "rprivate";
                mount.NonRecursive = m.BindOptions?.NonRecursive == true;
                mount.CreateSource = create;
                return (mount, null);
            case "volume":
                var options = m.VolumeOptions;
                string? subpath = string.IsNullOrEmpty(options?.Subpath) ? null : options!.Subpath;
                if (subpath is not null)
                {
                    if (string.IsNullOrEmpty(m.Source)) throw MountConfig(type, "must not set Subpath when using anonymous volumes");
                    if (subpath.StartsWith('/') || subpath.Split('/').Contains(".."))
                        throw MountConfig(type, "subpath must be a relative path within the volume");
                }
                string? driver = options?.DriverConfig?.Name;
                if (!string.IsNullOrEmpty(m.Source)) VolumeService.ValidateName(m.Source);
                mount.Name = string.IsNullOrEmpty(m.Source) ? null : m.Source;
                mount.Driver = string.IsNullOrEmpty(driver) ? VolumeService.LocalDriver : driver;
                mount.Mode = "z";
                mount.CopyData = options?.NoCopy != true;
                mount.Subpath = subpath;
                return (mount, new VolumeToCreate(mount.Name, options?.Labels, options?.DriverConfig?.Options, mount));
            default:
                if (!string.IsNullOrEmpty(m.Source)) throw MountConfig(type, "field Source must not be specified");
                mount.TmpfsOptions = TmpfsOptions(m.TmpfsOptions, m.ReadOnly, type);
                return (mount, null);
        }
    }

    /// <summary>moby's ConvertTmpfsOptions: ro, mode=octal, size with the largest exact unit, exec/noexec.</summary>
    private static string TmpfsOptions(MountTmpfsOptions? options, bool readOnly, string type)
    {
        var raw = new List<string>();
        if (readOnly) raw.Add("ro");
        if (options is { Mode: > 0 }) raw.Add("mode=" + Convert.ToString(options.Mode & 0xfff, 8));
        if (options is { SizeBytes: var size } && size != 0)
        {
            if (size < 0) throw MountConfig(type, "invalid tmpfs size: must not be negative");
            string suffix = "";
            foreach (var (unit, divisor) in new[] { ("g", 1L << 30), ("m", 1L << 20), ("k", 1L << 10) })
                if (size % divisor == 0) { size /= divisor; suffix = unit; break; }
            raw.Add($"size={size}{suffix}");
        }
        foreach (var option in options?.Options ?? [])
        {
            if (option.Count is < 1 or > 2) throw MountConfig(type, "invalid option array length");
            if (option[0] is not ("exec" or "noexec")) throw MountConfig(type, "invalid option: " + option[0]);
            raw.Add(option.Count == 1 ? option[0] : $"{option[0]}={option[1]}");
        }
        return string.Join(',', raw);
    }

    /// <summary>`--volumes-from ID[:ro|rw]`.</summary>
    public static (string Container, string Mode) ParseVolumesFrom(string spec)
    {
        if (spec.Length == 0) throw new BadRequestException("volumes-from specification cannot be an empty string");
        int colon = spec.IndexOf(':');
        if (colon < 0) return (spec, "rw");
        string mode = spec[(colon + 1)..];
        if (!ValidMode(mode) || mode.Split(',').Any(o => Propagations.Contains(o) || o is "nocopy" or "copy"))
            throw new BadRequestException($"invalid mode: {mode}");
        return (spec[..colon], mode);
    }

    /// <summary>The mode list of `-v`: at most one each of rw/ro, z/Z, a propagation, nocopy/copy, a consistency.</summary>
    public static bool ValidMode(string mode)
    {
        if (mode.Length == 0) return true;
        int rw = 0, label = 0, propagation = 0, copy = 0, consistency = 0;
        foreach (string option in mode.Split(','))
        {
            if (option is "rw" or "ro") rw++;
            else if (option is "z" or "Z") label++;
            else if (Propagations.Contains(option)) propagation++;
            else if (option is "nocopy" or "copy") copy++;
            else if (Consistencies.Contains(option)) consistency++;
            else return false;
        }
        return rw <= 1 && label <= 1 && propagation <= 1 && copy <= 1 && consistency <= 1;
    }

    private static string CleanTarget(string target, string type)
    {
        if (!target.StartsWith('/')) throw MountConfig(type, $"invalid mount path: '{target}' mount path must be absolute");
        string clean = CleanPath(target);
        if (clean == "/") throw MountConfig(type, "invalid specification: destination can't be '/'");
        return clean;
    }

    /// <summary>Go's path.Clean for absolute paths.</summary>
    public static string CleanPath(string path) => Runtime.Images.ImageChanges.CleanPath(path);

    private static BadRequestException InvalidSpec(string raw) => new($"invalid volume specification: '{raw}'");

    private static BadRequestException MountConfig(string type, string message) =>
        new($"invalid mount config for type \"{type}\": {message}");
}
