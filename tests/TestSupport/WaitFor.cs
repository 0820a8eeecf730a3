namespace Berth.TestSupport;

/// <summary>`docker run -d` returns once the process runs, not once httpd listens: a request expected to succeed
/// retries for a few seconds; one expected to fail does not.</summary>
public static class WaitFor
{
    // Generous: under a loaded CI machine a container's first answer can take several seconds.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static async Task<string> GetWhenUpAsync(this HttpClient http, string url)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            try { return await http.GetStringAsync(url); }
            // A SYN sent before the container's veth is up is dropped, not refused: the client's own timeout
            // (a TaskCanceledException) is then one more "not up yet".
            catch (Exception e) when ((e is HttpRequestException or TaskCanceledException) && DateTime.UtcNow < deadline) { await Task.Delay(50); }
        }
    }

    public static ShResult UntilSuccess(Func<ShResult> attempt)
    {
        var deadline = DateTime.UtcNow + Patience;
        var result = attempt();
        while (result.ExitCode != 0 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(100);
            result = attempt();
        }
        return result;
    }
}
