using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Dns;

/// <summary>The host's nameservers, re-read whenever /etc/resolv.conf changes (aardvark-dns reads it once).
/// An unreadable line is logged, never silently dropped into a dead resolver.</summary>
public sealed class HostResolvConf(string path = "/etc/resolv.conf", ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly Lock _lock = new();
    private (DateTime Stamp, IReadOnlyList<IPAddress> Servers) _cached = (DateTime.MinValue, []);

    public IReadOnlyList<IPAddress> Servers()
    {
        DateTime stamp;
        try { stamp = File.GetLastWriteTimeUtc(path); }
        catch (IOException) { return _cached.Servers; }
        lock (_lock)
        {
            if (stamp != _cached.Stamp)
            {
                string text = "";
                try { text = File.ReadAllText(path); }
                catch (IOException e) { _logger.LogWarning(e, "reading {Path} failed", path); }
                _cached = (stamp, Parse(text, line => _logger.LogWarning("ignoring invalid line in {Path}: {Line}", path, line)));
            }
            return _cached.Servers;
        }
    }

    public static IReadOnlyList<IPAddress> Parse(string text, Action<string>? invalid = null)
    {
        var servers = new List<IPAddress>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (!line.StartsWith("nameserver", StringComparison.Ordinal)) continue;
            string[] fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "nameserver" && IPAddress.TryParse(fields[1].Split('%')[0], out var ip))
                servers.Add(ip);
            else
                invalid?.Invoke(line);
        }
        return servers;
    }
}
