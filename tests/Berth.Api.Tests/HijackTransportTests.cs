using System.Buffers;
using System.Text;
using Berth.Api.Streams;
using Berth.Engine;
using Microsoft.AspNetCore.Http;
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

    private sealed class StartBody
    {
        public bool Detach { get; set; }
    }

    [Theory]
    [InlineData("***not base64***")]
    [InlineData("e30")]          // base64 with its padding cut
    [InlineData("ew==")]         // "{"
    [InlineData("eyJEZXRhY2giOiJ5ZXMifQ==")] // {"Detach":"yes"}
    public void A_bad_moved_body_header_is_a_400_not_a_crash(string header)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[HijackTransport.Header] = header;
        Assert.Throws<BadRequestException>(() => HijackTransport.ReadMovedBody<StartBody>(context));
    }

    [Fact]
    public void A_moved_body_is_read_back()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[HijackTransport.Header] = Convert.ToBase64String("{\"Detach\":true}"u8.ToArray());
        Assert.True(HijackTransport.ReadMovedBody<StartBody>(context)!.Detach);
    }
}
