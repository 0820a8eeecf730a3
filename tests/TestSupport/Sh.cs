using System.Diagnostics;

namespace Berth.TestSupport;

public sealed record ShResult(int ExitCode, string Stdout, string Stderr);

/// <summary>Runs a program with a timeout and captures its output.</summary>
public static class Sh
{
    public static ShResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, IDictionary<string, string>? env = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new ShResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static ShResult Bash(string script, TimeSpan? timeout = null) => Run("bash", ["-c", script], timeout);

    public static ShResult Docker(string dockerHost, params string[] args) =>
        Run("/usr/local/bin/docker", args, TimeSpan.FromSeconds(60), new Dictionary<string, string> { ["DOCKER_HOST"] = dockerHost });
}
