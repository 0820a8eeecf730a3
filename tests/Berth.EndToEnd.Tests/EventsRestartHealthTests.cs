using System.Globalization;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>Issue 17's first half with real clients: events (docker CLI and docker-py), restart policies (also
/// across an engine kill -9), health checks (ps, inspect, events, docker-compose's service_healthy), swarm's 503s
/// and inspect's HostConfig fields.</summary>
public sealed class EventsRestartHealthTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    private static string UnixNow() =>
        (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0).ToString("F3", CultureInfo.InvariantCulture);

    private string Inspect(string name, string format) => Engine.Docker("inspect", "-f", format, name).Stdout.Trim();

    /// <summary>Docker's times carry 9 fractional digits; .NET parses 7.</summary>
    private static DateTimeOffset DockerTime(string text) => DateTimeOffset.Parse(
        System.Text.RegularExpressions.Regex.Replace(text, @"(\.\d{7})\d+", "$1"), CultureInfo.InvariantCulture);

    private static bool Eventually(Func<bool> condition, int seconds = 30)
    {
        for (int i = 0; i < seconds * 10; i++)
        {
            if (condition()) return true;
            Thread.Sleep(100);
        }
        return condition();
    }

    [Fact]
    public void Docker_events_replays_the_lifecycle_with_filters_and_docker_py_reads_it()
    {
        string name = TestNames.Unique("ev", 12);
        string since = UnixNow();
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--label", "tier=front", "webapp:noexpose"));
            Ok(Engine.Docker("exec", name, "true"));
            Ok(Engine.Docker("stop", "-t", "1", name));
            Ok(Engine.Docker("rm", name));
            string until = UnixNow();
            var actions = Ok(Engine.Docker("events", "--since", since, "--until", until, "--filter", $"container={name}",
                "--format", "{{.Type}} {{.Action}}")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            output.WriteLine(string.Join('\n', actions));
            // httpd ignores SIGTERM as pid 1: the stop's SIGTERM, then its SIGKILL a second later.
            Assert.Equal(["container create", "container start", "container exec_create: true", "container exec_start: true",
                "container exec_die", "container kill", "container kill", "container die", "container stop",
                "container destroy"],
                actions.Where(a => a.StartsWith("container", StringComparison.Ordinal)));
            Assert.Equal("15", Ok(Engine.Docker("events", "--since", since, "--until", until, "--filter", $"container={name}",
                "--filter", "event=kill", "--format", "{{.Actor.Attributes.signal}}")).Stdout.Trim().Split('\n')[0]);
            Assert.Equal("die 137", Ok(Engine.Docker("events", "--since", since, "--until", until, "--filter", "label=tier=front",
                "--filter", "event=die", "--format", "{{.Status}} {{.Actor.Attributes.exitCode}}")).Stdout.Trim());

            // Berth's own CLI: the same events, and docker's default line (time type action id (attributes)).
            var berth = Ok(Engine.Client("berth", "events", "--since", since, "--until", until, "--filter", $"container={name}",
                "--filter", "event=die")).Stdout.Trim();
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\S* container die [0-9a-f]{64} \(exitCode=137, image=webapp:noexpose, name=" + name + @", tier=front\)$", berth);

            string script = """
                import sys, docker
                c = docker.DockerClient(base_url=sys.argv[1])
                evs = list(c.events(since=float(sys.argv[2]), until=float(sys.argv[3]), decode=True, filters={"container": sys.argv[4]}))
                print(" ".join(e["Action"] for e in evs if e["Type"] == "container"))
                print(evs[0]["id"] == evs[0]["Actor"]["ID"], evs[0]["from"], evs[0]["scope"], type(evs[0]["timeNano"]).__name__)
                """;
            var py = Sh.Run("python3", ["-c", script, Engine.DockerHost, since, until, name], TimeSpan.FromSeconds(60));
            Assert.True(py.ExitCode == 0, py.Stderr);
            var lines = py.Stdout.Split('\n');
            Assert.StartsWith("create start exec_create: true", lines[0]);
            Assert.EndsWith("die stop destroy", lines[0]);
            Assert.Equal("True webapp:noexpose local int", lines[1]);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Restart_policies_restart_with_a_count_and_an_explicit_stop_holds()
    {
        string failing = TestNames.Unique("rf", 12), always = TestNames.Unique("ra", 12), crashing = TestNames.Unique("rc", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", failing, "--restart", "on-failure:2", "webapp:noexpose", "sh", "-c", "exit 3"));
            Assert.True(Eventually(() => Inspect(failing, "{{.RestartCount}} {{.State.Status}}") == "2 exited"),
                Inspect(failing, "{{.RestartCount}} {{.State.Status}}"));
            Ok(Engine.Docker("run", "-d", "--name", always, "--restart", "always", "webapp:noexpose", "sh", "-c", "sleep 0.3; exit 0"));
            Assert.True(Eventually(() => int.Parse(Inspect(always, "{{.RestartCount}}")) >= 2));
            Ok(Engine.Docker("stop", "-t", "1", always));
            int count = int.Parse(Inspect(always, "{{.RestartCount}}"));
            // Longer than the backoff the policy would wait by now: a restart would have happened.
            Thread.Sleep(TimeSpan.FromSeconds(2));
            Assert.Equal($"{count} exited", Inspect(always, "{{.RestartCount}} {{.State.Status}}"));
            // An API start counts from zero again (it may have restarted once since, being `always`).
            Ok(Engine.Docker("start", always));
            Assert.True(int.Parse(Inspect(always, "{{.RestartCount}}")) < Math.Min(count, 2));
            // Waiting out its backoff (doubling from 100 ms, so soon seconds long) a container is restarting and,
            // as dockerd has it, running: `ps` without -a lists it as "Restarting (1) N seconds ago".
            Ok(Engine.Docker("run", "-d", "--name", crashing, "--restart", "always", "webapp:noexpose", "sh", "-c", "exit 1"));
            Assert.True(Eventually(() => Inspect(crashing, "{{.State.Status}} {{.State.Running}} {{.State.Restarting}}") == "restarting true true"),
                Inspect(crashing, "{{.State.Status}} {{.State.Running}} {{.State.Restarting}}"));
            Assert.True(Eventually(() => Engine.Docker("ps", "--filter", $"name={crashing}", "--format", "{{.Status}}").Stdout.StartsWith("Restarting (1) ")),
                Engine.Docker("ps", "--filter", $"name={crashing}", "--format", "{{.Status}}").Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", failing, always, crashing);
        }
    }

    [Fact]
    public async Task A_restart_policy_holds_across_an_engine_kill_9()
    {
        string always = TestNames.Unique("ka", 12), stopped = TestNames.Unique("ks", 12);
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", always, "--restart", "always", "webapp:noexpose"));
            Ok(Engine.Docker("run", "-d", "--name", stopped, "--restart", "unless-stopped", "webapp:noexpose"));
            Ok(Engine.Docker("stop", "-t", "1", stopped));
            string pid = Inspect(always, "{{.State.Pid}}");
            Sh.Run("kill", ["-KILL", Engine.Pid.ToString()]);
            await Engine.WaitForExitAsync();
            // The container dies while no engine watches it.
            Sh.Run("kill", ["-KILL", pid]);
            await Engine.StartAgainAsync();
            Assert.True(Eventually(() => Inspect(always, "{{.State.Status}} {{.RestartCount}}") == "running 1"),
                Inspect(always, "{{.State.Status}} {{.RestartCount}}"));
            Assert.NotEqual(pid, Inspect(always, "{{.State.Pid}}"));
            Assert.Equal("exited", Inspect(stopped, "{{.State.Status}}"));
        }
        finally
        {
            Engine.Docker("rm", "-f", always, stopped);
        }
    }

    [Fact]
    public void Health_checks_show_in_ps_inspect_and_events()
    {
        string name = TestNames.Unique("hc", 12);
        string since = UnixNow();
        try
        {
            Ok(Engine.Docker("run", "-d", "--name", name, "--health-cmd", "test -e /tmp/ok && echo fine",
                "--health-interval", "500ms", "--health-retries", "2", "webapp:noexpose"));
            Assert.Contains("(health: starting)", Ok(Engine.Docker("ps", "--filter", $"name={name}", "--format", "{{.Status}}")).Stdout);
            Assert.True(Eventually(() => Inspect(name, "{{.State.Health.Status}}") == "unhealthy"));
            Assert.Contains("(unhealthy)", Ok(Engine.Docker("ps", "--filter", $"name={name}", "--format", "{{.Status}}")).Stdout);
            Ok(Engine.Docker("exec", name, "touch", "/tmp/ok"));
            Assert.True(Eventually(() => Inspect(name, "{{.State.Health.Status}}") == "healthy"));
            Assert.EndsWith("0:fine\n|", Inspect(name, "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}|{{end}}"));
            Assert.Equal("0", Inspect(name, "{{.State.Health.FailingStreak}}"));
            Assert.Equal("[\"CMD-SHELL\",\"test -e /tmp/ok && echo fine\"]", Inspect(name, "{{json .Config.Healthcheck.Test}}"));
            var statuses = Ok(Engine.Docker("events", "--since", since, "--until", UnixNow(), "--filter", $"container={name}",
                "--filter", "event=health_status", "--format", "{{.Action}}")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["health_status: unhealthy", "health_status: healthy"], statuses);
            // Each probe is an exec, with dockerd's events for it.
            string Events(string filter, string format) => Ok(Engine.Docker("events", "--since", since, "--until", UnixNow(),
                "--filter", $"container={name}", "--filter", filter, "--format", format)).Stdout;
            Assert.Contains("exec_create: /bin/sh -c test -e /tmp/ok && echo fine\n", Events("event=exec_create", "{{.Action}}"));
            Assert.Contains("exec_start: /bin/sh -c test -e /tmp/ok && echo fine\n", Events("event=exec_start", "{{.Action}}"));
            var dies = Events("event=exec_die", "{{.Actor.Attributes.exitCode}}").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("1", dies);
            Assert.Contains("0", dies);
            Assert.True(int.Parse(Inspect(name, "{{len .State.Health.Log}}")) <= 5);
            Assert.Contains("(healthy)", Ok(Engine.Docker("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}")).Stdout);
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }

    [Fact]
    public void Compose_waits_for_a_healthy_dependency()
    {
        string project = TestNames.Unique("cp", 10);
        string dir = Path.Combine(Engine.Root, project);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "docker-compose.yml"), """
            version: "2.4"
            services:
              db:
                image: webapp:noexpose
                command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec httpd -f -p 80 -h /www"]
                healthcheck:
                  test: ["CMD-SHELL", "test -e /tmp/ready"]
                  interval: 500ms
                  retries: 60
              app:
                image: webapp:noexpose
                depends_on:
                  db:
                    condition: service_healthy
            """);
        var env = new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost };
        try
        {
            var up = Sh.Run("docker-compose", ["-p", project, "-f", Path.Combine(dir, "docker-compose.yml"), "up", "-d"],
                TimeSpan.FromSeconds(120), env);
            output.WriteLine(up.Stdout + up.Stderr);
            Assert.Equal(0, up.ExitCode);
            string db = $"{project}_db_1", app = $"{project}_app_1";
            Assert.Equal("healthy", Inspect(db, "{{.State.Health.Status}}"));
            Assert.Equal("running", Inspect(app, "{{.State.Status}}"));
            // The app was created only once the db had turned healthy.
            var created = DockerTime(Inspect(app, "{{.Created}}"));
            var dbStarted = DockerTime(Inspect(db, "{{.State.StartedAt}}"));
            Assert.True(created >= dbStarted.AddSeconds(2), $"app created {created:O}, db started {dbStarted:O}");
        }
        finally
        {
            Sh.Run("docker-compose", ["-p", project, "-f", Path.Combine(dir, "docker-compose.yml"), "down", "-t", "1"],
                TimeSpan.FromSeconds(120), env);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Swarm_endpoints_answer_503_and_inspect_carries_dockerds_host_config_fields()
    {
        foreach (var args in new[] { new[] { "service", "ls" }, ["node", "ls"], ["secret", "ls"], ["config", "ls"] })
        {
            var result = Engine.Docker(args);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("This node is not part of a swarm", result.Stderr);
        }
        string name = TestNames.Unique("hcf", 12);
        try
        {
            Ok(Engine.Docker("create", "--name", name, "webapp:noexpose"));
            Assert.Equal("null null [] 0 \"\"", Inspect(name,
                "{{json .HostConfig.MemorySwappiness}} {{json .HostConfig.DeviceRequests}} {{json .HostConfig.Ulimits}} {{json .HostConfig.BlkioWeight}} {{json .HostConfig.CpusetCpus}}"));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
        }
    }
}
