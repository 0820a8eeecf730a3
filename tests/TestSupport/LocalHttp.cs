namespace Berth.TestSupport;

/// <summary>One HTTP client for requests to published ports: no proxy, a short timeout.</summary>
public static class LocalHttp
{
    public static HttpClient Client { get; } = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>A request made from inside a container counts as done only when the web app's page came back.</summary>
    public static ShResult Answered(ShResult result) => result.Stdout.Contains("Hostname") ? result : result with { ExitCode = 1 };
}
