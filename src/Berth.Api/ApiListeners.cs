using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Berth.Api;

/// <summary>The files of `--tlsverify --tlscacert --tlscert --tlskey`, as dockerd takes them (PEM).</summary>
public sealed record ApiTlsFiles(string CaCert, string Cert, string Key);

/// <summary>Where the API listens and how. The API is root on this machine, so a TCP listener needs TLS with
/// client certificates checked against the given CA, as dockerd with --tlsverify; plain TCP only with
/// <see cref="InsecureTcp"/>, and then on loopback only.</summary>
public sealed record ApiListenOptions(IReadOnlyList<string> Hosts, ApiTlsFiles? Tls = null, bool InsecureTcp = false);

/// <summary>A listener ready for Kestrel: a unix socket path, or a TCP endpoint with its TLS settings (null: plain).</summary>
public sealed record ApiListener(string Host, string? SocketPath, IPEndPoint? Endpoint, HttpsConnectionAdapterOptions? Https);

public static class ApiListeners
{
    /// <summary>Checks the hosts against the TLS settings and loads the certificates; every mistake is an
    /// ArgumentException that says what to do. Warnings (plain TCP) are for the daemon's log.</summary>
    public static IReadOnlyList<ApiListener> Resolve(ApiListenOptions options, out IReadOnlyList<string> warnings)
    {
        var parsed = options.Hosts.Select(h => (Host: h, Parsed: ParseHost(h))).ToList();
        bool anyTcp = parsed.Any(p => p.Parsed.Endpoint is not null);
        var found = new List<string>();
        HttpsConnectionAdapterOptions? https = null;
        if (options.Tls is not null && anyTcp) https = LoadTls(options.Tls);
        var listeners = new List<ApiListener>();
        foreach (var (host, (socketPath, endpoint)) in parsed)
        {
            if (endpoint is null)
            {
                listeners.Add(new ApiListener(host, socketPath, null, null));
                continue;
            }
            if (https is not null)
            {
                listeners.Add(new ApiListener(host, null, endpoint, https));
                continue;
            }
            if (!options.InsecureTcp)
                throw new ArgumentException($"refusing --host {host}: a TCP listener needs TLS with client certificates " +
                    "(--tlsverify --tlscacert CA.pem --tlscert CERT.pem --tlskey KEY.pem); anyone who reaches it is root " +
                    "on this machine. --insecure-tcp serves plain TCP on loopback addresses only");
            if (!IPAddress.IsLoopback(endpoint.Address))
                throw new ArgumentException($"refusing --host {host}: with --insecure-tcp, plain TCP is served on loopback " +
                    "addresses only (127.0.0.1, ::1); use --tlsverify for other addresses");
            found.Add($"plain TCP without TLS on {host} (--insecure-tcp): every local user and process that can " +
                "connect there is root on this machine");
            listeners.Add(new ApiListener(host, null, endpoint, null));
        }
        warnings = found;
        return listeners;
    }

    /// <summary>unix:///path or tcp://ADDRESS:PORT (an IPv6 address in brackets). Only the form is checked here.</summary>
    public static (string? SocketPath, IPEndPoint? Endpoint) ParseHost(string host)
    {
        if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            string path = host["unix://".Length..];
            if (!Path.IsPathRooted(path))
                throw new ArgumentException($"invalid --host {host}: the socket path must be absolute");
            return (path, null);
        }
        if (host.StartsWith("tcp://", StringComparison.Ordinal)
            && IPEndPoint.TryParse(host["tcp://".Length..], out var endpoint) && endpoint.Port > 0)
            return (null, endpoint);
        throw new ArgumentException($"invalid --host {host}: expected unix:///path or tcp://ADDRESS:PORT");
    }

    private static HttpsConnectionAdapterOptions LoadTls(ApiTlsFiles files)
    {
        var authorities = new X509Certificate2Collection();
        X509Certificate2 server;
        try
        {
            authorities.ImportFromPemFile(files.CaCert);
            if (authorities.Count == 0) throw new ArgumentException($"--tlscacert {files.CaCert}: no certificate in it");
            // An ephemeral key cannot serve TLS on every platform; a PKCS#12 round trip makes it persistable.
            using var pem = X509Certificate2.CreateFromPemFile(files.Cert, files.Key);
            server = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot load the TLS files (--tlscacert {files.CaCert}, --tlscert {files.Cert}, " +
                $"--tlskey {files.Key}): {e.Message}");
        }
        return new HttpsConnectionAdapterOptions
        {
            ServerCertificate = server,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) => IsIssuedBy(certificate, authorities),
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        };
    }

    /// <summary>The client's certificate chains to one of the given CAs (and only those: the system's roots do not
    /// count), and may be used for client authentication.</summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // clientAuth
        return chain.Build(certificate);
    }
}
