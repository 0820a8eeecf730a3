using System.Text.Json.Nodes;
using Berth.Engine.Containers.Health;
using Berth.Engine.Containers.Restart;
using Berth.Engine.Events;
using Berth.Engine.Model;
using Berth.Runtime.Images;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>The pure rules of issue 17's first half: event filters and history, restart policies and backoff,
/// health check results and config merge.</summary>
public sealed class LifecycleRulesTests
{
    private static EngineEvent Container(string action, string id = "abc123", string name = "web", string image = "webapp:1",
        Dictionary<string, string>? extra = null)
    {
        var attributes = new Dictionary<string, string>(extra ?? new()) { ["name"] = name, ["image"] = image };
        return EngineEvent.Create(EventTypes.Container, action, id, attributes, DateTimeOffset.UtcNow);
    }

    private static EventFilter Filter(string json) =>
        new(JsonNode.Parse(json)!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(v => v!.GetValue<string>()).ToList()));

    [Fact]
    public void Filters_match_as_dockerd_does()
    {
        Assert.True(Filter("""{"event":["die"],"type":["container"]}""").Includes(Container("die")));
        Assert.False(Filter("""{"event":["die"]}""").Includes(Container("start")));
        // health_status and exec_* match their "action: detail" forms.
        Assert.True(Filter("""{"event":["health_status"]}""").Includes(Container("health_status: healthy")));
        Assert.True(Filter("""{"event":["exec_start"]}""").Includes(Container("exec_start: sh -c x")));
        // container by id prefix or name; image with or without tag; labels on the attributes.
        Assert.True(Filter("""{"container":["abc"]}""").Includes(Container("start")));
        Assert.True(Filter("""{"container":["web"]}""").Includes(Container("start")));
        Assert.False(Filter("""{"container":["other"]}""").Includes(Container("start")));
        Assert.True(Filter("""{"image":["webapp"]}""").Includes(Container("start")));
        Assert.True(Filter("""{"label":["tier=front"]}""").Includes(Container("start", extra: new() { ["tier"] = "front" })));
        Assert.False(Filter("""{"label":["tier=back"]}""").Includes(Container("start", extra: new() { ["tier"] = "front" })));
        var network = EngineEvent.Create(EventTypes.Network, "connect", "net1", new Dictionary<string, string> { ["name"] = "mynet" }, DateTimeOffset.UtcNow);
        Assert.True(Filter("""{"network":["mynet"]}""").Includes(network));
        Assert.False(Filter("""{"network":["mynet"]}""").Includes(Container("start")));
        Assert.False(Filter("""{"type":["network"]}""").Includes(Container("start")));
    }

    [Fact]
    public void Events_carry_the_old_fields_for_containers_and_images_only()
    {
        var ev = Container("start");
        Assert.Equal(("start", "abc123", "webapp:1"), (ev.Status, ev.LegacyId, ev.From));
        var network = EngineEvent.Create(EventTypes.Network, "create", "n", null, DateTimeOffset.UtcNow);
        Assert.Null(network.Status);
        Assert.Null(network.LegacyId);
        Assert.Equal("local", network.Scope);
    }

    [Fact]
    public void History_answers_since_and_until_and_is_bounded()
    {
        var bus = new EventBus();
        var first = bus.Publish(EventTypes.Container, "create", "a");
        var second = bus.Publish(EventTypes.Container, "start", "a");
        Assert.True(second.TimeNano > first.TimeNano);
        var at = DateTimeOffset.UnixEpoch.AddTicks(second.TimeNano / 100);
        using (var sub = bus.Subscribe(at, null, live: false)) Assert.Equal(["start"], sub.Past.Select(e => e.Action));
        using (var sub = bus.Subscribe(null, null)) Assert.Empty(sub.Past);
        using (var sub = bus.Subscribe(DateTimeOffset.UnixEpoch, null))
        {
            Assert.Equal(2, sub.Past.Count);
            bus.Publish(EventTypes.Container, "die", "a");
            Assert.True(sub.Live.TryRead(out var live) && live.Action == "die");
        }
        Assert.Equal(0, bus.SubscriberCount);
        for (int i = 0; i < EventBus.HistorySize + 10; i++) bus.Publish(EventTypes.Image, "tag", "i");
        using var all = bus.Subscribe(DateTimeOffset.UnixEpoch, null, live: false);
        Assert.Equal(EventBus.HistorySize, all.Past.Count);
    }

    [Theory]
    [InlineData("no", 1, false, 0, false)]
    [InlineData("always", 0, false, 0, true)]
    [InlineData("always", 0, true, 0, false)]
    [InlineData("unless-stopped", 1, false, 5, true)]
    [InlineData("on-failure", 0, false, 0, false)]
    [InlineData("on-failure", 2, false, 0, true)]
    public void Restart_policies_decide_as_docker(string name, int exitCode, bool manual, int count, bool expected) =>
        Assert.Equal(expected, RestartRules.ShouldRestart(new RestartPolicy { Name = name }, exitCode, manual, count));

    [Fact]
    public void On_failure_stops_at_its_maximum_and_always_returns_with_the_engine()
    {
        var policy = new RestartPolicy { Name = "on-failure", MaximumRetryCount = 2 };
        Assert.True(RestartRules.ShouldRestart(policy, 1, false, 1));
        Assert.False(RestartRules.ShouldRestart(policy, 1, false, 2));
        Assert.True(RestartRules.ShouldStartWithEngine(new RestartPolicy { Name = "always" }, 0, manuallyStopped: true, 0));
        Assert.False(RestartRules.ShouldStartWithEngine(new RestartPolicy { Name = "unless-stopped" }, 0, manuallyStopped: true, 0));
    }

    [Fact]
    public void Backoff_doubles_from_100ms_up_to_a_minute_and_resets_after_10s_up()
    {
        var delay = TimeSpan.Zero;
        var seen = new List<double>();
        for (int i = 0; i < 12; i++) seen.Add((delay = RestartRules.NextDelay(delay, TimeSpan.FromSeconds(1))).TotalMilliseconds);
        Assert.Equal([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000], seen);
        Assert.Equal(TimeSpan.FromMilliseconds(100), RestartRules.NextDelay(delay, TimeSpan.FromSeconds(10)));
    }

    private static HealthSettings Settings(int retries = 3, int startPeriodSeconds = 0) =>
        new(["true"], TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(startPeriodSeconds), TimeSpan.FromSeconds(1), retries);

    [Fact]
    public void Health_turns_unhealthy_after_retries_and_healthy_on_success()
    {
        var started = DateTimeOffset.UtcNow;
        var health = new HealthState();
        var settings = Settings(retries: 2);
        Assert.Null(HealthRules.Apply(health, new HealthProbe { Start = started, ExitCode = 1 }, settings, started));
        Assert.Equal(HealthState.Unhealthy, HealthRules.Apply(health, new HealthProbe { Start = started, ExitCode = 1 }, settings, started));
        Assert.Equal(2, health.FailingStreak);
        Assert.Equal(HealthState.Healthy, HealthRules.Apply(health, new HealthProbe { Start = started, ExitCode = 0 }, settings, started));
        Assert.Equal(0, health.FailingStreak);
        for (int i = 0; i < 7; i++) HealthRules.Apply(health, new HealthProbe { Start = started, ExitCode = 0 }, settings, started);
        Assert.Equal(HealthSettings.MaxLogEntries, health.Log.Count);
    }

    [Fact]
    public void Failures_within_the_start_period_do_not_count()
    {
        var started = DateTimeOffset.UtcNow;
        var health = new HealthState();
        for (int i = 0; i < 5; i++)
            HealthRules.Apply(health, new HealthProbe { Start = started.AddSeconds(1), ExitCode = 1 }, Settings(retries: 1, startPeriodSeconds: 30), started);
        Assert.Equal((HealthState.Starting, 0), (health.Status, health.FailingStreak));
    }

    [Fact]
    public void Healthcheck_merges_with_the_image_and_is_checked()
    {
        var image = new HealthConfig { Test = ["CMD-SHELL", "true"], Interval = 2_000_000_000, Retries = 5 };
        var merged = HealthSettings.Merge(JsonNode.Parse("""{"Interval":1000000000}""")!.AsObject(), image)!;
        var settings = HealthSettings.From(merged)!;
        Assert.Equal(["/bin/sh", "-c", "true"], settings.Command);
        Assert.Equal((TimeSpan.FromSeconds(1), 5, HealthSettings.DefaultTimeout), (settings.Interval, settings.Retries, settings.Timeout));
        Assert.Null(HealthSettings.From(HealthSettings.Merge(JsonNode.Parse("""{"Test":["NONE"]}""")!.AsObject(), image)));
        Assert.Null(HealthSettings.Merge(null, null));
        Assert.Throws<BadRequestException>(() => HealthSettings.Merge(JsonNode.Parse("""{"Interval":5}""")!.AsObject(), null));
        Assert.Throws<BadRequestException>(() => HealthSettings.Merge(JsonNode.Parse("""{"Retries":-1}""")!.AsObject(), null));
    }
}
