using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Berth.Api;
using Berth.Api.Endpoints;
using Berth.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace Berth.EndToEnd.Tests;

/// <summary>A bounded fuzz run over every route the API maps (read from its endpoint data source): malformed JSON,
/// wrong JSON types, huge strings, unicode, hostile numbers in query values, path ids such as `../../etc` and `%00`,
/// very long paths, wrong methods, browser-like and hijack-like headers; a fixed seed, a bounded count and time.
/// Nothing may answer 5xx (outside <see cref="Documented5xx"/>), the engine keeps answering /_ping, and a container
/// started before the run still runs and still answers on its published port.
/// Requests are raw HTTP/1.1 bytes over the unix socket, so paths reach the server as written (no client
/// normalises `..` away). Ids in paths are never hex-only (a hex string could be a real id's prefix), and the
/// target's own id appears only in a fixed list of requests that must be refused before anything is done. A second,
/// expendable container (the "victim", created and never given a published port) is fuzzed freely by name, so the
/// checks behind the id lookup are reached too; it is created again whenever a request removed it.</summary>
public sealed class ApiFuzzTests(EngineFixture fixture, ITestOutputHelper output) : IClassFixture<EngineFixture>
{
    private const int Seed = 20261129;
    private const int RequestBudget = 2000;
    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>5xx answers that are correct, with why. Matched on "METHOD /route-pattern".</summary>
    private static readonly (string Route, string Reason)[] Documented5xx =
    [
        .. ApiServer.Routes().Where(r => SwarmEndpoints.Owns(r.Pattern))
            .Select(r => ($"{r.Method} {r.Pattern}", "swarm mode: 503 as dockerd outside a swarm")),
    ];

    private EngineProcess Engine => fixture.Engine;

    private sealed record Outcome(string Request, string Route, int Status, string Detail);

    [Fact]
    public async Task Every_route_survives_malformed_requests_without_5xx_and_nothing_running_is_harmed()
    {
        string name = TestNames.Unique("fuzzed", 14);
        string victim = TestNames.Unique("fz-victim-", 18);
        int port = Ports.Free();
        EngineFixture.Check(Engine.Docker("run", "-d", "--name", name, "-p", $"127.0.0.1:{port}:80", "webapp:noexpose"));
        try
        {
            string id = EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.Id}}", name)).Stdout.Trim();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            Assert.Contains("Hostname", await http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));

            var routes = ApiServer.Routes().Where(r => r.Method != "*").Distinct().ToList();
            output.WriteLine($"routes mapped by the server: {routes.Count}");
            var random = new Random(Seed);
            var outcomes = new List<Outcome>();
            var clock = Stopwatch.StartNew();

            var refusalsNotRefused = new List<string>();
            foreach (var (request, route) in TargetedRequests(id))
            {
                var outcome = await SendAsync(request, route);
                outcomes.Add(outcome);
                if (outcome.Status is < 400 or >= 500) refusalsNotRefused.Add($"{outcome.Status} {outcome.Request}");
            }
            foreach (var (request, route) in ImportRequests())
                outcomes.Add(await SendAsync(request, route));
            for (int i = 0; outcomes.Count < RequestBudget && clock.Elapsed < TimeBudget; i++)
            {
                if (i % 50 == 0 && Engine.Docker("container", "inspect", "-f", "{{.Id}}", victim) is { ExitCode: not 0 } gone)
                {
                    output.WriteLine($"victim gone after request {i}: {gone.Stderr.Trim()}");
                    // Its process ends on SIGTERM within a second, so stop and restart answer in time whatever `t` says.
                    var created = Engine.Docker("create", "--name", victim, "--stop-timeout", "1", "webapp:noexpose",
                        "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done");
                    if (created.ExitCode != 0)
                    {
                        output.WriteLine(Engine.Docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Status}}").Stdout);
                        foreach (var o in outcomes.TakeLast(50)) output.WriteLine($"{o.Status} {o.Request}");
                        output.WriteLine(Engine.Log);
                        EngineFixture.Check(created);
                    }
                }
                var (method, pattern) = routes[i % routes.Count];
                var (request, shown) = Generate(random, method, pattern, victim);
                outcomes.Add(await SendAsync(request, $"{method} {pattern}", shown));
            }
            clock.Stop();

            output.WriteLine($"fuzz run: seed {Seed}, {outcomes.Count} requests over {routes.Count} routes in {clock.Elapsed.TotalSeconds:F1} s");
            foreach (var group in outcomes.GroupBy(o => o.Status).OrderBy(g => g.Key))
                output.WriteLine($"  {(group.Key < 0 ? Describe(group.Key) : group.Key.ToString()),-12} {group.Count()}");

            // Requests that changed something (2xx on a route that is not a read): worth a look, not failures.
            foreach (var group in outcomes.Where(o => o.Status is >= 200 and < 300 && !o.Route.StartsWith("GET ")
                         && !o.Route.StartsWith("HEAD ")).GroupBy(o => o.Route))
                output.WriteLine($"  2xx on {group.Key}: {group.Count()} (e.g. {group.First().Request})");

            var failures = outcomes.Where(o => (o.Status >= 500 && !Documented5xx.Any(d => d.Route == o.Route))
                                               || o.Status == NoStatus).ToList();
            foreach (var f in failures.Take(40)) output.WriteLine($"FAIL {Describe(f.Status)} {f.Route}: {f.Request} -> {f.Detail}");
            string[] engineErrors = Engine.Log.Split('\n').Where(l => l.Contains(" fail: ") || l.Contains("Unhandled")).ToArray();
            foreach (string line in engineErrors.Take(20)) output.WriteLine("engine: " + line);

            Assert.True(await PingAsync(), "the engine no longer answers /_ping");
            Assert.Equal("true", EngineFixture.Check(Engine.Docker("inspect", "-f", "{{.State.Running}}", id)).Stdout.Trim());
            Assert.Contains("Hostname", await http.GetWhenUpAsync($"http://127.0.0.1:{port}/"));
            Assert.Empty(failures.Select(f => $"{Describe(f.Status)} {f.Route}: {f.Request}"));
            Assert.Empty(refusalsNotRefused);
        }
        finally
        {
            Engine.Docker("rm", "-f", name, victim);
        }
    }

    /// <summary>No status line within the timeout, or the connection dropped: a failure on every route (streaming
    /// routes send their status line at once).</summary>
    private const int NoStatus = -1;

    private static string Describe(int status) => status == NoStatus ? "no-answer" : status.ToString();

    // ------------------------------------------------------------------ requests

    private sealed record RawRequest(string Method, string Target, IReadOnlyList<(string, string)> Headers, byte[]? Body,
        bool Chunked = false);

    /// <summary>Imports of an empty archive with odd `changes`: accepted or refused, never a 5xx.</summary>
    private static IEnumerable<(RawRequest, string)> ImportRequests()
    {
        byte[] emptyTar = new byte[1024];
        foreach (string change in new[] { "EXPOSE%2099999", "EXPOSE%20-1", "EXPOSE%2080%2Fsctpx", "ENV", "ENV%20%3D", "USER",
                     "CMD%20%5B", "CMD%20%5B1%2C2%5D", "ENTRYPOINT%20%7B%7D", "HEALTHCHECK%20NONE", "WORKDIR%20relative",
                     "LABEL", "LABEL%20%3D%3D", "STOPSIGNAL%20NOPE", "VOLUME%20%5B", "FROM%20x", "%00" })
            yield return (new RawRequest("POST", $"/images/create?fromSrc=-&repo=fz-import&changes={change}",
                [("Content-Type", "application/x-tar")], emptyTar), "POST /images/create");
        yield return (new RawRequest("POST", "/images/create?fromSrc=-&repo=FZ%20Upper%3A%3Abad", [], emptyTar),
            "POST /images/create");
        yield return (new RawRequest("POST", "/images/create?fromSrc=-&repo=fz-import&tag=..%2F..%2Fetc", [], emptyTar),
            "POST /images/create");
        yield return (new RawRequest("POST", "/images/create?fromSrc=http%3A%2F%2F127.0.0.1%3A1%2Fx", [], null),
            "POST /images/create");
    }

    /// <summary>Requests naming the running target: each must be refused before anything is done to it.</summary>
    private static IEnumerable<(RawRequest, string)> TargetedRequests(string id)
    {
        RawRequest Post(string target, string? type = null, string? body = null) =>
            new("POST", target, type is null ? [] : [("Content-Type", type)], body is null ? null : Encoding.UTF8.GetBytes(body));
        foreach (string name in new[] { "%00", "case%2FUPPER", "..%2F..%2Fetc", "%7B", "a%40sha256%3Anope", "ok&tag=%00", "ok&tag=bad%20tag" })
            yield return (Post($"/images/create?fromImage={name}"), "POST /images/create");
        yield return (new RawRequest("GET", $"/containers/{id}/logs?stdout=1&tail=-5", [], null), "GET /containers/{id}/logs");
        yield return (new RawRequest("GET", $"/containers/{id}/logs?stdout=1&since=1e999", [], null), "GET /containers/{id}/logs");
        yield return (new RawRequest("GET", $"/containers/{id}/logs?stdout=1&until=99999999999999999999999", [], null), "GET /containers/{id}/logs");
        yield return (Post($"/containers/{id}/resize?h=-1&w=80"), "POST /containers/{id}/resize");
        yield return (Post($"/containers/{id}/resize?h=24&w=70000"), "POST /containers/{id}/resize");
        yield return (Post($"/containers/{id}/kill?signal=RTMIN%2B100"), "POST /containers/{id}/kill");
        yield return (Post($"/containers/{id}/kill?signal=0"), "POST /containers/{id}/kill");
        yield return (Post($"/containers/{id}/kill?signal=SIGNOPE"), "POST /containers/{id}/kill");
        yield return (Post($"/containers/{id}/stop?t=-7"), "POST /containers/{id}/stop");
        yield return (Post($"/containers/{id}/stop?t=99999999999"), "POST /containers/{id}/stop");
        yield return (Post($"/containers/{id}/stop?signal=NOPE"), "POST /containers/{id}/stop");
        yield return (Post($"/containers/{id}/restart?t=abc"), "POST /containers/{id}/restart");
        yield return (Post($"/containers/{id}/restart?timeout=2147483647"), "POST /containers/{id}/restart");
        yield return (Post($"/containers/{id}/wait?condition=bogus"), "POST /containers/{id}/wait");
        yield return (Post($"/containers/{id}/exec", "text/plain", "{\"Cmd\":[\"true\"]}"), "POST /containers/{id}/exec");
        yield return (Post($"/containers/{id}/exec", "application/x-www-form-urlencoded", "Cmd=true"), "POST /containers/{id}/exec");
        yield return (Post($"/containers/{id}/exec", "application/json", "{\"Cmd\":"), "POST /containers/{id}/exec");
        yield return (Post($"/containers/{id}/exec", "application/json", "{\"Cmd\":[]}"), "POST /containers/{id}/exec");
        yield return (Post($"/containers/{id}/rename?name=..%2F..%2Fetc"), "POST /containers/{id}/rename");
        yield return (new RawRequest("DELETE", $"/containers/{id}?force=1", [("Origin", "http://localhost")], null), "DELETE /containers/{id}");
        // An upgrade request's body is moved into a header by the hijack transport: its type is still checked.
        yield return (new RawRequest("POST", $"/containers/{id}/exec", [("Content-Type", "text/plain"), ("Connection", "Upgrade"),
            ("Upgrade", "tcp")], "{\"Cmd\":[\"kill\",\"1\"],\"AttachStdout\":true}"u8.ToArray()), "POST /containers/{id}/exec");
        yield return (new RawRequest("POST", $"/containers/{id}/kill", [("Origin", "null")], null), "POST /containers/{id}/kill");
        yield return (Post($"/networks/bridge/disconnect", "text/plain", $"{{\"Container\":\"{id}\",\"Force\":true}}"), "POST /networks/{id}/disconnect");
        // Bodies that pass type checks but carry out-of-range values (the image exists; nothing may be created).
        foreach (string hostConfig in new[]
                 {
                     "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"99999\"}]}}",
                     "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"-1\"}]}}",
                     "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"70000-70010\"}]}}",
                     "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"9-1\"}]}}",
                     "{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"::zz\",\"HostPort\":\"8080\"}]}}",
                     "{\"PortBindings\":{\"99999/tcp\":[{\"HostPort\":\"8080\"}]}}",
                     "{\"PortBindings\":{\"80/sctpx\":[{\"HostPort\":\"8080\"}]}}",
                     "{\"PortBindings\":{\"abc\":[{\"HostPort\":\"8080\"}]}}",
                     "{\"PortBindings\":{\"80/tcp\":[null,{\"HostPort\":\"99999\"}]}}",
                     "{\"RestartPolicy\":{\"Name\":\"sometimes\"}}",
                     "{\"NetworkMode\":\"../../etc\"}",
                 })
            yield return (Post("/containers/create?name=fz-create-refused", "application/json",
                $"{{\"Image\":\"webapp:noexpose\",\"HostConfig\":{hostConfig}}}"),
                "POST /containers/create");
        yield return (Post("/containers/create?name=fz-create-refused", "application/json",
            "{\"Image\":\"webapp:noexpose\",\"ExposedPorts\":{\"99999/tcp\":{}}}"), "POST /containers/create");
        // JSON bodies over the cap (413), declared and chunked.
        string huge = "{\"Labels\":{\"a\":\"" + new string('z', 5 * 1024 * 1024) + "\"}}";
        yield return (Post("/containers/create", "application/json", huge), "POST /containers/create");
        yield return (new RawRequest("POST", "/networks/create", [("Content-Type", "application/json")],
            Encoding.UTF8.GetBytes(huge), Chunked: true), "POST /networks/create");
    }

    private static readonly string[] PathIds =
    [
        "fz-nosuch", "../../etc", "..%2F..%2Fetc", "%2e%2e%2f%2e%2e%2fetc", "%00", "fz%00z", "%ff%fe", "ünïcødé-名前",
        "fz%20z", "%E2%80%AE", "-", "fz.", "..", "fz;rm", "fz'\"", "fz\\z", "fz%0d%0aX-Injected:1", "fz?", "fz#",
    ];

    private static readonly string[] QueryKeys =
    [
        "all", "limit", "size", "filters", "t", "timeout", "signal", "h", "w", "condition", "tail", "since", "until",
        // No "fromImage": a random value is often a valid Docker Hub name, and a pull of it would try to leave the
        // machine. Malformed names are among the targeted requests instead.
        "follow", "stdout", "stderr", "timestamps", "force", "v", "name", "fromSrc", "repo", "tag",
        "changes", "message", "quiet", "stream", "logs", "stdin", "link", "noprune", "digests",
    ];

    private static readonly string[] QueryValues =
    [
        "", "0", "1", "-1", "-99999999999", "99999999999999999999", "2147483648", "1e400", "NaN", "-0", "0x10", "1.5",
        "true", "yes", "%00", "{", "[]", "null", "{\"name\":[\"(\"]}", "{\"name\":[1]}", "{\"label\":{\"a\":\"b\"}}",
        "{\"name\":[\"^(a%2B)%2B$\"]}", "{\"bogus\":[\"x\"]}", "{\"status\":{\"running\":1}}", "..%2F..%2Fetc",
        "ünï", "%E2%80%AE", "all", "next-exit", "bogus", "SIGKILL_NOPE", "RTMIN%2B99", "-", "CMD%20%5B", "EXPOSE%2099999",
        "ENV", "USER", "WORKDIR%20relative", "HEALTHCHECK", "http://127.0.0.1:1/x",
    ];

    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json", "application/json", "application/json; charset=utf-8", "text/plain",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "", "application/x-tar", "\u00ff/\u00fe",
    ];

    /// <summary>Every object body starts with fields of the wrong type for every create-like route (Image, Name,
    /// Container), so none can create anything; the rest is noise for the parser.</summary>
    private static byte[] Body(Random random)
    {
        const string wrong = "\"Image\":{},\"Name\":[],\"Container\":1,\"Cmd\":7";
        string text = random.Next(14) switch
        {
            0 => "{",
            1 => "[1,2,3]",
            2 => "\"just a string\"",
            3 => "null",
            4 => $"{{{wrong}}}",
            5 => $"{{{wrong},\"Labels\":{{\"{new string('z', 70000)}\":\"x\"}}}}",
            6 => "{\"Name\":" + new string('[', 3000) + new string(']', 3000) + "}",
            7 => $"{{{wrong},\"HostConfig\":{{\"PortBindings\":{{\"80/tcp\":[{{\"HostPort\":\"-99999\"}}]}}}}}}",
            8 => $"{{{wrong},\"Env\":[\"ünïcødé=名前\",\"\\u0000\"],\"Tty\":\"maybe\"}}",
            9 => $"{{{wrong},\"StopTimeout\":99999999999999999999,\"Memory\":-1e400}}",
            10 => "{\"Name\":\"\\ud800\",\"Image\":\"\\udfff\"}",
            11 => "\u0001\u0002garbage",
            12 => $"{{{wrong}",
            _ => "",
        };
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        // Invalid UTF-8 now and then.
        return random.Next(20) == 0 ? [.. bytes, 0xff, 0xfe, 0xc0] : bytes;
    }

    private static (RawRequest Request, string Shown) Generate(Random random, string method, string pattern, string victim)
    {
        string path = Regex.Replace(pattern, @"\{[^}]+\}", _ => random.Next(10) switch
        {
            < 3 => victim,
            3 => "fz" + new string('z', random.Next(100, 9000)),
            4 => "fz" + string.Concat(Enumerable.Range(0, random.Next(1, 20)).Select(_ => (char)random.Next(0x21, 0x7f)))
                .Replace("%", "%25").Replace("/", "%2F").Replace("?", "%3F").Replace("#", "%23"),
            _ => PathIds[random.Next(PathIds.Length)],
        });
        if (random.Next(12) == 0) path = "/v" + (random.Next(3) switch { 0 => "1.99", 1 => "0.1", _ => "99999999999.1" }) + path;
        else if (random.Next(3) == 0) path = "/v1.44" + path;
        var query = new List<string>();
        for (int n = random.Next(4); n > 0; n--)
            query.Add($"{QueryKeys[random.Next(QueryKeys.Length)]}={QueryValues[random.Next(QueryValues.Length)]}");
        string target = path + (query.Count > 0 ? "?" + string.Join('&', query) : "");

        string[] otherMethods = ["PUT", "PATCH", "TRACE", "FOO", "OPTIONS", "DELETE", "GET", "POST"];
        string sent = random.Next(8) == 0 ? otherMethods[random.Next(otherMethods.Length)] : method;
        var headers = new List<(string, string)>();
        byte[]? body = null;
        bool chunked = false;
        if (sent is "POST" or "PUT" or "PATCH" && random.Next(4) != 0)
        {
            body = Body(random);
            string type = ContentTypes[random.Next(ContentTypes.Length)];
            if (type.Length > 0) headers.Add(("Content-Type", type));
            chunked = random.Next(4) == 0;
        }
        switch (random.Next(16))
        {
            case 0: headers.Add(("Origin", "http://evil.example")); break;
            case 1: headers.Add(("Connection", "Upgrade")); headers.Add(("Upgrade", "tcp")); break;
            case 2: headers.Add(("X-Berth-Upgrade-Body", random.Next(2) == 0 ? "***not base64***" : "e30=")); break;
            case 3: headers.Add(("X-Registry-Auth", "not-base64!!")); break;
        }
        string shown = $"{sent} {(target.Length > 160 ? target[..160] + "..." : target)}"
            + (body is null ? "" : $" [{body.Length} bytes{(chunked ? ", chunked" : "")}, {headers.FirstOrDefault(h => h.Item1 == "Content-Type").Item2 ?? "no type"}]");
        return (new RawRequest(sent, target, headers, body, chunked), shown);
    }

    // ------------------------------------------------------------------ transport

    [Theory]
    [InlineData("uri", 414, "request URI too long")]
    [InlineData("headers", 431, "request header fields too large")]
    [InlineData("garbage", 400, "bad request")]
    [InlineData("second", 400, "bad request")]
    public async Task Kestrels_own_refusals_carry_dockers_json_message(string kind, int status, string message)
    {
        const string ping = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
        string request = kind switch
        {
            "uri" => $"GET /containers/json?x={new string('a', 20_000)} HTTP/1.1\r\nHost: x\r\n\r\n",
            "headers" => $"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {new string('b', 40_000)}\r\n\r\n",
            "garbage" => "GET /_ping HTTP/1.1\r\nHost: x\r\nno colon in this header line\r\n\r\n",
            // A bad request behind a good one on a kept-alive connection.
            _ => ping + "GET /_ping HTTP/1.1\r\nHost: x\r\nno colon in this header line\r\n\r\n",
        };
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(Engine.SocketPath), timeout.Token);
        var sending = SendAllAsync(socket, Encoding.ASCII.GetBytes(request), timeout.Token);
        var received = new List<byte>();
        var buffer = new byte[4096];
        for (int n; (n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0;) received.AddRange(buffer.Take(n));
        try { await sending; } catch (Exception e) when (e is SocketException or OperationCanceledException) { }
        string answer = Encoding.Latin1.GetString(received.ToArray());
        output.WriteLine(answer);
        if (kind == "second")
        {
            Assert.StartsWith("HTTP/1.1 200 ", answer);
            answer = answer[answer.IndexOf("HTTP/1.1 4", StringComparison.Ordinal)..];
        }
        Assert.StartsWith($"HTTP/1.1 {status} ", answer);
        Assert.Contains("Content-Type: application/json\r\n", answer);
        string body = answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        var json = System.Text.Json.JsonDocument.Parse(body).RootElement;
        Assert.StartsWith(message, json.GetProperty("message").GetString());
        Assert.Contains($"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n", answer);
        Assert.True(await PingAsync());
    }

    private Task<Outcome> SendAsync(RawRequest request, string route) =>
        SendAsync(request, route, $"{request.Method} {request.Target}");

    private async Task<Outcome> SendAsync(RawRequest request, string route, string shown)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = new CancellationTokenSource(RequestTimeout);
        var head = new StringBuilder();
        head.Append($"{request.Method} {request.Target} HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n");
        foreach (var (name, value) in request.Headers) head.Append($"{name}: {value}\r\n");
        if (request.Body is not null)
            head.Append(request.Chunked ? "Transfer-Encoding: chunked\r\n" : $"Content-Length: {request.Body.Length}\r\n");
        head.Append("\r\n");
        byte[] bytes = Encoding.UTF8.GetBytes(head.ToString());
        if (request.Body is not null)
        {
            byte[] body = request.Chunked && request.Body.Length > 0
                ? [.. Encoding.ASCII.GetBytes($"{request.Body.Length:x}\r\n"), .. request.Body, .. "\r\n0\r\n\r\n"u8]
                : request.Chunked ? "0\r\n\r\n"u8.ToArray() : request.Body;
            bytes = [.. bytes, .. body];
        }
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(Engine.SocketPath), timeout.Token);
            // Sending and reading at once: the server may answer (413, 400) before it has read a large body.
            var sending = SendAllAsync(socket, bytes, timeout.Token);
            string status = await ReadStatusLineAsync(socket, timeout.Token);
            try { await sending; } catch (Exception e) when (e is SocketException or OperationCanceledException) { }
            var match = Regex.Match(status, @"^HTTP/1\.1 (\d{3})");
            return new Outcome(shown, route, match.Success ? int.Parse(match.Groups[1].Value) : NoStatus, status);
        }
        catch (OperationCanceledException)
        {
            return new Outcome(shown, route, NoStatus, "no status line within the timeout");
        }
        catch (SocketException e)
        {
            return new Outcome(shown, route, NoStatus, e.Message);
        }
    }

    private static async Task SendAllAsync(Socket socket, byte[] bytes, CancellationToken ct)
    {
        for (int sent = 0; sent < bytes.Length;)
            sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, ct);
    }

    private static async Task<string> ReadStatusLineAsync(Socket socket, CancellationToken ct)
    {
        var received = new List<byte>();
        var buffer = new byte[4096];
        while (!received.Contains((byte)'\n'))
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct);
            if (n == 0) break;
            received.AddRange(buffer.Take(n));
        }
        string text = Encoding.Latin1.GetString(received.ToArray());
        int end = text.IndexOf('\n');
        return (end >= 0 ? text[..end] : text).TrimEnd('\r');
    }

    private async Task<bool> PingAsync()
    {
        var outcome = await SendAsync(new RawRequest("GET", "/_ping", [], null), "GET /_ping");
        return outcome.Status == 200;
    }
}
