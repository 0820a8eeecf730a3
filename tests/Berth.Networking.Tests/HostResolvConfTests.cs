using System.Net;
using Berth.Networking.Dns;
using Berth.TestSupport;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Berth.Networking.Tests;

/// <summary>The host's resolv.conf as the resolver forwards to it: a change is seen on the next query (even one
/// within the same file-time tick as the write before it), and a bad line or a file without servers is reported.</summary>
public sealed class HostResolvConfTests : IDisposable
{
    private sealed class Warnings : ILogger
    {
        public List<string> Messages { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning) Messages.Add(formatter(state, exception));
        }
    }

    private readonly string _path = Path.Combine(Path.GetTempPath(), TestNames.Unique("resolv") + ".conf");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void A_rewritten_file_is_read_again_at_once_and_its_bad_lines_are_reported_once()
    {
        var warnings = new Warnings();
        var conf = new HostResolvConf(_path, warnings);
        File.WriteAllText(_path, "nameserver 192.0.2.1\n");
        Assert.Equal([IPAddress.Parse("192.0.2.1")], conf.Servers());

        // Same length, written right after: the file time may not have moved.
        File.WriteAllText(_path, "nameserver 192.0.2.2\n");
        Assert.Equal([IPAddress.Parse("192.0.2.2")], conf.Servers());
        Assert.Empty(warnings.Messages);

        File.WriteAllText(_path, "nameserver 192.0.2.3\nnameserver not-an-address\n");
        Assert.Equal([IPAddress.Parse("192.0.2.3")], conf.Servers());
        Assert.Equal([IPAddress.Parse("192.0.2.3")], conf.Servers());
        Assert.Equal(["ignoring invalid line in " + _path + ": nameserver not-an-address"], warnings.Messages);

        File.WriteAllText(_path, "search example.test\n");
        Assert.Empty(conf.Servers());
        Assert.Contains(warnings.Messages, m => m.Contains("names no nameserver"));
    }

    [Fact]
    public void Valid_nameservers_are_kept_and_invalid_lines_reported()
    {
        var invalid = new List<string>();
        var servers = HostResolvConf.Parse("# c\nnameserver 127.0.0.53\nnameserver bogus\nsearch x\nnameserver fe80::1%eth0\n",
            invalid.Add);
        Assert.Equal([IPAddress.Parse("127.0.0.53"), IPAddress.Parse("fe80::1")], servers);
        Assert.Equal(["nameserver bogus"], invalid);
    }
}
