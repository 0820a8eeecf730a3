using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine and a busybox image with the applets a shell on a terminal needs (stty, tty, ps).</summary>
public sealed class TerminalFixture : IAsyncLifetime
{
    public const string Image = "terminal:busybox";
    private static readonly string[] Applets = ["sh", "stty", "tty", "tr", "ps", "sleep", "echo", "cat"];

    public EngineProcess Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Engine = await EngineProcess.StartAsync();
        BusyboxImage.Import(Engine, Image, Applets, ["bin", "etc", "tmp", "proc", "sys", "dev"]);
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();
}

/// <summary>The unmodified docker CLI on a real pseudo-terminal (py/terminal.py holds its master, as a terminal
/// emulator would): `exec -it` and `run -it` get the client's window size and its changes, raw mode (ctrl-c reaches
/// the container), the exit code, ctrl-p ctrl-q detaching with the process left running, `attach` taking the
/// terminal back, with the daemon's detach event for a client that hangs up; and a raw hijacked exec whose own
/// DetachKeys the daemon finds. Berth's own client goes through the same steps.</summary>
public sealed class TerminalTests(TerminalFixture fixture) : IClassFixture<TerminalFixture>
{
    [Theory]
    [InlineData("docker")]
    [InlineData("berth")]
    public void Exec_and_run_on_a_terminal_follow_its_size_and_detach_with_the_process_running(string client)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "terminal.py");
        string binary = client == "docker" ? "/usr/local/bin/docker" : Path.Combine(EngineProcess.RepoRoot(), "berth");
        var result = Sh.Run("python3",
            [script, fixture.Engine.DockerHost, TerminalFixture.Image, TestNames.Unique("tty", 12).ToLowerInvariant(), binary],
            TimeSpan.FromSeconds(240));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        var steps = client == "docker"
            ? new[] { "OK exec tty", "OK exec detach", "OK daemon detach", "OK run tty" }
            : new[] { "OK exec tty", "OK exec detach", "OK run tty" };
        foreach (string step in steps) Assert.Contains(step, result.Stdout);
    }
}
