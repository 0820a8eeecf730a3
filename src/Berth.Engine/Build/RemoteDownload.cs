using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Berth.Engine.Build;

/// <summary>One file fetched over HTTP for a build: where it was written, the name the legacy builder gives it (the
/// URL path's last element, else Content-Disposition's filename), Last-Modified, the media type and the content's
/// sha256.</summary>
public sealed record Download(string Path, string? FileName, DateTimeOffset? LastModified, string? ContentType, string Sha256);

/// <summary>GETs for `ADD http://...` and remote build contexts, as dockerd's remotecontext does them: from the daemon,
/// redirects followed, a status of 400 or more an error quoting the status and the body, the body streamed to a file
/// (never held in memory) and bounded in size.</summary>
public static class RemoteDownload
{
    /// <summary>The largest download a build takes (dockerd has no bound; a daemon's disk deserves one).</summary>
    public const long Limit = 8L << 30;

    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(30),
        AutomaticDecompression = DecompressionMethods.None, // a .tar.gz stays the bytes the server sent
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
    }) { Timeout = Timeout.InfiniteTimeSpan };

    /// <summary>moby's urlutil.IsURL: what ADD downloads instead of reading from the context.</summary>
    public static bool IsUrl(string source) =>
        source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal);

    /// <summary>Writes the body of <paramref name="url"/> to <paramref name="file"/> (created new). Failures are
    /// <see cref="BuildException"/>s with dockerd's wording.</summary>
    public static async Task<Download> GetAsync(string url, string file, CancellationToken ct)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new BuildException($"parse \"{url}\": invalid URL");
        HttpResponseMessage response;
        try { response = await Http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, ct); }
        catch (HttpRequestException e) { throw new BuildException($"Get \"{url}\": {e.Message}"); }
        using (response)
        {
            if ((int)response.StatusCode >= 400)
            {
                string body = await ReadStartAsync(response, ct);
                throw new BuildException($"failed to GET {url} with status {(int)response.StatusCode} {response.ReasonPhrase}: {body.Trim()}");
            }
            if (response.Content.Headers.ContentLength > Limit) throw TooLarge(url);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(ct);
                await using var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                var buffer = new byte[1 << 16];
                long total = 0;
                int read;
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    if ((total += read) > Limit) throw TooLarge(url);
                    hash.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), ct);
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new BuildException($"reading {url}: {e.Message}");
            }
            return new Download(file, FileName(uri, response.Content.Headers.ContentDisposition),
                response.Content.Headers.LastModified, response.Content.Headers.ContentType?.MediaType,
                Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant());
        }
    }

    private static BuildException TooLarge(string url) => new($"{url} is larger than {Limit >> 30} GiB");

    /// <summary>The start of an error body, for the message (servers send whole pages).</summary>
    private static async Task<string> ReadStartAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[4096];
            int read = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is HttpRequestException or IOException) { return "error reading body"; }
    }

    /// <summary>moby's getFilenameForDownload: the URL path's base name unless the path ends in "/", else the
    /// Content-Disposition filename's base name; null when neither names a file.</summary>
    public static string? FileName(Uri url, ContentDispositionHeaderValue? disposition)
    {
        string path = Uri.UnescapeDataString(url.AbsolutePath);
        if (path.Length > 0 && !path.EndsWith('/') && BaseName(path) is { } fromPath) return fromPath;
        string? named = disposition?.FileNameStar ?? disposition?.FileName?.Trim('"');
        return named is { Length: > 0 } && !named.EndsWith('/') ? BaseName(named) : null;
    }

    private static string? BaseName(string path)
    {
        string name = path[(path.LastIndexOf('/') + 1)..];
        return name is "" or "." or ".." || name.Contains('\0') ? null : name;
    }
}
