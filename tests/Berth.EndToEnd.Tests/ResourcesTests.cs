using System.Text.Json;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine and a busybox image with the applets the resource tests use.</summary>
public sealed class ResourcesFixture : IAsyncLifetime
{
    public const string Image = "resources:busybox";
    private static readonly string[] Applets = ["sh", "cat", "sleep", "tail", "head", "grep", "test", "true", "echo"];

    public EngineProcess Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Engine = await EngineProcess.StartAsync();
        BusyboxImage.Import(Engine, Image, Applets, ["bin", "etc", "tmp", "proc", "sys", "dev", "sbin"]);
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();
}

/// <summary>Resource limits, pause, update, top, stats, system df and info through the real docker CLI and
/// docker-py, each checked against what the kernel's cgroup files say for the same container.</summary>
public sealed class ResourcesTests(ResourcesFixture fixture) : IClassFixture<ResourcesFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private const string Image = ResourcesFixture.Image;

    private string RunDetached(params string[] args)
    {
        string name = TestNames.Unique("res", 20);
        EngineFixture.Check(Engine.Docker(["run", "-d", "--name", name, .. args]));
        return name;
    }

    private string Inspect(string name, string format) =>
        EngineFixture.Check(Engine.Docker("inspect", "-f", format, name)).Stdout.Trim();

    /// <summary>A file of the container's cgroup, found from its init's /proc/PID/cgroup as the engine does.</summary>
    private string CgroupFile(string name, string controller, string file)
    {
        int pid = int.Parse(Inspect(name, "{{.State.Pid}}"));
        foreach (string line in File.ReadLines($"/proc/{pid}/cgroup"))
        {
            string[] parts = line.Split(':', 3);
            if (File.Exists("/sys/fs/cgroup/cgroup.controllers"))
                return File.ReadAllText($"/sys/fs/cgroup{parts[2]}/{file}").Trim();
            if (parts[1].Split(',').Contains(controller))
            {
                string mount = Directory.Exists($"/sys/fs/cgroup/{parts[1]}") ? parts[1] : controller;
                return File.ReadAllText($"/sys/fs/cgroup/{mount}{parts[2]}/{file}").Trim();
            }
        }
        throw new InvalidOperationException($"no {controller} cgroup for {name}");
    }

    private static bool V2 => File.Exists("/sys/fs/cgroup/cgroup.controllers");

    private void Remove(string name) => Engine.Docker("rm", "-f", name);

    [Fact]
    public void Limits_reach_the_containers_cgroup_and_inspect_shows_dockerds_values()
    {
        string name = RunDetached("--memory", "32m", "--memory-reservation", "16m", "--cpus", "0.5",
            "--cpu-shares", "512", "--pids-limit", "50", "--cpuset-cpus", "0", Image, "sleep", "300");
        try
        {
            Assert.Equal("33554432 67108864 16777216 500000000 512 50 0",
                Inspect(name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} " +
                              "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} " +
                              "{{.HostConfig.CpusetCpus}}"));
            if (V2)
            {
                Assert.Equal("33554432", CgroupFile(name, "memory", "memory.max"));
                Assert.Equal("50000 100000", CgroupFile(name, "cpu", "cpu.max"));
            }
            else
            {
                Assert.Equal("33554432", CgroupFile(name, "memory", "memory.limit_in_bytes"));
                Assert.Equal("67108864", CgroupFile(name, "memory", "memory.memsw.limit_in_bytes"));
                Assert.Equal("16777216", CgroupFile(name, "memory", "memory.soft_limit_in_bytes"));
                Assert.Equal("50000", CgroupFile(name, "cpu", "cpu.cfs_quota_us"));
                Assert.Equal("512", CgroupFile(name, "cpu", "cpu.shares"));
            }
            Assert.Equal("50", CgroupFile(name, "pids", "pids.max"));
            Assert.Equal("0", CgroupFile(name, "cpuset", "cpuset.cpus"));
        }
        finally { Remove(name); }
    }

    [Fact]
    public void Ulimits_sysctls_devices_shm_and_init_reach_the_process()
    {
        var result = Engine.Docker("run", "--rm", "--init", "--ulimit", "nofile=500:600", "--shm-size", "8m",
            "--sysctl", "net.ipv4.ip_unprivileged_port_start=99", "--sysctl", "kernel.shmmni=1234",
            "--device", "/dev/null:/dev/extra-null:rw", Image, "sh", "-c",
            "grep 'Max open files' /proc/self/limits; cat /proc/sys/net/ipv4/ip_unprivileged_port_start " +
            "/proc/sys/kernel/shmmni; test -c /dev/extra-null && echo device; grep /dev/shm /proc/mounts; " +
            "cat /proc/1/cmdline | head -c 40; echo");
        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Matches(@"Max open files\s+500\s+600", result.Stdout);
        Assert.Contains("99\n1234\n", result.Stdout);
        Assert.Contains("device", result.Stdout);
        Assert.Contains("size=8192k", result.Stdout);
        Assert.StartsWith("/sbin/docker-init", result.Stdout.Split('\n')[^2]);
    }

    [Fact]
    public void Bad_limits_are_refused_with_a_400_before_anything_runs()
    {
        ulong hard = ulong.Parse(File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[4]);
        var cases = new (string[] Args, string Message)[]
        {
            (["--ulimit", $"nofile={hard + 1}:{hard + 1}"], "above the host's hard limit"),
            (["--memory", "1m"], "Minimum memory limit allowed is 6MB"),
            (["--cpus", "64"], "Range of CPUs is from 0.01 to"),
            (["--cpuset-cpus", "63"], "Requested CPUs are not available"),
            (["--device", "/nonexistent-device"], "error gathering device information"),
        };
        foreach (var (args, message) in cases)
        {
            string name = TestNames.Unique("bad", 20);
            var result = Engine.Docker(["create", "--name", name, .. args, Image, "true"]);
            Assert.True(result.ExitCode != 0, string.Join(' ', args));
            Assert.Contains(message, result.Stderr);
            Assert.Contains("Error response from daemon", result.Stderr);
            Assert.NotEqual(0, Engine.Docker("inspect", name).ExitCode);
        }
        // The docker CLI refuses a non-namespaced sysctl itself: the engine's own 400, straight through the API.
        var api = Sh.Run("curl", ["-s", "-w", " %{http_code}", "--unix-socket", Engine.SocketPath, "-X", "POST",
            "-H", "Content-Type: application/json", "-d",
            "{\"Image\":\"" + Image + "\",\"HostConfig\":{\"Sysctls\":{\"kernel.panic\":\"1\"}}}",
            "http://x/containers/create"], TimeSpan.FromSeconds(30)).Stdout;
        Assert.Contains("sysctl 'kernel.panic' is not allowed", api);
        Assert.EndsWith(" 400", api);
    }

    [Fact]
    public void A_container_over_its_memory_limit_is_killed_by_the_oom_killer_and_reported()
    {
        string name = TestNames.Unique("oom", 20);
        var result = Engine.Docker("run", "--name", name, "--memory", "16m", "--memory-swap", "16m", Image,
            "tail", "/dev/zero");
        try
        {
            Assert.Equal(137, result.ExitCode);
            Assert.Equal("true 137", Inspect(name, "{{.State.OOMKilled}} {{.State.ExitCode}}"));
        }
        finally { Remove(name); }
    }

    [Fact]
    public void Pause_freezes_the_cgroup_and_ps_and_inspect_show_it()
    {
        string name = RunDetached(Image, "sleep", "300");
        try
        {
            EngineFixture.Check(Engine.Docker("pause", name));
            Assert.Equal("paused true", Inspect(name, "{{.State.Status}} {{.State.Paused}}"));
            Assert.Equal(V2 ? "1" : "FROZEN", V2 ? CgroupFile(name, "", "cgroup.freeze") : CgroupFile(name, "freezer", "freezer.state"));
            Assert.Contains("(Paused)", Engine.Docker("ps", "--filter", $"name={name}", "--format", "{{.Status}}").Stdout);
            Assert.Contains("is already paused", Engine.Docker("pause", name).Stderr);
            EngineFixture.Check(Engine.Docker("unpause", name));
            Assert.Equal("running false", Inspect(name, "{{.State.Status}} {{.State.Paused}}"));
            Assert.Contains("is not paused", Engine.Docker("unpause", name).Stderr);
            // A paused container still stops: the signal lands once it is thawed.
            EngineFixture.Check(Engine.Docker("pause", name));
            EngineFixture.Check(Engine.Docker("kill", name));
            Assert.Equal("exited false", Inspect(name, "{{.State.Status}} {{.State.Paused}}"));
        }
        finally { Remove(name); }
    }

    [Fact]
    public void Update_changes_the_limits_of_a_running_container_and_its_restart_policy()
    {
        string name = RunDetached("--memory", "32m", Image, "sleep", "300");
        try
        {
            string since = DateTimeOffset.UtcNow.AddSeconds(-1).ToUnixTimeSeconds().ToString();
            EngineFixture.Check(Engine.Docker("update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.25",
                "--pids-limit", "30", "--restart", "on-failure:2", name));
            Assert.Equal("67108864 134217728 250000000 30 on-failure 2",
                Inspect(name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} " +
                              "{{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}} " +
                              "{{.HostConfig.RestartPolicy.MaximumRetryCount}}"));
            Assert.Equal("67108864", CgroupFile(name, "memory", V2 ? "memory.max" : "memory.limit_in_bytes"));
            Assert.Equal(V2 ? "25000 100000" : "25000", CgroupFile(name, "cpu", V2 ? "cpu.max" : "cpu.cfs_quota_us"));
            Assert.Equal("30", CgroupFile(name, "pids", "pids.max"));
            var bad = Engine.Docker("update", "--memory", "1m", name);
            Assert.Contains("Minimum memory limit allowed is 6MB", bad.Stderr);
            // dockerd announces a successful update (and only that one) with an `update` event.
            string until = DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds().ToString();
            Assert.Equal("update", EngineFixture.Check(Engine.Docker("events", "--since", since, "--until", until,
                "--filter", $"container={name}", "--filter", "event=update", "--format", "{{.Action}}")).Stdout.Trim());
        }
        finally { Remove(name); }
    }

    [Fact]
    public void Top_lists_the_containers_processes_only_with_ps_options()
    {
        string name = RunDetached(Image, "sh", "-c", "sleep 301 & sleep 302 & wait");
        try
        {
            var top = EngineFixture.Check(Engine.Docker("top", name)).Stdout;
            Assert.Contains("sleep 301", top);
            Assert.Contains("sleep 302", top);
            Assert.Contains("UID", top.Split('\n')[0]);
            Assert.DoesNotContain("dotnet", top);
            var custom = EngineFixture.Check(Engine.Docker("top", name, "-o", "pid,comm")).Stdout.Split('\n');
            Assert.Matches(@"^PID\s+COMMAND", custom[0]);
            Assert.Equal(3, custom.Count(l => l.Trim().Length > 0) - 1);
            Assert.Contains("Couldn't find PID field", Engine.Docker("top", name, "-o", "comm").Stderr);
        }
        finally { Remove(name); }
    }

    [Fact]
    public void Stats_agree_with_the_cgroup_files_and_the_cli_prints_them()
    {
        string name = RunDetached("--memory", "40m", "--pids-limit", "20", Image, "sh", "-c", "sleep 303 & sleep 304 & wait");
        try
        {
            string id = Inspect(name, "{{.Id}}");
            var json = Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath,
                $"http://x/containers/{id}/stats?stream=false"], TimeSpan.FromSeconds(30)).Stdout;
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            Assert.Equal(41943040, root.GetProperty("memory_stats").GetProperty("limit").GetInt64());
            Assert.Equal(long.Parse(CgroupFile(name, "pids", "pids.current")),
                root.GetProperty("pids_stats").GetProperty("current").GetInt64());
            Assert.Equal(20, root.GetProperty("pids_stats").GetProperty("limit").GetInt64());
            Assert.True(root.GetProperty("cpu_stats").GetProperty("system_cpu_usage").GetUInt64() >
                        root.GetProperty("precpu_stats").GetProperty("system_cpu_usage").GetUInt64());
            Assert.True(root.GetProperty("networks").TryGetProperty("eth0", out _));
            Assert.Equal("/" + name, root.GetProperty("name").GetString());
            var cli = EngineFixture.Check(Engine.Docker("stats", "--no-stream", "--format",
                "{{.Name}} {{.MemUsage}} {{.PIDs}}", name)).Stdout.Trim();
            Assert.Matches($@"^{name} [0-9.]+[KMG]?i?B / 40MiB 3$", cli);
        }
        finally { Remove(name); }
    }

    [Fact]
    public void System_df_and_info_report_real_figures()
    {
        var df = EngineFixture.Check(Engine.Docker("system", "df")).Stdout;
        Assert.Matches(@"Images\s+[1-9]", df);
        Assert.Contains("Containers", df);
        string info = EngineFixture.Check(Engine.Docker("info", "--format",
            "{{.CgroupDriver}} {{.CgroupVersion}} {{.MemoryLimit}} {{.CPUCfsQuota}} {{.PidsLimit}} {{.Driver}}")).Stdout.Trim();
        Assert.Equal($"cgroupfs {(V2 ? 2 : 1)} true true true overlay2", info);
    }

    [Fact]
    public void Docker_py_runs_with_limits_and_reads_stats_top_pause_and_update()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "py", "resources.py");
        var result = Sh.Run("python3", [script, Engine.DockerHost, Image, TestNames.Unique("pyres", 20)],
            TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        using var doc = JsonDocument.Parse(result.Stdout.Trim().Split('\n')[^1]);
        var r = doc.RootElement;
        Assert.Equal(48L * 1024 * 1024, r.GetProperty("memory_limit").GetInt64());
        Assert.Equal(40, r.GetProperty("pids_limit").GetInt64());
        Assert.True(r.GetProperty("precpu_total").GetInt64() > 0);
        Assert.True(r.GetProperty("stream_advances").GetBoolean());
        Assert.Equal("paused", r.GetProperty("paused_status").GetString());
        Assert.Equal("running", r.GetProperty("status_after").GetString());
        Assert.Equal(96L * 1024 * 1024, r.GetProperty("memory_after_update").GetInt64());
        Assert.Equal(192L * 1024 * 1024, r.GetProperty("swap_after_update").GetInt64());
        Assert.Equal("on-failure", r.GetProperty("restart_after_update").GetProperty("Name").GetString());
        Assert.Equal(["eth0"], r.GetProperty("networks").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(["PID", "COMMAND"], r.GetProperty("top_titles").EnumerateArray().Select(t => t.GetString()));
        Assert.Contains("sleep 300", r.GetProperty("top_commands").GetRawText());
    }

    [Fact]
    public void Image_prune_reclaims_each_freed_layer_once()
    {
        // A: the base image's layer + L2; B: A's layers + L3. Pruning both frees L2 once and L3, never the base's
        // layer (still used): B's size minus the base's.
        string label = "berth.prune=" + TestNames.Unique("p", 12).ToLowerInvariant();
        string first = TestNames.Unique("pra", 20), second = TestNames.Unique("prb", 20);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "--name", first, Image, "sh", "-c", "head -c 200000 /dev/zero > /tmp/a"));
            string a = EngineFixture.Check(Engine.Docker("commit", "--change", "LABEL " + label, first)).Stdout.Trim();
            EngineFixture.Check(Engine.Docker("run", "--name", second, a, "sh", "-c", "head -c 300000 /dev/zero > /tmp/b"));
            string b = EngineFixture.Check(Engine.Docker("commit", second)).Stdout.Trim();
            long Size(string image) => long.Parse(EngineFixture.Check(Engine.Docker("image", "inspect", "-f", "{{.Size}}", image)).Stdout.Trim());
            long expected = Size(b) - Size(Image);
            // Listing filters as dockerd's: since/before an image, an unknown one refused.
            string Ids(string filter) => EngineFixture.Check(Engine.Docker("images", "-a", "-q", "--no-trunc", "--filter", filter)).Stdout;
            Assert.Contains(b, Ids("since=" + a));
            Assert.DoesNotContain(a, Ids("since=" + a));
            Assert.Contains(a, Ids("before=" + b));
            Assert.DoesNotContain(b, Ids("before=" + b));
            Assert.DoesNotContain(b, Ids("until=1h"));
            Assert.Contains("No such image", Engine.Docker("images", "--filter", "since=no-such-image:1").Stderr);
            EngineFixture.Check(Engine.Docker("rm", first, second));
            string filters = Uri.EscapeDataString($"{{\"label\":[\"{label}\"]}}");
            var prune = Sh.Run("curl", ["-s", "--unix-socket", Engine.SocketPath, "-X", "POST", $"http://docker/v1.47/images/prune?filters={filters}"]);
            using var doc = JsonDocument.Parse(prune.Stdout);
            var deleted = doc.RootElement.GetProperty("ImagesDeleted").EnumerateArray()
                .Select(d => d.TryGetProperty("Deleted", out var id) ? id.GetString() : null).ToList();
            Assert.Contains(a, deleted);
            Assert.Contains(b, deleted);
            Assert.True(expected >= 500000, $"layer sizes: {expected}");
            Assert.Equal(expected, doc.RootElement.GetProperty("SpaceReclaimed").GetInt64());
        }
        finally
        {
            Engine.Docker("rm", "-f", first, second);
        }
    }
}
