using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Runtime.Registry;

/// <summary>The engine's registry access: options, one HTTP client per registry host (connections and TLS settings
/// kept between pulls), and the bearer tokens handed out so far (reused until they expire).</summary>
public sealed class RegistryHosts : IDisposable
{
    private readonly ConcurrentDictionary<string, HttpClient> _clients = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new();

    public RegistryHosts(RegistryOptions options, ILogger? logger = null)
    {
        Options = options;
        Logger = logger ?? NullLogger.Instance;
    }

    public RegistryOptions Options { get; }
    internal ILogger Logger { get; }

    /// <summary>A client for one operation on <paramref name="domain"/> with the caller's credentials.</summary>
    public RegistryClient Client(string domain, RegistryCredentials? credentials) => new(this, domain, credentials);

    internal HttpClient HttpFor(string host) => _clients.GetOrAdd(host, CreateClient);

    internal bool TryToken(string key, out string token)
    {
        token = "";
        if (!_tokens.TryGetValue(key, out var entry) || entry.Expires <= DateTimeOffset.UtcNow) return false;
        token = entry.Token;
        return true;
    }

    internal void KeepToken(string key, string token, TimeSpan lifetime) =>
        _tokens[key] = (token, DateTimeOffset.UtcNow + lifetime - TimeSpan.FromSeconds(5));

    private HttpClient CreateClient(string host)
    {
        var handler = new HttpClientHandler
        {
            AllowAutoRedirect = true,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ServerCertificateCustomValidationCallback = (request, certificate, chain, errors) =>
                Validate(request.RequestUri?.Authority ?? host, certificate, errors),
        };
        foreach (var clientCertificate in ClientCertificates(host)) handler.ClientCertificates.Add(clientCertificate);
        // No overall timeout: a large layer takes as long as it takes; stalls end through the caller's token.
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>System trust first; then the registry's own CAs from certs.d; any certificate for a registry named
    /// insecure (dockerd skips verification for those).</summary>
    private bool Validate(string authority, X509Certificate2? certificate, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None) return true;
        if (Options.IsInsecure(authority)) return true;
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0) return false;
        var roots = CertificateAuthorities(authority);
        if (roots.Count == 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        return chain.Build(certificate);
    }

    private string CertsDirectory(string authority) => Path.Combine(Options.CertsDirectory, authority);

    /// <summary>certs.d/HOST[:PORT]/*.crt, read at each handshake so a CA added later is taken without a restart.</summary>
    private X509Certificate2Collection CertificateAuthorities(string authority)
    {
        var collection = new X509Certificate2Collection();
        string dir = CertsDirectory(authority);
        if (!Directory.Exists(dir)) return collection;
        foreach (string file in Directory.EnumerateFiles(dir, "*.crt"))
        {
            try { collection.ImportFromPemFile(file); }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException)
            {
                Logger.LogWarning("CA file {File} not read: {Error}", file, e.Message);
            }
        }
        return collection;
    }

    /// <summary>certs.d/HOST/NAME.cert with NAME.key: a client certificate, as dockerd takes them.</summary>
    private IEnumerable<X509Certificate2> ClientCertificates(string authority)
    {
        string dir = CertsDirectory(authority);
        if (!Directory.Exists(dir)) yield break;
        foreach (string cert in Directory.EnumerateFiles(dir, "*.cert"))
        {
            string key = Path.ChangeExtension(cert, ".key");
            if (!File.Exists(key)) continue;
            X509Certificate2? loaded = null;
            try { loaded = X509Certificate2.CreateFromPemFile(cert, key); }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException)
            {
                Logger.LogWarning("client certificate {File} not read: {Error}", cert, e.Message);
            }
            if (loaded is not null) yield return loaded;
        }
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values) client.Dispose();
    }
}
