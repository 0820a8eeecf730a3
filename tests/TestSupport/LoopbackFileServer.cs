using System.Net;

namespace Berth.TestSupport;

/// <summary>An HTTP server on 127.0.0.1 and a free port, answering from a table the test fills (path → body, content
/// type, extra headers); any other path is a 404 with a body. For ADD URL and remote build contexts.</summary>
public sealed class LoopbackFileServer : IDisposable
{
    public sealed record Entry(byte[] Body, string? ContentType = null, IReadOnlyDictionary<string, string>? Headers = null);

    private readonly HttpListener _listener = new();
    private readonly Task _serving;
    private readonly Dictionary<string, Entry> _entries = new();

    public LoopbackFileServer()
    {
        // A port taken between Free() and Start() is tried again with another.
        for (int attempt = 0; ; attempt++)
        {
            Port = Ports.Free();
            _listener.Prefixes.Clear();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5) { }
        }
        _serving = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url(string path) => $"http://127.0.0.1:{Port}/{path.TrimStart('/')}";

    public void Put(string path, Entry entry)
    {
        lock (_entries) _entries["/" + path.TrimStart('/')] = entry;
    }

    public void Put(string path, string text, string? contentType = null, IReadOnlyDictionary<string, string>? headers = null) =>
        Put(path, new Entry(System.Text.Encoding.UTF8.GetBytes(text), contentType, headers));

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                Entry? entry;
                lock (_entries) _entries.TryGetValue(context.Request.Url!.AbsolutePath, out entry);
                var response = context.Response;
                if (entry is null)
                {
                    response.StatusCode = 404;
                    entry = new Entry("no such file here\n"u8.ToArray(), "text/plain");
                }
                if (entry.ContentType is not null) response.ContentType = entry.ContentType;
                foreach (var (name, value) in entry.Headers ?? new Dictionary<string, string>()) response.Headers[name] = value;
                response.ContentLength64 = entry.Body.Length;
                await response.OutputStream.WriteAsync(entry.Body);
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException) { }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _serving.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
    }
}
