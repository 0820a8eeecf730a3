using Berth.Api.Endpoints;
using Berth.Api.Streams;
using Berth.Engine;
using Berth.Runtime.Images;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api;

/// <summary>The Docker Engine API on Kestrel: unix sockets (0660), TCP with TLS and client certificates, or plain TCP
/// on loopback when asked for explicitly (see <see cref="ApiListeners"/>).</summary>
public static class ApiServer
{
    public static WebApplication Build(BerthEngine engine, IReadOnlyList<ApiListener> listeners, ILoggerFactory loggers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        // Streams (logs -f, attach, events) stay open for as long as clients like; containers run on without the
        // daemon, so a stop waits briefly for requests and then drops them rather than the host's default 30 s.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // JSON bodies are capped; the archive routes lift the cap for themselves (RequestGuards.CheckBody).
            kestrel.Limits.MaxRequestBodySize = RequestGuards.JsonBodyLimit;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            foreach (var listener in listeners) Listen(kestrel, listener);
        });
        var app = builder.Build();
        app.Use(HijackTransport.TrackRequest);
        app.Use(ErrorMiddleware(loggers.CreateLogger("Berth.Api")));
        app.Use(RequestGuards.RefuseBrowsers);
        app.Use(ApiVersion.Middleware);
        app.UseRouting();
        app.Use(RequestGuards.CheckBody);
        MapRoutes(app, engine);
        return app;
    }

    private static void MapRoutes(IEndpointRouteBuilder app, BerthEngine engine)
    {
        SystemEndpoints.Map(app, engine);
        ContainerEndpoints.Map(app, engine);
        ResourceEndpoints.Map(app, engine);
        ImageEndpoints.Map(app, engine);
        NetworkEndpoints.Map(app, engine);
        BuildEndpoints.Map(app, engine);
        ContainerImageEndpoints.Map(app, engine);
        VolumeEndpoints.Map(app, engine);
        ArchiveEndpoints.Map(app, engine);
        EventEndpoints.Map(app, engine);
        PruneEndpoints.Map(app, engine);
        SwarmEndpoints.Map(app);
        app.MapFallback((HttpContext ctx) =>
            throw new NotFoundException($"page not found: {ctx.Request.Method} {DockerResults.Shorten(ctx.Request.Path.Value ?? "")}"));
    }

    /// <summary>Every route the API maps, as (method, pattern), read from the endpoint data source of an app that is
    /// built but never started: for tests that must cover every route (the fuzz run). The handlers never run there,
    /// so the engine they would close over is an empty shell.</summary>
    public static IReadOnlyList<(string Method, string Pattern)> Routes()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var shell = (BerthEngine)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(typeof(BerthEngine));
        MapRoutes(app, shell);
        return ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"])
                .Select(m => (m, "/" + e.RoutePattern.RawText!.TrimStart('/'))))
            .ToList();
    }

    /// <summary>Sets 0660 on unix sockets once Kestrel has bound them.</summary>
    public static void RestrictSockets(IReadOnlyList<ApiListener> listeners)
    {
        foreach (var listener in listeners.Where(l => l.SocketPath is not null))
            File.SetUnixFileMode(listener.SocketPath!,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
    }

    private static void Listen(KestrelServerOptions kestrel, ApiListener listener)
    {
        if (listener.SocketPath is { } socketPath)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
            if (File.Exists(socketPath)) File.Delete(socketPath);
            kestrel.ListenUnixSocket(socketPath, listen => listen.Use(HijackTransport.Middleware).Use(KestrelErrorBodies.Middleware));
            return;
        }
        kestrel.Listen(listener.Endpoint!, listen =>
        {
            // Hijacked streams (attach, exec) are HTTP/1.1 upgrades: no HTTP/2, even when TLS could offer it.
            listen.Protocols = HttpProtocols.Http1;
            // TLS first, so the hijack transport sees the plain bytes.
            if (listener.Https is { } https) listen.UseHttps(https);
            listen.Use(HijackTransport.Middleware).Use(KestrelErrorBodies.Middleware);
        });
    }

    private static Func<HttpContext, RequestDelegate, Task> ErrorMiddleware(ILogger logger) => async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            var (status, message) = e switch
            {
                NotModifiedException => (304, ""),
                EngineException engine => (engine.Status, engine.Message),
                ImageNotFoundException => (404, e.Message),
                ImageConflictException => (409, e.Message),
                ImageStorageException => (500, e.Message),
                ImageException => (400, e.Message),
                Microsoft.AspNetCore.Http.BadHttpRequestException bad => (bad.StatusCode, bad.Message),
                OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "request aborted"),
                _ => (500, e.Message),
            };
            if (status >= 500) logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            else logger.LogDebug("{Method} {Path}: {Status} {Message}", context.Request.Method, context.Request.Path, status, message);
            if (status == 304) { context.Response.StatusCode = 304; return; }
            await DockerResults.Error(context, status, message);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "{Method} {Path} failed after the response started", context.Request.Method, context.Request.Path);
        }
    };
}
