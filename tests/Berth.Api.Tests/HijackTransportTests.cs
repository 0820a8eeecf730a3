using System.Buffers;
using System.Text;
using Berth.Api.Streams;
using Xunit;

namespace Berth.Api.Tests;

public sealed class HijackTransportTests
{
    [Theory]
    [InlineData("POST /x HTTP/1.1\r\nHost: a\r\n\r\n{}", 29)]
    // Docker.DotNet: header lines end in LF, the blank line in CRLF.
    [InlineData("POST /x HTTP/1.1\r\nHost: a\nContent-Length: 2\n\r\n{}", 46)]
    [InlineData("POST /x HTTP/1.1\nHost: a\n\n{}", 26)]
    [InlineData("POST /x HTTP/1.1\r\nHost: a\r\n", 0)]
    public void Finds_the_end_of_a_request_head_with_either_line_ending(string text, long expected) =>
        Assert.Equal(expected, HijackTransport.HeadLength(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text))));
}
