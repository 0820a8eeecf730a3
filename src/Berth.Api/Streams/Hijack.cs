using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Berth.Api.Streams;

/// <summary>attach and exec start: with "Connection: Upgrade" the connection is taken over (101 UPGRADED,
/// then raw bytes both ways), as the docker CLI expects; without it the output is the response body.</summary>
public static class Hijack
{
    /// <param name="Output">Where the container's output goes.</param>
    /// <param name="Input">The client's stdin bytes; ends when the client half-closes. Null without an upgrade.</param>
    /// <param name="HungUp">After an upgrade: the client closed the connection (not just its sending side).</param>
    public sealed record Connection(Stream Output, Stream? Input, bool Upgraded, CancellationToken HungUp = default);

    public static async Task<Connection> AcceptAsync(HttpContext context, string contentType)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        context.Response.Headers.ContentType = contentType;
        if (upgrade is { IsUpgradableRequest: true })
        {
            context.Response.Headers.Connection = "Upgrade";
            context.Response.Headers.Upgrade = "tcp";
            if (context.Features.Get<IHttpResponseFeature>() is { } response) response.ReasonPhrase = "UPGRADED";
            var gate = HijackTransport.GateOf(context);
            gate?.Hijack();
            var stream = await upgrade.UpgradeAsync();
            return new Connection(stream, gate?.ClientInput ?? stream, true, gate?.ConnectionLostToken ?? default);
        }
        context.Response.StatusCode = 200;
        await context.Response.StartAsync();
        await context.Response.Body.FlushAsync(context.RequestAborted);
        return new Connection(context.Response.Body, null, false);
    }
}
