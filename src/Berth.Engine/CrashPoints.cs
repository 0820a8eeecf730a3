using Berth.Linux;

namespace Berth.Engine;

/// <summary>A test hook: with BERTH_TEST_CRASH_AT=&lt;point&gt; in its environment the daemon SIGKILLs itself when it
/// reaches that step, so tests can prove that a restart finishes or undoes every step (kill -9 at each step of
/// create, start and rm). Unset (always, outside tests) it costs one string comparison.</summary>
public static class CrashPoints
{
    public const string Variable = "BERTH_TEST_CRASH_AT";

    /// <summary>Every point, in the order a create → start → rm -f passes them.</summary>
    public static readonly string[] All =
    [
        "create.after-record",
        "start.after-netns", "start.after-endpoints", "start.after-ports", "start.after-runtime-create",
        "start.after-runtime-start", "start.after-record",
        "teardown.after-runtime-delete", "teardown.after-unpublish", "teardown.after-detach", "teardown.after-netns",
        "exit.after-record", "rm.after-teardown", "rm.after-forget", "rm.after-record",
    ];

    /// <summary>BERTH_TEST_PAUSE_AT=&lt;point&gt;=&lt;file&gt;: at that point the daemon creates the file and waits (at
    /// most a minute) until the test deletes it, so a test can run a request inside a window that is otherwise
    /// microseconds wide (rmi while a create holds its image).</summary>
    public const string PauseVariable = "BERTH_TEST_PAUSE_AT";

    private static readonly string? Armed = Environment.GetEnvironmentVariable(Variable);
    private static readonly string? PauseArmed = Environment.GetEnvironmentVariable(PauseVariable);

    public static void Hit(string point)
    {
        if (Armed is not null && Armed == point) Interop.Kill(Environment.ProcessId, 9);
        if (PauseArmed is not null && PauseArmed.StartsWith(point + "=", StringComparison.Ordinal)) Pause(PauseArmed[(point.Length + 1)..]);
    }

    private static void Pause(string file)
    {
        File.WriteAllText(file, "");
        for (int waited = 0; File.Exists(file) && waited < 60_000; waited += 10) Thread.Sleep(10);
    }
}
