using System.Net.Sockets;
using System.Text.Json;

namespace Berth.Cli;

/// <summary>An HttpClient that talks to the engine over its unix socket (or loopback TCP).</summary>
public static class EngineClient
{
    public static string DefaultHost =>
        Environment.GetEnvironmentVariable("BERTH_HOST") ?? Environment.GetEnvironmentVariable("DOCKER_HOST") ?? $"unix://{DaemonCommand.DefaultSocket}";

    public static HttpClient Create(string? host)
    {
        host ??= DefaultHost;
        if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            string path = host["unix://".Length..];
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            return new HttpClient(handler) { BaseAddress = new Uri("http://berth"), Timeout = Timeout.InfiniteTimeSpan };
        }
        string address = host.StartsWith("tcp://", StringComparison.Ordinal) ? "http://" + host["tcp://".Length..] : host;
        return new HttpClient { BaseAddress = new Uri(address), Timeout = Timeout.InfiniteTimeSpan };
    }

    public static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken ct)
    {
        string body = await response.Content.ReadAsStringAsync(ct);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("message", out var message)) return message.GetString() ?? body;
        }
        catch (JsonException) { }
        return $"{(int)response.StatusCode} {response.ReasonPhrase}: {body}";
    }
}
