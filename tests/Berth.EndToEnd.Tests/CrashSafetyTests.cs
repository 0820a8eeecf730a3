using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>State that survives what a daemon meets in the field: a corrupt record, a pid that names a stranger
/// after the container died behind its back, the daemon killed at any step of create, start and rm; and files
/// that only root can read.</summary>
public sealed class CrashSafetyTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;

    private string Id(string name) => Engine.Docker("inspect", "-f", "{{.Id}}", name).Stdout.Trim();

    private string RecordPath(string id) => Path.Combine(Engine.DataRoot, "containers", id, "state.json");

    [Fact]
    public async Task A_corrupt_record_is_moved_aside_with_a_warning_and_the_engine_starts_with_the_others_and_sweeps_build_leftovers()
    {
        string good = TestNames.Unique("cg", 12), bad = TestNames.Unique("cb", 12);
        string? badDirectory = null;
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", good, "webapp:noexpose"));
            EngineFixture.Check(Engine.Docker("create", "--name", bad, "webapp:noexpose"));
            string badRecord = RecordPath(Id(bad));
            badDirectory = Path.GetDirectoryName(badRecord);
            await Engine.StopAsync();
            File.WriteAllText(badRecord, "{\"Id\": \"" + new string('x', 20)); // truncated, as a disk fault leaves it
            // What a build cut short by a killed daemon leaves: a received context and a mounted image view.
            string scratch = Path.Combine(Engine.DataRoot, "build");
            Directory.CreateDirectory(Path.Combine(scratch, "context-left", "sub"));
            File.WriteAllText(Path.Combine(scratch, "context-left", "sub", "file"), "x");
            string view = Path.Combine(scratch, "view-left");
            Directory.CreateDirectory(view);
            EngineFixture.Check(Sh.Run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", view]));

            await Engine.StartAgainAsync();

            Assert.Empty(Directory.EnumerateFileSystemEntries(scratch));
            Assert.DoesNotContain(" " + view + " ", File.ReadAllText("/proc/self/mountinfo"));

            Assert.Contains("moved aside", Engine.Log);
            Assert.False(File.Exists(badRecord));
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(badRecord)!, "state.json.corrupt-*"));
            string names = Engine.Docker("ps", "-a", "--format", "{{.Names}} {{.State}}").Stdout;
            Assert.Contains($"{good} running", names);
            Assert.DoesNotContain(bad, names);
            EngineFixture.Check(Engine.Docker("stop", "-t", "1", good));
            EngineFixture.Check(Engine.Docker("start", good));
        }
        finally
        {
            Engine.Docker("rm", "-f", good, bad);
            // The engine keeps a directory whose record it moved aside, for the admin to look at: ours to remove.
            if (badDirectory is not null && Directory.Exists(badDirectory)) Directory.Delete(badDirectory, recursive: true);
            string leftView = Path.Combine(Engine.DataRoot, "build", "view-left");
            if (File.ReadAllText("/proc/self/mountinfo").Contains(" " + leftView + " ")) Sh.Run("umount", ["-l", leftView]);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task A_recorded_pid_reused_by_another_process_is_never_signalled_and_the_container_shows_exited()
    {
        string name = TestNames.Unique("pi", 12);
        Process? stranger = null;
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose"));
            string id = Id(name);
            string bundle = Path.Combine(Engine.DataRoot, "containers", id);
            int init = int.Parse(File.ReadAllText(Path.Combine(bundle, "pidfile")).Trim());
            int conmon = int.Parse(File.ReadAllText(Path.Combine(bundle, "conmon.pid")).Trim());
            await Engine.StopAsync();

            // The container dies behind the daemon's back, leaving no exit code (its supervisor goes first) ...
            Sh.Run("kill", ["-KILL", conmon.ToString()]);
            Sh.Run("kill", ["-KILL", init.ToString()]);
            while (File.Exists($"/proc/{init}/stat") || File.Exists($"/proc/{conmon}/stat")) await Task.Delay(20);
            // ... and a stranger holds the recorded pid: same boot, another start time.
            stranger = Process.Start(new ProcessStartInfo("sleep", "1000"))!;
            var record = JsonNode.Parse(File.ReadAllText(RecordPath(id)))!;
            record["State"]!["Pid"] = stranger.Id;
            File.WriteAllText(RecordPath(id), record.ToJsonString());
            File.WriteAllText(Path.Combine(bundle, "pidfile"), stranger.Id.ToString());

            await Engine.StartAgainAsync();

            Assert.Equal("exited false", Engine.Docker("inspect", "-f", "{{.State.Status}} {{.State.Running}}", name).Stdout.Trim());
            Engine.Docker("stop", "-t", "1", name);
            Engine.Docker("kill", name);
            Engine.Docker("restart", "-t", "1", name);
            Engine.Docker("rm", "-f", name);
            Assert.False(stranger.HasExited, "the stranger holding the recorded pid was signalled");
        }
        finally
        {
            if (stranger is { HasExited: false }) stranger.Kill();
            stranger?.Dispose();
            Engine.Docker("rm", "-f", name);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task A_container_whose_process_died_with_its_supervisor_while_the_daemon_runs_stops_at_once_and_no_stranger_is_signalled()
    {
        string name = TestNames.Unique("pl", 12);
        Process? stranger = null;
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose"));
            string bundle = Path.Combine(Engine.DataRoot, "containers", Id(name));
            int init = int.Parse(File.ReadAllText(Path.Combine(bundle, "pidfile")).Trim());
            int conmon = int.Parse(File.ReadAllText(Path.Combine(bundle, "conmon.pid")).Trim());

            // With the daemon up: the supervisor goes first (no exit code will come), then the container's process,
            // and the pid the runtime reads now names a stranger.
            Sh.Run("kill", ["-KILL", conmon.ToString()]);
            Sh.Run("kill", ["-KILL", init.ToString()]);
            while (File.Exists($"/proc/{init}/stat") || File.Exists($"/proc/{conmon}/stat")) await Task.Delay(20);
            stranger = Process.Start(new ProcessStartInfo("sleep", "1000"))!;
            File.WriteAllText(Path.Combine(bundle, "pidfile"), stranger.Id.ToString());

            // A timeout far beyond the client's 60 s: waiting it out, or for an exit that never comes, fails the test.
            var stop = Engine.Docker("stop", "-t", "600", name);
            Assert.True(stop.ExitCode == 0, stop.Stderr);
            Assert.Equal("exited false 255",
                Engine.Docker("inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}", name).Stdout.Trim());
            Engine.Docker("kill", name);
            EngineFixture.Check(Engine.Docker("rm", "-f", name));
            Assert.False(stranger.HasExited, "the stranger holding the pid was signalled");
        }
        finally
        {
            if (stranger is { HasExited: false }) stranger.Kill();
            stranger?.Dispose();
            Engine.Docker("rm", "-f", name);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task Rmi_while_a_create_holds_the_image_is_refused_and_the_new_container_keeps_its_layers()
    {
        string name = TestNames.Unique("lease", 14), image = TestNames.Unique("lease-img", 16) + ":1";
        string tar = Path.Combine(Engine.Root, TestNames.Unique("lease-", 16) + ".tar");
        string pause = Path.Combine(Engine.Root, TestNames.Unique("pause-", 16));
        Process? create = null;
        try
        {
            // An image with a layer of its own, so removing the image would take the layer with it.
            WebAppImage.WriteRootfsTar(tar);
            using (var file = File.Open(tar, FileMode.Open))
            {
                file.Seek(-1024, SeekOrigin.End); // over the two zero blocks that end the archive
                using var writer = new System.Formats.Tar.TarWriter(file, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true);
                writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "unique")
                    { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(name)) });
            }
            EngineFixture.Check(Engine.Docker("import", "-c", WebAppImage.Cmd, tar, image));
            await Engine.StopAsync();
            await Engine.StartAgainAsync(new Dictionary<string, string> { [CrashPoints.PauseVariable] = $"create.before-record={pause}" });

            create = Process.Start(new ProcessStartInfo("/usr/local/bin/docker", ["create", "--name", name, image])
                { Environment = { ["DOCKER_HOST"] = Engine.DockerHost }, RedirectStandardError = true, RedirectStandardOutput = true })!;
            while (!File.Exists(pause) && !create.HasExited) await Task.Delay(10);
            Assert.True(File.Exists(pause), "the create never reached the point between resolving its image and recording the container");

            var rmi = Engine.Docker("rmi", image);
            Assert.NotEqual(0, rmi.ExitCode);
            Assert.Contains("conflict: unable to", rmi.Stderr);
            Assert.Contains("being created", rmi.Stderr);
            File.Delete(pause);
            await create.WaitForExitAsync();
            Assert.True(create.ExitCode == 0, await create.StandardError.ReadToEndAsync());

            EngineFixture.Check(Engine.Docker("start", name));
            Assert.Contains(name, EngineFixture.Check(Engine.Docker("exec", name, "cat", "/unique")).Stdout);
        }
        finally
        {
            if (create is { HasExited: false }) create.Kill();
            create?.Dispose();
            File.Delete(pause);
            // Back to an engine without the pause, for the other tests of this class.
            await Engine.StopAsync();
            await Engine.StartAgainAsync();
            Engine.Docker("rm", "-f", name);
            Engine.Docker("rmi", image);
            File.Delete(tar);
            output.WriteLine(Engine.Log);
        }
    }

    private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public void Roots_have_dockerds_modes_and_no_file_holding_a_containers_env_is_readable_by_others()
    {
        string name = TestNames.Unique("fm", 12);
        string secret = "SECRET=" + TestNames.Unique("x", 24);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-e", secret, "webapp:noexpose"));
            string id = Id(name);

            Assert.Equal(Rwx | UnixFileMode.GroupExecute, File.GetUnixFileMode(Engine.DataRoot));
            foreach (string dir in new[] { "containers", "image", "networks", "ipam", Path.Combine("containers", id) })
                Assert.Equal((dir, Rwx), (dir, File.GetUnixFileMode(Path.Combine(Engine.DataRoot, dir))));
            Assert.Equal(Rwx, File.GetUnixFileMode(Engine.ExecRoot));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(RecordPath(id)));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
                File.GetUnixFileMode(Engine.SocketPath));

            var holding = new List<string>();
            foreach (string root in new[] { Engine.DataRoot, Engine.ExecRoot })
                foreach (string file in RegularFiles(root))
                {
                    byte[] content;
                    try { content = File.ReadAllBytes(file); }
                    catch (IOException) { continue; }
                    if (content.AsSpan().IndexOf(Encoding.UTF8.GetBytes(secret)) < 0) continue;
                    holding.Add(file);
                    Assert.False(ReadableBy(file, UnixFileMode.OtherRead, UnixFileMode.OtherExecute), $"others can read {file}");
                    Assert.False(ReadableBy(file, UnixFileMode.GroupRead, UnixFileMode.GroupExecute), $"the group can read {file}");
                }
            Assert.Contains(RecordPath(id), holding);

            // Root-only directories above layers and bundles do not lock out a container's own unprivileged user.
            var asNobody = Engine.Docker("run", "--rm", "--user", "65534", "webapp:noexpose",
                "sh", "-c", "cat /etc/group >/dev/null && touch /tmp/x && ls / >/dev/null && echo ok");
            Assert.Equal("ok", asNobody.Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    /// <summary>Regular files below a root (no fifo that would block a read), not entering mounts (a container's
    /// rootfs, its netns).</summary>
    private static IEnumerable<string> RegularFiles(string root) =>
        Sh.Run("find", [root, "-xdev", "-type", "f", "-size", "-16M"]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The file has the read bit for a class and every directory from / down to it the search bit.</summary>
    private static bool ReadableBy(string file, UnixFileMode read, UnixFileMode search)
    {
        if ((File.GetUnixFileMode(file) & read) == 0) return false;
        for (string? dir = Path.GetDirectoryName(file); dir is not null; dir = Path.GetDirectoryName(dir))
            if ((File.GetUnixFileMode(dir) & search) == 0) return false;
        return true;
    }

    private bool BridgeExists => Sh.Run("ip", ["link", "show", Engine.Bridge]).ExitCode == 0;
    private bool TableExists => Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).ExitCode == 0;
    private bool UserTableExists => Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable + "_user"]).ExitCode == 0;

    [Fact]
    public async Task An_engine_stopped_with_no_container_running_takes_its_bridge_and_table_and_the_next_start_makes_them()
    {
        string name = TestNames.Unique("nb", 12);
        try
        {
            EngineFixture.Check(Engine.Docker("create", "--name", name, "webapp:noexpose"));
            Assert.True(BridgeExists && TableExists);

            await Engine.StopAsync();
            Assert.False(BridgeExists, "the bridge stayed after the engine stopped with no container running");
            Assert.False(TableExists, "the nft table stayed after the engine stopped with no container running");
            Assert.False(UserTableExists, "the untouched _user table stayed after the engine stopped");

            await Engine.StartAgainAsync();
            Assert.True(BridgeExists && TableExists);
            EngineFixture.Check(Engine.Docker("start", name));
            Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            output.WriteLine(Engine.Log);
        }
    }

    [Fact]
    public async Task An_engine_stopped_with_a_running_container_leaves_it_running_and_the_next_start_adopts_it()
    {
        string name = TestNames.Unique("rb", 12);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "webapp:noexpose"));
            int pid = int.Parse(Engine.Docker("inspect", "-f", "{{.State.Pid}}", name).Stdout.Trim());

            await Engine.StopAsync();
            Assert.True(BridgeExists && TableExists);
            Assert.True(File.Exists($"/proc/{pid}/stat"));

            await Engine.StartAgainAsync();
            Assert.Equal($"running {pid}", Engine.Docker("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", name).Stdout.Trim());
            EngineFixture.Check(Engine.Docker("stop", "-t", "1", name));
            Assert.Equal("exited", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public async Task A_daemon_killed_at_any_step_of_create_start_and_rm_leaves_a_container_fully_there_or_fully_gone()
    {
        var outcomes = new List<string>();
        try
        {
            foreach (string point in Berth.Engine.CrashPoints.All)
            {
                string name = TestNames.Unique("k9", 12);
                int port = Ports.Free();
                await Engine.StopAsync();
                await Engine.StartAgainAsync(new Dictionary<string, string> { ["BERTH_TEST_CRASH_AT"] = point });
                foreach (string[] step in new[] { new[] { "create", "--name", name, "-p", $"{port}:80", "webapp:noexpose" },
                             ["start", name], ["rm", "-f", name] })
                {
                    if (Engine.HasExited) break;
                    Engine.Docker(step);
                }
                await Engine.WaitForExitAsync();
                await Engine.StartAgainAsync();

                var state = Engine.Docker("inspect", "-f", "{{.State.Status}}", name);
                outcomes.Add($"{point}: {(state.ExitCode == 0 ? state.Stdout.Trim() : "gone")}");
                if (state.ExitCode == 0)
                {
                    // Fully there: it starts, serves and goes.
                    EngineFixture.Check(Engine.Docker("start", name));
                    Assert.Equal("running", Engine.Docker("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim());
                    EngineFixture.Check(Engine.Docker("rm", "-f", name));
                }
                await AssertNothingLeftAsync(point, port);
            }
        }
        finally
        {
            output.WriteLine(string.Join('\n', outcomes));
            if (Engine.HasExited) await Engine.StartAgainAsync();
            output.WriteLine(Engine.Log);
        }
    }

    /// <summary>With every container removed: no netns, veth, nft element, mount, process, address or file of one.
    /// A netns' veth and a killed container's monitor go a moment after their owner: looked at a few times.</summary>
    private async Task AssertNothingLeftAsync(string point, int port)
    {
        List<string> leftovers = [];
        for (int attempt = 0; attempt < 50; attempt++)
        {
            leftovers = Leftovers(port);
            if (leftovers.Count == 0) return;
            await Task.Delay(100);
        }
        Assert.Fail($"after a crash at {point} and rm -f: {string.Join("; ", leftovers)}");
    }

    private List<string> Leftovers(int port)
    {
        var found = new List<string>();
        if (Engine.Docker("ps", "-aq").Stdout.Trim() is { Length: > 0 } ids) found.Add("containers " + ids);
        foreach (string dir in new[] { Path.Combine(Engine.DataRoot, "containers"), Path.Combine(Engine.ExecRoot, "netns"),
                     Path.Combine(Engine.ExecRoot, "exits"), Path.Combine(Engine.ExecRoot, "sock") })
            if (Directory.Exists(dir) && Directory.GetFileSystemEntries(dir) is { Length: > 0 } entries)
                found.Add(string.Join(", ", entries));
        foreach (string dir in Directory.GetDirectories(Path.Combine(Engine.DataRoot, "ipam")))
            foreach (string file in Directory.GetFiles(dir))
                if (System.Net.IPAddress.TryParse(Path.GetFileName(file), out _)) found.Add("address " + file);
        if (Sh.Run("ip", ["-o", "link", "show", "master", Engine.Bridge]).Stdout.Trim() is { Length: > 0 } links)
            found.Add("links " + links);
        if (Sh.Run("nft", ["list", "table", "ip", Engine.FirewallTable]).Stdout.Contains($" {port} "))
            found.Add($"nft element for {port}");
        foreach (string mount in File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]))
            if (mount.StartsWith(Engine.Root, StringComparison.Ordinal)) found.Add("mount " + mount);
        if (Sh.Run("pgrep", ["-f", $"conmon .*{Engine.DataRoot}"]).Stdout.Trim() is { Length: > 0 } conmons)
            found.Add("conmon " + conmons);
        if (Sh.Run("runc", ["list"]).Stdout.Split('\n').Where(l => l.Contains(Engine.Root)).ToList() is { Count: > 0 } runc)
            found.Add("runc " + string.Join(", ", runc));
        return found;
    }
}
