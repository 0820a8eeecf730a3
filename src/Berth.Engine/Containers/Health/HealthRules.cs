using Berth.Engine.Model;

namespace Berth.Engine.Containers.Health;

/// <summary>What one probe result does to State.Health (moby's handleProbeResult): success makes it healthy and
/// clears the streak; a failure counts unless the container is still starting within its start period, and
/// `Retries` failures in a row make it unhealthy. The log keeps the last 5 probes.</summary>
public static class HealthRules
{
    /// <returns>The new status when it changed, else null.</returns>
    public static string? Apply(HealthState health, HealthProbe probe, HealthSettings settings, DateTimeOffset startedAt)
    {
        string before = health.Status;
        health.Log.Add(probe);
        if (health.Log.Count > HealthSettings.MaxLogEntries) health.Log.RemoveRange(0, health.Log.Count - HealthSettings.MaxLogEntries);
        if (probe.ExitCode == 0)
        {
            health.FailingStreak = 0;
            health.Status = HealthState.Healthy;
        }
        else if (!(health.Status == HealthState.Starting && probe.Start - startedAt < settings.StartPeriod))
        {
            health.FailingStreak++;
            if (health.FailingStreak >= settings.Retries) health.Status = HealthState.Unhealthy;
        }
        return health.Status == before ? null : health.Status;
    }
}
