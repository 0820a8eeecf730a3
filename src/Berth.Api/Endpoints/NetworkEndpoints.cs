using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Berth.Engine.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Berth.Api.Endpoints;

public static class NetworkEndpoints
{
    private sealed class IpamConfig
    {
        public string? Subnet { get; set; }
        public string? Gateway { get; set; }
        public string? IPRange { get; set; }
        public Dictionary<string, string>? AuxiliaryAddresses { get; set; }
    }
    private sealed class Ipam { public string? Driver { get; set; } public List<IpamConfig>? Config { get; set; } }
    private sealed class NetworkCreateRequest
    {
        public string Name { get; set; } = "";
        public string? Driver { get; set; }
        public bool Internal { get; set; }
        public bool Attachable { get; set; }
        public bool EnableIPv6 { get; set; }
        public bool? EnableIPv4 { get; set; }
        public Ipam? IPAM { get; set; }
        public Dictionary<string, string>? Options { get; set; }
        public Dictionary<string, string>? Labels { get; set; }
    }

    public static void Map(IEndpointRouteBuilder app, BerthEngine engine)
    {
        var networks = engine.Networks;

        app.MapGet("/networks", async (HttpContext ctx) =>
        {
            var filters = NetworkFilters.Parse(ctx.Request.Query["filters"], n => InUse(engine, n));
            await DockerResults.Json(ctx, networks.Listed.Where(filters.Matches).Select(n => Inspect(engine, n)).ToList());
        });

        app.MapGet("/networks/{id}", async (HttpContext ctx, string id) =>
            await DockerResults.Json(ctx, Inspect(engine, NetworkInspectQuery.Find(networks, id, ctx.Request.Query))));

        app.MapPost("/networks/create", async (HttpContext ctx) =>
        {
            var request = await DockerResults.ReadBody<NetworkCreateRequest>(ctx);
            // dockerd 28 makes an IPv6-only network of EnableIPv4=false; Berth's networks always carry IPv4, so it
            // says so rather than make a dual-stack one.
            if (request.EnableIPv4 == false)
                throw new BadRequestException(request.EnableIPv6 ? "IPv6-only networks (EnableIPv4=false) are not supported"
                    : "IPv4 or IPv6 must be enabled");
            var (config, v6, more) = NetworkIpamRequest.Split(request.IPAM?.Config?.Select(c => (c.Subnet, c.Gateway, c.IPRange, c.AuxiliaryAddresses)),
                request.EnableIPv6);
            var network = networks.Create(request.Name, config?.Subnet, config?.Gateway, request.Internal, request.Attachable,
                request.Labels, request.Options, request.Driver, config?.IPRange, config?.AuxiliaryAddresses, v6, more);
            await DockerResults.Json(ctx, new { Id = network.Id, Warning = "" }, 201);
        });

        app.MapDelete("/networks/{id}", (HttpContext ctx, string id) =>
        {
            var network = networks.GetListed(id);
            networks.Remove(network, InUse(engine, network));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/networks/{id}/connect", async (HttpContext ctx, string id) =>
        {
            var request = await DockerResults.ReadBody<NetworkConnectRequest>(ctx);
            if (string.IsNullOrEmpty(request.Container)) throw new BadRequestException("no container specified");
            RefusePredefined(engine, request.Container, id, connect: true);
            await engine.Containers.ConnectAsync(request.Container, id, request.EndpointConfig);
            ctx.Response.StatusCode = 200;
        });

        app.MapPost("/networks/{id}/disconnect", async (HttpContext ctx, string id) =>
        {
            var request = await DockerResults.ReadBody<NetworkConnectRequest>(ctx);
            if (string.IsNullOrEmpty(request.Container)) throw new BadRequestException("no container specified");
            if (IsNone(engine, id)) await engine.Containers.LeaveNoneAsync(request.Container);
            else
            {
                RefusePredefined(engine, request.Container, id, connect: false);
                await engine.Containers.DisconnectAsync(request.Container, id);
            }
            ctx.Response.StatusCode = 200;
        });

        app.MapPost("/networks/prune", async (HttpContext ctx) =>
        {
            var filters = PruneFilter.Parse(ctx.Request.Query["filters"], []);
            var deleted = new List<string>();
            foreach (var network in networks.All.Where(n => !n.IsDefault && filters.Matches(n.Created, n.Labels)))
            {
                if (InUse(engine, network)) continue;
                try { networks.Remove(network, hasEndpoints: false); }
                catch (NotFoundException) { continue; }
                deleted.Add(network.Name);
            }
            await DockerResults.Json(ctx, new { NetworksDeleted = deleted });
        });
    }

    /// <summary>A container has (or will have at its next start) an endpoint on the network.</summary>
    private static bool InUse(BerthEngine engine, NetworkRecord network) =>
        engine.Containers.All.Any(c => c.Endpoints.Any(e => e.NetworkId == network.Id) || c.RequestedNetworks.ContainsKey(network.Name)
            || NetworkService.IsHostOrNone(network) && c.HostConfig.NetworkMode == network.Name);

    private static bool IsNone(BerthEngine engine, string networkId) => engine.Networks.Find(networkId) is null
        && engine.Networks.Predefined.FirstOrDefault(n => n.Name == networkId || n.Id == networkId) is { Name: Berth.Engine.Containers.ContainerService.NoneMode };

    /// <summary>`host` and `none` take members only through the network mode at create, as in dockerd.</summary>
    private static void RefusePredefined(BerthEngine engine, string container, string networkId, bool connect)
    {
        if (engine.Networks.Find(networkId) is null && engine.Networks.Predefined.FirstOrDefault(n => n.Name == networkId || n.Id == networkId) is { } predefined)
            throw NetworkService.RefusePredefined(engine.Containers.Get(container), predefined, connect);
    }

    public static JsonObject Inspect(BerthEngine engine, NetworkRecord n)
    {
        var containers = new JsonObject();
        if (NetworkService.IsHostOrNone(n))
            foreach (var c in engine.Containers.All.Where(c => c.State.Running && c.HostConfig.NetworkMode == n.Name && !c.LeftNoneNetwork))
                containers[c.Id] = new JsonObject
                {
                    ["Name"] = c.Name, ["EndpointID"] = NetworkService.PredefinedEndpointId(c, n), ["MacAddress"] = "",
                    ["IPv4Address"] = "", ["IPv6Address"] = "",
                };
        foreach (var c in engine.Containers.All)
            foreach (var e in c.Endpoints.Where(e => e.NetworkId == n.Id))
                containers[c.Id] = new JsonObject
                {
                    ["Name"] = c.Name, ["EndpointID"] = e.EndpointId, ["MacAddress"] = e.MacAddress,
                    ["IPv4Address"] = $"{e.IPAddress}/{e.PrefixLength}",
                    ["IPv6Address"] = e.Ipv6Address.Length > 0 ? $"{e.Ipv6Address}/{e.Ipv6PrefixLength}" : "",
                };
        var options = new JsonObject();
        foreach (var (k, v) in n.Options) options[k] = v;
        var labels = new JsonObject();
        foreach (var (k, v) in n.Labels) labels[k] = v;
        return new JsonObject
        {
            ["Name"] = n.Name,
            ["Id"] = n.Id,
            ["Created"] = DockerTimeConverter.Format(n.Created),
            ["Scope"] = "local",
            ["Driver"] = n.Driver,
            ["EnableIPv4"] = true,
            ["EnableIPv6"] = n.EnableIPv6,
            ["IPAM"] = new JsonObject
            {
                ["Driver"] = "default",
                ["Options"] = null,
                ["Config"] = NetworkIpamRequest.ConfigOf(n),
            },
            ["Internal"] = n.Internal,
            ["Attachable"] = n.Attachable,
            ["Ingress"] = false,
            ["ConfigFrom"] = new JsonObject { ["Network"] = "" },
            ["ConfigOnly"] = false,
            ["Containers"] = containers,
            ["Options"] = options,
            ["Labels"] = labels,
        };
    }
}

/// <summary>`POST /networks/{id}/connect` and `/disconnect` bodies.</summary>
public sealed class NetworkConnectRequest
{
    public string? Container { get; set; }
    public EndpointSettings? EndpointConfig { get; set; }
    public bool Force { get; set; }
}
