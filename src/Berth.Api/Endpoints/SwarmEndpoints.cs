using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

/// <summary>Swarm mode's endpoints answer as a dockerd that is not part of a swarm: 503 with dockerd's message,
/// whatever the method or sub-path (`docker service ls`, `docker node ls`, `docker secret ls` print it).</summary>
public static class SwarmEndpoints
{
    public const string NotInSwarm = "This node is not part of a swarm";

    private static readonly string[] Resources = ["swarm", "services", "nodes", "tasks", "secrets", "configs"];
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE"];

    public static void Map(IEndpointRouteBuilder app)
    {
        foreach (string resource in Resources)
        {
            app.MapMethods("/" + resource, Methods, NotPartOfSwarm);
            app.MapMethods("/" + resource + "/{**rest}", Methods, NotPartOfSwarm);
        }
    }

    /// <summary>Whether a route pattern is one of these (their 503 is the documented answer).</summary>
    public static bool Owns(string pattern) =>
        Resources.Any(r => pattern == "/" + r || pattern.StartsWith("/" + r + "/", StringComparison.Ordinal));

    private static Task NotPartOfSwarm(HttpContext ctx) => DockerResults.Error(ctx, 503, NotInSwarm);
}
