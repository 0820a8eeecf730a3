using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>`run`/`create` of a missing image and their --pull policies; `pull -a`. Both CLIs.</summary>
public sealed partial class RegistryTests
{
    private ShResult Berth(params string[] args) =>
        Sh.Run(Path.Combine(EngineProcess.RepoRoot(), "berth"), args, TimeSpan.FromSeconds(180),
            new Dictionary<string, string> { ["BERTH_HOST"] = fixture.Engine.DockerHost, ["DOCKER_CONFIG"] = fixture.DockerConfig });

    [Fact]
    public async Task Berth_run_and_create_pull_a_missing_image_as_the_docker_cli_and_honour_the_pull_policy()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("pol", 10)}:latest";
        fixture.CommitUnique(name);
        Ok(Docker("push", name));
        Ok(Docker("rmi", name));

        var never = Berth("create", "--pull", "never", name);
        Assert.NotEqual(0, never.ExitCode);
        Assert.Contains("No such image", never.Stderr);
        Assert.DoesNotContain("Unable to find image", never.Stderr);

        var run = Berth("run", "--rm", name, "echo", "pulled-and-ran");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Contains($"Unable to find image '{name}' locally", run.Stderr);
        Assert.Contains("Pull complete", run.Stderr);
        Assert.Contains($"Status: Downloaded newer image for {name}", run.Stderr);
        Assert.Equal("pulled-and-ran\n", run.Stdout); // the pull's progress is on stderr only

        var always = Berth("create", "--pull", "always", name);
        Assert.True(always.ExitCode == 0, always.Stderr);
        Assert.Contains($"Status: Image is up to date for {name}", always.Stderr);
        string id = always.Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", id);
        Ok(Docker("rm", id));

        Ok(Docker("rmi", name));
        var quiet = Berth("create", "-q", name);
        Assert.True(quiet.ExitCode == 0, quiet.Stderr);
        Assert.Equal("", quiet.Stderr);
        Ok(Docker("rm", quiet.Stdout.Trim()));

        var bad = Berth("run", "--pull", "sometimes", name);
        Assert.Equal(125, bad.ExitCode);
        Assert.Contains("invalid pull option: 'sometimes'", bad.Stderr);

        var missing = Berth("run", "--rm", $"{registry.Host}/nothing-here:v9", "true");
        Assert.Equal(125, missing.ExitCode);
        Assert.Contains("not found", missing.Stderr);

        // The docker CLI pulls first itself with --pull always.
        var dockerAlways = Docker("run", "--rm", "--pull", "always", name, "echo", "again");
        Assert.True(dockerAlways.ExitCode == 0, dockerAlways.Stderr);
        Assert.Contains($"Status: Image is up to date for {name}", dockerAlways.Stderr);
        Assert.Contains("again", dockerAlways.Stdout);
        Ok(Docker("rmi", name));
    }

    [Fact]
    public async Task Pull_all_tags_fetches_every_tag_of_the_repository()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string repo = $"{registry.Host}/{TestNames.Unique("all", 10)}";
        foreach (string tag in new[] { "v1", "v2" })
        {
            fixture.CommitUnique($"{repo}:{tag}");
            Ok(Docker("push", $"{repo}:{tag}"));
            Ok(Docker("rmi", $"{repo}:{tag}"));
        }

        var pull = Ok(Docker("pull", "-a", repo));
        Assert.Contains("v1: Pulling from ", pull.Stdout);
        Assert.Contains("v2: Pulling from ", pull.Stdout);
        Assert.Contains($"Status: Downloaded newer image for {repo}\n", pull.Stdout);
        Assert.EndsWith(repo + "\n", pull.Stdout);
        string tags = Ok(Docker("images", "--format", "{{.Repository}}:{{.Tag}}", repo)).Stdout;
        Assert.Contains($"{repo}:v1\n", tags);
        Assert.Contains($"{repo}:v2\n", tags);

        var again = Ok(Berth("pull", "--all-tags", repo));
        Assert.Contains($"Status: Image is up to date for {repo}\n", again.Stdout);
        Assert.EndsWith(repo + "\n", again.Stdout);
        Ok(Docker("rmi", $"{repo}:v1", $"{repo}:v2"));
        var berth = Ok(Berth("pull", "-a", repo));
        Assert.Contains("v2: Pulling from ", berth.Stdout);
        Assert.Contains($"Status: Downloaded newer image for {repo}\n", berth.Stdout);

        var tagged = Berth("pull", "-a", repo + ":v1");
        Assert.NotEqual(0, tagged.ExitCode);
        Assert.Contains("tag can't be used with --all-tags/-a", tagged.Stderr);
        Ok(Docker("rmi", $"{repo}:v1", $"{repo}:v2"));
    }
}
