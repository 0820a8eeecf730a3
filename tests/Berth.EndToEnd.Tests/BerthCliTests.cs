using System.Net.Http;
using System.Net.Sockets;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Berth's own client (`./berth run|ps|port|exec|logs|...`) against an engine of its own, checked
/// against what the engine does and against the docker CLI's output for the same engine.</summary>
public sealed class BerthCliTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private static readonly string BerthPath = Path.Combine(EngineProcess.RepoRoot(), "berth");

    private ShResult Berth(params string[] args)
    {
        var result = Sh.Run(BerthPath, args, TimeSpan.FromSeconds(180), new Dictionary<string, string> { ["BERTH_HOST"] = Engine.DockerHost });
        output.WriteLine($"$ berth {string.Join(' ', args)}  → {result.ExitCode}\n{result.Stdout}{result.Stderr}");
        return result;
    }

    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    /// <summary>A free host port in 18000-18999, the range these tests use.</summary>
    private static int FreePort()
    {
        for (int i = 0; i < 200; i++)
        {
            int port = Random.Shared.Next(18000, 19000);
            try
            {
                var listener = new TcpListener(System.Net.IPAddress.Any, port);
                listener.Start();
                listener.Stop();
                return port;
            }
            catch (SocketException) { }
        }
        throw new InvalidOperationException("no free port in 18000-18999");
    }

    [Fact]
    public async Task Run_detached_then_ps_port_curl_exec_logs_inspect_and_rm()
    {
        string name = TestNames.Unique("web", 12), logger = TestNames.Unique("log", 12);
        int port = FreePort();
        try
        {
            string id = Ok(Berth("run", "-d", "--name", name, "-p", $"{port}:80", "webapp:noexpose")).Stdout.Trim();
            Assert.Matches("^[0-9a-f]{64}$", id);

            // ps: the docker CLI and berth render the same rows (formats without times, which may tick in between).
            const string format = "{{.ID}}|{{.Names}}|{{.Image}}|{{.Command}}|{{.Ports}}|{{.State}}";
            string berthRow = Ok(Berth("ps", "--filter", $"name={name}", "--format", format)).Stdout;
            Assert.Equal($"{id[..12]}|{name}|webapp:noexpose|\"/bin/httpd -f -p 80…\"|0.0.0.0:{port}->80/tcp|running\n", berthRow);
            Assert.Equal(Ok(Engine.Docker("ps", "--filter", $"name={name}", "--format", format)).Stdout, berthRow);
            var table = Ok(Berth("ps")).Stdout.Split('\n');
            Assert.Matches("^CONTAINER ID   IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$", table[0]);
            Assert.Contains(table, line => line.StartsWith(id[..12]) && line.Contains("Up ") && line.EndsWith(name));
            // The default table is the docker CLI's byte for byte (retried: "Up 1 second" may turn into "Up 2 seconds").
            bool same = false;
            for (int i = 0; i < 5 && !same; i++)
                same = Berth("ps", "-a").Stdout == Engine.Docker("ps", "-a").Stdout;
            Assert.True(same, "berth ps -a differs from docker ps -a");

            Assert.Contains("Hostname", await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            string ports = Ok(Berth("port", name)).Stdout;
            Assert.Equal($"80/tcp -> 0.0.0.0:{port}\n", ports);
            Assert.Equal(Ok(Engine.Docker("port", name)).Stdout, ports);
            Assert.Equal($"0.0.0.0:{port}\n", Ok(Berth("port", name, "80/tcp")).Stdout);
            var noPort = Berth("port", name, "81");
            Assert.Equal(1, noPort.ExitCode);
            Assert.Contains($"No public port '81' published for {name}", noPort.Stderr);

            var ls = Ok(Berth("exec", name, "ls", "/"));
            Assert.Contains("www", ls.Stdout.Split('\n'));
            var exec = Berth("exec", name, "sh", "-c", "echo to-out; echo to-err >&2; exit 4");
            Assert.Equal((4, "to-out\n", "to-err\n"), (exec.ExitCode, exec.Stdout, exec.Stderr));

            Ok(Berth("run", "-d", "--name", logger, "webapp:noexpose", "sh", "-c", "echo one; echo two >&2; echo three; sleep 1000"));
            ShResult logs = default!;
            for (int i = 0; i < 50; i++)
            {
                logs = Ok(Berth("logs", logger));
                if (logs.Stdout.Contains("three")) break;
                await Task.Delay(100);
            }
            Assert.Equal(("one\nthree\n", "two\n"), (logs.Stdout, logs.Stderr));
            // --tail goes to the engine as tail=N; what it picks is the engine's business, so compare with the docker CLI.
            var tail = Ok(Berth("logs", "--tail", "2", logger));
            var dockerTail = Ok(Engine.Docker("logs", "--tail", "2", logger));
            Assert.Equal((dockerTail.Stdout, dockerTail.Stderr), (tail.Stdout, tail.Stderr));

            Assert.Equal($"/{name} {port}\n", Ok(Berth("inspect", "-f", "{{.Name}} {{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}", name)).Stdout);
            Assert.Equal(Ok(Engine.Docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)).Stdout,
                Ok(Berth("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)).Stdout);
            Assert.Equal(Ok(Engine.Docker("inspect", name)).Stdout, Ok(Berth("inspect", name)).Stdout);

            Assert.Equal($"{name}\n", Ok(Berth("rm", "-f", name)).Stdout);
            Assert.Equal("", Ok(Berth("ps", "-a", "-q", "--filter", $"name={name}")).Stdout);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => Http.GetStringAsync($"http://127.0.0.1:{port}/"));
        }
        finally
        {
            Engine.Docker("rm", "-f", name, logger);
        }
    }

    [Fact]
    public void Cp_with_a_dash_and_its_refusals_and_system_df_verbose_read_like_docker()
    {
        string name = TestNames.Unique("cpd", 12), volume = TestNames.Unique("dfv", 12);
        string dir = Path.Combine(Engine.Root, TestNames.Unique("cpdash", 16));
        Directory.CreateDirectory(dir);
        var env = new Dictionary<string, string> { ["BERTH_HOST"] = Engine.DockerHost };
        ShResult Shell(string script) => Sh.Run("sh", ["-c", script], TimeSpan.FromSeconds(180), env);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300"));
            foreach (var (args, message) in new[]
            {
                (new[] { "cp", name + ":/etc/hostname", name + ":/tmp/" }, "copying between containers is not supported"),
                (new[] { "cp", Path.Combine(dir, "a"), Path.Combine(dir, "b") }, "must specify at least one container source"),
            })
            {
                var berth = Berth(args);
                var docker = Engine.Docker(args);
                Assert.Contains(message, docker.Stderr);
                Assert.Contains(message, berth.Stderr);
                Assert.Equal(docker.ExitCode, berth.ExitCode);
            }

            // "-": a (gzip) tar on stdin into a directory; a tar of the path on stdout.
            File.WriteAllText(Path.Combine(dir, "note.txt"), "via stdin\n");
            Ok(Sh.Run("tar", ["-C", dir, "-czf", Path.Combine(dir, "note.tgz"), "note.txt"]));
            Ok(Shell($"\"{BerthPath}\" cp - {name}:/tmp < {dir}/note.tgz"));
            Assert.Equal("via stdin", Ok(Engine.Docker("exec", name, "cat", "/tmp/note.txt")).Stdout.Trim());
            Assert.Equal("note.txt", Ok(Shell($"\"{BerthPath}\" cp {name}:/tmp/note.txt - | tar -tf -")).Stdout.Trim());
            var notDirectory = Shell($"\"{BerthPath}\" cp - {name}:/tmp/note.txt < {dir}/note.tgz");
            Assert.NotEqual(0, notDirectory.ExitCode);
            Assert.Contains("must be a directory", notDirectory.Stderr);

            // system df -v: the volumes section as the docker CLI renders the same engine's answer.
            Ok(Engine.Docker("volume", "create", volume));
            static string Volumes(string text) =>
                text[text.IndexOf("Local Volumes space usage:", StringComparison.Ordinal)..text.IndexOf("Build cache usage", StringComparison.Ordinal)];
            string berthDf = Ok(Berth("system", "df", "-v")).Stdout;
            Assert.Contains(volume, Volumes(berthDf));
            Assert.Equal(Volumes(Ok(Engine.Docker("system", "df", "-v")).Stdout), Volumes(berthDf));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            Engine.Docker("volume", "rm", volume);
        }
    }

    [Fact]
    public void Attached_runs_print_the_output_on_the_right_streams_and_exit_with_the_container()
    {
        var hi = Berth("run", "--rm", "webapp:noexpose", "echo", "hi");
        Assert.Equal((0, "hi\n", ""), (hi.ExitCode, hi.Stdout, hi.Stderr));

        var three = Berth("run", "--rm", "webapp:noexpose", "sh", "-c", "echo out; echo err >&2; exit 3");
        Assert.Equal((3, "out\n", "err\n"), (three.ExitCode, three.Stdout, three.Stderr));

        var piped = Sh.Bash($"printf 'a\\nb\\n' | BERTH_HOST={Engine.DockerHost} {BerthPath} run -i --rm webapp:noexpose sh -c 'wc -l; cat'", TimeSpan.FromSeconds(120));
        Assert.Equal((0, "2\n"), (piped.ExitCode, piped.Stdout));

        // --rm removed them: nothing is left.
        Assert.Equal("", Ok(Engine.Docker("ps", "-aq", "--filter", "ancestor=webapp:noexpose", "--filter", "status=exited")).Stdout);

        // Without --rm the container stays, exited with its code.
        string name = TestNames.Unique("keep", 12);
        try
        {
            Assert.Equal(7, Berth("run", "--name", name, "webapp:noexpose", "sh", "-c", "exit 7").ExitCode);
            Assert.Equal("exited 7\n", Ok(Berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)).Stdout);
            Assert.StartsWith("Exited (7)", Ok(Berth("ps", "-a", "--filter", $"name={name}", "--format", "{{.Status}}")).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Errors_read_like_docker_with_its_exit_codes()
    {
        var badPort = Berth("run", "--rm", "-p", "99999:80", "webapp:noexpose");
        Assert.Equal(125, badPort.ExitCode);
        Assert.StartsWith("berth: invalid hostPort: 99999", badPort.Stderr);

        var badIp = Berth("run", "--rm", "-p", "1.2.3:80:80", "webapp:noexpose");
        Assert.Equal((125, true), (badIp.ExitCode, badIp.Stderr.StartsWith("berth: invalid IP address: 1.2.3")));

        var noImage = Berth("run", "--rm", "nosuch:1");
        Assert.Equal(125, noImage.ExitCode);
        Assert.Contains("berth: Error response from daemon: ", noImage.Stderr);

        var noObject = Berth("inspect", "nosuch");
        Assert.Equal((1, "[]\n", "Error: No such object: nosuch\n"), (noObject.ExitCode, noObject.Stdout, noObject.Stderr));

        var stop = Berth("stop", "nosuch");
        Assert.Equal((1, "Error response from daemon: No such container: nosuch\n"), (stop.ExitCode, stop.Stderr));
        var docker = Engine.Docker("stop", "nosuch");
        Assert.Equal(docker.Stderr, stop.Stderr);

        Assert.Equal(0, Berth("rm", "-f", "nosuch").ExitCode);

        var clash = TestNames.Unique("clash", 12);
        int port = FreePort();
        try
        {
            Ok(Berth("run", "-d", "--name", clash, "-p", $"{port}:80", "webapp:noexpose"));
            var taken = Berth("run", "-d", "-p", $"{port}:80", "webapp:noexpose");
            Assert.Equal(125, taken.ExitCode);
            Assert.Contains($"Bind for 0.0.0.0:{port} failed: port is already allocated", taken.Stderr);
            var sameName = Berth("run", "-d", "--name", clash, "webapp:noexpose");
            Assert.Equal(125, sameName.ExitCode);
            Assert.Contains("is already in use", sameName.Stderr);
        }
        finally
        {
            Engine.Docker("rm", "-f", clash);
            foreach (string id in Engine.Docker("ps", "-aq", "--filter", "status=created").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                Engine.Docker("rm", "-f", id);
        }
    }

    [Fact]
    public void Security_opts_reach_the_container_and_bad_ones_get_the_engines_message()
    {
        var nnp = Ok(Berth("run", "--rm", "--security-opt", "no-new-privileges", "webapp:noexpose", "grep", "NoNewPrivs", "/proc/self/status"));
        Assert.Matches(@"^NoNewPrivs:\s+1\n$", nnp.Stdout);
        Assert.Matches(@"^NoNewPrivs:\s+0\n$", Ok(Berth("run", "--rm", "webapp:noexpose", "grep", "NoNewPrivs", "/proc/self/status")).Stdout);

        var bogus = Berth("run", "--rm", "--security-opt", "bogus=1", "webapp:noexpose", "true");
        Assert.Equal(125, bogus.ExitCode);
        Assert.StartsWith("berth: Error response from daemon: invalid --security-opt: \"bogus=1\": unknown option \"bogus\"", bogus.Stderr);

        // create takes the same flags; the engine's refusal is printed plainly with exit 1, as docker create does.
        var refused = Berth("create", "--security-opt", "bogus=1", "webapp:noexpose");
        Assert.Equal(1, refused.ExitCode);
        Assert.StartsWith("Error response from daemon: invalid --security-opt: \"bogus=1\"", refused.Stderr);
        string name = TestNames.Unique("sec", 12);
        try
        {
            Ok(Berth("create", "--name", name, "--cap-drop", "all", "--cap-add", "chown", "--read-only", "--log-opt", "max-size=1m",
                "webapp:noexpose", "true"));
            Assert.Equal("[ALL] [CAP_CHOWN] true 1m\n", Ok(Engine.Docker("inspect", "-f",
                "{{.HostConfig.CapDrop}} {{.HostConfig.CapAdd}} {{.HostConfig.ReadonlyRootfs}} {{index .HostConfig.LogConfig.Config \"max-size\"}}",
                name)).Stdout);
        }
        finally { Engine.Docker("rm", "-f", name); }

        // seccomp=PATH: the client reads the file and sends its JSON, which the engine applies.
        string dir = Directory.CreateTempSubdirectory("berth-clisec-").FullName;
        try
        {
            string profile = Path.Combine(dir, "no-mkdir.json");
            File.WriteAllText(profile, """
                { "defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [ { "names": [ "mkdir", "mkdirat" ], "action": "SCMP_ACT_ERRNO" } ] }
                """);
            var denied = Berth("run", "--rm", "--security-opt", $"seccomp={profile}", "webapp:noexpose", "mkdir", "/tmp/x");
            Assert.NotEqual(0, denied.ExitCode);
            Assert.Contains("Operation not permitted", denied.Stderr);
            var missing = Berth("run", "--rm", "--security-opt", $"seccomp={dir}/none.json", "webapp:noexpose", "true");
            Assert.Equal(125, missing.ExitCode);
            Assert.StartsWith($"berth: opening seccomp profile ({dir}/none.json) failed: open {dir}/none.json: no such file or directory\n",
                missing.Stderr);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Lifecycle_commands_print_names_and_change_state()
    {
        string name = TestNames.Unique("life", 12), renamed = TestNames.Unique("ren", 12);
        try
        {
            Ok(Berth("run", "-d", "--name", name, "webapp:noexpose", "sleep", "1000"));
            Assert.Equal($"{name}\n", Ok(Berth("stop", "-t", "1", name)).Stdout);
            Assert.Equal("exited\n", Ok(Berth("inspect", "-f", "{{.State.Status}}", name)).Stdout);
            Assert.Equal($"{name}\n", Ok(Berth("start", name)).Stdout);
            Assert.Equal($"{name}\n", Ok(Berth("restart", "-t", "1", name)).Stdout);
            Assert.Equal("running\n", Ok(Berth("inspect", "-f", "{{.State.Status}}", name)).Stdout);
            Ok(Berth("rename", name, renamed));
            Assert.Equal($"{renamed}\n", Ok(Berth("kill", renamed)).Stdout);
            Assert.Equal("137\n", Ok(Berth("wait", renamed)).Stdout);
            Assert.Equal($"{renamed}\n", Ok(Berth("rm", renamed)).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name, renamed);
        }
    }

    [Fact]
    public void Images_and_networks()
    {
        string tar = Path.Combine(Engine.Root, "cli-rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        string net = TestNames.Unique("cn", 12);
        try
        {
            string imported = Ok(Berth("import", "-c", WebAppImage.Cmd, "-c", "EXPOSE 80", tar, "cliapp:1")).Stdout.Trim();
            Assert.Matches("^sha256:[0-9a-f]{64}$", imported);
            Ok(Berth("tag", "cliapp:1", "cliapp:2"));
            string images = Ok(Berth("images")).Stdout;
            Assert.StartsWith("REPOSITORY   TAG        IMAGE ID       CREATED", images);
            Assert.Matches($"cliapp +1 +{imported[7..19]} ", images);
            Assert.Matches($"cliapp +2 +{imported[7..19]} ", images);
            Assert.Equal(Ok(Engine.Docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}")).Stdout,
                Ok(Berth("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}")).Stdout);
            Assert.Equal("Untagged: cliapp:2\n", Ok(Berth("rmi", "cliapp:2")).Stdout);
            Assert.Contains("Deleted: " + imported, Ok(Berth("rmi", "cliapp:1")).Stdout);

            string netId = Ok(Berth("network", "create", net)).Stdout.Trim();
            Assert.Matches("^[0-9a-f]{64}$", netId);
            Assert.Equal(Ok(Engine.Docker("network", "ls")).Stdout, Ok(Berth("network", "ls")).Stdout);
            Assert.Equal($"{net} bridge\n", Ok(Berth("network", "inspect", "-f", "{{.Name}} {{.Driver}}", net)).Stdout);
            Assert.Equal($"{net}\n", Ok(Berth("network", "rm", net)).Stdout);
            Assert.DoesNotContain(net, Ok(Berth("network", "ls")).Stdout);

            Assert.Contains("Server Version:", Ok(Berth("info")).Stdout);
            Assert.Contains("API version:", Ok(Berth("version")).Stdout);
        }
        finally
        {
            Engine.Docker("rmi", "-f", "cliapp:1", "cliapp:2");
            Engine.Docker("network", "rm", net);
        }
    }
}
