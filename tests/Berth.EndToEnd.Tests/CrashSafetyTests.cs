using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>State that survives what a daemon meets in the field: a corrupt record, a pid that names a stranger
/// after the container died behind its back, the daemon killed at any step of create, start and rm.</summary>
public sealed class CrashSafetyTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;

    private string Id(string name) => Engine.Docker("inspect", "-f", "{{.Id}}", name).Stdout.Trim();

    private string RecordPath(string id) => Path.Combine(Engine.DataRoot, "containers", id, "state.json");

    [Fact]
    public async Task A_corrupt_record_is_moved_aside_with_a_warning_and_the_engine_starts_with_the_others()
    {
        string good = TestNames.Unique("cg", 12), bad = TestNames.Unique("cb", 12);
        try
        {
            EngineFixture.Check(Engine.Docker("run", "-d", "--name", good, "webapp:noexpose"));
            EngineFixture.Check(Engine.Docker("create", "--name", bad, "webapp:noexpose"));
            string badRecord = RecordPath(Id(bad));
            await Engine.StopAsync();
            File.WriteAllText(badRecord, "{\"Id\": \"" + new string('x', 20)); // truncated, as a disk fault leaves it

            await Engine.StartAgainAsync();

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
}
