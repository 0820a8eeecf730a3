using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>The legacy builder (`POST /build`) driven by the docker CLI 28 (with DOCKER_BUILDKIT=0 and without), docker-py
/// and docker-compose 1.29, on the seeds' web app image (busybox rootfs) as the base; and images out of containers
/// (commit, diff, export, save/load).</summary>
public sealed partial class BuildTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
    private EngineProcess Engine => fixture.Engine;

    private string Context(params (string Name, string Content)[] files)
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("ctx", 16));
        foreach (var (name, content) in files)
        {
            string path = Path.Combine(dir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
        }
        return dir;
    }

    private ShResult Build(string context, bool legacy, params string[] args) =>
        Sh.Run("/usr/local/bin/docker", ["build", .. args, context], TimeSpan.FromSeconds(120), new Dictionary<string, string>
        {
            ["DOCKER_HOST"] = Engine.DockerHost, ["DOCKER_BUILDKIT"] = legacy ? "0" : "",
        });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_seeds_web_app_builds_from_a_dockerfile_and_serves_its_scenario(bool legacy)
    {
        string tag = TestNames.Unique("web", 12) + ":v1";
        string context = Context(
            ("Dockerfile", "FROM webapp:noexpose\nWORKDIR /app\nADD . /app\nRUN mkdir -p /www && echo built > /app/marker\nEXPOSE 80\n" + WebAppImage.Cmd + "\n"),
            ("requirements.txt", "Flask\n"), ("app.py", $"print('legacy: {legacy}')\n")); // the two cases share no cached COPY
        var build = Build(context, legacy, "-t", tag);
        Assert.True(build.ExitCode == 0, build.Stdout + build.Stderr);
        Assert.Contains("Step 1/6 : FROM webapp:noexpose", build.Stdout);
        Assert.Contains("Step 4/6 : RUN mkdir -p /www && echo built > /app/marker", build.Stdout);
        Assert.Contains(" ---> Running in ", build.Stdout);
        Assert.Matches(@"Successfully built [0-9a-f]{12}\n", build.Stdout);
        Assert.Contains($"Successfully tagged {tag}", build.Stdout);

        Assert.Equal("{\"80/tcp\":{}}", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{json .Config.ExposedPorts}}", tag)).Stdout.Trim());
        Assert.Equal("/app", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.Config.WorkingDir}}", tag)).Stdout.Trim());
        var files = EngineFixture.Check(Engine.Docker("run", "--rm", tag, "cat", "/app/marker", "/app/requirements.txt")).Stdout;
        Assert.Equal("built\nFlask\n", files);

        string name = TestNames.Unique("web", 14);
        int port = Ports.Free();
        EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"{port}:80", tag));
        try
        {
            string page = await Http.GetWhenUpAsync($"http://127.0.0.1:{port}/");
            Assert.Contains("<b>Hostname:</b>", page);
            Assert.Contains($"Remote IP:</b> {Engine.Gateway}", page);
        }
        finally { Engine.Docker("rm", "-f", name); }
        var history = EngineFixture.Check(Engine.Docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)).Stdout;
        Assert.Contains("/bin/sh -c mkdir -p /www && echo built > /app/marker", history);
    }

    [Fact]
    public void An_unchanged_rebuild_is_all_cache_and_a_changed_file_misses_from_its_copy_on()
    {
        string tag = TestNames.Unique("cache", 12);
        string context = Context(("Dockerfile", "FROM webapp:noexpose\nENV A=1\nCOPY data.txt /data/\nRUN cat /data/data.txt > /copy.txt\nCMD [\"cat\", \"/copy.txt\"]\n"),
            ("data.txt", "one\n"));
        EngineFixture.Check(Build(context, true, "-t", tag));
        var again = EngineFixture.Check(Build(context, true, "-t", tag));
        Assert.Equal(4, again.Stdout.Split(" ---> Using cache").Length - 1);
        Assert.DoesNotContain("Running in", again.Stdout);

        File.WriteAllText(Path.Combine(context, "data.txt"), "two\n");
        var changed = EngineFixture.Check(Build(context, true, "-t", tag));
        Assert.Equal(1, changed.Stdout.Split(" ---> Using cache").Length - 1); // ENV only
        Assert.Equal("two\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);

        var noCache = EngineFixture.Check(Build(context, true, "--no-cache", "-t", tag));
        Assert.DoesNotContain("Using cache", noCache.Stdout);
    }

    [Fact]
    public void A_failing_run_stops_the_build_with_its_exit_code_and_tags_nothing()
    {
        string tag = TestNames.Unique("fail", 12);
        string context = Context(("Dockerfile", "FROM webapp:noexpose\nRUN echo before && exit 3\nRUN echo never\n"));
        var build = Build(context, true, "-t", tag);
        Assert.Equal(3, build.ExitCode);
        Assert.Contains("before", build.Stdout);
        Assert.Contains("The command '/bin/sh -c echo before && exit 3' returned a non-zero code: 3", build.Stderr);
        Assert.DoesNotContain("never", build.Stdout);
        Assert.NotEqual(0, Engine.Docker("image", "inspect", tag).ExitCode);
        Assert.DoesNotContain(tag, EngineFixture.Check(Engine.Docker("ps", "-a", "--format", "{{.Image}}")).Stdout);
    }

    [Fact]
    public void Multi_stage_with_target_dockerignore_build_args_and_copy_from()
    {
        string tag = TestNames.Unique("multi", 12);
        string context = Context(
            ("Dockerfile", "ARG BASE=webapp:noexpose\nFROM ${BASE} AS build\nARG WHO=nobody\nCOPY src/ /src/\nRUN echo \"made by $WHO\" > /out.txt && ls /src > /list.txt\n" +
                           "FROM webapp:noexpose AS final\nCOPY --from=build /out.txt /list.txt /result/\nCMD [\"cat\", \"/result/out.txt\", \"/result/list.txt\"]\n" +
                           "FROM final AS extra\nRUN exit 9\n"),
            ("src/a.c", "a"), ("src/b.log", "ignored"), ("src/keep.log", "kept"), (".dockerignore", "**/*.log\n!src/keep.log\n"));
        var build = Build(context, true, "--target", "final", "--build-arg", "WHO=berth", "-t", tag);
        Assert.True(build.ExitCode == 0, build.Stdout + build.Stderr);
        Assert.DoesNotContain("exit 9", build.Stdout);
        Assert.Equal("made by berth\na.c\nkeep.log\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);
    }

    [Fact]
    public void Docker_py_and_docker_compose_build_through_the_same_endpoint()
    {
        string tag = TestNames.Unique("py", 12);
        string context = Context(("Dockerfile", "FROM webapp:noexpose\nLABEL made=by-py\nCMD [\"echo\", \"py\"]\n"));
        string script = "import docker,sys\nc=docker.DockerClient(base_url=sys.argv[1])\nimg,logs=c.images.build(path=sys.argv[2],tag=sys.argv[3])\n" +
                        "print(''.join(l.get('stream','') for l in logs))\nprint(img.id)\n";
        var py = Sh.Run("python3", ["-c", script, Engine.DockerHost, context, tag], TimeSpan.FromSeconds(90));
        Assert.True(py.ExitCode == 0, py.Stdout + py.Stderr);
        Assert.Contains("Successfully built", py.Stdout);
        Assert.Equal("by-py", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{index .Config.Labels \"made\"}}", tag)).Stdout.Trim());

        string project = TestNames.Unique("cmp", 12);
        File.WriteAllText(Path.Combine(context, "docker-compose.yml"), $"version: '2'\nservices:\n  web:\n    build: .\n    image: {project}:latest\n");
        var compose = Sh.Run("docker-compose", ["-p", project, "-f", Path.Combine(context, "docker-compose.yml"), "build"], TimeSpan.FromSeconds(90),
            new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost });
        Assert.True(compose.ExitCode == 0, compose.Stdout + compose.Stderr);
        Assert.Equal("py\n", EngineFixture.Check(Engine.Docker("run", "--rm", project)).Stdout);
    }

    [Fact]
    public void Commit_diff_export_and_save_round_trip()
    {
        string name = TestNames.Unique("cmt", 14), tag = TestNames.Unique("cmt", 12) + ":c";
        EngineFixture.Check(Engine.Docker("run", "--name", name, "webapp:noexpose", "sh", "-c", "echo x > /root/new && rm /etc/group && mkdir /tmp/d"));
        try
        {
            var diff = EngineFixture.Check(Engine.Docker("diff", name)).Stdout;
            Assert.Equal("C /etc\nD /etc/group\nC /root\nA /root/new\nC /tmp\nA /tmp/d\n", diff);
            EngineFixture.Check(Engine.Docker("commit", "-c", "CMD [\"cat\", \"/root/new\"]", "-m", "a message", "-a", "an author", name, tag));
            Assert.Equal("x\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);
            Assert.Equal("an author|a message", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.Author}}|{{.Comment}}", tag)).Stdout.Trim());
            Assert.NotEqual(0, Engine.Docker("run", "--rm", tag, "cat", "/etc/group").ExitCode);

            string export = Path.Combine(Engine.Root, name + ".tar");
            EngineFixture.Check(Engine.Docker("export", "-o", export, name));
            var listing = EngineFixture.Check(Sh.Run("tar", ["tf", export])).Stdout.Split('\n');
            Assert.Contains("root/new", listing);
            Assert.Contains("bin/busybox", listing);
            Assert.DoesNotContain("etc/group", listing);

            string saved = Path.Combine(Engine.Root, name + "-save.tar");
            string LastLayer() => EngineFixture.Check(Engine.Docker("inspect", "-f", "{{json .RootFS.Layers}}", tag)).Stdout.Trim().Split(',')[^1];
            string committedLayer = LastLayer();
            EngineFixture.Check(Engine.Docker("save", "-o", saved, tag));
            EngineFixture.Check(Engine.Docker("rmi", tag));
            var load = EngineFixture.Check(Engine.Docker("load", "-i", saved));
            Assert.Contains($"Loaded image: {tag}", load.Stdout);
            Assert.Equal("x\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);
            // The committed layer is archived again byte for byte: its diff id survives the round trip.
            Assert.Equal(committedLayer, LastLayer());
        }
        finally { Engine.Docker("rm", "-f", name); }
    }
}
