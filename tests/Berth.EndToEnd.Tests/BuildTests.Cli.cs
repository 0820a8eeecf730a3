using System.Text.RegularExpressions;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>`berth build/commit/diff/export/save/history` against the docker CLI on the same engine, and the legacy
/// builder's details: a failed step's container kept unless --force-rm, WORKDIR made in the image, -q, build cache
/// prune, the images reference filter and import's history line.</summary>
public sealed partial class BuildTests
{
    private ShResult Berth(params string[] args) => Engine.Client("berth", args);

    /// <summary>Image and container IDs (12 hex digits) and the context's size masked: two builds differ only in them
    /// (the two clients' tar writers pad headers differently).</summary>
    private static string MaskIds(string output) =>
        Regex.Replace(Regex.Replace(output, "[0-9a-f]{12}", "<id>"), @"daemon +[0-9.]+[kMG]?B", "daemon <size>");

    [Fact]
    public void Berth_build_prints_what_the_docker_cli_prints_for_the_legacy_builder()
    {
        string tag = TestNames.Unique("bcli", 12);
        string context = Context(
            ("build.df", "FROM webapp:noexpose\nARG WHO=nobody\nWORKDIR /made/here\nCOPY . ./\nRUN echo \"by $WHO\" > who.txt\nCMD [\"cat\", \"who.txt\"]\n"),
            ("keep.txt", "k"), ("skip.log", "s"), (".dockerignore", "*.log\n"));
        string dockerfile = Path.Combine(context, "build.df");
        string[] flags = ["--no-cache", "-f", dockerfile, "--build-arg", "WHO=berth", "--label", "made=berth-cli"];
        var berth = EngineFixture.Check(Berth(["build", .. flags, "-t", tag, context]));
        var docker = EngineFixture.Check(Build(context, true, [.. flags, "-t", tag]));
        Assert.StartsWith("Sending build context to Docker daemon ", berth.Stdout);
        Assert.Contains("Step 3/7 : WORKDIR /made/here\n", berth.Stdout);
        Assert.Contains($"Successfully tagged {tag}:latest\n", berth.Stdout);
        Assert.Equal(MaskIds(docker.Stdout), MaskIds(berth.Stdout));

        Assert.Equal("by berth\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);
        var listing = EngineFixture.Check(Engine.Docker("run", "--rm", tag, "ls", "-a", "/made/here")).Stdout.Split('\n');
        Assert.Contains("keep.txt", listing);
        Assert.DoesNotContain("skip.log", listing);
        Assert.Equal("berth-cli", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{index .Config.Labels \"made\"}}", tag)).Stdout.Trim());

        // -q: the image ID alone, as the docker CLI prints it.
        string id = EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.Id}}", tag)).Stdout.Trim();
        Assert.Equal(id + "\n", EngineFixture.Check(Berth(["build", "-q", "-f", dockerfile, "--build-arg", "WHO=berth", "--label", "made=berth-cli", context])).Stdout);
        Assert.Equal(id + "\n", EngineFixture.Check(Build(context, true, ["-q", "-f", dockerfile, "--build-arg", "WHO=berth", "--label", "made=berth-cli"])).Stdout);

        // A Dockerfile on stdin, no context.
        string stdinTag = TestNames.Unique("bstd", 12);
        var stdin = EngineFixture.Check(Sh.Bash($"printf 'FROM webapp:noexpose\\nCMD [\"echo\", \"from-stdin\"]\\n' | BERTH_HOST={Engine.DockerHost} " +
            $"{Path.Combine(EngineProcess.RepoRoot(), "berth")} build -t {stdinTag} -", TimeSpan.FromSeconds(180)));
        Assert.Contains("Step 2/2 : CMD [\"echo\", \"from-stdin\"]", stdin.Stdout);
        Assert.Equal("from-stdin\n", EngineFixture.Check(Engine.Docker("run", "--rm", stdinTag)).Stdout);

        var missing = Berth("build", Path.Combine(context, "nope"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal($"unable to prepare context: path \"{Path.Combine(context, "nope")}\" not found\n", missing.Stderr);
    }

    [Fact]
    public void A_failed_step_keeps_its_container_unless_force_rm_and_berth_exits_with_its_code()
    {
        string context = Context(("Dockerfile", "FROM webapp:noexpose\nRUN echo kept-" + TestNames.Unique("k", 8) + " && exit 5\n"));
        int Containers() => EngineFixture.Check(Engine.Docker("ps", "-aq")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        int before = Containers();
        var failed = Berth("build", context);
        Assert.Equal(5, failed.ExitCode);
        Assert.Contains("The command '/bin/sh -c echo kept-", failed.Stderr);
        Assert.Contains("returned a non-zero code: 5", failed.Stderr);
        string kept = Regex.Match(failed.Stdout, " ---> Running in ([0-9a-f]{12})").Groups[1].Value;
        Assert.Equal("exited 5", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", kept)).Stdout.Trim());
        EngineFixture.Check(Engine.Docker("rm", kept));

        var forced = Build(context, true, "--force-rm");
        Assert.Equal(5, forced.ExitCode);
        Assert.Equal(before, Containers());
    }

    [Fact]
    public void Berth_commit_diff_export_save_and_history_match_the_docker_cli()
    {
        string name = TestNames.Unique("bcm", 14), tag = TestNames.Unique("bcm", 12) + ":c";
        EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose", "sh", "-c", "rm /etc/group && echo x > /root/new && exec sleep 300"));
        try
        {
            EngineFixture.Check(WaitFor.UntilSuccess(() => Engine.Docker("exec", name, "sh", "-c", "test -s /root/new")));
            string diff = EngineFixture.Check(Berth("diff", name)).Stdout;
            Assert.Equal(EngineFixture.Check(Engine.Docker("diff", name)).Stdout, diff);
            Assert.Contains("D /etc/group\n", diff);

            // Committing a running container pauses it for the moment of the commit and leaves it running.
            string id = EngineFixture.Check(Berth("commit", "-c", "CMD [\"cat\", \"/root/new\"]", "-m", "by berth", name, tag)).Stdout.Trim();
            Assert.Matches("^sha256:[0-9a-f]{64}$", id);
            Assert.Equal("running", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.State.Status}}", name)).Stdout.Trim());
            Assert.Equal("x\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag)).Stdout);
            EngineFixture.Check(Berth("commit", "--pause=false", name, tag));
            Assert.Equal("running", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.State.Status}}", name)).Stdout.Trim());

            const string format = "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}";
            string history = EngineFixture.Check(Berth("history", "--format", format, tag)).Stdout;
            Assert.Equal(EngineFixture.Check(Engine.Docker("history", "--format", format, tag)).Stdout, history);
            Assert.Equal(EngineFixture.Check(Engine.Docker("history", "-q", "--no-trunc", tag)).Stdout, EngineFixture.Check(Berth("history", "-q", "--no-trunc", tag)).Stdout);
            Assert.StartsWith("IMAGE          CREATED", EngineFixture.Check(Berth("history", tag)).Stdout);

            string export = Path.Combine(Engine.Root, name + "-berth.tar");
            EngineFixture.Check(Sh.Bash($"BERTH_HOST={Engine.DockerHost} {Path.Combine(EngineProcess.RepoRoot(), "berth")} export {name} > {export}", TimeSpan.FromSeconds(180)));
            var files = EngineFixture.Check(Sh.Run("tar", ["tf", export])).Stdout.Split('\n');
            Assert.Contains("root/new", files);
            Assert.DoesNotContain("etc/group", files);

            string saved = Path.Combine(Engine.Root, name + "-berth-save.tar");
            EngineFixture.Check(Berth("save", "-o", saved, tag, "webapp:noexpose"));
            EngineFixture.Check(Engine.Docker("rmi", tag));
            var load = EngineFixture.Check(Berth("load", "-i", saved));
            Assert.Contains($"Loaded image: {tag}", load.Stdout);
            Assert.Equal("x\n", EngineFixture.Check(Engine.Docker("run", "--rm", tag, "cat", "/root/new")).Stdout);

            var terminal = Berth("save", "nonexistent-image-" + name);
            Assert.Equal(1, terminal.ExitCode);
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    [Fact]
    public void Build_cache_prune_reports_what_it_frees_images_filter_by_reference_and_import_writes_history()
    {
        // The first image loses its tag to the second: only the build cache still names it.
        string tag = TestNames.Unique("prn", 12);
        EngineFixture.Check(Build(Context(("Dockerfile", $"FROM webapp:noexpose\nRUN head -c 300000 /dev/urandom > /blob-{tag}\n")), true, "-t", tag));
        string context = Context(("Dockerfile", $"FROM webapp:noexpose\nRUN echo other > /other-{tag}\n"));
        EngineFixture.Check(Build(context, true, "-t", tag));
        var prune = EngineFixture.Check(Engine.Docker("builder", "prune", "-f"));
        var reclaimed = Regex.Match(prune.Stdout, @"Total(?: reclaimed space)?:\s+([0-9.]+)(kB|MB)");
        Assert.True(reclaimed.Success, prune.Stdout);
        Assert.True(double.Parse(reclaimed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) * (reclaimed.Groups[2].Value == "MB" ? 1000 : 1) >= 300, prune.Stdout);

        string repo = TestNames.Unique("flt", 12);
        EngineFixture.Check(Engine.Docker("tag", "webapp:noexpose", repo + ":one"));
        EngineFixture.Check(Engine.Docker("tag", "webapp:noexpose", repo + ":two"));
        Assert.Equal($"{repo} one\n{repo} two\n", string.Concat(EngineFixture.Check(Engine.Docker("images", "--format", "{{.Repository}} {{.Tag}}", repo)).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).Select(l => l + "\n")));
        Assert.Equal($"{repo} two\n", EngineFixture.Check(Engine.Docker("images", "--format", "{{.Repository}} {{.Tag}}", repo + ":t*")).Stdout);

        string imported = TestNames.Unique("imp", 12);
        string rootfs = Path.Combine(Engine.Root, imported + ".tar");
        EngineFixture.Check(Sh.Run("tar", ["cf", rootfs, "-C", Path.GetDirectoryName(rootfs)!, Path.GetFileName(context)]));
        EngineFixture.Check(Engine.Docker("import", "-m", "from a tar", rootfs, imported));
        Assert.Equal("from a tar\n", EngineFixture.Check(Engine.Docker("history", "--format", "{{.Comment}}", imported)).Stdout);
    }
}
