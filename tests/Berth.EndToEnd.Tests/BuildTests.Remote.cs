using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>What the daemon fetches for a build: `ADD http://...` and `remote=` contexts (a tarball, a Dockerfile
/// served as text, a git repository), from a server on 127.0.0.1 only.</summary>
public sealed partial class BuildTests
{
    [Fact]
    public void Add_from_a_url_takes_dockerds_name_mode_and_mtime_never_extracts_and_keys_on_the_content()
    {
        using var server = new LoopbackFileServer();
        var lastModified = new Dictionary<string, string> { ["Last-Modified"] = "Thu, 02 Jan 2020 03:04:05 GMT" };
        server.Put("files/hello.txt", "hello v1\n", "text/plain", lastModified);
        server.Put("files/archive.tar", new LoopbackFileServer.Entry(HostileArchives.Tar(HostileArchives.Regular("inside.txt", "x")), "application/x-tar"));
        server.Put("named/", new LoopbackFileServer.Entry("by disposition\n"u8.ToArray(), null,
            new Dictionary<string, string> { ["Content-Disposition"] = "attachment; filename=\"from-header.txt\"" }));
        string sha = Convert.ToHexString(SHA256.HashData("hello v1\n"u8)).ToLowerInvariant();
        string tag = TestNames.Unique("addurl", 14);
        string dockerfile = $"""
            FROM webapp:noexpose
            ADD {server.Url("files/hello.txt")} /files/
            ADD --chown=1:2 --chmod=644 {server.Url("files/hello.txt")} /files/renamed.txt
            ADD {server.Url("files/archive.tar")} /files/
            ADD {server.Url("named/")} /files/
            ADD --checksum=sha256:{sha} {server.Url("files/hello.txt")} /checked.txt
            CMD ["cat", "/files/hello.txt"]

            """;
        string context = Context(("Dockerfile", dockerfile));
        var build = Build(context, true, "-t", tag);
        Assert.True(build.ExitCode == 0, build.Stdout + build.Stderr);
        var stat = EngineFixture.Check(Engine.Docker("run", "--rm", tag, "busybox", "stat", "-c", "%n %a %u:%g %Y",
            "/files/hello.txt", "/files/renamed.txt", "/files/archive.tar", "/files/from-header.txt", "/checked.txt")).Stdout;
        Assert.Equal("/files/hello.txt 600 0:0 1577934245\n/files/renamed.txt 644 1:2 1577934245\n" +
                     "/files/archive.tar 600 0:0 0\n/files/from-header.txt 600 0:0 0\n/checked.txt 600 0:0 1577934245\n", stat);
        Assert.Matches(@"ADD file:[0-9a-f]{64} in /files/", EngineFixture.Check(Engine.Docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)).Stdout);

        // Downloaded again, same content: every step from the cache. New content: the steps that fetch it miss.
        var again = EngineFixture.Check(Build(context, true, "-t", tag));
        Assert.Equal(6, again.Stdout.Split(" ---> Using cache").Length - 1);
        server.Put("files/hello.txt", "hello v2\n", "text/plain", lastModified);
        var changed = Build(context, true, "-t", tag);
        Assert.NotEqual(0, changed.ExitCode); // the pinned checksum no longer matches
        Assert.Contains($"digest mismatch sha256:{Convert.ToHexString(SHA256.HashData("hello v2\n"u8)).ToLowerInvariant()}: sha256:{sha}", changed.Stderr);
        Assert.Equal(0, changed.Stdout.Split(" ---> Using cache").Length - 1);
        Assert.Equal("hello v1\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout); // the tag stays where it was

        // Failures are the build's, with dockerd's words; nothing is tagged.
        (string Line, string Message)[] failures =
        [
            ($"ADD {server.Url("missing.txt")} /m.txt", $"failed to GET {server.Url("missing.txt")} with status 404 Not Found: no such file here"),
            ($"ADD {server.Url("anonymous/")} /dir/", $"cannot determine filename for source {server.Url("anonymous/")}"),
            ($"ADD http://127.0.0.1:{Ports.Free()}/x /x", "Get \"http://127.0.0.1:"),
            ($"ADD --checksum=md5:00 {server.Url("files/hello.txt")} /x", "invalid checksum digest format: md5:00"),
            ("ADD --checksum=sha256:" + sha + " Dockerfile /x", "checksum can't be specified for non-HTTP(S) sources"),
        ];
        server.Put("anonymous/", "no name\n");
        foreach (var (line, message) in failures)
        {
            string failTag = TestNames.Unique("addfail", 14);
            var failed = Build(Context(("Dockerfile", "FROM webapp:noexpose\n" + line + "\n")), true, "-t", failTag);
            Assert.True(failed.ExitCode != 0 && failed.Stderr.Contains(message), line + "\n" + failed.Stdout + failed.Stderr);
            Assert.NotEqual(0, Engine.Docker("image", "inspect", failTag).ExitCode);
        }
    }

    [Fact]
    public void Remote_contexts_a_tarball_a_dockerfile_url_and_a_git_repository_build_for_docker_py_the_docker_cli_and_berth()
    {
        using var server = new LoopbackFileServer();
        server.Put("ctx.tar.gz", new LoopbackFileServer.Entry(Gzip(HostileArchives.Tar(
            HostileArchives.Regular("sub/Dockerfile", "FROM webapp:noexpose\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n"),
            HostileArchives.Regular("hello.txt", "from a tarball\n"))), "application/gzip"));
        server.Put("Dockerfile", new LoopbackFileServer.Entry("FROM webapp:noexpose\nLABEL from=text\n"u8.ToArray())); // no type: sniffed
        server.Put("evil.tar", new LoopbackFileServer.Entry(HostileArchives.Tar(HostileArchives.Regular("../../../../evil", "x")), "application/x-tar"));

        string repos = Path.Combine(Engine.Root, TestNames.Unique("git", 14));
        string repo = Path.Combine(repos, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "app"));
        File.WriteAllText(Path.Combine(repo, "app", "Dockerfile"), "FROM webapp:noexpose\nCOPY . /ctx/\nCMD [\"cat\", \"/ctx/message\"]\n");
        File.WriteAllText(Path.Combine(repo, "app", "message"), "from git\n");
        foreach (var args in new[] { new[] { "init", "-q", "-b", "main" }, ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"] })
            EngineFixture.Check(Sh.Run("git", ["-C", repo, .. args]));
        int gitPort = Ports.Free();
        using var daemon = Process.Start(new ProcessStartInfo("git",
            ["daemon", "--reuseaddr", "--listen=127.0.0.1", $"--port={gitPort}", $"--base-path={repos}", "--export-all", repos])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            string git = $"git://127.0.0.1:{gitPort}/repo";
            EngineFixture.Check(WaitFor.UntilSuccess(() => Sh.Run("git", ["ls-remote", git], TimeSpan.FromSeconds(20))));
            string[] tags = [.. Enumerable.Range(0, 6).Select(i => TestNames.Unique($"remote{i}", 14))];
            string script = """
                import docker, sys
                c = docker.DockerClient(base_url=sys.argv[1], timeout=180)
                def build(name, **kw):
                    try:
                        img, logs = c.images.build(**kw)
                        print(name, 'built', img.id)
                    except (docker.errors.BuildError, docker.errors.APIError) as e:
                        print(name, 'failed', str(e).replace('\n', ' '))
                build('tarball', path=sys.argv[2], dockerfile='sub/Dockerfile', tag=sys.argv[3])
                build('text', path=sys.argv[4], tag=sys.argv[5])
                build('git', path=sys.argv[6], tag=sys.argv[7])
                build('evil', path=sys.argv[8])
                build('notfound', path=sys.argv[9])
                """;
            var py = Sh.Run("python3", ["-c", script, Engine.DockerHost, server.Url("ctx.tar.gz"), tags[0], server.Url("Dockerfile"), tags[1],
                git + "#main:app", tags[2], server.Url("evil.tar"), server.Url("nothing.tar")], TimeSpan.FromSeconds(240));
            Assert.True(py.ExitCode == 0, py.Stdout + py.Stderr);
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(py.Stdout, "tarball built sha256:.*\ntext built sha256:.*\ngit built sha256:.*\n" +
                "evil failed .*invalid build context.*\nnotfound failed .*error downloading remote context"), py.Stdout);
            Assert.Contains($"error downloading remote context {server.Url("nothing.tar")}: failed to GET {server.Url("nothing.tar")} with status 404 Not Found", py.Stdout);
            Assert.Equal("from a tarball\n", EngineFixture.Check(Engine.Docker("run", "--rm", tags[0])).Stdout);
            Assert.Equal("text", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{index .Config.Labels \"from\"}}", tags[1])).Stdout.Trim());
            Assert.Equal("from git\n", EngineFixture.Check(Engine.Docker("run", "--rm", tags[2])).Stdout);
            Assert.Equal("Dockerfile\nmessage\n", EngineFixture.Check(Engine.Docker("run", "--rm", tags[2], "ls", "/ctx")).Stdout); // the subdirectory alone

            // The docker CLI clones and downloads on its side; berth sends remote= and the daemon fetches.
            // The docker CLI clones into $TMPDIR and leaves its directory there: it gets the test's own.
            EngineFixture.Check(Sh.Run("/usr/local/bin/docker", ["build", "-t", tags[3], git + "#main:app"], TimeSpan.FromSeconds(120),
                new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost, ["DOCKER_BUILDKIT"] = "0", ["TMPDIR"] = repos }));
            EngineFixture.Check(Engine.Client("berth", "build", "-t", tags[4], git + "#main:app"));
            EngineFixture.Check(Engine.Client("berth", "build", "-q", "-f", "sub/Dockerfile", "-t", tags[5], server.Url("ctx.tar.gz")));
            Assert.Equal("from git\n", EngineFixture.Check(Engine.Docker("run", "--rm", tags[4])).Stdout);
            Assert.Equal("from a tarball\n", EngineFixture.Check(Engine.Docker("run", "--rm", tags[5])).Stdout);
            var bad = Engine.Client("berth", "build", $"git://127.0.0.1:{gitPort}/repo#no-such-branch");
            Assert.True(bad.ExitCode != 0 && bad.Stderr.Contains("error fetching"), bad.Stdout + bad.Stderr);
        }
        finally
        {
            daemon.Kill(entireProcessTree: true);
            daemon.WaitForExit();
            Directory.Delete(repos, recursive: true);
        }
    }

    private static byte[] Gzip(byte[] data)
    {
        var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true)) gzip.Write(data);
        return buffer.ToArray();
    }
}
