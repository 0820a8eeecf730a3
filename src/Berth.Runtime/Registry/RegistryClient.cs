using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Berth.Runtime.Registry;

/// <summary>The OCI distribution API for one registry host and one caller: endpoint choice (mirrors, https, plain
/// http where allowed), the 401 challenge flow (basic, or a bearer token from the realm for the scopes asked,
/// reused while valid), retries with backoff for reads.</summary>
public sealed class RegistryClient
{
    private const int Attempts = 4;
    private readonly RegistryHosts _hosts;
    private readonly RegistryCredentials? _credentials;
    private Uri? _endpoint;
    private AuthChallenge? _challenge;
    private readonly HashSet<Uri> _leftMirrors = new();

    internal RegistryClient(RegistryHosts hosts, string domain, RegistryCredentials? credentials)
    {
        _hosts = hosts;
        Domain = domain;
        _credentials = credentials;
    }

    public string Domain { get; }

    /// <summary>Docker Hub's API host stands for docker.io; a mirror, when configured, comes first.</summary>
    private IEnumerable<Uri> Candidates(bool pull)
    {
        if (Domain == "docker.io")
        {
            if (pull) foreach (var mirror in _hosts.Options.Mirrors.Where(m => !_leftMirrors.Contains(m))) yield return mirror;
            yield return new Uri("https://registry-1.docker.io");
            yield break;
        }
        yield return new Uri("https://" + Domain);
        if (_hosts.Options.AllowsPlainHttp(Domain)) yield return new Uri("http://" + Domain);
    }

    /// <summary>Pings /v2/ on each candidate until one answers at all (200 or 401); keeps its challenge.</summary>
    public async Task<Uri> EndpointAsync(bool pull, CancellationToken ct)
    {
        if (_endpoint is not null) return _endpoint;
        Exception? last = null;
        foreach (var candidate in Candidates(pull))
        {
            var url = new Uri(candidate, "/v2/");
            try
            {
                using var response = await WithRetries(() => new HttpRequestMessage(HttpMethod.Get, url), candidate, ct);
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                    _challenge = AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString());
                else if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
                    throw new RegistryException($"Get \"{url}\": {(int)response.StatusCode} {response.ReasonPhrase}", RegistryErrorKind.Unreachable);
                _endpoint = candidate;
                return candidate;
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unreachable) { last = e; }
            _hosts.Logger.LogDebug("registry endpoint {Endpoint} not usable: {Error}", candidate, last?.Message);
        }
        throw last as RegistryException ?? new RegistryException($"no endpoint for {Domain}", RegistryErrorKind.Unreachable, last);
    }

    /// <summary>When a mirror serves this client: drops it, so the next request goes to the next mirror or the origin
    /// (dockerd falls back from a mirror on any error). False when no mirror is in use.</summary>
    public bool LeaveMirror()
    {
        if (_endpoint is null || !_hosts.Options.Mirrors.Contains(_endpoint)) return false;
        _leftMirrors.Add(_endpoint);
        _endpoint = null;
        _challenge = null;
        return true;
    }

    // ------------------------------------------------------------------ reads

    /// <summary>The manifest bytes as served, their media type and digest (checked against a digest reference).</summary>
    public async Task<(byte[] Bytes, string? ContentType, string Digest)> GetManifestAsync(string repository,
        string tagOrDigest, CancellationToken ct)
    {
        string path = $"/v2/{repository}/manifests/{tagOrDigest}";
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            foreach (string type in MediaTypes.Accepted) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            return request;
        }, [Scope(repository, "pull")], ct, retry: true);
        await EnsureSuccess(response, $"{repository}:{tagOrDigest}", ct);
        if (response.Content.Headers.ContentLength > 8 << 20)
            throw new RegistryException($"manifest of {repository}:{tagOrDigest} is larger than 8 MiB");
        byte[] bytes = await response.Content.ReadAsByteArrayAsync(ct);
        string digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (tagOrDigest.StartsWith("sha256:", StringComparison.Ordinal) && digest != tagOrDigest)
            throw new RegistryException($"manifest verification failed for digest {tagOrDigest}", RegistryErrorKind.DigestMismatch);
        return (bytes, response.Content.Headers.ContentType?.MediaType, digest);
    }

    /// <summary>Every tag of a repository (GET /v2/NAME/tags/list, following the Link header's pages).</summary>
    public async Task<List<string>> ListTagsAsync(string repository, CancellationToken ct)
    {
        var tags = new List<string>();
        string? next = $"/v2/{repository}/tags/list";
        while (next is not null && tags.Count < 100_000)
        {
            string page = next;
            using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, page), [Scope(repository, "pull")], ct, retry: true);
            await EnsureSuccess(response, repository, ct, blob: true);
            if (response.Content.Headers.ContentLength > 8 << 20)
                throw new RegistryException($"the tag list of {repository} is larger than 8 MiB");
            JsonNode? body;
            try { body = JsonNode.Parse(await response.Content.ReadAsByteArrayAsync(ct)); }
            catch (System.Text.Json.JsonException e) { throw new RegistryException($"tag list of {repository}: {e.Message}", RegistryErrorKind.Unsupported); }
            if (body?["tags"] is JsonArray list)
                tags.AddRange(list.Select(t => t?.GetValue<string>()).OfType<string>());
            // Link: </v2/name/tags/list?last=x&n=y>; rel="next"
            next = response.Headers.TryGetValues("Link", out var links) && links.FirstOrDefault() is { } link
                   && link.IndexOf('<') is var open and >= 0 && link.IndexOf('>', open) is var close and > 0
                ? link[(open + 1)..close] : null;
        }
        return tags;
    }

    /// <summary>The blob's body as it streams; the caller hashes it. Redirects (to storage) are followed.</summary>
    public async Task<(Stream Body, long? Length, IDisposable Response)> GetBlobAsync(string repository, string digest,
        CancellationToken ct)
    {
        var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/blobs/{digest}"),
            [Scope(repository, "pull")], ct, retry: true);
        try
        {
            await EnsureSuccess(response, $"{repository}@{digest}", ct, blob: true);
            return (await response.Content.ReadAsStreamAsync(ct), response.Content.Headers.ContentLength, response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    public async Task<byte[]> GetSmallBlobAsync(string repository, string digest, long size, CancellationToken ct)
    {
        if (size > 16 << 20) throw new RegistryException($"blob {digest} is too large for an image config ({size} bytes)");
        var (body, _, response) = await GetBlobAsync(repository, digest, ct);
        using (response)
        await using (body)
        {
            var buffer = new MemoryStream();
            await body.CopyToAsync(buffer, ct);
            byte[] bytes = buffer.ToArray();
            string actual = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (actual != digest)
                throw new RegistryException($"digest mismatch: blob {digest} has digest {actual}", RegistryErrorKind.DigestMismatch);
            return bytes;
        }
    }

    // ------------------------------------------------------------------ writes

    public async Task<bool> BlobExistsAsync(string repository, string digest, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, $"/v2/{repository}/blobs/{digest}"),
            [Scope(repository, "pull,push")], ct, retry: true);
        return response.IsSuccessStatusCode;
    }

    /// <summary>Asks the registry to link a blob from another repository of it; false when it starts an upload
    /// instead (then cancelled).</summary>
    public async Task<bool> MountBlobAsync(string repository, string digest, string fromRepository, CancellationToken ct)
    {
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post,
                $"/v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(digest)}&from={Uri.EscapeDataString(fromRepository)}"),
            [Scope(repository, "pull,push"), Scope(fromRepository, "pull")], ct, retry: false);
        if (response.StatusCode == HttpStatusCode.Created) return true;
        if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
        {
            using var cancel = await SendAsync(() => new HttpRequestMessage(HttpMethod.Delete, location),
                [Scope(repository, "pull,push")], ct, retry: false);
        }
        return false;
    }

    /// <summary>Uploads a blob streamed from <paramref name="content"/> in one PATCH; <paramref name="digest"/> is asked
    /// for once the content has been read (it is computed while it streams).</summary>
    public async Task UploadBlobAsync(string repository, Stream content, Func<string> digest, CancellationToken ct)
    {
        string[] scopes = [Scope(repository, "pull,push")];
        using var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"/v2/{repository}/blobs/uploads/"), scopes, ct, retry: true);
        await EnsureSuccess(start, repository, ct);
        var location = start.Headers.Location ?? throw new RegistryException("the registry started an upload without a Location");
        using var patch = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Patch, location) { Content = new StreamContent(content, 128 * 1024) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return request;
        }, scopes, ct, retry: false);
        await EnsureSuccess(patch, repository, ct);
        var next = patch.Headers.Location ?? location;
        string separator = next.OriginalString.Contains('?') ? "&" : "?";
        using var put = await SendAsync(() => new HttpRequestMessage(HttpMethod.Put,
            new Uri(next.OriginalString + separator + "digest=" + Uri.EscapeDataString(digest()), UriKind.RelativeOrAbsolute)), scopes, ct, retry: false);
        await EnsureSuccess(put, repository, ct);
    }

    public async Task<string> PutManifestAsync(string repository, string tag, byte[] bytes, string mediaType, CancellationToken ct)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, $"/v2/{repository}/manifests/{tag}") { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return request;
        }, [Scope(repository, "pull,push")], ct, retry: true);
        await EnsureSuccess(response, $"{repository}:{tag}", ct);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>What POST /auth does: the credentials must open /v2/ (basic) or buy a token (bearer).</summary>
    public async Task LoginAsync(CancellationToken ct)
    {
        var endpoint = await EndpointAsync(pull: false, ct);
        if (_challenge is null) return; // the registry asks for nothing
        if (_credentials is null || _credentials.IsEmpty)
            throw new RegistryException($"login attempt to {endpoint}v2/ failed: no credentials", RegistryErrorKind.Unauthorized);
        using var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "/v2/"), [], ct, retry: true);
        if (!response.IsSuccessStatusCode)
            throw new RegistryException($"login attempt to {endpoint}v2/ failed with status: {(int)response.StatusCode} {response.ReasonPhrase}",
                RegistryErrorKind.Unauthorized);
    }

    public static string Scope(string repository, string actions) => $"repository:{repository}:{actions}";

    // ------------------------------------------------------------------ sending

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string[] scopes, CancellationToken ct, bool retry)
    {
        var endpoint = await EndpointAsync(pull: scopes.All(s => s.EndsWith(":pull", StringComparison.Ordinal)), ct);
        Func<HttpRequestMessage> authorized = () =>
        {
            var request = make();
            if (!request.RequestUri!.IsAbsoluteUri) request.RequestUri = new Uri(endpoint, request.RequestUri);
            if (CachedAuthorization(scopes) is { } header) request.Headers.Authorization = header;
            return request;
        };
        var response = retry ? await WithRetries(authorized, endpoint, ct) : await SendOnce(authorized(), endpoint, ct);
        if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
        // Challenged: get what it asks for, then once more.
        _challenge = AuthChallenge.Parse(response.Headers.WwwAuthenticate.ToString()) ?? _challenge;
        response.Dispose();
        await AuthorizeAsync(scopes, ct);
        return retry ? await WithRetries(authorized, endpoint, ct) : await SendOnce(authorized(), endpoint, ct);
    }

    private string TokenKey(string[] scopes) =>
        $"{Domain}|{_challenge?["realm"]}|{_challenge?["service"]}|{string.Join(' ', scopes)}|{_credentials?.User}|{_credentials?.Secret?.GetHashCode()}";

    private AuthenticationHeaderValue? CachedAuthorization(string[] scopes)
    {
        if (_challenge is null) return null;
        if (!string.IsNullOrEmpty(_credentials?.RegistryToken)) return new("Bearer", _credentials.RegistryToken);
        if (string.Equals(_challenge.Scheme, "Basic", StringComparison.OrdinalIgnoreCase))
            return _credentials?.User is { } user
                ? new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{_credentials.Secret}"))) : null;
        return _hosts.TryToken(TokenKey(scopes), out string token) ? new("Bearer", token) : null;
    }

    private async Task AuthorizeAsync(string[] scopes, CancellationToken ct)
    {
        if (_challenge is null) throw new RegistryException("the registry answered 401 without a challenge", RegistryErrorKind.Unauthorized);
        if (string.Equals(_challenge.Scheme, "Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (_credentials?.User is null) throw new RegistryException("no basic auth credentials", RegistryErrorKind.Unauthorized);
            return;
        }
        if (!string.Equals(_challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase))
            throw new RegistryException($"unsupported authentication scheme {_challenge.Scheme}", RegistryErrorKind.Unauthorized);
        string realm = _challenge["realm"] ?? throw new RegistryException("bearer challenge without a realm", RegistryErrorKind.Unauthorized);
        var query = new List<string>();
        if (_challenge["service"] is { } service) query.Add("service=" + Uri.EscapeDataString(service));
        foreach (string scope in scopes) query.Add("scope=" + Uri.EscapeDataString(scope));
        if (_credentials?.User is { } user) query.Add("account=" + Uri.EscapeDataString(user));
        if (scopes.Length == 0) query.AddRange(["offline_token=true", "client_id=docker"]);
        var url = new Uri(realm + (realm.Contains('?') ? "&" : "?") + string.Join('&', query));
        if (url.Scheme == "http" && !_hosts.Options.AllowsPlainHttp(url.Authority) && !_hosts.Options.AllowsPlainHttp(Domain))
            throw new RegistryException($"refusing a token realm over plain HTTP: {realm}", RegistryErrorKind.Unauthorized);
        using var response = await WithRetries(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (_credentials?.User is { } u)
                request.Headers.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{u}:{_credentials.Secret}")));
            return request;
        }, url, ct);
        if (!response.IsSuccessStatusCode)
            throw new RegistryException(response.StatusCode == HttpStatusCode.Unauthorized
                ? "unauthorized: incorrect username or password"
                : $"getting a token from {realm} failed: {(int)response.StatusCode} {response.ReasonPhrase}", RegistryErrorKind.Unauthorized);
        JsonNode? body;
        try { body = JsonNode.Parse(await response.Content.ReadAsByteArrayAsync(ct)); }
        catch (System.Text.Json.JsonException e) { throw new RegistryException($"token server {realm}: {e.Message}", RegistryErrorKind.Unauthorized); }
        string token = (body?["token"] ?? body?["access_token"])?.GetValue<string>()
            ?? throw new RegistryException($"token server {realm} answered without a token", RegistryErrorKind.Unauthorized);
        int lifetime = (body?["expires_in"] as JsonValue)?.GetValue<int>() is int s and > 0 ? s : 60;
        _hosts.KeepToken(TokenKey(scopes), token, TimeSpan.FromSeconds(Math.Max(lifetime, 10)));
    }

    private async Task<HttpResponseMessage> SendOnce(HttpRequestMessage request, Uri endpoint, CancellationToken ct)
    {
        using (request)
        {
            try { return await _hosts.HttpFor(endpoint.Authority).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct); }
            catch (HttpRequestException e)
            {
                throw new RegistryException($"{request.Method.Method[0]}{request.Method.Method[1..].ToLowerInvariant()} \"{request.RequestUri}\": {Describe(e)}", RegistryErrorKind.Unreachable, e);
            }
        }
    }

    /// <summary>Reads are retried on network errors, 5xx and 429, with a doubling pause (0.25 s, 0.5 s, 1 s).</summary>
    private async Task<HttpResponseMessage> WithRetries(Func<HttpRequestMessage> make, Uri endpoint, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage? response = null;
            try
            {
                response = await SendOnce(make(), endpoint, ct);
                if (attempt >= Attempts || ((int)response.StatusCode < 500 && response.StatusCode != HttpStatusCode.TooManyRequests))
                    return response;
                response.Dispose();
            }
            catch (RegistryException e) when (attempt < Attempts && e.InnerException is HttpRequestException { InnerException: not System.Security.Authentication.AuthenticationException })
            {
                // A connection refused when the server is not there at all is final at once for the ping.
                if (e.InnerException is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } && endpoint.AbsolutePath == "/" && attempt >= 2)
                    throw;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250 << (attempt - 1)), ct);
        }
    }

    private static string Describe(HttpRequestException e)
    {
        var inner = e.InnerException;
        if (inner is System.Security.Authentication.AuthenticationException a)
            return $"tls: {a.InnerException?.Message ?? a.Message} (x509: certificate signed by unknown authority?)";
        if (inner is System.Net.Sockets.SocketException s) return $"dial tcp: {s.Message}";
        return inner?.Message ?? e.Message;
    }

    /// <summary>Turns the registry's error document into Docker's wording; 404 of a manifest is "not found".</summary>
    private static async Task EnsureSuccess(HttpResponseMessage response, string what, CancellationToken ct, bool blob = false)
    {
        if (response.IsSuccessStatusCode) return;
        string detail = "";
        string? code = null;
        try
        {
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
            var first = (body?["errors"] as JsonArray)?.FirstOrDefault();
            code = first?["code"]?.GetValue<string>();
            string? message = first?["message"]?.GetValue<string>();
            if (code is not null) detail = $"{code.ToLowerInvariant().Replace('_', ' ')}: {message}";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { }
        if (detail.Length == 0) detail = $"{(int)response.StatusCode} {response.ReasonPhrase}";
        var kind = response.StatusCode switch
        {
            HttpStatusCode.NotFound => RegistryErrorKind.NotFound,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => RegistryErrorKind.Unauthorized,
            _ => RegistryErrorKind.Other,
        };
        if (code is "MANIFEST_UNKNOWN" or "NAME_UNKNOWN" && !blob) kind = RegistryErrorKind.NotFound;
        if (code is "DENIED" or "UNAUTHORIZED") kind = RegistryErrorKind.Unauthorized;
        string text = kind switch
        {
            RegistryErrorKind.NotFound when !blob => $"manifest for {what} not found: {detail}",
            _ => $"{what}: {detail}",
        };
        throw new RegistryException(text, kind);
    }
}
