using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Berth.Api;

/// <summary>Docker's API versions: paths may carry a /v1.xx prefix, which is stripped before routing and kept
/// for handlers whose answer depends on it.</summary>
public static partial class ApiVersion
{
    public const string Current = "1.50";
    public const string Minimum = "1.24";
    private const string ItemKey = "berth.api-version";

    public static Version Of(HttpContext context) =>
        context.Items.TryGetValue(ItemKey, out var v) && v is Version version ? version : Version.Parse(Current);

    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        var headers = context.Response.Headers;
        headers["Api-Version"] = Current;
        headers["Docker-Experimental"] = "false";
        headers["Ostype"] = "linux";
        headers["Server"] = $"Berth/{EngineInfo.Version} (linux)";

        var match = Prefix().Match(context.Request.Path.Value ?? "");
        if (match.Success)
        {
            // \d+ may overflow an int: such a version is simply too new.
            var requested = Version.TryParse(match.Groups[1].Value, out var parsed) ? parsed : new Version(int.MaxValue, 0);
            if (requested > Version.Parse(Current))
            {
                await DockerResults.Error(context, 400, $"client version {DockerResults.Shorten(match.Groups[1].Value)} is too new. Maximum supported API version is {Current}");
                return;
            }
            if (requested < Version.Parse(Minimum))
            {
                await DockerResults.Error(context, 400, $"client version {DockerResults.Shorten(match.Groups[1].Value)} is too old. Minimum supported API version is {Minimum}, please upgrade your client to a newer version");
                return;
            }
            context.Items[ItemKey] = requested;
            context.Request.Path = context.Request.Path.Value![match.Length..] is { Length: > 0 } rest ? rest : "/";
        }
        await next(context);
    }

    [GeneratedRegex(@"^/v(\d+\.\d+)(?=/|$)")]
    private static partial Regex Prefix();
}

public static class EngineInfo
{
    public const string Version = "28.2.2-berth";
}
