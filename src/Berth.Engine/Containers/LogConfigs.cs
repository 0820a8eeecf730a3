using Berth.Engine.Model;
using Berth.Runtime.Containers;

namespace Berth.Engine.Containers;

/// <summary>HostConfig.LogConfig as dockerd settles it at create: the daemon's `--log-opt` defaults fill in what
/// the container did not set (for the daemon's driver), then the options are checked, so inspect shows what
/// applies and a bad value is a 400 before anything runs.</summary>
public static class LogConfigs
{
    public static LogConfig Merge(LogConfig requested, IReadOnlyDictionary<string, string> daemonDefaults)
    {
        string type = string.IsNullOrEmpty(requested.Type) ? "json-file" : requested.Type;
        var config = new Dictionary<string, string>(requested.Config ?? new());
        if (!LogPolicy.IsFileDriver(type)) return new LogConfig { Type = type, Config = config };
        foreach (var (key, value) in daemonDefaults) config.TryAdd(key, value);
        try { LogPolicy.Parse(config, type); }
        catch (ArgumentException e) { throw new BadRequestException(e.Message, e); }
        return new LogConfig { Type = type, Config = config };
    }

    /// <summary>The cap and rotation a container's log runs with (none for records made before caps existed).</summary>
    public static LogPolicy PolicyOf(LogConfig config)
    {
        if (!LogPolicy.IsFileDriver(config.Type ?? "")) return LogPolicy.Unlimited;
        try { return LogPolicy.Parse(config.Config ?? new(), config.Type ?? "json-file"); }
        catch (ArgumentException) { return LogPolicy.Unlimited; }
    }
}
