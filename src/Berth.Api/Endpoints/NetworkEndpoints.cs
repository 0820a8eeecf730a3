using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Model;
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
            await DockerResults.Json(ctx, networks.All.Where(filters.Matches).Select(n => Inspect(engine, n)).ToList());
        });

        app.MapGet("/networks/{id}", async (HttpContext ctx, string id) =>
            await DockerResults.Json(ctx, Inspect(engine, NetworkInspectQuery.Find(networks, id, ctx.Request.Query))));

        app.MapPost("/networks/create", async (HttpContext ctx) =>
        {
            var request = await DockerResults.ReadBody<NetworkCreateRequest>(ctx);
            var (config, v6) = NetworkIpamRequest.Split(request.IPAM?.Config?.Select(c => (c.Subnet, c.Gateway, c.IPRange, c.AuxiliaryAddresses)),
                request.EnableIPv6);
            var network = networks.Create(request.Name, config?.Subnet, config?.Gateway, request.Internal, request.Attachable,
                request.Labels, request.Options, request.Driver, config?.IPRange, config?.AuxiliaryAddresses, v6);
            await DockerResults.Json(ctx, new { Id = network.Id, Warning = "" }, 201);
        });

        app.MapDelete("/networks/{id}", (HttpContext ctx, string id) =>
        {
            var network = networks.Get(id);
            networks.Remove(network, InUse(engine, network));
            DockerResults.NoContent(ctx);
        });

        app.MapPost("/networks/{id}/connect", async (HttpContext ctx, string id) =>
        {
            var request = await DockerResults.ReadBody<NetworkConnectRequest>(ctx);
            if (string.IsNullOrEmpty(request.Container)) throw new BadRequestException("no container specified");
            await engine.Containers.ConnectAsync(request.Container, id, request.EndpointConfig);
            ctx.Response.StatusCode = 200;
        });

        app.MapPost("/networks/{id}/disconnect", async (HttpContext ctx, string id) =>
        {
            var request = await DockerResults.ReadBody<NetworkConnectRequest>(ctx);
            if (string.IsNullOrEmpty(request.Container)) throw new BadRequestException("no container specified");
            await engine.Containers.DisconnectAsync(request.Container, id);
            ctx.Response.StatusCode = 200;
        });

        app.MapPost("/networks/prune", async (HttpContext ctx) =>
        {
            var filters = NetworkPruneFilters.Parse(ctx.Request.Query["filters"]);
            var deleted = new List<string>();
            foreach (var network in networks.All.Where(n => !n.IsDefault && filters.Matches(n)))
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
        engine.Containers.All.Any(c => c.Endpoints.Any(e => e.NetworkId == network.Id) || c.RequestedNetworks.ContainsKey(network.Name));

    private static JsonObject IpamConfigOf(NetworkRecord n)
    {
        var config = new JsonObject { ["Subnet"] = n.Subnet };
        if (n.IPRange is { } range) config["IPRange"] = range;
        config["Gateway"] = n.Gateway;
        if (n.AuxAddresses.Count > 0)
        {
            var aux = new JsonObject();
            foreach (var (k, v) in n.AuxAddresses) aux[k] = v;
            config["AuxiliaryAddresses"] = aux;
        }
        return config;
    }

    public static JsonObject Inspect(BerthEngine engine, NetworkRecord n)
    {
        var containers = new JsonObject();
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
                ["Config"] = NetworkIpamRequest.WithIpv6(new JsonArray(IpamConfigOf(n)), n),
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

/// <summary>`GET /networks?filters=` as dockerd reads it: name (regular expression), id (prefix), driver, label,
/// type (builtin/custom) and scope.</summary>
public sealed class NetworkFilters
{
    private static readonly string[] Known = ["name", "id", "driver", "label", "type", "scope", "dangling"];
    private static readonly string[] Builtin = ["bridge", "host", "none"];

    private readonly Dictionary<string, List<string>> _filters;
    private readonly List<System.Text.RegularExpressions.Regex> _names;
    private readonly Func<NetworkRecord, bool> _inUse;

    private NetworkFilters(Dictionary<string, List<string>> filters, Func<NetworkRecord, bool> inUse)
    {
        _filters = filters;
        _inUse = inUse;
        foreach (string value in filters.GetValueOrDefault("dangling") ?? [])
            if (value is not ("true" or "false" or "1" or "0"))
                throw new BadRequestException($"invalid filter 'dangling={DockerResults.Shorten(value)}'");
        _names = filters.TryGetValue("name", out var names) ? names.Select(n => FilterJson.Regex("name", n)).ToList() : [];
        foreach (string type in filters.GetValueOrDefault("type") ?? [])
            if (type is not ("builtin" or "custom"))
                throw new BadRequestException($"invalid filter: 'type'='{DockerResults.Shorten(type)}': builtin or custom");
    }

    /// <param name="inUse">Whether a container uses the network (for `dangling`).</param>
    public static NetworkFilters Parse(string? json, Func<NetworkRecord, bool>? inUse = null) =>
        new(FilterJson.Parse(json, Known), inUse ?? (_ => false));

    public bool Matches(NetworkRecord n)
    {
        foreach (var (key, values) in _filters)
        {
            if (values.Count == 0) continue;
            bool ok = key switch
            {
                "name" => _names.Any(r => FilterJson.IsMatch(r, n.Name)),
                "id" => values.Any(v => n.Id.StartsWith(v, StringComparison.Ordinal)),
                "driver" => values.Contains(n.Driver),
                "label" => values.All(v => v.Split('=', 2) is var kv
                    && n.Labels.TryGetValue(kv[0], out var actual) && (kv.Length == 1 || actual == kv[1])),
                "type" => values.Contains(Builtin.Contains(n.Name) ? "builtin" : "custom"),
                "scope" => values.Contains("local"),
                // As dockerd: dangling networks are the user's own ones that no container uses.
                "dangling" => values.All(v => (v is "true" or "1") == (!Builtin.Contains(n.Name) && !_inUse(n))),
                _ => true,
            };
            if (!ok) return false;
        }
        return true;
    }
}

/// <summary>`POST /networks/prune?filters=`: `until` (a time or a duration before now) and `label`/`label!` as dockerd.
/// </summary>
public sealed class NetworkPruneFilters
{
    private readonly DateTimeOffset? _until;
    private readonly List<string> _labels, _notLabels;

    private NetworkPruneFilters(DateTimeOffset? until, List<string> labels, List<string> notLabels) =>
        (_until, _labels, _notLabels) = (until, labels, notLabels);

    public static NetworkPruneFilters Parse(string? json)
    {
        var filters = FilterJson.Parse(json, ["until", "label", "label!"]);
        DateTimeOffset? until = null;
        foreach (string value in filters.GetValueOrDefault("until") ?? [])
            until = DurationAgo(value) ?? ContainerEndpoints.ParseUnixTime("until", value);
        return new(until, filters.GetValueOrDefault("label") ?? [], filters.GetValueOrDefault("label!") ?? []);
    }

    /// <summary>`until=24h`: a Go duration before now; null when the value is a time instead.</summary>
    private static DateTimeOffset? DurationAgo(string value)
    {
        try { return DateTimeOffset.UtcNow - TimeSpan.FromTicks(Berth.Runtime.Images.ImageChanges.GoDuration(value) / 100); }
        catch (Berth.Runtime.Images.ImageException) { return null; }
    }

    public bool Matches(NetworkRecord n) =>
        (_until is null || n.Created < _until)
        && _labels.All(l => HasLabel(n, l))
        && !_notLabels.Any(l => HasLabel(n, l));

    private static bool HasLabel(NetworkRecord n, string filter) => filter.Split('=', 2) is var kv
        && n.Labels.TryGetValue(kv[0], out var actual) && (kv.Length == 1 || actual == kv[1]);
}
