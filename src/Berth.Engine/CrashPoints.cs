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

    private static readonly string? Armed = Environment.GetEnvironmentVariable(Variable);

    public static void Hit(string point)
    {
        if (Armed is not null && Armed == point) Interop.Kill(Environment.ProcessId, 9);
    }
}
