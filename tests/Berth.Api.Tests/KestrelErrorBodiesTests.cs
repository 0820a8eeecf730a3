using System.Text;
using Berth.Api.Streams;
using Xunit;

namespace Berth.Api.Tests;

public sealed class KestrelErrorBodiesTests
{
    [Fact]
    public void Kestrels_own_empty_refusals_get_a_json_body()
    {
        byte[] head = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\nDate: x\r\n\r\n"u8.ToArray();
        string rewritten = Encoding.ASCII.GetString(KestrelErrorBodies.Rewrite(head)!);
        Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\nContent-Length: 46\r\n"
            + "Connection: close\r\nDate: x\r\n\r\n{\"message\":\"request header fields too large\"}\n", rewritten);
    }

    [Theory]
    // A head with a body behind it in the same block.
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n{}")]
    // A status Kestrel does not refuse with.
    [InlineData("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")]
    // An answer with a body of its own (Berth's errors).
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nConnection: close\r\n\r\n")]
    // An empty answer on a connection that stays open: the application's, not a refusal.
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")]
    // Part of a head, a chunk of a streamed body, container output that looks like HTTP.
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0")]
    [InlineData("1a\r\n{\"message\":\"HTTP/1.1 400\"}\r\n")]
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")]
    public void Everything_else_is_left_as_it_is(string block) =>
        Assert.Null(KestrelErrorBodies.Rewrite(Encoding.ASCII.GetBytes(block)));
}
