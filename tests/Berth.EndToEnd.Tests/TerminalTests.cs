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
/// terminal back; and a raw hijacked exec whose own DetachKeys the daemon finds.</summary>
public sealed class TerminalTests(TerminalFixture fixture) : IClassFixture<TerminalFixture>
{
    [Fact]
    public void Exec_and_run_on_a_terminal_follow_its_size_and_detach_with_the_process_running()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "terminal.py");
        var result = Sh.Run("python3",
            [script, fixture.Engine.DockerHost, TerminalFixture.Image, TestNames.Unique("tty", 12).ToLowerInvariant()],
            TimeSpan.FromSeconds(240));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        foreach (string step in new[] { "OK exec tty", "OK exec detach", "OK daemon detach", "OK run tty" })
            Assert.Contains(step, result.Stdout);
    }
}
