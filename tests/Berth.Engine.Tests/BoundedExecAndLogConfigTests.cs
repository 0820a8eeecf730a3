using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Runtime.Containers;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class BoundedExecAndLogConfigTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 11, 29, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static ExecInstance NewExec(ExecTable table, string container, int i) => new()
    {
        Id = $"exec{i:D4}", ContainerId = container, Request = new ExecCreateRequest { Cmd = ["true"] }, CreatedAt = table.Now,
    };

    [Fact]
    public void Execs_whose_exit_code_was_read_do_not_pile_up()
    {
        var table = new ExecTable(new ManualClock());
        for (int i = 0; i < 200; i++)
        {
            var exec = NewExec(table, "c1", i);
            table.Add(exec, _ => true);
            exec.Started = true;
            exec.EndedAt = table.Now;
            table.MarkRead(exec);
        }
        Assert.True(table.Count <= ExecTable.RecentlyRead, $"{table.Count} execs held after 200 ended and read");
        Assert.NotNull(table.Find("exec0199")); // the last ones read stay for a second look
        Assert.Null(table.Find("exec0000"));
    }

    [Fact]
    public void Unread_and_never_started_execs_go_after_the_grace_period_running_ones_stay()
    {
        var clock = new ManualClock();
        var table = new ExecTable(clock);
        var ended = NewExec(table, "c1", 1);
        var unstarted = NewExec(table, "c1", 2);
        var running = NewExec(table, "c1", 3);
        foreach (var e in new[] { ended, unstarted, running }) table.Add(e, _ => true);
        ended.Started = running.Started = true;
        ended.EndedAt = clock.Now;
        clock.Now += ExecTable.Grace - TimeSpan.FromSeconds(1);
        table.Add(NewExec(table, "c1", 4), _ => true);
        Assert.Equal(4, table.Count);
        clock.Now += TimeSpan.FromSeconds(2);
        table.Add(NewExec(table, "c1", 5), _ => true);
        Assert.Null(table.Find(ended.Id));
        Assert.Null(table.Find(unstarted.Id));
        Assert.NotNull(table.Find(running.Id));
    }

    [Fact]
    public void A_removed_container_takes_its_execs_along()
    {
        var table = new ExecTable(new ManualClock());
        table.Add(NewExec(table, "c1", 1), _ => true);
        table.Add(NewExec(table, "c2", 2), _ => true);
        table.RemoveContainer("c1");
        Assert.Equal(["exec0002"], table.IdsOf("c2"));
        Assert.Empty(table.IdsOf("c1"));
        // And one whose removal was missed goes at the next sweep.
        table.Add(NewExec(table, "c3", 3), id => id != "c2");
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void Daemon_log_defaults_fill_in_what_the_container_did_not_set()
    {
        var merged = LogConfigs.Merge(new LogConfig { Type = "json-file", Config = new() { ["max-size"] = "10k" } },
            new Dictionary<string, string> { ["max-size"] = "20m", ["max-file"] = "5" });
        Assert.Equal("json-file", merged.Type);
        Assert.Equal(new Dictionary<string, string> { ["max-size"] = "10k", ["max-file"] = "5" }, merged.Config);
        Assert.Equal(new LogPolicy(10 * 1024, 5), LogConfigs.PolicyOf(merged));
    }

    [Fact]
    public void The_daemons_driver_applies_to_containers_naming_none_and_its_options_to_its_own_driver_only()
    {
        var daemonOptions = new Dictionary<string, string> { ["max-size"] = "1m" };
        var merged = LogConfigs.Merge(new LogConfig(), daemonOptions, "local");
        Assert.Equal("local", merged.Type);
        Assert.Equal(daemonOptions, merged.Config);
        var other = LogConfigs.Merge(new LogConfig { Type = "json-file" }, daemonOptions, "local");
        Assert.Empty(other.Config);
        var none = LogConfigs.Merge(new LogConfig { Type = "none" }, daemonOptions);
        Assert.True(LogConfigs.PolicyOf(none).Discard);
        Assert.False(LogConfigs.PolicyOf(merged).Discard);
    }

    [Theory]
    [InlineData("syslog", "logger: no log driver named 'syslog' is registered")]
    [InlineData("bogus", "logger: no log driver named 'bogus' is registered")]
    public void A_driver_berth_does_not_run_is_a_bad_request(string driver, string message)
    {
        var error = Assert.Throws<BadRequestException>(() =>
            LogConfigs.Merge(new LogConfig { Type = driver }, LogPolicy.DefaultOptions));
        Assert.Equal(message, error.Message);
        var withOptions = Assert.Throws<BadRequestException>(() => LogConfigs.Merge(
            new LogConfig { Type = "none", Config = new() { ["max-size"] = "1m" } }, LogPolicy.DefaultOptions));
        Assert.Equal(400, withOptions.Status);
    }

    [Theory]
    [InlineData("max-size", "abc")]
    [InlineData("max-size", "0")]
    [InlineData("max-size", "-1")]
    [InlineData("max-file", "0")]
    [InlineData("max-file", "x")]
    [InlineData("nonsense", "1")]
    public void Bad_log_options_are_a_bad_request(string key, string value)
    {
        var error = Assert.Throws<BadRequestException>(() => LogConfigs.Merge(
            new LogConfig { Type = "json-file", Config = new() { [key] = value } }, LogPolicy.DefaultOptions));
        Assert.Equal(400, error.Status);
        Assert.Contains(key, error.Message);
    }
}
