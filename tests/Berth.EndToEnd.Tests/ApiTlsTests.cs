using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine serving its unix socket and, as dockerd's --tlsverify, a TCP port with TLS and client
/// certificates signed by the given CA. A CA, a server and a client certificate (and a stranger's client certificate
/// from another CA) are made with openssl in the fixture's own directory.</summary>
public sealed class TlsEngineFixture : IAsyncLifetime
{
    private readonly string _dir = Path.Combine("/tmp", TestNames.Unique("berth-tls-", 20));
    private readonly int _port = Ports.Free();

    public EngineProcess Engine { get; private set; } = null!;
    public string File(string name) => Path.Combine(_dir, name);
    public string TcpHost => $"tcp://127.0.0.1:{_port}";
    public int Port => _port;
    public string Dir => _dir;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        MakeCertificates();
        Engine = await EngineProcess.StartAsync("--host", TcpHost, "--tlsverify",
            "--tlscacert", File("ca.pem"), "--tlscert", File("server-cert.pem"), "--tlskey", File("server-key.pem"));
    }

    public async Task DisposeAsync()
    {
        if (Engine is not null) await Engine.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private void MakeCertificates()
    {
        string script = $$"""
            set -e
            cd {{_dir}}
            ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            ca() { openssl req -x509 $ec -keyout $1-key.pem -out $1.pem -days 2 -subj /CN=$1 \
                     -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
            leaf() { # name ca extensions
              openssl req $ec -keyout $1-key.pem -out $1.csr -subj /CN=$1
              printf "$3" > $1.ext
              openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2-key.pem -CAcreateserial -out $1-cert.pem -days 2 -extfile $1.ext
            }
            ca ca
            ca stranger-ca
            leaf server ca "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
            leaf client ca "extendedKeyUsage=clientAuth\n"
            leaf stranger stranger-ca "extendedKeyUsage=clientAuth\n"
            """;
        var made = Sh.Bash(script);
        if (made.ExitCode != 0) throw new InvalidOperationException($"openssl failed: {made.Stderr}");
    }
}

public sealed class ApiTlsTests(TlsEngineFixture fixture, ITestOutputHelper output) : IClassFixture<TlsEngineFixture>
{
    private string File(string name) => fixture.File(name);
    private string TcpHost => fixture.TcpHost;

    private ShResult Docker(params string[] args) =>
        Sh.Run("/usr/local/bin/docker", ["-H", TcpHost, .. args], TimeSpan.FromSeconds(60),
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = fixture.Dir });

    [Fact]
    public void The_docker_cli_with_a_client_certificate_is_served_over_tls_next_to_the_unix_socket()
    {
        var version = Docker("--tlsverify", "--tlscacert", File("ca.pem"), "--tlscert", File("client-cert.pem"),
            "--tlskey", File("client-key.pem"), "version", "--format", "{{.Server.Version}}");
        output.WriteLine(version.Stdout + version.Stderr);
        Assert.Equal(0, version.ExitCode);
        Assert.Contains("berth", version.Stdout);
        // The unix socket is served too.
        Assert.Equal(0, fixture.Engine.Docker("version").ExitCode);
    }

    [Fact]
    public void Without_a_client_certificate_or_with_one_from_another_ca_the_connection_is_refused()
    {
        var anonymous = Docker("--tls", "--tlscacert", File("ca.pem"), "version");
        output.WriteLine(anonymous.Stderr);
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.DoesNotContain("berth", anonymous.Stdout);

        var stranger = Docker("--tlsverify", "--tlscacert", File("ca.pem"), "--tlscert", File("stranger-cert.pem"),
            "--tlskey", File("stranger-key.pem"), "version", "--format", "{{.Server.Version}}");
        output.WriteLine(stranger.Stderr);
        Assert.NotEqual(0, stranger.ExitCode);
        Assert.DoesNotContain("berth", stranger.Stdout);

        // Plain HTTP to the TLS port gets no API answer.
        var plain = Sh.Run("curl", ["-sS", "--max-time", "5", $"http://127.0.0.1:{fixture.Port}/version"]);
        Assert.DoesNotContain("ApiVersion", plain.Stdout);
    }
}

/// <summary>`berth daemon` refuses a TCP host it cannot serve safely, before it does anything; --insecure-tcp serves
/// plain TCP on loopback with a warning.</summary>
public sealed class ApiTcpRefusalTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Insecure_tcp_on_loopback_is_served_with_a_warning()
    {
        string host = $"tcp://127.0.0.1:{Ports.Free()}";
        await using var engine = await EngineProcess.StartAsync("--host", host, "--insecure-tcp");
        var version = Sh.Docker(host, "version", "--format", "{{.Server.Version}}");
        output.WriteLine(version.Stdout + version.Stderr);
        Assert.Equal(0, version.ExitCode);
        Assert.Contains("berth", version.Stdout);
        Assert.Contains("plain TCP without TLS", engine.Log);
    }

    [Theory]
    [InlineData(new[] { "--host", "tcp://127.0.0.1:{port}" }, "--tlsverify")]
    [InlineData(new[] { "--host", "tcp://0.0.0.0:{port}", "--insecure-tcp" }, "loopback")]
    [InlineData(new[] { "--host", "tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", "/nonexistent/ca.pem",
        "--tlscert", "/nonexistent/c.pem", "--tlskey", "/nonexistent/k.pem" }, "/nonexistent/ca.pem")]
    [InlineData(new[] { "--host", "tcp://127.0.0.1:{port}", "--tlsverify" }, "--tlscacert")]
    public void Plain_or_misconfigured_tcp_refuses_to_start_with_a_clear_error(string[] args, string expected)
    {
        int port = Ports.Free();
        string root = Path.Combine("/tmp", TestNames.Unique("berth-refused-", 20));
        string[] daemon = ["daemon", "--data-root", Path.Combine(root, "data"), "--exec-root", Path.Combine(root, "exec"),
            "--bridge", TestNames.Unique("bz", 12), .. args.Select(a => a.Replace("{port}", port.ToString()))];
        try
        {
            var run = Sh.Run(Path.Combine(EngineProcess.RepoRoot(), "berth"), daemon, TimeSpan.FromSeconds(180));
            output.WriteLine(run.Stderr + run.Stdout);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains(expected, run.Stderr);
            Assert.False(Directory.Exists(Path.Combine(root, "exec")), "the daemon went further than its option checks");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
