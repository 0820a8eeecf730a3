using System.Text;
using Berth.Api;
using Berth.Api.Endpoints;
using Berth.Engine;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Xunit;

namespace Berth.Api.Tests;

public sealed class RequestGuardTests
{
    private sealed class Body
    {
        public string? Name { get; set; }
        public int Count { get; set; }
        public List<string>? Items { get; set; }
    }

    private static DefaultHttpContext Request(string? contentType, string? body, Endpoint? endpoint = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = contentType;
        if (body is not null)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(body);
            context.Request.Body = new MemoryStream(bytes);
            context.Request.ContentLength = bytes.Length;
        }
        context.Response.Body = new MemoryStream();
        if (endpoint is not null) context.SetEndpoint(endpoint);
        return context;
    }

    private static string ResponseText(HttpContext context)
    {
        context.Response.Body.Position = 0;
        return new StreamReader(context.Response.Body).ReadToEnd();
    }

    [Fact]
    public async Task A_request_with_an_Origin_header_is_refused_with_Dockers_json_error()
    {
        var context = Request(null, null);
        context.Request.Headers.Origin = "http://evil.example";
        bool reached = false;
        await RequestGuards.RefuseBrowsers(context, _ => { reached = true; return Task.CompletedTask; });
        Assert.False(reached);
        Assert.Equal(403, context.Response.StatusCode);
        Assert.StartsWith("{\"message\":", ResponseText(context));
    }

    [Theory]
    [InlineData("text/plain", "{}")]
    [InlineData("application/x-www-form-urlencoded", "a=b")]
    [InlineData("multipart/form-data; boundary=x", "--x--")]
    [InlineData(null, "{}")]
    public async Task A_json_route_refuses_a_body_of_another_type(string? type, string body)
    {
        var context = Request(type, body);
        bool reached = false;
        var error = await Assert.ThrowsAsync<BadRequestException>(() =>
            RequestGuards.CheckBody(context, _ => { reached = true; return Task.CompletedTask; }));
        Assert.False(reached);
        Assert.Contains("application/json", error.Message);
    }

    [Fact]
    public async Task A_body_moved_into_the_upgrade_header_is_checked_like_a_body()
    {
        var context = Request("text/plain", null);
        context.Request.Headers[Streams.HijackTransport.Header] = "e30=";
        await Assert.ThrowsAsync<BadRequestException>(() => RequestGuards.CheckBody(context, _ => Task.CompletedTask));
    }

    [Theory]
    [InlineData("application/json", "{}")]
    [InlineData("application/json; charset=utf-8", "{}")]
    [InlineData("text/plain", null)]   // the docker CLI's attach: text/plain and no body
    [InlineData(null, null)]
    [InlineData(null, "")]
    public async Task Json_and_empty_bodies_pass(string? type, string? body)
    {
        var context = Request(type, body);
        bool reached = false;
        await RequestGuards.CheckBody(context, _ => { reached = true; return Task.CompletedTask; });
        Assert.True(reached);
    }

    [Fact]
    public async Task An_archive_route_takes_any_type_and_lifts_the_size_cap()
    {
        var endpoint = new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(RawBodyMetadata.Instance), "load");
        var context = Request("application/x-tar", "tar bytes", endpoint);
        var size = new SizeFeature { MaxRequestBodySize = RequestGuards.JsonBodyLimit };
        context.Features.Set<IHttpMaxRequestBodySizeFeature>(size);
        bool reached = false;
        await RequestGuards.CheckBody(context, _ => { reached = true; return Task.CompletedTask; });
        Assert.True(reached);
        Assert.Null(size.MaxRequestBodySize);
    }

    private sealed class SizeFeature : IHttpMaxRequestBodySizeFeature
    {
        public bool IsReadOnly => false;
        public long? MaxRequestBodySize { get; set; }
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"Name\": 5}")]
    [InlineData("{\"Count\": \"many\"}")]
    [InlineData("{\"Count\": 99999999999999999999}")]
    [InlineData("{\"Items\": {\"a\": 1}}")]
    [InlineData("[1,2]")]
    [InlineData("\"\\ud800\"")]
    public async Task Malformed_json_is_a_400_that_says_so(string body)
    {
        var error = await Assert.ThrowsAsync<BadRequestException>(() => DockerResults.ReadBody<Body>(Request("application/json", body)));
        Assert.Contains("invalid JSON", error.Message);
    }

    [Fact]
    public async Task Deeply_nested_json_is_a_400()
    {
        string body = "{\"Items\":" + new string('[', 10000) + new string(']', 10000) + "}";
        await Assert.ThrowsAsync<BadRequestException>(() => DockerResults.ReadBody<Body>(Request("application/json", body)));
    }

    [Fact]
    public async Task A_json_body_over_the_cap_is_a_413()
    {
        var context = Request("application/json", "{}");
        context.Request.ContentLength = RequestGuards.JsonBodyLimit + 1;
        var error = await Assert.ThrowsAsync<EngineException>(() => DockerResults.ReadBody<Body>(context));
        Assert.Equal(413, error.Status);
    }

    [Theory]
    [InlineData("{\"name\":[\"(\"]}")]
    [InlineData("{\"name\":[5]}")]
    [InlineData("{\"name\":{\"x\":\"yes\"}}")]
    [InlineData("{\"name\":\"x\"}")]
    [InlineData("{\"bogus\":[\"x\"]}")]
    [InlineData("[]")]
    [InlineData("{")]
    public void Bad_container_filters_are_a_400(string filters) =>
        Assert.Throws<BadRequestException>(() => ContainerFilters.Parse(filters));

    [Theory]
    [InlineData("{\"type\":[\"weird\"]}")]
    [InlineData("{\"name\":[null]}")]
    [InlineData("{\"dangling\":[\"perhaps\"]}")]
    [InlineData("{\"dangling\":[\"true\",\"false\"]}")]
    [InlineData("{\"until\":[\"1h\"]}")]
    public void Bad_network_filters_are_a_400(string filters) =>
        Assert.Throws<BadRequestException>(() => NetworkFilters.Parse(filters));

    [Fact]
    public void A_catastrophic_pattern_is_stopped_by_the_match_timeout()
    {
        var regex = FilterJson.Regex("name", "^(a+)+$");
        Assert.Throws<BadRequestException>(() => FilterJson.IsMatch(regex, new string('a', 5000) + "!"));
    }

    [Theory]
    [InlineData("99999999999999999999999999")]
    [InlineData("-99999999999999999999999999")]
    [InlineData("1e400")]
    [InlineData("yesterday")]
    [InlineData("253402300800")]
    public void Out_of_range_or_malformed_times_are_a_400(string value) =>
        Assert.Throws<BadRequestException>(() => ContainerEndpoints.ParseUnixTime("since", value));

    [Theory]
    [InlineData("1700000000", 1700000000L)]
    [InlineData("1700000000.5", 1700000000L)]
    [InlineData("2023-11-14T22:13:20Z", 1700000000L)]
    public void Docker_times_parse(string value, long seconds) =>
        Assert.Equal(seconds, ContainerEndpoints.ParseUnixTime("since", value)!.Value.ToUnixTimeSeconds());

    [Theory]
    [InlineData("all", null)]
    [InlineData("", null)]
    [InlineData("0", 0)]
    [InlineData("25", 25)]
    [InlineData("99999999999999999999", null)]
    public void Tail_is_all_or_a_count(string value, int? expected) => Assert.Equal(expected, ContainerEndpoints.ParseTail(value));

    [Theory]
    [InlineData("-1")]
    [InlineData("ten")]
    [InlineData("1.5")]
    [InlineData(" 3")]
    public void Bad_tails_are_a_400(string value) => Assert.Throws<BadRequestException>(() => ContainerEndpoints.ParseTail(value));

    [Theory]
    [InlineData("h=-1")]
    [InlineData("h=65536")]
    [InlineData("h=x")]
    [InlineData("h=99999999999")]
    public void Out_of_range_integers_are_a_400(string query)
    {
        var context = new DefaultHttpContext();
        context.Request.QueryString = new QueryString("?" + query);
        Assert.Throws<BadRequestException>(() => DockerResults.Int(context, "h", 0, ushort.MaxValue));
    }
}
