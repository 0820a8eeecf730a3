using System.ComponentModel;
using System.Diagnostics;

namespace Berth.Networking.Firewall;

/// <summary>Runs an admin tool (conntrack, iptables) on a rare path and returns its exit code and stderr;
/// null when the tool is not installed.</summary>
internal static class ExternalTool
{
    public static (int ExitCode, string Error)? Run(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        try
        {
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            string error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            stdout.Wait();
            return (process.ExitCode, error.Trim());
        }
        catch (Win32Exception) { return null; }
    }
}
