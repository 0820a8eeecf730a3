using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth network ls|create|rm|inspect|connect|disconnect`. The engine serves ls, create, rm and inspect;
/// connect and disconnect are sent as docker sends them and fail with the engine's answer when it has none.</summary>
public static class Networks
{
    public static IEnumerable<Command> Create()
    {
        var network = new Command("network", "Manage networks");
        foreach (var c in new[] { Ls(), CreateCommand(), Rm(), Inspect(), Connect(), Disconnect(), Prune() }) network.Subcommands.Add(c);
        return [network];
    }

    public const string DefaultFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

    public static readonly Dictionary<string, object?> Header = new()
    {
        ["ID"] = "NETWORK ID", ["Name"] = "NAME", ["Driver"] = "DRIVER", ["Scope"] = "SCOPE", ["IPv4"] = "IPV4", ["IPv6"] = "IPV6",
        ["Internal"] = "INTERNAL", ["CreatedAt"] = "CREATED AT", ["Labels"] = "LABELS",
    };

    private static Command Ls()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display network IDs" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Do not truncate the output" };
        var format = new Option<string?>("--format") { Description = "\"table TEMPLATE\" or a TEMPLATE. Fields: .ID .Name .Driver .Scope .IPv4 .IPv6 .Internal .CreatedAt .Labels. " + Containers.TemplateHelp };
        var filter = new Option<string[]>("--filter", "-f") { Description = "Provide filter values: driver=, id=, label=, name=, scope=, type=, dangling= (repeatable)" };
        var ls = new Command("ls", "List networks") { quiet, noTrunc, format, filter };
        ls.Aliases.Add("list");
        return ls.Action(async (parse, api, ct) =>
        {
            string query = parse.GetValue(filter) is { Length: > 0 } filters ? "?filters=" + EngineApi.Q(Containers.FiltersJson(filters)) : "";
            var list = await api.GetJsonAsync("/networks" + query, ct) as JsonArray ?? [];
            bool trunc = !parse.GetValue(noTrunc);
            var rows = list.Where(n => n is not null).OrderBy(n => n.Str("Name"), StringComparer.Ordinal).Select(n => (object?)new Dictionary<string, object?>
            {
                ["ID"] = trunc ? Formatting.ShortId(n.Str("Id") ?? "") : n.Str("Id"),
                ["Name"] = n.Str("Name"),
                ["Driver"] = n.Str("Driver"),
                ["Scope"] = n.Str("Scope"),
                ["IPv4"] = GoTemplate.Show(n!["EnableIPv4"] ?? JsonValue.Create(true)),
                ["IPv6"] = GoTemplate.Show(n!["EnableIPv6"] ?? JsonValue.Create(false)),
                ["Internal"] = GoTemplate.Show(n!["Internal"] ?? JsonValue.Create(false)),
                ["CreatedAt"] = DateTimeOffset.TryParse(n.Str("Created"), CultureInfo.InvariantCulture, out var created)
                    ? Formatting.GoTime(created) : n.Str("Created"),
                ["Labels"] = string.Join(',', (n!["Labels"] as JsonObject ?? new JsonObject()).Select(kv => $"{kv.Key}={GoTemplate.Show(kv.Value)}")),
            }).ToList();
            string? fmt = parse.GetValue(format);
            if (parse.GetValue(quiet)) fmt = "{{.ID}}";
            else if (string.IsNullOrEmpty(fmt) || fmt == "table") fmt = DefaultFormat;
            Console.Out.Write(Cli.Render(fmt, rows, Header));
            return 0;
        });
    }

    private static Command CreateCommand()
    {
        var driver = new Option<string>("--driver", "-d") { Description = "Driver to manage the network", DefaultValueFactory = _ => "bridge" };
        var subnet = new Option<string[]>("--subnet") { Description = "Subnet in CIDR format (repeatable: one IPv4 and one IPv6)" };
        var gateway = new Option<string[]>("--gateway") { Description = "IPv4 or IPv6 gateway for the master subnet (repeatable)" };
        var ipRange = new Option<string[]>("--ip-range") { Description = "Allocate container IPs from a sub-range (repeatable)" };
        var @internal = new Option<bool>("--internal") { Description = "Restrict external access to the network" };
        var attachable = new Option<bool>("--attachable") { Description = "Enable manual container attachment" };
        var ipv4 = new Option<bool>("--ipv4") { Description = "Enable or disable IPv4 address assignment (sent only when given, as docker)" };
        var ipv6 = new Option<bool>("--ipv6") { Description = "Enable IPv6 networking" };
        var label = new Option<string[]>("--label") { Description = "Set metadata on a network (repeatable)" };
        var opt = new Option<string[]>("--opt", "-o") { Description = "Set driver specific options (repeatable)" };
        var aux = new Option<string[]>("--aux-address") { Description = "Auxiliary IPv4 addresses used by Network driver, name=IP (repeatable)" };
        var name = new Argument<string>("NETWORK");
        var create = new Command("create", "Create a network") { driver, subnet, gateway, ipRange, @internal, attachable, ipv4, ipv6, label, opt, aux, name };
        return create.Action(async (parse, api, ct) =>
        {
            var config = NetworkIpamFlags.Config(parse.GetValue(subnet) ?? [], parse.GetValue(gateway) ?? [], parse.GetValue(ipRange) ?? [],
                parse.GetValue(aux) ?? []);
            var body = new JsonObject
            {
                ["Name"] = parse.GetValue(name),
                ["Driver"] = parse.GetValue(driver),
                ["Scope"] = "",
                ["IPAM"] = new JsonObject { ["Driver"] = "default", ["Options"] = new JsonObject(), ["Config"] = config },
                ["Internal"] = parse.GetValue(@internal),
                ["Attachable"] = parse.GetValue(attachable),
                ["Ingress"] = false,
                ["ConfigOnly"] = false,
                ["ConfigFrom"] = null,
                ["Options"] = KeyValues(parse.GetValue(opt)),
                ["Labels"] = KeyValues(parse.GetValue(label)),
            };
            if (parse.GetResult(ipv4) is { Implicit: false }) body["EnableIPv4"] = parse.GetValue(ipv4);
            if (parse.GetValue(ipv6)) body["EnableIPv6"] = true;
            var reply = await api.PostJsonAsync("/networks/create", body, ct);
            if (reply.Str("Warning") is { Length: > 0 } warning) Console.Error.WriteLine(warning);
            Console.WriteLine(reply.Str("Id"));
            return 0;
        });
    }

    /// <summary>k=v items (--label, --opt) as a JSON object; a bare k is k="".</summary>
    public static JsonObject KeyValues(string[]? items)
    {
        var map = new JsonObject();
        foreach (string item in items ?? [])
        {
            int eq = item.IndexOf('=');
            map[eq < 0 ? item : item[..eq]] = eq < 0 ? "" : item[(eq + 1)..];
        }
        return map;
    }

    private static Command Rm()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Do not error if the network does not exist" };
        var names = Containers.Names("NETWORK");
        var rm = new Command("rm", "Remove one or more networks") { force, names };
        rm.Aliases.Add("remove");
        return rm.Action(async (parse, api, ct) =>
        {
            int code = await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                try
                {
                    var network = await api.GetJsonAsync($"/networks/{EngineApi.Q(name)}", ct);
                    using var _ = await api.SendAsync(HttpMethod.Delete, $"/networks/{network.Str("Id") ?? name}", ct);
                }
                catch (ApiException e) when (e.Status == 404 && parse.GetValue(force)) { return; }
                Console.WriteLine(name);
            });
            if (code != 0) Console.Error.WriteLine("exit status " + code); // docker's network rm ends so after a failure
            return code;
        });
    }

    private static Command Inspect()
    {
        var format = new Option<string?>("--format", "-f") { Description = "Format the output with a template. " + Containers.TemplateHelp };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Verbose output for diagnostics" };
        var names = Containers.Names("NETWORK");
        var inspect = new Command("inspect", "Display detailed information on one or more networks") { format, verbose, names };
        return inspect.Action(async (parse, api, ct) =>
        {
            string query = parse.GetValue(verbose) ? "?verbose=true" : "";
            return await Containers.InspectAsync(parse.GetValue(names)!, parse.GetValue(format),
                name => api.GetStringAsync($"/networks/{EngineApi.Q(name)}{query}", ct));
        });
    }

    private static Command Connect()
    {
        var alias = new Option<string[]>("--alias") { Description = "Network-scoped alias for the container (repeatable)" };
        var ip = new Option<string?>("--ip") { Description = "IPv4 address" };
        var mac = new Option<string?>("--mac-address") { Description = "MAC address of the container on this network" };
        var link = new Option<string[]>("--link") { Description = "Add link to another container, NAME[:ALIAS], on this network (repeatable)" };
        var gwPriority = new Option<int>("--gw-priority") { Description = "Highest gw-priority provides the default gateway. Accepts positive and negative values." };
        var network = new Argument<string>("NETWORK");
        var container = new Argument<string>("CONTAINER");
        var connect = new Command("connect", "Connect a container to a network") { alias, ip, mac, link, gwPriority, network, container };
        var addresses = new RunNetworkAddresses();
        foreach (var option in addresses.Options(withIp: false)) connect.Options.Add(option);
        return connect.Action(async (parse, api, ct) =>
        {
            var endpoint = new JsonObject
            {
                ["IPAMConfig"] = addresses.IpamConfig(parse, parse.GetValue(ip)),
                ["Links"] = parse.GetValue(link) is { Length: > 0 } links ? Strings(links) : null,
                ["MacAddress"] = parse.GetValue(mac),
                ["Aliases"] = parse.GetValue(alias) is { Length: > 0 } aliases ? Strings(aliases) : null,
                ["GwPriority"] = parse.GetValue(gwPriority),
            };
            await api.PostJsonAsync($"/networks/{EngineApi.Q(parse.GetValue(network)!)}/connect",
                new JsonObject { ["Container"] = parse.GetValue(container), ["EndpointConfig"] = endpoint }, ct);
            return 0;
        });
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    private static Command Prune()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Do not prompt for confirmation" };
        var filter = new Option<string[]>("--filter") { Description = "Provide filter values: until=, label=, label!= (repeatable)" };
        var prune = new Command("prune", "Remove all unused networks") { force, filter };
        return prune.Action(async (parse, api, ct) =>
        {
            if (!parse.GetValue(force))
            {
                Console.Write("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                if (Console.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes")) return 0;
            }
            string query = parse.GetValue(filter) is { Length: > 0 } filters ? "?filters=" + EngineApi.Q(Containers.FiltersJson(filters)) : "";
            var reply = await api.PostJsonAsync("/networks/prune" + query, null, ct);
            if (reply?["NetworksDeleted"] is JsonArray { Count: > 0 } deleted)
            {
                Console.WriteLine("Deleted Networks:");
                foreach (var n in deleted) Console.WriteLine(n?.GetValue<string>());
                Console.WriteLine(); // docker prints the list, then a line of its own
            }
            return 0;
        });
    }

    private static Command Disconnect()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Force the container to disconnect from a network" };
        var network = new Argument<string>("NETWORK");
        var container = new Argument<string>("CONTAINER");
        var disconnect = new Command("disconnect", "Disconnect a container from a network") { force, network, container };
        return disconnect.Action(async (parse, api, ct) =>
        {
            await api.PostJsonAsync($"/networks/{EngineApi.Q(parse.GetValue(network)!)}/disconnect",
                new JsonObject { ["Container"] = parse.GetValue(container), ["Force"] = parse.GetValue(force) }, ct);
            return 0;
        });
    }
}
