using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>An error reply of the engine: {"message": "..."} with its status code.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>An error of the client itself (bad flag value, no such port...): printed as it is.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The engine's Docker API as the docker CLI uses it: `HEAD /_ping` first, then every path under
/// /v{min(server's Api-Version, 1.50)}.</summary>
public sealed class EngineApi : IDisposable
{
    public const string MaxVersion = "1.50";

    private EngineApi(string host)
    {
        Host = host;
        Http = EngineClient.Create(host);
        Http.DefaultRequestHeaders.UserAgent.ParseAdd("Berth-Client/" + Api.EngineInfo.Version);
    }

    public string Host { get; }
    public HttpClient Http { get; }
    public string Version { get; private set; } = "1.24";

    public static async Task<EngineApi> ConnectAsync(string? host, CancellationToken ct)
    {
        var api = new EngineApi(host ?? EngineClient.DefaultHost);
        try
        {
            using var head = await api.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/_ping"), ct);
            var response = head;
            HttpResponseMessage? get = null;
            if ((int)head.StatusCode is not (200 or 500))
                response = get = await api.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/_ping"), ct);
            using (get)
            {
                if (response.Headers.TryGetValues("Api-Version", out var values) && values.FirstOrDefault() is { } v
                    && System.Version.TryParse(v, out var server))
                    api.Version = server < System.Version.Parse(MaxVersion) ? v : MaxVersion;
            }
        }
        catch (HttpRequestException)
        {
            api.Dispose();
            throw CannotConnect(api.Host);
        }
        return api;
    }

    public static CliException CannotConnect(string host) =>
        new($"Cannot connect to the Berth daemon at {host}. Is the berth daemon running?");

    public string Versioned(string path) => $"/v{Version}{path}";

    public static string Q(string value) => Uri.EscapeDataString(value);

    public static HttpContent JsonContent(JsonNode body)
    {
        var content = new StringContent(body.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>Sends a request; a reply outside 2xx/304 becomes an <see cref="ApiException"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, CancellationToken ct,
        HttpContent? content = null, bool headersOnly = false, bool chunked = false, string? registryAuth = null)
    {
        HttpResponseMessage response;
        try
        {
            var request = new HttpRequestMessage(method, Versioned(path)) { Content = content };
            if (chunked) request.Headers.TransferEncodingChunked = true;
            if (registryAuth is not null) request.Headers.Add("X-Registry-Auth", registryAuth);
            response = await Http.SendAsync(request,
                headersOnly ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, ct);
        }
        catch (HttpRequestException)
        {
            throw CannotConnect(Host);
        }
        if (response.IsSuccessStatusCode || (int)response.StatusCode == 304) return response;
        string message = await EngineClient.ErrorMessageAsync(response, ct);
        int status = (int)response.StatusCode;
        response.Dispose();
        throw new ApiException(status, message);
    }

    public async Task<string> GetStringAsync(string path, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, path, ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    public async Task<JsonNode?> GetJsonAsync(string path, CancellationToken ct) => JsonNode.Parse(await GetStringAsync(path, ct));

    public async Task<JsonNode?> PostJsonAsync(string path, JsonNode? body, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Post, path, ct, body is null ? null : JsonContent(body));
        string text = await response.Content.ReadAsStringAsync(ct);
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    public async Task PostAsync(string path, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Post, path, ct);
    }

    public void Dispose() => Http.Dispose();
}

/// <summary>Running a client command: connect, run, and turn errors into docker's messages and exit codes.</summary>
public static class Cli
{
    public static Stream Stdout { get; } = Console.OpenStandardOutput();
    public static Stream Stderr { get; } = Console.OpenStandardError();

    /// <summary>Adds the shared --host option and an action that connects to the engine first.</summary>
    public static Command Action(this Command command, Func<ParseResult, EngineApi, CancellationToken, Task<int>> body, bool runStyleErrors = false)
    {
        command.Options.Add(ClientCommands.HostOption);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                using var api = await EngineApi.ConnectAsync(parse.GetValue(ClientCommands.HostOption), ct);
                return await body(parse, api, ct);
            }
            catch (Exception e) when (e is ApiException or CliException or TemplateException)
            {
                Console.Out.Flush();
                string message = e switch
                {
                    ApiException => "Error response from daemon: " + e.Message,
                    TemplateException => "template parsing error: " + e.Message,
                    _ => e.Message,
                };
                if (runStyleErrors)
                {
                    Console.Error.WriteLine($"berth: {message}");
                    Console.Error.WriteLine();
                    Console.Error.WriteLine($"Run 'berth {command.Name} --help' for more information");
                    return e is CliException { ExitCode: not 1 } c ? c.ExitCode : 125;
                }
                Console.Error.WriteLine(message);
                return e is CliException cli ? cli.ExitCode : 1;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 130;
            }
        });
        return command;
    }

    /// <summary>Runs <paramref name="each"/> for every name; errors are printed and make the exit code 1, as in docker.</summary>
    public static async Task<int> ForEachAsync(IEnumerable<string> names, Func<string, Task> each)
    {
        int code = 0;
        foreach (string name in names)
        {
            try { await each(name); }
            catch (Exception e) when (e is ApiException or CliException)
            {
                Console.Error.WriteLine(e is ApiException ? "Error response from daemon: " + e.Message : e.Message);
                code = 1;
            }
        }
        return code;
    }

    /// <summary>Renders rows with a docker-style --format: "table ..." gets a header row and tab alignment;
    /// `\t` and `\n` in the format are turned into tabs and newlines first.</summary>
    public static string Render(string format, IEnumerable<object?> rows, IDictionary<string, object?> header)
    {
        bool table = format.StartsWith("table", StringComparison.Ordinal);
        string body = table ? format["table".Length..] : format;
        body = body.Trim(' ').Replace("\\t", "\t").Replace("\\n", "\n");
        var template = GoTemplate.Parse(body);
        var sb = new StringBuilder();
        if (table) sb.Append(template.Execute(header, header: true)).Append('\n');
        foreach (var row in rows) sb.Append(template.Execute(row)).Append('\n');
        return table ? Formatting.TabWrite(sb.ToString()) : sb.ToString();
    }

    public static string? Str(this JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
}
