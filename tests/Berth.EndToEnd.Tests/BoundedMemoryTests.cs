using System.Diagnostics;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Issue 12, bounded memory, through the docker CLI: ended execs do not pile up, a slow client does not make
/// the daemon buffer a process's output, `logs --tail` and `logs` do not load the log, and logs rotate with
/// `--log-opt max-size/max-file`. Memory is measured as the daemon's VmRSS (/proc/PID/status), sampled while the
/// operation runs; the bounds are on memory, not on time.</summary>
public sealed class BoundedMemoryTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private const long Bound = 64L * 1024 * 1024;
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private long RssBytes()
    {
        foreach (string line in File.ReadLines($"/proc/{Engine.Pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("no VmRSS");
    }

    /// <summary>The daemon's RSS growth during <paramref name="action"/>: the peak of samples every 10 ms.</summary>
    private long PeakGrowthDuring(Action action, string what)
    {
        long baseline = RssBytes(), peak = baseline;
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                peak = Math.Max(peak, RssBytes());
                try { await Task.Delay(10, done.Token); } catch (OperationCanceledException) { }
            }
        });
        try { action(); }
        finally
        {
            done.Cancel();
            sampler.Wait();
        }
        peak = Math.Max(peak, RssBytes());
        const long MiB = 1048576;
        output.WriteLine($"{what}: daemon RSS {baseline / MiB} MiB -> peak {peak / MiB} MiB (+{(peak - baseline) / MiB} MiB)");
        return peak - baseline;
    }

    private string BundleOf(string container)
    {
        string id = Ok(Engine.Docker("inspect", "-f", "{{.Id}}", container)).Stdout.Trim();
        return Path.Combine(Engine.Root, "data", "containers", id);
    }

    [Fact]
    public void Two_hundred_execs_leave_the_exec_table_small()
    {
        string name = TestNames.Unique("ex", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300"));
            for (int i = 0; i < 200; i++) Assert.Equal(3, Engine.Docker("exec", name, "sh", "-c", "exit 3").ExitCode);
            string json = Ok(Engine.Docker("inspect", "-f", "{{json .ExecIDs}}", name)).Stdout;
            var ids = JsonSerializer.Deserialize<List<string>?>(json) ?? [];
            output.WriteLine($"exec instances held after 200 execs: {ids.Count}");
            Assert.True(ids.Count <= 16, $"{ids.Count} exec instances held after 200 ended and inspected execs");
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    /// <summary>Reads the client's output slowly (16 KiB every 20 ms) for 4 seconds, then drops the client.</summary>
    private void SlowClient(params string[] dockerArgs)
    {
        var info = new ProcessStartInfo("/usr/local/bin/docker")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        info.Environment["DOCKER_HOST"] = Engine.DockerHost;
        foreach (string a in dockerArgs) info.ArgumentList.Add(a);
        using var client = Process.Start(info)!;
        _ = client.StandardError.ReadToEndAsync();
        var buffer = new byte[16384];
        long read = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(4))
        {
            read += client.StandardOutput.BaseStream.Read(buffer);
            Thread.Sleep(20);
        }
        output.WriteLine($"slow client read {read / 1024} KiB");
        Assert.True(read > 0, "the client got no output");
        client.Kill(entireProcessTree: true);
        client.WaitForExit();
    }

    [Fact]
    public void A_slow_exec_client_does_not_make_the_daemon_buffer_the_output()
    {
        string name = TestNames.Unique("sl", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300"));
            long growth = PeakGrowthDuring(() => SlowClient("exec", name, "head", "-c", "268435456", "/dev/zero"),
                "exec of 256 MiB to a slow client");
            Assert.True(growth < Bound, $"the daemon grew by {growth / 1048576} MiB");
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void A_slow_attached_client_does_not_make_the_daemon_buffer_the_output()
    {
        string name = TestNames.Unique("sa", 12);
        try
        {
            long growth = PeakGrowthDuring(
                () => SlowClient("run", "--name", name, "webapp:noexpose", "head", "-c", "268435456", "/dev/zero"),
                "attached run of 256 MiB to a slow client");
            Assert.True(growth < Bound, $"the daemon grew by {growth / 1048576} MiB");
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Logs_of_a_200_MiB_log_are_streamed_and_tail_reads_from_the_end()
    {
        string name = TestNames.Unique("lg", 12);
        try
        {
            // 1000-byte lines, 200 MiB, then five known lines; one file with no cap in the way.
            Ok(Engine.Docker("run", "-d", "--name", name, "--log-opt", "max-size=1g", "--log-opt", "max-file=1",
                "webapp:noexpose", "sh", "-c", "l=0123456789; l=$l$l$l$l$l$l$l$l$l$l; " +
                "yes \"$l$l$l$l$l$l$l$l$l$l\" | head -n 209716; for i in 1 2 3 4 5; do echo end$i; done"));
            Assert.Equal("0", Ok(Engine.Docker("wait", name)).Stdout.Trim());
            long size = new FileInfo(JsonLog(name)).Length;
            output.WriteLine($"log file: {size / 1048576} MiB");
            Assert.True(size > 200L * 1024 * 1024);

            string tail = "";
            long tailGrowth = PeakGrowthDuring(
                () => tail = Ok(Engine.Docker("logs", "--tail", "5", name)).Stdout, "logs --tail 5");
            Assert.Equal("end1\nend2\nend3\nend4\nend5\n", tail);
            Assert.True(tailGrowth < Bound, $"logs --tail grew the daemon by {tailGrowth / 1048576} MiB");

            string count = "";
            long allGrowth = PeakGrowthDuring(
                () => count = Sh.Bash($"DOCKER_HOST={Engine.DockerHost} /usr/local/bin/docker logs {name} | wc -c",
                    TimeSpan.FromSeconds(180)).Stdout,
                "logs (all 200 MiB)");
            Assert.Equal(209716L * 1001 + 5 * 5, long.Parse(count.Trim()));
            Assert.True(allGrowth < Bound, $"logs grew the daemon by {allGrowth / 1048576} MiB");
            // The first pass includes the daemon's one-time warm-up (JIT, GC budget, Kestrel's pool: ~40 MiB on a
            // fresh daemon); a second pass shows the steady state.
            string again200 = $"DOCKER_HOST={Engine.DockerHost} /usr/local/bin/docker logs {name} >/dev/null";
            long again = PeakGrowthDuring(() => Sh.Bash(again200, TimeSpan.FromSeconds(180)), "logs (all 200 MiB), second time");
            Assert.True(again < Bound / 4, $"a second logs grew the daemon by {again / 1048576} MiB");
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    private string JsonLog(string container) => Path.Combine(BundleOf(container), ContainerId(container) + "-json.log");

    private string ContainerId(string container) => Ok(Engine.Docker("inspect", "-f", "{{.Id}}", container)).Stdout.Trim();

    /// <summary>name inode size of each file of a container's json-file log.</summary>
    private List<string[]> LogFilesOf(string bundle)
    {
        var files = Sh.Run("stat", ["-c", "%n %i %s", .. Directory.GetFiles(bundle, "*-json.log*")]).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
        foreach (var f in files) output.WriteLine($"{Path.GetFileName(f[0])}: {f[2]} bytes, inode {f[1]}");
        return files;
    }

    private List<int> NumberedLines(string container, params string[] options) =>
        Ok(Engine.Docker(["logs", .. options, container])).Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    /// <summary>As dockerd's: a file passes max-size by one entry at most.</summary>
    private static void AssertUnderMaxSize(List<string[]> files, long maxSize) =>
        Assert.All(files, f => Assert.True(long.Parse(f[2]) <= maxSize + 200, $"{f[0]} has {f[2]} bytes"));

    [Fact]
    public void A_burst_of_output_keeps_every_rotated_file_and_loses_no_line()
    {
        // 20,000 lines (about 1.5 MB of Docker's JSON lines) as fast as sh writes them: about 23 rotations at 64k
        // within moments, all kept (64k × 40). Berth writes and rotates the json-file itself from conmon's spool, so
        // however late it is, no file is swapped before it is kept.
        string name = TestNames.Unique("rf", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--log-opt", "max-size=64k", "--log-opt", "max-file=40",
                "webapp:noexpose", "sh", "-c", "i=1; while [ $i -le 20000 ]; do echo $i; i=$((i+1)); done"));
            Assert.Equal("0", Ok(Engine.Docker("wait", name)).Stdout.Trim());
            var files = LogFilesOf(BundleOf(name));
            Assert.True(files.Count is >= 2 and <= 40, "not rotated, or more than max-file=40");
            AssertUnderMaxSize(files, 64 * 1024);
            var lines = NumberedLines(name);
            output.WriteLine($"docker logs {lines.Count} lines, {lines.First()}..{lines.Last()}");
            Assert.Equal(Enumerable.Range(1, 20000), lines);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Logs_rotate_at_max_size_keep_max_file_files_and_read_in_order()
    {
        string burst = TestNames.Unique("rb", 12), paced = TestNames.Unique("rp", 12);
        try
        {
            // A burst (300 lines, about 22 KB of JSON lines, as fast as sh writes them: under 10k × 3, so every line
            // stays) and a paced writer (a line every 2 ms).
            Ok(Engine.Docker("run", "-d", "--name", burst, "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                "webapp:noexpose", "sh", "-c", "i=1; while [ $i -le 300 ]; do echo $i; i=$((i+1)); done"));
            Ok(Engine.Docker("run", "-d", "--name", paced, "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                "webapp:noexpose", "sh", "-c", "i=1; while [ $i -le 600 ]; do echo $i; usleep 2000; i=$((i+1)); done"));
            foreach (string name in new[] { burst, paced })
            {
                Assert.Equal("0", Ok(Engine.Docker("wait", name)).Stdout.Trim());
                var files = LogFilesOf(BundleOf(name));
                Assert.True(files.Count <= 3, "more than max-file=3 log files");
                AssertUnderMaxSize(files, 10 * 1024);
            }

            var lines = NumberedLines(burst);
            output.WriteLine($"burst: docker logs {lines.Count} lines, {lines.First()}..{lines.Last()}");
            Assert.Equal(Enumerable.Range(1, 300), lines);
            Assert.Equal([298, 299, 300], NumberedLines(burst, "--tail", "3"));

            // At a pace Berth keeps up with, nothing between the oldest kept line and the last is missing.
            var pacedLines = NumberedLines(paced);
            output.WriteLine($"paced: docker logs {pacedLines.Count} lines, {pacedLines.First()}..{pacedLines.Last()}");
            Assert.True(pacedLines.Count > 300, "rotated files were not read");
            Assert.Equal(Enumerable.Range(pacedLines[0], 601 - pacedLines[0]), pacedLines);

            string bundle = BundleOf(burst);
            Assert.Equal("{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"3\",\"max-size\":\"10k\"}}",
                Ok(Engine.Docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", burst)).Stdout.Trim());
            Assert.Equal(JsonLog(burst), Ok(Engine.Docker("inspect", "-f", "{{.LogPath}}", burst)).Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", burst, paced);
        }
    }

    /// <summary>The daemon is killed (-9) while a container writes, twice, and started again: conmon kept writing its
    /// spool meanwhile, and the restarted daemon drains it from its saved place: every line is in the json-file once,
    /// in order, in Docker's format, rotated with max-size/max-file and compressed.</summary>
    [Fact]
    public async Task A_daemon_killed_while_a_container_writes_loses_no_line_and_writes_none_twice()
    {
        string name = TestNames.Unique("ra", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=200",
                "--log-opt", "compress=true", "webapp:noexpose", "sh", "-c",
                "i=1; while [ $i -le 6000 ]; do echo $i; [ $((i % 50)) = 0 ] && usleep 20000; i=$((i+1)); done"));
            for (int round = 0; round < 2; round++)
            {
                string json = JsonLog(name);
                var patience = System.Diagnostics.Stopwatch.StartNew();
                while (!(File.Exists(json) && new FileInfo(json).Length > 2000 * (round + 1)) && patience.Elapsed.TotalSeconds < 20)
                    await Task.Delay(50);
                Sh.Run("kill", ["-KILL", Engine.Pid.ToString()]);
                await Engine.WaitForExitAsync();
                await Task.Delay(500); // the container writes on with no daemon
                await Engine.StartAgainAsync();
            }
            Assert.Equal("0", Ok(Engine.Docker("wait", name)).Stdout.Trim());
            var lines = NumberedLines(name);
            output.WriteLine($"docker logs {lines.Count} lines, {lines.First()}..{lines.Last()}");
            Assert.Equal(Enumerable.Range(1, 6000), lines);
            var files = LogFilesOf(BundleOf(name));
            Assert.Contains(files, f => f[0].EndsWith("-json.log.1.gz", StringComparison.Ordinal));
            Assert.DoesNotContain(files, f => f[0].EndsWith("-json.log.1", StringComparison.Ordinal));
            AssertUnderMaxSize(files.Where(f => !f[0].EndsWith(".gz", StringComparison.Ordinal)).ToList(), 10 * 1024);
            // Docker's line, byte for byte: {"log":"6000\n","stream":"stdout","time":"<RFC 3339, UTC, nanoseconds>"}
            string last = File.ReadLines(JsonLog(name)).Last();
            Assert.Matches("^\\{\"log\":\"6000\\\\n\",\"stream\":\"stdout\",\"time\":\"20\\d\\d-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d*[1-9])?Z\"\\}$", last);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void The_daemon_caps_logs_by_default_and_bad_log_options_are_a_400()
    {
        string name = TestNames.Unique("df", 12);
        try
        {
            Ok(Engine.Docker("create", "--name", name, "webapp:noexpose"));
            Assert.Equal("{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"5\",\"max-size\":\"20m\"}}",
                Ok(Engine.Docker("inspect", "-f", "{{json .HostConfig.LogConfig}}", name)).Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
        foreach (string bad in new[] { "\"max-size\":\"abc\"", "\"max-file\":\"0\"", "\"max-size\":\"10k\",\"bogus\":\"1\"" })
        {
            var result = Sh.Run("curl", ["-s", "-o", "/dev/stderr", "-w", "%{http_code}", "--unix-socket", Engine.SocketPath,
                "-H", "Content-Type: application/json", "-d",
                $"{{\"Image\":\"webapp:noexpose\",\"HostConfig\":{{\"LogConfig\":{{\"Type\":\"json-file\",\"Config\":{{{bad}}}}}}}}}",
                "http://berth/containers/create"]);
            output.WriteLine($"{bad}: {result.Stdout} {result.Stderr}");
            Assert.Equal("400", result.Stdout);
            Assert.Contains("message", result.Stderr);
        }
        var cli = Engine.Docker("run", "--rm", "--log-opt", "max-size=abc", "webapp:noexpose", "true");
        Assert.NotEqual(0, cli.ExitCode);
        Assert.Contains("max-size", cli.Stderr);
    }
}
