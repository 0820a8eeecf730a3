namespace Berth.Engine.Model;

/// <summary>State.Health as Docker shows it: starting, healthy or unhealthy, the failures in a row, the last 5 probes.</summary>
public sealed class HealthState
{
    public const string Starting = "starting";
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";

    public string Status { get; set; } = Starting;
    public int FailingStreak { get; set; }
    public List<HealthProbe> Log { get; set; } = new();
}

public sealed class HealthProbe
{
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset End { get; set; }
    public int ExitCode { get; set; }
    public string Output { get; set; } = "";
}
