using Berth.Engine.Containers;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class DetachKeysTests
{
    [Theory]
    [InlineData("ctrl-p,ctrl-q", new byte[] { 0x10, 0x11 })]
    [InlineData("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", new byte[] { 0, 27, 28, 29, 30, 31 })]
    [InlineData("a,CTRL-A", new byte[] { (byte)'a', 1 })]
    public void Docker_notation_gives_the_keys_bytes(string keys, byte[] expected) =>
        Assert.Equal(expected, DetachKeys.Parse(keys));

    [Theory]
    [InlineData("ctrl-1")]
    [InlineData("ab")]
    [InlineData("ctrl-p,")]
    [InlineData("é")]
    public void Anything_else_is_refused(string keys) => Assert.Null(DetachKeys.Parse(keys));

    [Fact]
    public void A_prefix_that_does_not_go_on_is_passed_on_in_order_and_the_sequence_never_is()
    {
        var scanner = new DetachKeyScanner([0x10, 0x11]);
        var output = new List<byte>();
        Assert.False(scanner.Scan([(byte)'a', 0x10], output));
        Assert.Equal([(byte)'a'], output);
        Assert.False(scanner.Scan([(byte)'b', 0x10, 0x10], output));
        Assert.Equal([(byte)'a', 0x10, (byte)'b', 0x10], output);
        // The sequence split across reads still counts.
        Assert.True(scanner.Scan([0x11, (byte)'c'], output));
        Assert.Equal([(byte)'a', 0x10, (byte)'b', 0x10], output);
    }
}
