using Berth.Runtime.Oci;
using Berth.Runtime.Resources;

namespace Berth.Runtime.Containers;

/// <summary>Pause, resume and live limit changes go through the OCI runtime (its freezer and cgroup code know both
/// cgroup versions); figures are read from the cgroup files directly, without a fork per sample.</summary>
public sealed partial class ContainerRuntime
{
    private ContainerStatsReader? _statsReader;

    public CgroupHost Cgroups => CgroupHost.Host;

    public Task PauseAsync(string id) => RunOrThrowAsync(["pause", id], "pausing");

    public Task ResumeAsync(string id) => RunOrThrowAsync(["resume", id], "unpausing");

    /// <summary>`runc update --resources FILE`: the new limits as OCI linux.resources.</summary>
    public async Task UpdateAsync(string id, ResourceLimits limits)
    {
        string file = Path.Combine(Bundle(id), "update.json");
        await File.WriteAllTextAsync(file, OciResources.Resources(limits, Cgroups).ToJsonString());
        try { await RunOrThrowAsync(["update", "--resources", file, id], "updating"); }
        finally { File.Delete(file); }
    }

    /// <summary>The container's figures now (null when it is not running).</summary>
    public StatsSample? ReadStats(string id) => ReadStats(id, ContainerStatsReader.HostCpu(), null);

    /// <summary>One round of a shared sampler (<see cref="StatsCollector"/>): the host's figures given.</summary>
    public StatsSample? ReadStats(string id, (ulong SystemNanos, int OnlineCpus) hostCpu, StatsSource? source)
    {
        // A stream that knows the process spares the pidfile: its exit file and /proc still tell whether it runs.
        int pid;
        if (source is { Pid: > 0 } && TryGetExit(id) is null && Directory.Exists($"/proc/{source.Pid}")) pid = source.Pid;
        else if (GetPid(id) is int current && IsRunning(id)) pid = current;
        else return null;
        return (_statsReader ??= new ContainerStatsReader(Cgroups)).Read(pid, hostCpu, source);
    }

    /// <summary>The pids in the container's cgroup (its init and everything it started, exec'd processes too).</summary>
    public IReadOnlyList<int> Pids(string id)
    {
        if (GetPid(id) is not int pid || !IsRunning(id)) return [];
        var dirs = Cgroups.DirectoriesOf(pid);
        string? dir = Cgroups.Version == CgroupVersion.V2 ? dirs.GetValueOrDefault("")
            : dirs.GetValueOrDefault("pids") ?? dirs.GetValueOrDefault("memory");
        if (dir is null || !File.Exists(Path.Combine(dir, "cgroup.procs"))) return [pid];
        return File.ReadAllLines(Path.Combine(dir, "cgroup.procs"))
            .Select(l => int.TryParse(l, out int p) ? p : 0).Where(p => p > 0).ToList();
    }

    /// <summary>The kernel's OOM kill counter of the container's memory cgroup (v1 memory.oom_control, v2
    /// memory.events), read before the runtime removes the cgroup: conmon misses a kill that comes before its
    /// watch is set up (a container that fills its limit at once).</summary>
    private bool CgroupSawOomKill(string bundle)
    {
        try
        {
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")));
            string? path = (string?)config?["linux"]?["cgroupsPath"];
            if (path is null || !path.StartsWith('/')) return false;
            string file = Cgroups.Version == CgroupVersion.V2
                ? Path.Combine(Cgroups.Root, path.TrimStart('/'), "memory.events")
                : Path.Combine(Cgroups.Root, "memory", path.TrimStart('/'), "memory.oom_control");
            return ContainerStatsReader.KeyValues(file).GetValueOrDefault("oom_kill") > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Whether the process's cgroup is frozen (v1 freezer.state, v2 cgroup.freeze).</summary>
    private bool IsFrozen(int pid)
    {
        try
        {
            var dirs = Cgroups.DirectoriesOf(pid);
            if (Cgroups.Version == CgroupVersion.V2)
                return dirs.TryGetValue("", out var dir) && File.ReadAllText(Path.Combine(dir, "cgroup.freeze")).Trim() == "1";
            return dirs.TryGetValue("freezer", out var freezer)
                && File.ReadAllText(Path.Combine(freezer, "freezer.state")).Trim() != "THAWED";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private async Task RunOrThrowAsync(string[] args, string what)
    {
        var (code, error) = await RunRuntimeAsync(args, ignoreErrors: false);
        if (code != 0) throw new RuntimeException($"{what} container failed: {RuntimeMessage(error)}");
    }

    /// <summary>runc's --log-format json puts its message in "msg"; plain text otherwise.</summary>
    private static string RuntimeMessage(string error)
    {
        int msg = error.LastIndexOf("\"msg\":\"", StringComparison.Ordinal);
        if (msg < 0) return error;
        string rest = error[(msg + 7)..];
        int end = rest.IndexOf('"');
        return end < 0 ? rest : rest[..end];
    }
}
