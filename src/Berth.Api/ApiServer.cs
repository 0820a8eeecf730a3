using System.Net;
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

namespace Berth.Api;

/// <summary>The Docker Engine API on Kestrel: unix sockets (0660) and loopback TCP only.</summary>
public static class ApiServer
{
    public static WebApplication Build(BerthEngine engine, IReadOnlyList<string> hosts, ILoggerFactory loggers)
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
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            foreach (string host in hosts) Listen(kestrel, host);
        });
        var app = builder.Build();
        app.Use(HijackTransport.TrackRequest);
        app.Use(ErrorMiddleware(loggers.CreateLogger("Berth.Api")));
        app.Use(ApiVersion.Middleware);
        app.UseRouting();
        SystemEndpoints.Map(app, engine);
        ContainerEndpoints.Map(app, engine);
        ImageEndpoints.Map(app, engine);
        NetworkEndpoints.Map(app, engine);
        app.MapFallback((HttpContext ctx) =>
            throw new NotFoundException($"page not found: {ctx.Request.Method} {ctx.Request.Path}"));
        return app;
    }

    /// <summary>Sets 0660 on unix sockets once Kestrel has bound them.</summary>
    public static void RestrictSockets(IReadOnlyList<string> hosts)
    {
        foreach (string host in hosts.Where(h => h.StartsWith("unix://", StringComparison.Ordinal)))
            File.SetUnixFileMode(host["unix://".Length..], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
    }

    public static void ValidateHosts(IReadOnlyList<string> hosts)
    {
        foreach (string host in hosts) ParseHost(host);
    }

    private static void Listen(KestrelServerOptions kestrel, string host)
    {
        var (socketPath, endpoint) = ParseHost(host);
        if (socketPath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
            if (File.Exists(socketPath)) File.Delete(socketPath);
            kestrel.ListenUnixSocket(socketPath, listen => listen.Use(Streams.HijackTransport.Middleware));
        }
        else kestrel.Listen(endpoint!, listen => listen.Use(Streams.HijackTransport.Middleware));
    }

    /// <summary>unix:///path or tcp://127.0.0.1:port / tcp://[::1]:port; anything not on loopback is refused,
    /// because the API is root on this machine and has no TLS.</summary>
    public static (string? SocketPath, IPEndPoint? Endpoint) ParseHost(string host)
    {
        if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            string path = host["unix://".Length..];
            if (!Path.IsPathRooted(path)) throw new ArgumentException($"invalid --host {host}: the socket path must be absolute");
            return (path, null);
        }
        if (host.StartsWith("tcp://", StringComparison.Ordinal) && IPEndPoint.TryParse(host["tcp://".Length..], out var endpoint) && endpoint.Port > 0)
        {
            if (!IPAddress.IsLoopback(endpoint.Address))
                throw new ArgumentException($"invalid --host {host}: tcp:// is allowed on loopback addresses only (127.0.0.1, ::1)");
            return (null, endpoint);
        }
        throw new ArgumentException($"invalid --host {host}: expected unix:///path or tcp://127.0.0.1:PORT");
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
