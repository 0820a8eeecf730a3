using System.Globalization;

namespace Berth.Runtime.Containers;

/// <summary>Which process a pid named when Berth started it: the boot it ran in (/proc/sys/kernel/random/boot_id) and
/// its start time (field 22 of /proc/PID/stat, clock ticks since boot). A bare pid is reused after the process dies or
/// the host reboots; the pair names one process for good, so a stale record never makes Berth signal a stranger.
/// </summary>
public sealed record ProcessIdentity(int Pid, string BootId, ulong StartTime)
{
    public const string DefaultProcRoot = "/proc";

    private static readonly Lazy<string> CurrentBootId = new(() => ReadBootId(DefaultProcRoot));

    /// <summary>The identity of a live process, or null when there is no process with that pid.</summary>
    public static ProcessIdentity? Read(int pid, string procRoot = DefaultProcRoot) =>
        pid > 0 && ReadStartTime(pid, procRoot) is ulong start ? new ProcessIdentity(pid, CurrentBoot(procRoot), start) : null;

    /// <summary>True while the pid still names this very process: same boot, same start time.</summary>
    public bool IsCurrent(string procRoot = DefaultProcRoot) =>
        Pid > 0 && BootId.Length > 0 && BootId == CurrentBoot(procRoot) && ReadStartTime(Pid, procRoot) == StartTime;

    public static string CurrentBoot(string procRoot = DefaultProcRoot) =>
        procRoot == DefaultProcRoot ? CurrentBootId.Value : ReadBootId(procRoot);

    private static string ReadBootId(string procRoot)
    {
        try { return File.ReadAllText(Path.Combine(procRoot, "sys/kernel/random/boot_id")).Trim(); }
        catch (IOException) { return ""; }
    }

    /// <summary>Field 22 of /proc/PID/stat. The command name (field 2) is in parentheses and may hold spaces and
    /// parentheses itself, so fields are counted after the last ')'.</summary>
    public static ulong? ReadStartTime(int pid, string procRoot = DefaultProcRoot)
    {
        string stat;
        try { stat = File.ReadAllText(Path.Combine(procRoot, pid.ToString(CultureInfo.InvariantCulture), "stat")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return ParseStartTime(stat);
    }

    public static ulong? ParseStartTime(string stat)
    {
        int close = stat.LastIndexOf(')');
        if (close < 0) return null;
        // After ')' come field 3 (state) onwards: field 22 is the 20th of them.
        string[] fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 20 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out ulong start)
            ? start : null;
    }
}
