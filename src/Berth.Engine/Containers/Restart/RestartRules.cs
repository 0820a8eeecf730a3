using Berth.Engine.Model;

namespace Berth.Engine.Containers.Restart;

/// <summary>Docker's restart policies (moby's restartmanager): when a container that exited is started again, and
/// after how long. The wait starts at 100 ms and doubles per restart up to a minute; a run of 10 s or more resets
/// it.</summary>
public static class RestartRules
{
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan ResetAfter = TimeSpan.FromSeconds(10);

    /// <summary>On an exit while the engine runs. An explicit stop or kill never restarts.</summary>
    public static bool ShouldRestart(RestartPolicy policy, int exitCode, bool manuallyStopped, int restartCount) =>
        !manuallyStopped && policy.Name switch
        {
            "always" or "unless-stopped" => true,
            "on-failure" => exitCode != 0 && (policy.MaximumRetryCount == 0 || restartCount < policy.MaximumRetryCount),
            _ => false,
        };

    /// <summary>At engine start, for a container found not running that has run before: `always` comes back even
    /// after an explicit stop (Docker's documented difference from unless-stopped).</summary>
    public static bool ShouldStartWithEngine(RestartPolicy policy, int exitCode, bool manuallyStopped, int restartCount) =>
        policy.Name == "always" || ShouldRestart(policy, exitCode, manuallyStopped, restartCount);

    /// <summary>The wait before the next restart, given the last wait (zero for none yet) and how long the container ran.</summary>
    public static TimeSpan NextDelay(TimeSpan previous, TimeSpan ranFor)
    {
        if (ranFor >= ResetAfter) previous = TimeSpan.Zero;
        var next = previous == TimeSpan.Zero ? FirstDelay : previous * 2;
        return next > MaxDelay ? MaxDelay : next;
    }
}
