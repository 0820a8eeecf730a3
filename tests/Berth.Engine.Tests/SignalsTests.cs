using Berth.Engine;
using Berth.Engine.Containers;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class SignalsTests
{
    [Theory]
    [InlineData("KILL", 9)]
    [InlineData("SIGKILL", 9)]
    [InlineData("sigterm", 15)]
    [InlineData("9", 9)]
    [InlineData("HUP", 1)]
    [InlineData("SIGUSR1", 10)]
    [InlineData("RTMIN", 34)]
    [InlineData("SIGRTMIN+2", 36)]
    [InlineData("RTMAX-1", 63)]
    [InlineData("RTMAX", 64)]
    public void Parses_names_and_numbers(string text, int expected) => Assert.Equal(expected, Signals.Parse(text));

    [Theory]
    [InlineData("NOPE")]
    [InlineData("0")]
    [InlineData("99")]
    [InlineData("RTMIN+100")]
    [InlineData("RTMINxyz")]
    [InlineData("RTMIN+-3")]
    public void Rejects_unknown_signals_as_bad_request(string text)
    {
        var error = Assert.Throws<BadRequestException>(() => Signals.Parse(text));
        Assert.Equal(400, error.Status);
        Assert.Contains(text, error.Message);
    }
}
