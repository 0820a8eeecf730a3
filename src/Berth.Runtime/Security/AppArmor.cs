using System.Diagnostics;

namespace Berth.Runtime.Security;

/// <summary>Berth's default AppArmor profile, in the spirit of Docker's docker-default (written for Berth): the
/// container keeps what its capabilities and seccomp filter allow, but may not mount, write kernel settings under
/// /proc and /sys, or read the kernel's memory and firmware; only its own kind may signal or trace it.</summary>
public static class AppArmor
{
    public const string DefaultProfileName = "berth-default";

    public static string DefaultProfileText(string name = DefaultProfileName) => $$"""
        #include <tunables/global>

        profile {{name}} flags=(attach_disconnected,mediate_deleted) {
          #include <abstractions/base>

          network,
          capability,
          file,
          umount,

          # The host (unconfined) and the container's own processes may signal it; its processes trace each other only.
          signal (receive) peer=unconfined,
          signal (send,receive) peer={{name}},
          ptrace (trace,read,tracedby,readby) peer={{name}},

          # No mounts: a mount could uncover what the masked paths hide.
          deny mount,

          # Kernel settings and raw kernel state: /proc/sys and the top of /proc are not the container's to write,
          # /proc/<pid>/ is (oom_score_adj, attr).
          deny @{PROC}/* w,
          deny @{PROC}/sys/** w,
          deny @{PROC}/{bus,fs,irq,driver,tty}/** w,
          deny @{PROC}/sysrq-trigger rwklx,
          deny @{PROC}/kcore rwklx,

          # sysfs is read-only for an unprivileged container; firmware, LSM state and power capping are not even read.
          deny /sys/** wklx,
          deny /sys/firmware/** rwklx,
          deny /sys/kernel/security/** rwklx,
          deny /sys/devices/virtual/powercap/** rwklx,
        }
        """;

    /// <summary>AppArmor is on (the kernel module says Y) and its parser is installed.</summary>
    public static bool HostSupports(string enabledFile = "/sys/module/apparmor/parameters/enabled")
    {
        try
        {
            return File.Exists(enabledFile) && File.ReadAllText(enabledFile).StartsWith('Y') && Parser() is not null;
        }
        catch (IOException) { return false; }
    }

    private static string? Parser() =>
        new[] { "/sbin/apparmor_parser", "/usr/sbin/apparmor_parser" }.FirstOrDefault(File.Exists);

    /// <summary>As dockerd: a package upgrade or an admin may unload profiles; load ours again when the kernel no
    /// longer lists it (a start would fail otherwise).</summary>
    public static void EnsureDefaultProfileLoaded(string directory,
        string loadedProfiles = "/sys/kernel/security/apparmor/profiles")
    {
        try
        {
            if (File.ReadLines(loadedProfiles).Any(l => l.StartsWith(DefaultProfileName + " (", StringComparison.Ordinal)))
                return;
        }
        catch (IOException) { }
        if (LoadDefaultProfile(directory) is { } error)
            throw new SecurityOptionException($"AppArmor profile {DefaultProfileName} is not loaded and loading it "
                + $"failed: {error}");
    }

    /// <summary>Writes the profile under <paramref name="directory"/> and loads (or replaces) it in the kernel;
    /// null on success, else why not.</summary>
    public static string? LoadDefaultProfile(string directory)
    {
        string? parser = Parser();
        if (parser is null) return "apparmor_parser is not installed";
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, DefaultProfileName);
        File.WriteAllText(path, DefaultProfileText());
        var info = new ProcessStartInfo(parser) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "-Kr", path }) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        string error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(30000))
        {
            process.Kill();
            return "apparmor_parser did not finish in 30 s";
        }
        return process.ExitCode == 0 ? null : $"apparmor_parser failed ({process.ExitCode}): {error.Trim()}";
    }
}
