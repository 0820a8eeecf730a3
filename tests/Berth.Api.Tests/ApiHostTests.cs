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
    [InlineData("tcp://0.0.0.0:2376")]
    public void Parses_sockets_and_tcp_addresses(string host) => ApiListeners.ParseHost(host);

    [Theory]
    [InlineData("unix://relative.sock")]
    [InlineData("http://127.0.0.1:2375")]
    [InlineData("tcp://127.0.0.1")]
    [InlineData("tcp://localhost:2375")]
    public void Refuses_malformed_hosts(string host)
    {
        var error = Assert.Throws<ArgumentException>(() => ApiListeners.ParseHost(host));
        Assert.Contains(host, error.Message);
    }

    [Theory]
    [InlineData("tcp://127.0.0.1:2375")]
    [InlineData("tcp://0.0.0.0:2375")]
    public void Plain_tcp_is_refused_without_the_insecure_flag(string host)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            ApiListeners.Resolve(new ApiListenOptions(["unix:///run/x.sock", host]), out _));
        Assert.Contains("--tlsverify", error.Message);
        Assert.Contains("--insecure-tcp", error.Message);
    }

    [Fact]
    public void Insecure_tcp_is_served_on_loopback_only_and_with_a_warning()
    {
        var listeners = ApiListeners.Resolve(
            new ApiListenOptions(["unix:///run/x.sock", "tcp://127.0.0.1:2375"], InsecureTcp: true), out var warnings);
        Assert.Equal(2, listeners.Count);
        Assert.Null(listeners[1].Https);
        Assert.Contains("tcp://127.0.0.1:2375", Assert.Single(warnings));

        var error = Assert.Throws<ArgumentException>(() =>
            ApiListeners.Resolve(new ApiListenOptions(["tcp://192.168.33.2:2375"], InsecureTcp: true), out _));
        Assert.Contains("loopback", error.Message);
    }

    [Fact]
    public void Missing_tls_files_are_a_clear_start_error()
    {
        var tls = new ApiTlsFiles("/nonexistent/ca.pem", "/nonexistent/cert.pem", "/nonexistent/key.pem");
        var error = Assert.Throws<ArgumentException>(() =>
            ApiListeners.Resolve(new ApiListenOptions(["tcp://127.0.0.1:2376"], tls), out _));
        Assert.Contains("/nonexistent/ca.pem", error.Message);
    }

    [Fact]
    public void The_route_table_lists_every_mapped_route()
    {
        var routes = ApiServer.Routes();
        Assert.Contains(("POST", "/containers/create"), routes);
        Assert.Contains(("GET", "/containers/{id}/json"), routes);
        Assert.Contains(("POST", "/images/load"), routes);
        Assert.Contains(("HEAD", "/_ping"), routes);
        Assert.True(routes.Count > 30, $"{routes.Count} routes");
    }

    [Theory]
    [InlineData("/v99999999999.1/version")]
    [InlineData("/v1.99999999999/version")]
    public async Task Version_numbers_too_large_for_an_int_are_a_400(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        await ApiVersion.Middleware(context, _ => Task.CompletedTask);
        Assert.Equal(400, context.Response.StatusCode);
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
