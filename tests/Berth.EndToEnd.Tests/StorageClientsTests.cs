using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Storage through docker-py 7.1 (volumes, put_archive with hostile tars, get_archive, mounts and tmpfs) and Debian's docker-compose 1.29 (a
/// named volume whose data outlives `down`/`up`, and `down -v` leaving no volume behind).</summary>
public sealed class StorageClientsTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;

    [Fact]
    public void Docker_py_manages_volumes_and_archives()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "storage.py");
        var result = Sh.Run("python3", [script, Engine.DockerHost, TestNames.Unique("py", 10).ToLowerInvariant()],
            TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        foreach (string step in new[] { "OK volumes", "OK archive", "OK errors", "OK hostile archives", "OK mounts", "OK prune" })
            Assert.Contains(step, result.Stdout);
    }

    [Fact]
    public void Compose_keeps_a_named_volume_across_down_and_up_and_down_v_removes_it()
    {
        string project = TestNames.Unique("cmp", 12).ToLowerInvariant();
        string dir = Path.Combine(Engine.Root, project);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "docker-compose.yml"), """
            version: "3.7"
            services:
              db:
                image: webapp:noexpose
                command: ["sh", "-c", "date >> /var/db/starts; sleep 300"]
                volumes:
                  - dbdata:/var/db
            volumes:
              dbdata:
            """);
        var env = new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost, ["COMPOSE_PROJECT_NAME"] = project };
        ShResult Compose(params string[] args) =>
            Sh.Run("docker-compose", ["--project-directory", dir, "-f", Path.Combine(dir, "docker-compose.yml"), .. args],
                TimeSpan.FromSeconds(120), env);
        try
        {
            EngineFixture.Check(Compose("up", "-d"));
            Assert.Contains(project + "_dbdata", Engine.Docker("volume", "ls", "-q").Stdout);
            EngineFixture.Check(Compose("down"));
            Assert.Contains(project + "_dbdata", Engine.Docker("volume", "ls", "-q").Stdout);
            EngineFixture.Check(Compose("up", "-d"));
            string starts = EngineFixture.Check(Compose("exec", "-T", "db", "cat", "/var/db/starts")).Stdout;
            Assert.Equal(2, starts.Trim().Split('\n').Length);
            EngineFixture.Check(Compose("down", "-v"));
            Assert.DoesNotContain(project, Engine.Docker("volume", "ls", "-q").Stdout);
        }
        finally { Compose("down", "-v"); }
    }
}
