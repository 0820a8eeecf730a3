using System.Text.Json.Nodes;
using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Berth.Engine.Store;

namespace Berth.Api.Views;

/// <summary>Container JSON in dockerd's shapes: `GET /containers/{id}/json` and the items of `GET /containers/json`.
/// The docker CLI renders `ps --format` and `inspect -f` from these on the client, so names and nesting matter.</summary>
public static class ContainerViews
{
    public static JsonObject Inspect(BerthEngine engine, ContainerRecord c)
    {
        string dir = Path.Combine(engine.Options.ContainersDirectory, c.Id);
        var inspect = new JsonObject
        {
            ["Id"] = c.Id,
            ["Created"] = DockerTimeConverter.Format(c.Created),
            ["Path"] = c.Path,
            ["Args"] = Array(c.Args),
            ["State"] = new JsonObject
            {
                ["Status"] = c.State.Status,
                // dockerd counts a container waiting out its restart backoff as running (State.SetRestarting).
                ["Running"] = c.State.Running || c.State.Restarting,
                ["Paused"] = c.State.Paused,
                ["Restarting"] = c.State.Restarting,
                ["OOMKilled"] = c.State.OOMKilled,
                ["Dead"] = c.State.Dead,
                ["Pid"] = c.State.Pid,
                ["ExitCode"] = c.State.ExitCode,
                ["Error"] = c.State.Error,
                ["StartedAt"] = DockerTimeConverter.Format(c.State.StartedAt),
                ["FinishedAt"] = DockerTimeConverter.Format(c.State.FinishedAt),
            },
            ["Image"] = c.ImageId,
            ["ResolvConfPath"] = Path.Combine(dir, "resolv.conf"),
            ["HostnamePath"] = Path.Combine(dir, "hostname"),
            ["HostsPath"] = Path.Combine(dir, "hosts"),
            ["LogPath"] = Berth.Runtime.Containers.JsonLogFile.ApiPath(dir, c.HostConfig.LogConfig.Type),
            ["Name"] = "/" + c.Name,
            ["RestartCount"] = c.RestartCount,
            ["Driver"] = "overlay2",
            ["Platform"] = "linux",
            ["MountLabel"] = "",
            ["ProcessLabel"] = "",
            ["AppArmorProfile"] = "",
            ["ExecIDs"] = engine.Execs.IdsOf(c.Id).ToList() is { Count: > 0 } execs ? Array(execs) : null,
            ["HostConfig"] = WithLegacyLinks(engine, c, JsonSerializerNode(c.HostConfig)),
            ["GraphDriver"] = new JsonObject
            {
                ["Data"] = new JsonObject
                {
                    ["MergedDir"] = Path.Combine(dir, "rootfs"),
                    ["UpperDir"] = Path.Combine(dir, "upper"),
                    ["WorkDir"] = Path.Combine(dir, "work"),
                },
                ["Name"] = "overlay2",
            },
            ["Mounts"] = Mounts(c),
            ["Config"] = JsonSerializerNode(c.Config),
            ["NetworkSettings"] = NetworkSettings(engine, c),
        };
        InspectDefaults.Complete(inspect, c);
        return inspect;
    }

    public static JsonObject ListItem(BerthEngine engine, ContainerRecord c, bool size)
    {
        var item = new JsonObject
        {
            ["Id"] = c.Id,
            ["Names"] = Array(["/" + c.Name]),
            ["Image"] = c.Config.Image,
            ["ImageID"] = c.ImageId,
            ["Command"] = string.Join(' ', new[] { c.Path }.Concat(c.Args)),
            ["Created"] = c.Created.ToUnixTimeSeconds(),
            ["Ports"] = ListPorts(c),
            ["Labels"] = JsonSerializerNode(c.Config.Labels ?? new()),
            ["State"] = c.State.Status,
            ["Status"] = Status(c.State, DateTimeOffset.UtcNow),
            ["HostConfig"] = new JsonObject { ["NetworkMode"] = c.HostConfig.NetworkMode },
            ["NetworkSettings"] = new JsonObject { ["Networks"] = Networks(engine, c) },
            ["Mounts"] = Mounts(c),
        };
        if (size)
        {
            var (rw, rootfs) = engine.Containers.DiskUsage(c);
            item["SizeRw"] = rw;
            item["SizeRootFs"] = rootfs;
        }
        return item;
    }

    /// <summary>`ps` Ports items: published ones carry IP and PublicPort; exposed-only ones just PrivatePort and Type.</summary>
    private static JsonArray ListPorts(ContainerRecord c)
    {
        var items = new List<(int Private, string Type, string? Ip, int? Public)>();
        var published = c.State.Running ? c.Ports : [];
        foreach (var p in published)
        {
            var (port, type) = SplitPort(p.ContainerPort);
            items.Add((port, type, p.HostIp, p.HostPort));
        }
        var publishedKeys = published.Select(p => p.ContainerPort).ToHashSet(); // a lookup: 10,000 ports must not scan 10,000 each
        foreach (string exposed in c.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>())
        {
            if (publishedKeys.Contains(exposed)) continue;
            var (port, type) = SplitPort(exposed);
            items.Add((port, type, null, null));
        }
        var array = new JsonArray();
        foreach (var i in items.OrderBy(i => i.Private).ThenBy(i => i.Type, StringComparer.Ordinal).ThenBy(i => i.Ip, StringComparer.Ordinal))
        {
            var o = new JsonObject();
            if (i.Ip is not null) o["IP"] = i.Ip;
            o["PrivatePort"] = i.Private;
            if (i.Public is not null) o["PublicPort"] = i.Public;
            o["Type"] = i.Type;
            array.Add(o);
        }
        return array;
    }

    private static JsonObject NetworkSettings(BerthEngine engine, ContainerRecord c)
    {
        var primary = c.Endpoints.FirstOrDefault(e => engine.Networks.Find(e.NetworkId)?.IsDefault == true);
        return new JsonObject
        {
            ["Bridge"] = "",
            ["SandboxID"] = c.SandboxKey.Length > 0 ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(c.SandboxKey))).ToLowerInvariant() : "",
            ["HairpinMode"] = false,
            ["LinkLocalIPv6Address"] = "",
            ["LinkLocalIPv6PrefixLen"] = 0,
            ["Ports"] = Ports(c),
            ["SandboxKey"] = c.SandboxKey,
            ["SecondaryIPAddresses"] = null,
            ["SecondaryIPv6Addresses"] = null,
            ["EndpointID"] = primary?.EndpointId ?? "",
            ["Gateway"] = primary?.Gateway ?? "",
            ["GlobalIPv6Address"] = primary?.Ipv6Address ?? "",
            ["GlobalIPv6PrefixLen"] = primary?.Ipv6PrefixLength ?? 0,
            ["IPAddress"] = primary?.IPAddress ?? "",
            ["IPPrefixLen"] = primary?.PrefixLength ?? 0,
            ["IPv6Gateway"] = primary?.Ipv6Gateway ?? "",
            ["MacAddress"] = primary?.MacAddress ?? "",
            ["Networks"] = Networks(engine, c),
        };
    }

    /// <summary>NetworkSettings.Ports: every exposed port, with its host bindings or null; empty when not running.</summary>
    public static JsonObject Ports(ContainerRecord c)
    {
        var ports = new JsonObject();
        if (!c.State.Running || c.HostConfig.NetworkMode == ContainerService.HostMode) return ports; // host mode publishes nothing
        var keys = (c.Config.ExposedPorts?.Keys ?? Enumerable.Empty<string>()).Concat(c.Ports.Select(p => p.ContainerPort)).Distinct();
        var bindingsOf = c.Ports.ToLookup(p => p.ContainerPort); // a lookup: 10,000 ports must not scan 10,000 each
        foreach (string key in keys.OrderBy(k => SplitPort(k).Port).ThenBy(k => k, StringComparer.Ordinal))
        {
            var bindings = bindingsOf[key].ToList();
            ports[key] = bindings.Count == 0 ? null : new JsonArray(bindings
                .Select(b => (JsonNode)new JsonObject { ["HostIp"] = b.HostIp, ["HostPort"] = b.HostPort.ToString() }).ToArray());
        }
        return ports;
    }

    private static JsonObject Networks(BerthEngine engine, ContainerRecord c)
    {
        var networks = new JsonObject();
        foreach (var (name, settings) in c.RequestedNetworks)
        {
            var network = engine.Networks.Find(name);
            var endpoint = c.Endpoints.FirstOrDefault(e => e.NetworkId == network?.Id);
            networks[network?.Name ?? name] = Endpoint(c, network, settings, endpoint);
        }
        // `--network host` and `none`: the predefined network, as dockerd shows it (an endpoint id while running).
        if (c.RequestedNetworks.Count == 0 && engine.Networks.PredefinedOf(c) is { } predefined)
            networks[predefined.Name] = Endpoint(c, predefined, null,
                c.State.Running ? new EndpointRecord { EndpointId = NetworkService.PredefinedEndpointId(c, predefined) } : null);
        return networks;
    }

    private static JsonObject Endpoint(ContainerRecord c, NetworkRecord? network, EndpointSettings? settings, EndpointRecord? endpoint) =>
            new JsonObject
            {
                ["IPAMConfig"] = settings?.IPAMConfig?.DeepClone(),
                ["Links"] = settings?.Links is { Count: > 0 } links ? Array(links) : null,
                ["Aliases"] = settings?.Aliases is { } aliases ? Array(aliases) : null,
                ["MacAddress"] = endpoint?.MacAddress ?? "",
                ["DriverOpts"] = null,
                ["GwPriority"] = settings?.GwPriority ?? 0,
                ["NetworkID"] = network?.Id ?? "",
                ["EndpointID"] = endpoint?.EndpointId ?? "",
                ["Gateway"] = endpoint?.Gateway ?? "",
                ["IPAddress"] = endpoint?.IPAddress ?? "",
                ["IPPrefixLen"] = endpoint?.PrefixLength ?? 0,
                ["IPv6Gateway"] = endpoint?.Ipv6Gateway ?? "",
                ["GlobalIPv6Address"] = endpoint?.Ipv6Address ?? "",
                ["GlobalIPv6PrefixLen"] = endpoint?.Ipv6PrefixLength ?? 0,
                ["DNSNames"] = endpoint is null || network is null || network.IsDefault || NetworkService.IsHostOrNone(network) ? null
                    : Array(ContainerDnsNames.NamesOf(c, settings?.Aliases)),
            };

    /// <summary>Inspect for API 1.44 and older: on user-defined networks Aliases also hold the short id and the hostname,
    /// as dockerd 28 answers such clients (from 1.45 they are exactly what was asked, and DNSNames holds the rest).</summary>
    public static void AddLegacyAliases(BerthEngine engine, JsonObject inspect, ContainerRecord c)
    {
        if (inspect["NetworkSettings"]?["Networks"] is not JsonObject networks) return;
        foreach (var (name, node) in networks)
        {
            if (node is not JsonObject endpoint || engine.Networks.Find(name) is not { IsDefault: false } network
                || NetworkService.IsHostOrNone(network)) continue;
            var aliases = endpoint["Aliases"]?.AsArray().Select(a => a?.GetValue<string>()).OfType<string>() ?? [];
            endpoint["Aliases"] = Array(aliases.Append(c.ShortId).Append(c.Config.Hostname ?? "").Where(a => a.Length > 0).Distinct());
        }
    }

    /// <summary>HostConfig.Links as dockerd shows them: its legacy links, "/target:/name/alias", which only a container
    /// that is not on a user-defined network has (elsewhere links are the endpoint's, shown there).</summary>
    private static JsonNode? WithLegacyLinks(BerthEngine engine, ContainerRecord c, JsonNode? hostConfig)
    {
        if (hostConfig is not JsonObject host || c.HostConfig.Links is not { Count: > 0 } links) return hostConfig;
        bool legacy = c.HostConfig.NetworkMode is "default" or NetworkService.DefaultNetworkName;
        host["Links"] = legacy
            ? Array(ContainerLinks.Parse(links).Select(l => $"/{engine.Containers.Find(l.Target)?.Name ?? l.Target}:/{c.Name}/{l.Alias}"))
            : null;
        return host;
    }

    /// <summary>Binds, volumes and `--mount` tmpfs as dockerd lists them (HostConfig.Tmpfs ones are not listed).</summary>
    private static JsonArray Mounts(ContainerRecord c)
    {
        var mounts = new JsonArray();
        foreach (var m in c.Mounts ?? [])
        {
            if (m.Hidden) continue;
            var item = new JsonObject { ["Type"] = m.Type };
            if (m.Type == "volume") item["Name"] = m.Name;
            item["Source"] = m.Source;
            item["Destination"] = m.Destination;
            if (m.Type == "volume") item["Driver"] = m.Driver;
            item["Mode"] = m.Mode;
            item["RW"] = m.RW;
            item["Propagation"] = m.Propagation;
            mounts.Add(item);
        }
        return mounts;
    }

    /// <summary>"Up 5 seconds", "Exited (0) 3 seconds ago", "Created" — the CLI prints it as given.</summary>
    public static string Status(ContainerState state, DateTimeOffset now) => state.Status switch
    {
        "running" => "Up " + HumanDuration(now - state.StartedAt) + InspectDefaults.HealthSuffix(state),
        "restarting" => $"Restarting ({state.ExitCode}) {HumanDuration(now - state.FinishedAt)} ago",
        "paused" => "Up " + HumanDuration(now - state.StartedAt) + " (Paused)",
        "exited" => $"Exited ({state.ExitCode}) {HumanDuration(now - state.FinishedAt)} ago",
        "created" => "Created",
        var other => char.ToUpperInvariant(other[0]) + other[1..],
    };

    /// <summary>Go's units.HumanDuration, which dockerd uses for Status.</summary>
    public static string HumanDuration(TimeSpan d)
    {
        double seconds = d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if ((int)seconds == 1) return "1 second";
        if (seconds < 60) return $"{(int)seconds} seconds";
        int minutes = (int)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        int hours = (int)Math.Round(d.TotalHours, MidpointRounding.AwayFromZero);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{hours / 24 / 365} years";
    }

    private static (int Port, string Type) SplitPort(string key)
    {
        int slash = key.IndexOf('/');
        string number = slash < 0 ? key : key[..slash];
        return (int.TryParse(number, out int port) ? port : 0, slash < 0 ? "tcp" : key[(slash + 1)..]);
    }

    private static JsonArray Array(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    private static JsonNode? JsonSerializerNode<T>(T value) => System.Text.Json.JsonSerializer.SerializeToNode(value, EngineJson.Options);
}
