using Berth.Cli;
using Xunit;

namespace Berth.Cli.Tests;

public sealed class DaemonLogOptionsTests
{
    [Fact]
    public void Without_log_opt_the_daemon_caps_logs_at_five_files_of_20m()
    {
        var options = DaemonLogOptions.Parse([]);
        Assert.Equal("20m", options["max-size"]);
        Assert.Equal("5", options["max-file"]);
    }

    [Fact]
    public void Given_log_opts_replace_the_default_as_dockerd_takes_them()
    {
        var options = DaemonLogOptions.Parse(["max-size=1m", "max-file=2"]);
        Assert.Equal(new Dictionary<string, string> { ["max-size"] = "1m", ["max-file"] = "2" }, options);
    }

    [Theory]
    [InlineData("max-size")]
    [InlineData("max-size=abc")]
    [InlineData("max-file=0")]
    [InlineData("colour=blue")]
    public void Bad_log_opts_stop_the_daemon_with_a_clear_error(string value) =>
        Assert.Throws<ArgumentException>(() => DaemonLogOptions.Parse(["max-size=1m", value]));
}
