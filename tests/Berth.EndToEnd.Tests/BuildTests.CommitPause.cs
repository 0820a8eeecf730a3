using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

public sealed partial class BuildTests
{
    /// <summary>`docker commit` freezes a running container while it reads its layer (the default --pause=true):
    /// the events show the freezer's pause before the commit and the thaw after, in dockerd's order; --pause=false
    /// commits the running container as it is. `docker pause` itself reports its events too.</summary>
    [Fact]
    public void Commit_freezes_the_container_while_it_commits_unless_pause_is_false()
    {
        string name = TestNames.Unique("frz", 14), tag = TestNames.Unique("frz", 12);
        string since = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString();
        EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose",
            "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /count; done"));
        try
        {
            EngineFixture.Check(Engine.Docker("commit", "-m", "frozen", name, tag + ":paused"));
            EngineFixture.Check(Engine.Docker("commit", "--pause=false", name, tag + ":live"));
            Assert.Equal("running false", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", name)).Stdout.Trim());
            string until = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1).ToString();
            var actions = EngineFixture.Check(Engine.Docker("events", "--since", since, "--until", until, "--filter", $"container={name}",
                "--format", "{{.Action}} {{index .Actor.Attributes \"comment\"}}")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["create", "start", "pause", "commit frozen", "unpause", "commit"], actions.Select(a => a.Trim()));
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    /// <summary>A container created and never started has no upper directory yet: `docker diff` lists nothing and
    /// `docker commit` makes an empty layer, as with dockerd (the API fuzz found a 500 here).</summary>
    [Fact]
    public void Diff_and_commit_of_a_container_never_started_are_empty_not_errors()
    {
        string name = TestNames.Unique("fresh", 14), tag = TestNames.Unique("fresh", 12) + ":v1";
        EngineFixture.Check(Engine.Docker("create", "--name", name, "webapp:noexpose"));
        try
        {
            Assert.Equal("", EngineFixture.Check(Engine.Docker("diff", name)).Stdout);
            EngineFixture.Check(Engine.Docker("commit", name, tag));
            Assert.Contains("root:x:0:", EngineFixture.Check(Engine.Docker("run", "--rm", tag, "cat", "/etc/group")).Stdout);
            EngineFixture.Check(Engine.Docker("rmi", tag));
        }
        finally { Engine.Docker("rm", "-f", name); }
    }
}
