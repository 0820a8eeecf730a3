using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Runtime.Images;
using Berth.Runtime.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>Pull (POST /images/create?fromImage=), push (POST /images/{name}/push) and POST /auth. Pull and push
/// stream Docker's JSON progress; an error before the first message is a plain HTTP error, after it an error
/// message in the stream (as dockerd does).</summary>
public static class RegistryEndpoints
{
    public const string AuthHeader = "X-Registry-Auth";

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        app.MapGet("/distribution/{**rest}", (HttpContext ctx, string rest) => rest.EndsWith("/json", StringComparison.Ordinal)
            ? InspectDistributionAsync(ctx, engine, rest[..^5])
            : throw new NotFoundException($"page not found: GET /distribution/{rest}"));
        app.MapPost("/auth", async (HttpContext ctx) =>
        {
            using var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body, ctx.RequestAborted);
            var credentials = RegistryCredentials.FromJson(body.ToArray())
                ?? throw new BadRequestException("invalid JSON in the request body");
            string domain = ServerDomain(credentials.ServerAddress);
            try { await engine.Registries.Client(domain, credentials).LoginAsync(ctx.RequestAborted); }
            // A login names the registry itself: one that does not answer is the request's fault (dockerd: 500).
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unreachable) { throw new BadRequestException(e.Message); }
            catch (RegistryException e) { throw ToEngineError(e); }
            await DockerResults.Json(ctx, new { Status = "Login Succeeded", IdentityToken = "" });
        });
    }

    /// <summary>GET /distribution/{name}/json (docker-py's get_registry_data): the manifest's descriptor and
    /// platforms, asked of the registry with the request's X-Registry-Auth.</summary>
    public static async Task InspectDistributionAsync(HttpContext ctx, BerthEngine engine, string name)
    {
        var reference = ImageReference.ParseRemote(name);
        var credentials = RegistryCredentials.FromHeader(ctx.Request.Headers[AuthHeader]);
        Descriptor descriptor;
        IReadOnlyList<Platform> platforms;
        try { (descriptor, platforms) = await engine.Puller.InspectAsync(reference, credentials, ctx.RequestAborted); }
        catch (RegistryException e) { throw ToEngineError(e); }
        await DockerResults.Json(ctx, new JsonObject
        {
            ["Descriptor"] = new JsonObject { ["mediaType"] = descriptor.MediaType, ["digest"] = descriptor.Digest, ["size"] = descriptor.Size },
            ["Platforms"] = new JsonArray(platforms.Select(p =>
            {
                var o = new JsonObject { ["architecture"] = p.Architecture, ["os"] = p.Os };
                if (p.Variant is not null) o["variant"] = p.Variant;
                return (JsonNode)o;
            }).ToArray()),
        });
    }

    /// <summary>"https://index.docker.io/v1/" is Docker Hub; "https://host:5000/" and "host:5000" the same registry.</summary>
    public static string ServerDomain(string? address)
    {
        string text = (address ?? "").Trim();
        if (text.Length == 0) return "docker.io";
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) text = text[(scheme + 3)..];
        int slash = text.IndexOf('/');
        if (slash >= 0) text = text[..slash];
        if (text.Length == 0 || text.Any(c => char.IsWhiteSpace(c) || c is '@' or '?' or '#'))
            throw new BadRequestException($"invalid registry address \"{DockerResults.Shorten(address ?? "")}\"");
        return text is "index.docker.io" or "registry-1.docker.io" or "docker.io" ? "docker.io" : text.ToLowerInvariant();
    }

    public static async Task PullAsync(HttpContext ctx, BerthEngine engine, string fromImage, string? tag)
    {
        // No tag at all (neither here nor in fromImage): every tag, as dockerd (`docker pull -a`).
        var reference = string.IsNullOrEmpty(tag) && ImageReference.IsNameOnly(fromImage)
            ? ImageReference.ParseRemote(fromImage) with { Tag = null }
            : ImageReference.ParseRemote(fromImage, tag);
        var platform = Platform.Parse(ctx.Request.Query["platform"]);
        var credentials = RegistryCredentials.FromHeader(ctx.Request.Headers[AuthHeader]);
        ctx.Response.ContentType = DockerResults.JsonType;
        var progress = new ProgressStream(ctx.Response.Body);
        await StreamAsync(ctx, progress, async () =>
        {
            await engine.Puller.PullAsync(reference, platform, credentials, progress, ctx.RequestAborted);
            string name = reference.Tag is null && reference.Digest is null ? reference.FamiliarName : reference.ToString();
            engine.Events.Image("pull", name, name);
        });
    }

    public static async Task PushAsync(HttpContext ctx, BerthEngine engine, string name)
    {
        string? tag = ctx.Request.Query["tag"];
        var tagged = string.IsNullOrEmpty(tag) && ImageReference.IsNameOnly(name) ? EveryTag(engine, name) : [];
        if (tagged.Count == 0)
        {
            var reference = ImageReference.ParseRemote(name, string.IsNullOrEmpty(tag) ? null : tag);
            if (reference.Digest is not null) throw new BadRequestException("cannot push a digest reference");
            var image = engine.Images.Find(reference.ToString())
                ?? throw new NotFoundException($"An image does not exist locally with the tag: {reference.FamiliarName}");
            tagged = [(reference, image)];
        }
        var credentials = RegistryCredentials.FromHeader(ctx.Request.Headers[AuthHeader]);
        ctx.Response.ContentType = DockerResults.JsonType;
        var progress = new ProgressStream(ctx.Response.Body);
        await StreamAsync(ctx, progress, async () =>
        {
            await engine.Pusher.PushAsync(tagged, credentials, progress, ctx.RequestAborted);
            foreach (var (reference, _) in tagged) engine.Events.Image("push", reference.ToString(), reference.ToString());
        });
    }

    /// <summary>Every tag of the repository <paramref name="name"/> held here, in tag order.</summary>
    private static List<(RemoteReference, ImageRecord)> EveryTag(BerthEngine engine, string name)
    {
        var repository = ImageReference.ParseRemote(name);
        return engine.Images.List()
            .SelectMany(image => image.RepoTags.Select(t => (Reference: ImageReference.ParseRemote(t), Image: image)))
            .Where(t => t.Reference.Domain == repository.Domain && t.Reference.Path == repository.Path && t.Reference.Tag is not null)
            .OrderBy(t => t.Reference.Tag, StringComparer.Ordinal)
            .Select(t => (t.Reference, t.Image)).ToList();
    }

    private static async Task StreamAsync(HttpContext ctx, ProgressStream progress, Func<Task> work)
    {
        try { await work(); }
        catch (Exception e) when (!progress.Started)
        {
            // Not 401: the docker CLI answers a 401 from pull or push by prompting for a login on its stdin.
            throw e is RegistryException r ? ToEngineError(r, unauthorized: 403) : e;
        }
        catch (Exception e) when (e is RegistryException or ImageException or IOException or HttpRequestException
                                      or InvalidOperationException || e is OperationCanceledException && !ctx.RequestAborted.IsCancellationRequested)
        {
            await progress.ErrorAsync(e.Message);
        }
    }

    public static EngineException ToEngineError(RegistryException e, int unauthorized = 401) => new(e.Kind switch
    {
        RegistryErrorKind.NotFound => 404,
        RegistryErrorKind.Unauthorized => unauthorized,
        RegistryErrorKind.Unsupported or RegistryErrorKind.DigestMismatch => 400,
        _ => 500,
    }, e.Message, e);
}
