using Berth.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Berth.Api;

/// <summary>Marks a route whose body is an archive streamed to the engine (import, load, and later archive uploads):
/// no size cap and any content type. Every other route takes a JSON body or none.</summary>
public sealed class RawBodyMetadata
{
    public static readonly RawBodyMetadata Instance = new();

    private RawBodyMetadata() { }
}

/// <summary>What a request must look like before any handler sees it.
/// <list type="bullet">
/// <item>No <c>Origin</c> header: Docker clients never send one, browsers always do on cross-site and POST requests,
/// so a web page in a local browser cannot drive the engine (the docker API is root on this machine).</item>
/// <item>A body on a JSON route is <c>application/json</c> (dockerd refuses the same way); a body without a content
/// type is refused too, as dockerd does: a browser can send one (a typeless Blob) as a "simple request". Requests
/// with no body pass whatever their content type (the docker CLI sends text/plain on an empty attach).</item>
/// <item>JSON bodies are at most <see cref="JsonBodyLimit"/> bytes (Kestrel's limit); archive routes have none.</item>
/// </list></summary>
public static class RequestGuards
{
    /// <summary>A create request with every field set is a few KiB; 4 MiB leaves room for long Env lists and labels.</summary>
    public const long JsonBodyLimit = 4 * 1024 * 1024;

    public static async Task RefuseBrowsers(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Headers.ContainsKey(HeaderNames.Origin))
        {
            await DockerResults.Error(context, 403,
                "requests from web browsers are refused (Origin header present): the Docker API is not for web pages");
            return;
        }
        await next(context);
    }

    /// <summary>Runs after routing, so the route's metadata says whether it takes an archive.</summary>
    public static async Task CheckBody(HttpContext context, RequestDelegate next)
    {
        bool raw = context.GetEndpoint()?.Metadata.GetMetadata<RawBodyMetadata>() is not null;
        if (raw)
        {
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
                size.MaxRequestBodySize = null;
        }
        else if (HasBody(context.Request) && !IsJson(context.Request.ContentType))
        {
            string type = string.IsNullOrEmpty(context.Request.ContentType) ? "none" : context.Request.ContentType;
            throw new BadRequestException($"unsupported Content-Type header ({type}): must be 'application/json'");
        }
        await next(context);
    }

    /// <summary>A body in the request, or one the hijack transport moved into a header (an upgrade request).</summary>
    public static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0)
        || request.Headers.ContainsKey(Streams.HijackTransport.Header);

    public static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed)
        && string.Equals(parsed.MediaType.Value, "application/json", StringComparison.OrdinalIgnoreCase);

    public static TBuilder TakesArchive<TBuilder>(this TBuilder route) where TBuilder : IEndpointConventionBuilder =>
        route.WithMetadata(RawBodyMetadata.Instance);
}
