using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Dns;

/// <summary>The host's nameservers, re-read whenever /etc/resolv.conf changes (aardvark-dns reads it once).
/// An unreadable line, or a file left with no nameserver, is logged once per change, never silently turned into a
/// dead resolver.</summary>
public sealed class HostResolvConf(string path = "/etc/resolv.conf", ILogger? logger = null)
{
    /// <summary>File times advance in clock ticks of a few ms: a file read within this long of its last write could
    /// change again with the same time and size, so until then it is read again on every call.</summary>
    private static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(1);

    private sealed record Snapshot(DateTime Stamp, long Length, DateTime ReadAt, string Text, IReadOnlyList<IPAddress> Servers);

    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly Lock _lock = new();
    private Snapshot _cached = new(DateTime.MinValue, -1, DateTime.MinValue, "", []);

    public IReadOnlyList<IPAddress> Servers()
    {
        var file = new FileInfo(path);
        if (!file.Exists) return _cached.Servers;
        var cached = _cached;
        if (file.LastWriteTimeUtc == cached.Stamp && file.Length == cached.Length && cached.ReadAt - cached.Stamp >= RacyWindow)
            return cached.Servers;
        lock (_lock)
        {
            var readAt = DateTime.UtcNow;
            string text;
            try { text = File.ReadAllText(path); }
            catch (IOException e)
            {
                _logger.LogWarning(e, "reading {Path} failed; forwarding keeps its servers from before", path);
                return _cached.Servers;
            }
            if (text == _cached.Text)
            {
                _cached = _cached with { Stamp = file.LastWriteTimeUtc, Length = file.Length, ReadAt = readAt };
                return _cached.Servers;
            }
            var servers = Parse(text, line => _logger.LogWarning("ignoring invalid line in {Path}: {Line}", path, line));
            if (servers.Count == 0)
                _logger.LogWarning("{Path} names no nameserver: names outside the containers' networks get SERVFAIL", path);
            _cached = new Snapshot(file.LastWriteTimeUtc, file.Length, readAt, text, servers);
            return servers;
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
