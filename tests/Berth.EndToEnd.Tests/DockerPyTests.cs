using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>docker-py 7.1 against the engine: version negotiation, run detached, inspect, HTTP to the container.</summary>
public sealed class DockerPyTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    [Fact]
    public void Docker_py_runs_a_container_that_answers_at_its_address()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "scenario.py");
        var result = Sh.Run("python3", [script, fixture.Engine.DockerHost, TestNames.Unique("py", 12)], TimeSpan.FromSeconds(90));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("Hostname:", result.Stdout);
        Assert.Contains($"Remote IP:</b> {fixture.Engine.Gateway}", result.Stdout);
    }
}
