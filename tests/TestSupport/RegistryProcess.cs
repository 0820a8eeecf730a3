using System.Diagnostics;
using System.Net.Sockets;

namespace Berth.TestSupport;

/// <summary>Debian's docker-registry (distribution 2.8) on a loopback port of its own, with its storage in a temp dir;
/// optionally TLS with a CA the test generates (openssl) and htpasswd basic auth (bcrypt). Disposal kills it and
/// removes the dir.</summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RegistryProcess(Process process, string root, int port, string? caFile)
    {
        _process = process;
        Root = root;
        Port = port;
        CaFile = caFile;
    }

    public string Root { get; }
    public int Port { get; }
    /// <summary>"127.0.0.1:PORT": the registry part of image names.</summary>
    public string Host => $"127.0.0.1:{Port}";
    /// <summary>The CA that signed the registry's certificate, when TLS.</summary>
    public string? CaFile { get; }
    public string Storage => Path.Combine(Root, "data");

    /// <param name="tokenAuth">Token auth: the token server's realm URL, service, issuer and the certificate its tokens
    /// are signed with.</param>
    public static async Task<RegistryProcess> StartAsync(bool tls = false, (string User, string Password)? basicAuth = null,
        (string Realm, string Service, string Issuer, string CertFile)? tokenAuth = null)
    {
        string root = Path.Combine("/tmp", TestNames.Unique("berth-reg-", 22));
        Directory.CreateDirectory(root);
        int port = Ports.Free();
        var config = new List<string>
        {
            "version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:", $"    rootdirectory: {root}/data",
            "  delete:", "    enabled: true", "http:", $"  addr: 127.0.0.1:{port}",
        };
        string? ca = null;
        if (tls)
        {
            ca = Path.Combine(root, "ca.crt");
            string script = $"""
                set -e; cd {root}
                openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=berth-test-ca -keyout ca.key -out ca.crt 2>/dev/null
                openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
                printf 'subjectAltName=IP:127.0.0.1\n' > ext
                openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out server.crt 2>/dev/null
                """;
            var made = Sh.Bash(script);
            if (made.ExitCode != 0) throw new InvalidOperationException("openssl: " + made.Stderr);
            config.AddRange(["  tls:", $"    certificate: {root}/server.crt", $"    key: {root}/server.key"]);
        }
        if (basicAuth is var (user, password))
        {
            var made = Sh.Run("htpasswd", ["-Bbc", Path.Combine(root, "htpasswd"), user, password]);
            if (made.ExitCode != 0) throw new InvalidOperationException("htpasswd: " + made.Stderr);
            config.AddRange(["auth:", "  htpasswd:", "    realm: berth-test", $"    path: {root}/htpasswd"]);
        }
        if (tokenAuth is var (realm, service, issuer, certFile))
            config.AddRange(["auth:", "  token:", $"    realm: {realm}", $"    service: {service}", $"    issuer: {issuer}",
                $"    rootcertbundle: {certFile}"]);
        File.WriteAllLines(Path.Combine(root, "config.yml"), config);
        var info = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("serve");
        info.ArgumentList.Add(Path.Combine(root, "config.yml"));
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var registry = new RegistryProcess(process, root, port, ca);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited) break;
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return registry;
            }
            catch (SocketException) { await Task.Delay(100); }
        }
        await registry.DisposeAsync();
        throw new InvalidOperationException("docker-registry did not start (is it installed? scripts/install-deps.sh)");
    }

    /// <summary>The file holding a blob's bytes in the registry's storage (to corrupt it).</summary>
    public string BlobFile(string digest) =>
        Path.Combine(Storage, "docker/registry/v2/blobs/sha256", digest[7..9], digest[7..], "data");

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}
