using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>`--log-driver json-file|local|none` through the docker CLI: local reads back as json-file does, none
/// refuses `docker logs` with dockerd's message, anything else is refused at create.</summary>
public sealed class LogDriverTests(TerminalFixture fixture) : IClassFixture<TerminalFixture>
{
    private EngineProcess Engine => fixture.Engine;

    /// <summary>The engine tore a container down before its log drain's turn came and dropped the drain: logs read
    /// right after the exit missed the last lines (all of them for a short container) on a loaded machine.</summary>
    [Fact]
    public void Logs_read_right_after_the_exit_hold_every_line_the_container_wrote()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "logs_at_exit.py");
        var result = Sh.Run("python3", [script, Engine.DockerHost, TerminalFixture.Image, "4", "4"], TimeSpan.FromSeconds(300));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("ok 16", result.Stdout);
    }

    [Fact]
    public void Local_reads_back_none_refuses_and_an_unknown_driver_is_a_bad_request()
    {
        string local = TestNames.Unique("logl", 16), none = TestNames.Unique("logn", 16);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "--name", local, "--log-driver", "local", TerminalFixture.Image,
                "sh", "-c", "echo one; echo two; echo three"));
            var tail = EngineFixture.Check(Engine.Docker("logs", "--tail", "2", "-t", "--since", "0", local));
            string[] lines = tail.Stdout.Trim().Split('\n');
            Assert.Equal(2, lines.Length);
            Assert.EndsWith(" two", lines[0]);
            Assert.EndsWith(" three", lines[1]);
            Assert.Equal("local", Engine.Docker("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", local).Stdout.Trim());
            // Docker's layout for local, which dockerd keeps out of the API (LogPath empty).
            Assert.Equal("", Engine.Docker("inspect", "-f", "{{.LogPath}}", local).Stdout.Trim());
            string id = Engine.Docker("inspect", "-f", "{{.Id}}", local).Stdout.Trim();
            Assert.True(File.Exists(Path.Combine(Engine.DataRoot, "containers", id, "local-logs", "container.log")));

            EngineFixture.Check(Engine.Docker("run", "-d", "--name", none, "--log-driver", "none", TerminalFixture.Image,
                "sh", "-c", "echo hidden; sleep 300"));
            var refused = Engine.Docker("logs", none);
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("configured logging driver does not support reading", refused.Stderr);

            var bogus = Engine.Docker("run", "-d", "--log-driver", "bogus", TerminalFixture.Image);
            Assert.Equal(125, bogus.ExitCode);
            Assert.Contains("logger: no log driver named 'bogus' is registered", bogus.Stderr);
        }
        finally
        {
            Engine.Docker("rm", "-f", local, none);
        }
    }
}
