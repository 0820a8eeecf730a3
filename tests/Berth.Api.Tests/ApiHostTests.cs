using Berth.Api;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace Berth.Api.Tests;

public sealed class ApiHostTests
{
    [Theory]
    [InlineData("unix:///run/berth/berth.sock")]
    [InlineData("tcp://127.0.0.1:2375")]
    [InlineData("tcp://[::1]:2375")]
    public void Accepts_sockets_and_loopback_tcp(string host) => ApiServer.ParseHost(host);

    [Theory]
    [InlineData("tcp://0.0.0.0:2375")]
    [InlineData("tcp://192.168.33.2:2375")]
    [InlineData("unix://relative.sock")]
    [InlineData("http://127.0.0.1:2375")]
    [InlineData("tcp://127.0.0.1")]
    public void Refuses_non_loopback_and_malformed_hosts(string host)
    {
        var error = Assert.Throws<ArgumentException>(() => ApiServer.ParseHost(host));
        Assert.Contains(host, error.Message);
    }

    [Theory]
    [InlineData("/v1.44/containers/json", "/containers/json", 200)]
    [InlineData("/v1.24/version", "/version", 200)]
    [InlineData("/containers/json", "/containers/json", 200)]
    [InlineData("/v1.51/version", null, 400)]
    [InlineData("/v1.23/version", null, 400)]
    public async Task Version_prefixes_are_stripped_and_out_of_range_versions_refused(string path, string? routed, int status)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        string? seen = null;
        await ApiVersion.Middleware(context, ctx => { seen = ctx.Request.Path; return Task.CompletedTask; });
        Assert.Equal(routed, seen);
        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal("1.50", context.Response.Headers["Api-Version"]);
        if (status == 400) Assert.Equal("application/json", context.Response.ContentType);
    }
}
