using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`-v`, `--mount`, `--tmpfs` and `--volumes-from` of `berth run/create` turned into the create body's fields
/// as the docker CLI 28 sends them: `-v /path` into Config.Volumes, other `-v` into HostConfig.Binds, `--mount` parsed
/// on the client into HostConfig.Mounts, `--tmpfs DST[:opts]` into HostConfig.Tmpfs.</summary>
public static class RunStorageOptions
{
    /// <summary>(Config.Volumes, HostConfig.Binds) from the `-v` values.</summary>
    public static (JsonObject Volumes, JsonArray? Binds) SplitVolumes(IEnumerable<string> volumes)
    {
        var anonymous = new JsonObject();
        var binds = new JsonArray();
        foreach (string spec in volumes)
        {
            if (spec.Length == 0) throw new CliException("invalid empty volume spec", 125);
            if (spec.Split(':').Length == 1) anonymous[spec] = new JsonObject();
            else binds.Add(spec);
        }
        return (anonymous, binds.Count == 0 ? null : binds);
    }

    /// <summary>HostConfig.Tmpfs from `--tmpfs DST[:OPTIONS]`.</summary>
    public static JsonObject? Tmpfs(IEnumerable<string> specs)
    {
        JsonObject? map = null;
        foreach (string spec in specs)
        {
            int colon = spec.IndexOf(':');
            (map ??= new())[colon < 0 ? spec : spec[..colon]] = colon < 0 ? "" : spec[(colon + 1)..];
        }
        return map;
    }

    /// <summary>One `--mount` CSV value as a HostConfig.Mounts item (docker/cli's opts.MountOpt).</summary>
    public static JsonObject Mount(string csv)
    {
        var mount = new JsonObject();
        JsonObject Sub(string name) => mount[name] as JsonObject ?? (JsonObject)(mount[name] = new JsonObject());
        JsonObject VolumeDriver() => Sub("VolumeOptions")["DriverConfig"] as JsonObject
            ?? (JsonObject)(Sub("VolumeOptions")["DriverConfig"] = new JsonObject());
        string type = "volume";
        foreach (string field in csv.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = field.IndexOf('=');
            string key = (eq < 0 ? field : field[..eq]).ToLowerInvariant(), value = eq < 0 ? "" : field[(eq + 1)..];
            bool Bool() => eq < 0 || value.ToLowerInvariant() is "true" or "1"
                || (value.ToLowerInvariant() is "false" or "0" ? false
                    : throw new CliException($"invalid argument \"{csv}\" for \"--mount\" flag: invalid value for {key}: {value}", 125));
            switch (key)
            {
                case "type": type = value; break;
                case "source" or "src": mount["Source"] = value; break;
                case "target" or "dst" or "destination": mount["Target"] = value; break;
                case "readonly" or "ro": mount["ReadOnly"] = Bool(); break;
                case "consistency": mount["Consistency"] = value; break;
                case "bind-propagation": Sub("BindOptions")["Propagation"] = value; break;
                case "bind-nonrecursive": Sub("BindOptions")["NonRecursive"] = Bool(); break;
                case "bind-create-mountpoint": Sub("BindOptions")["CreateMountpoint"] = Bool(); break;
                case "volume-nocopy": Sub("VolumeOptions")["NoCopy"] = Bool(); break;
                case "volume-subpath": Sub("VolumeOptions")["Subpath"] = value; break;
                case "volume-driver": VolumeDriver()["Name"] = value; break;
                case "volume-label":
                    var (labelKey, labelValue) = Split(value);
                    (Sub("VolumeOptions")["Labels"] as JsonObject ?? (JsonObject)(Sub("VolumeOptions")["Labels"] = new JsonObject()))[labelKey] = labelValue;
                    break;
                case "volume-opt":
                    var (optKey, optValue) = Split(value);
                    (VolumeDriver()["Options"] as JsonObject ?? (JsonObject)(VolumeDriver()["Options"] = new JsonObject()))[optKey] = optValue;
                    break;
                case "tmpfs-size": Sub("TmpfsOptions")["SizeBytes"] = ParseSize(value, csv); break;
                case "tmpfs-mode":
                    try { Sub("TmpfsOptions")["Mode"] = Convert.ToUInt32(value, 8); }
                    catch (FormatException) { throw new CliException($"invalid argument \"{csv}\" for \"--mount\" flag: invalid value for {key}: {value}", 125); }
                    break;
                default: throw new CliException($"invalid argument \"{csv}\" for \"--mount\" flag: unexpected key '{key}' in '{field}'", 125);
            }
        }
        mount["Type"] = type;
        if (mount["Target"] is null) throw new CliException($"invalid argument \"{csv}\" for \"--mount\" flag: target is required", 125);
        return mount;
    }

    private static (string, string) Split(string value)
    {
        int eq = value.IndexOf('=');
        return eq < 0 ? (value, "") : (value[..eq], value[(eq + 1)..]);
    }

    /// <summary>go-units' RAMInBytes: a number with an optional b/k/m/g/t suffix (powers of 1024).</summary>
    private static long ParseSize(string value, string csv)
    {
        string v = value.Trim().ToLowerInvariant().TrimEnd('b');
        long multiplier = 1;
        if (v.Length > 0 && "kmgt".IndexOf(v[^1]) is int unit and >= 0)
        {
            multiplier = 1L << (10 * (unit + 1));
            v = v[..^1];
        }
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || number < 0)
            throw new CliException($"invalid argument \"{csv}\" for \"--mount\" flag: invalid size: '{value}'", 125);
        return (long)(number * multiplier);
    }
}
