using Berth.Engine.Model;
using Berth.Runtime.Containers;

namespace Berth.Engine.Containers;

/// <summary>HostConfig.LogConfig as dockerd settles it at create: the daemon's `--log-opt` defaults fill in what
/// the container did not set (for the daemon's driver), then the options are checked, so inspect shows what
/// applies and a bad value is a 400 before anything runs.</summary>
public static class LogConfigs
{
    /// <summary>The drivers Berth runs: json-file and local both keep a file `docker logs` reads; none keeps nothing.
    /// </summary>
    public static bool IsKnownDriver(string type) => type is "json-file" or "local" or "none";

    /// <summary>dockerd's answer to a driver it has not registered.</summary>
    public static string UnknownDriver(string type) => $"logger: no log driver named '{type}' is registered";

    public static LogConfig Merge(LogConfig requested, IReadOnlyDictionary<string, string> daemonDefaults,
        string daemonDriver = "json-file")
    {
        string type = string.IsNullOrEmpty(requested.Type) ? daemonDriver : requested.Type;
        if (!IsKnownDriver(type)) throw new BadRequestException(UnknownDriver(type));
        var config = new Dictionary<string, string>(requested.Config ?? new());
        if (type == "none")
        {
            if (config.Count > 0) throw new BadRequestException("none log driver does not accept log options");
            return new LogConfig { Type = type, Config = config };
        }
        // The daemon's --log-opt belong to its own driver, as in dockerd.
        if (type == daemonDriver) foreach (var (key, value) in daemonDefaults) config.TryAdd(key, value);
        try { LogPolicy.Parse(config, type); }
        catch (ArgumentException e) { throw new BadRequestException(e.Message, e); }
        return new LogConfig { Type = type, Config = config };
    }

    /// <summary>The cap and rotation a container's log runs with (none for records made before caps existed).</summary>
    public static LogPolicy PolicyOf(LogConfig config)
    {
        if (config.Type == "none") return LogPolicy.Discarded;
        if (!LogPolicy.IsFileDriver(config.Type ?? "")) return LogPolicy.Unlimited;
        try { return LogPolicy.Parse(config.Config ?? new(), config.Type ?? "json-file"); }
        catch (ArgumentException) { return LogPolicy.Unlimited; }
    }
}
