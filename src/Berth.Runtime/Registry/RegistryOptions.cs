using System.Net;

namespace Berth.Runtime.Registry;

/// <summary>dockerd's registry settings: --insecure-registry, --registry-mirror, and the CA directory
/// (certs.d/HOST[:PORT]/ca.crt, client.cert, client.key).</summary>
public sealed class RegistryOptions
{
    /// <summary>"host[:port]" names or CIDRs where TLS is not verified and plain HTTP is allowed.</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];
    /// <summary>Mirrors of Docker Hub ("https://mirror.example", "http://127.0.0.1:5001"), tried in order before it.</summary>
    public IReadOnlyList<Uri> Mirrors { get; init; } = [];
    public string CertsDirectory { get; init; } = "/etc/docker/certs.d";
    /// <summary>Concurrent layer downloads of one pull (dockerd: --max-concurrent-downloads, 3).</summary>
    public int MaxConcurrentDownloads { get; init; } = 6;
    public int MaxConcurrentUploads { get; init; } = 5;

    /// <summary>Registries named insecure: TLS unverified, plain HTTP allowed.</summary>
    public bool IsInsecure(string host)
    {
        string bare = HostOnly(host);
        foreach (string entry in InsecureRegistries)
        {
            if (string.Equals(entry, host, StringComparison.OrdinalIgnoreCase) || string.Equals(entry, bare, StringComparison.OrdinalIgnoreCase))
                return true;
            if (IPNetwork.TryParse(entry, out var network) && IPAddress.TryParse(bare.Trim('[', ']'), out var address)
                && network.Contains(address))
                return true;
        }
        return false;
    }

    /// <summary>Loopback registries may answer in plain HTTP without being named (as dockerd's default 127.0.0.0/8).</summary>
    public static bool IsLoopback(string host)
    {
        string bare = HostOnly(host).Trim('[', ']');
        return bare == "localhost" || IPAddress.TryParse(bare, out var a) && IPAddress.IsLoopback(a);
    }

    public bool AllowsPlainHttp(string host) => IsInsecure(host) || IsLoopback(host);

    private static string HostOnly(string host)
    {
        if (host.StartsWith('[')) return host[..(host.IndexOf(']') + 1)];
        int colon = host.LastIndexOf(':');
        return colon > 0 && host.IndexOf(':') == colon ? host[..colon] : host;
    }

    /// <summary>Checks names and CIDRs as dockerd does at start.</summary>
    public static string ValidateInsecure(string entry)
    {
        if (entry.Contains("://")) throw new ArgumentException($"insecure registry {entry} should not contain '://'");
        if (entry.Contains('/') && !IPNetwork.TryParse(entry, out _)) throw new ArgumentException($"insecure registry {entry} is not a valid CIDR or host[:port]");
        return entry;
    }

    public static Uri ValidateMirror(string text)
    {
        if (!Uri.TryCreate(text.TrimEnd('/'), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"invalid mirror: unsupported scheme \"{text}\" in \"{text}\": must use either 'https://' or 'http://'");
        if (uri.AbsolutePath is not ("/" or "")) throw new ArgumentException($"invalid mirror: path, query, or fragment at end of the URI \"{text}\"");
        return uri;
    }
}
