using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Berth.Runtime.Containers;

/// <summary>The OCI runtime in use, chosen by running a trivial container with each candidate (crun first, then
/// runc): a runtime that is installed but cannot run containers here (crun 1.8 on hybrid cgroups) is skipped.
/// The verdict is cached per binary and mtime under the exec root, so daemon start stays fast.</summary>
public sealed class OciRuntimeInfo
{
    private OciRuntimeInfo(string name, string path)
    {
        Name = name;
        Path = path;
    }

    public string Name { get; }
    public string Path { get; }

    public static OciRuntimeInfo Probe(string? preferred, string scratchDirectory, ILogger? logger)
    {
        var candidates = preferred is { Length: > 0 } ? [preferred] : new[] { "crun", "runc" };
        var failures = new List<string>();
        foreach (string candidate in candidates)
        {
            string? path = Resolve(candidate);
            if (path is null) { failures.Add($"{candidate}: not found"); continue; }
            string name = System.IO.Path.GetFileName(path);
            string cache = System.IO.Path.Combine(scratchDirectory, $"{name}-{File.GetLastWriteTimeUtc(path).Ticks}.verdict");
            if (File.Exists(cache))
            {
                string verdict = File.ReadAllText(cache);
                if (verdict == "ok") return new OciRuntimeInfo(name, path);
                failures.Add($"{name}: {verdict}");
                continue;
            }
            string? error = TryRunTrivialContainer(path, scratchDirectory);
            Directory.CreateDirectory(scratchDirectory);
            File.WriteAllText(cache, error ?? "ok");
            if (error is null)
            {
                logger?.LogInformation("OCI runtime: {Runtime} ({Path})", name, path);
                return new OciRuntimeInfo(name, path);
            }
            logger?.LogWarning("OCI runtime {Runtime} cannot run containers here: {Error}", name, error);
            failures.Add($"{name}: {error}");
        }
        throw new RuntimeException("no usable OCI runtime: " + string.Join("; ", failures));
    }

    private static string? Resolve(string candidate)
    {
        if (candidate.Contains('/')) return File.Exists(candidate) ? candidate : null;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Concat(["/usr/sbin", "/usr/bin"]))
        {
            string path = System.IO.Path.Combine(dir, candidate);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>busybox-static (a project dependency) as the whole rootfs; `true` must exit 0.</summary>
    private static string? TryRunTrivialContainer(string runtime, string scratch)
    {
        const string busybox = "/usr/bin/busybox";
        if (!File.Exists(busybox)) return null; // cannot probe: trust the runtime
        string bundle = System.IO.Path.Combine(scratch, "bundle-" + Guid.NewGuid().ToString("N")[..8]);
        string id = "berth-probe-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            Directory.CreateDirectory(System.IO.Path.Combine(bundle, "rootfs", "bin"));
            File.Copy(busybox, System.IO.Path.Combine(bundle, "rootfs", "bin", "busybox"));
            var spec = new ContainerSpec { Id = id, BundleDirectory = bundle, Args = ["/bin/busybox", "true"], Env = ["PATH=/bin"] };
            File.WriteAllText(System.IO.Path.Combine(bundle, "config.json"), Oci.OciSpecBuilder.Build(spec, "rootfs"));
            var info = new ProcessStartInfo(runtime) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = bundle };
            foreach (string a in new[] { "run", "--bundle", bundle, id }) info.ArgumentList.Add(a);
            using var process = Process.Start(info)!;
            string stderr = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(20000)) { process.Kill(); return "timed out"; }
            return process.ExitCode == 0 ? null : (stderr.Trim().Split('\n').LastOrDefault() ?? $"exit {process.ExitCode}");
        }
        catch (Exception e) { return e.Message; }
        finally
        {
            try
            {
                using var delete = Process.Start(new ProcessStartInfo(runtime, ["delete", "--force", id]) { RedirectStandardError = true, RedirectStandardOutput = true });
                delete?.WaitForExit(5000);
            }
            catch (Exception) { }
            try { Directory.Delete(bundle, recursive: true); } catch (IOException) { }
        }
    }
}
