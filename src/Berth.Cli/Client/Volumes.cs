using System.CommandLine;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth volume create|ls|inspect|rm|prune` with the docker CLI's flags and output.</summary>
public static class Volumes
{
    public static IEnumerable<Command> Create()
    {
        var volume = new Command("volume", "Manage volumes");
        foreach (var c in new[] { CreateCommand(), Ls(), Inspect(), Rm(), Prune() }) volume.Subcommands.Add(c);
        return [volume];
    }

    public const string DefaultFormat = "table {{.Driver}}\t{{.Name}}";

    private static readonly Dictionary<string, object?> Header = new()
    {
        ["Driver"] = "DRIVER", ["Name"] = "VOLUME NAME", ["Mountpoint"] = "MOUNTPOINT", ["Scope"] = "SCOPE",
        ["Labels"] = "LABELS", ["CreatedAt"] = "CREATED AT",
    };

    private static Command CreateCommand()
    {
        var driver = new Option<string>("--driver", "-d") { Description = "Specify volume driver name", DefaultValueFactory = _ => "local" };
        var label = new Option<string[]>("--label") { Description = "Set metadata for a volume (repeatable)" };
        var opt = new Option<string[]>("--opt", "-o") { Description = "Set driver specific options: type=, device=, o= (repeatable)" };
        var name = new Argument<string?>("VOLUME") { Arity = ArgumentArity.ZeroOrOne };
        var create = new Command("create", "Create a volume") { driver, label, opt, name };
        return create.Action(async (parse, api, ct) =>
        {
            var reply = await api.PostJsonAsync("/volumes/create", new JsonObject
            {
                ["Driver"] = parse.GetValue(driver),
                ["DriverOpts"] = Networks.KeyValues(parse.GetValue(opt)),
                ["Labels"] = Networks.KeyValues(parse.GetValue(label)),
                ["Name"] = parse.GetValue(name) ?? "",
            }, ct);
            Console.WriteLine(reply.Str("Name"));
            return 0;
        });
    }

    private static Command Ls()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display volume names" };
        var filter = new Option<string[]>("--filter", "-f") { Description = "Provide filter values: dangling=, driver=, label=, name= (repeatable)" };
        var format = new Option<string?>("--format") { Description = "\"table TEMPLATE\" or a TEMPLATE. Fields: .Driver .Name .Mountpoint .Scope .Labels .CreatedAt. " + Containers.TemplateHelp };
        var ls = new Command("ls", "List volumes") { quiet, filter, format };
        ls.Aliases.Add("list");
        return ls.Action(async (parse, api, ct) =>
        {
            string path = "/volumes";
            if (parse.GetValue(filter) is { Length: > 0 } filters) path += "?filters=" + EngineApi.Q(Containers.FiltersJson(filters));
            var list = (await api.GetJsonAsync(path, ct))?["Volumes"] as JsonArray ?? [];
            var rows = list.Where(v => v is not null).OrderBy(v => v.Str("Name"), StringComparer.Ordinal).Select(v => (object?)new Dictionary<string, object?>
            {
                ["Driver"] = v.Str("Driver"), ["Name"] = v.Str("Name"), ["Mountpoint"] = v.Str("Mountpoint"),
                ["Scope"] = v.Str("Scope"), ["CreatedAt"] = v.Str("CreatedAt"),
                ["Labels"] = string.Join(',', (v!["Labels"] as JsonObject ?? new JsonObject()).Select(kv => $"{kv.Key}={GoTemplate.Show(kv.Value)}")),
            }).ToList();
            string? fmt = parse.GetValue(format);
            if (parse.GetValue(quiet)) fmt = "{{.Name}}";
            else if (string.IsNullOrEmpty(fmt) || fmt == "table") fmt = DefaultFormat;
            Console.Out.Write(Cli.Render(fmt, rows, Header));
            return 0;
        });
    }

    private static Command Inspect()
    {
        var format = new Option<string?>("--format", "-f") { Description = "Format the output with a template. " + Containers.TemplateHelp };
        var names = Containers.Names("VOLUME");
        var inspect = new Command("inspect", "Display detailed information on one or more volumes") { format, names };
        return inspect.Action(async (parse, api, ct) =>
            await Containers.InspectAsync(parse.GetValue(names)!, parse.GetValue(format),
                name => api.GetStringAsync($"/volumes/{EngineApi.Q(name)}", ct)));
    }

    private static Command Rm()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Force the removal of one or more volumes" };
        var names = Containers.Names("VOLUME");
        var rm = new Command("rm", "Remove one or more volumes") { force, names };
        rm.Aliases.Add("remove");
        return rm.Action(async (parse, api, ct) =>
            await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                string query = parse.GetValue(force) ? "?force=1" : "";
                using var _ = await api.SendAsync(HttpMethod.Delete, $"/volumes/{EngineApi.Q(name)}{query}", ct);
                Console.WriteLine(name);
            }));
    }

    private static Command Prune()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Remove all unused volumes, not just anonymous ones" };
        var filter = new Option<string[]>("--filter") { Description = "Provide filter values: label=, label!= (repeatable)" };
        var force = new Option<bool>("--force", "-f") { Description = "Do not prompt for confirmation" };
        var prune = new Command("prune", "Remove unused local volumes") { all, filter, force };
        return prune.Action(async (parse, api, ct) =>
        {
            if (!parse.GetValue(force))
            {
                Console.Write(parse.GetValue(all)
                    ? "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
                    : "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                if (Console.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes")) return 0;
            }
            var filters = (parse.GetValue(filter) ?? []).ToList();
            if (parse.GetValue(all)) filters.Add("all=true");
            string path = "/volumes/prune" + (filters.Count > 0 ? "?filters=" + EngineApi.Q(Containers.FiltersJson(filters)) : "");
            var reply = await api.PostJsonAsync(path, null, ct);
            var deleted = reply?["VolumesDeleted"] as JsonArray ?? [];
            if (deleted.Count > 0)
            {
                Console.WriteLine("Deleted Volumes:");
                foreach (var name in deleted) Console.WriteLine((string?)name);
                Console.WriteLine();
            }
            Console.WriteLine($"Total reclaimed space: {Formatting.HumanSize((double)(reply?["SpaceReclaimed"]?.GetValue<long>() ?? 0))}");
            return 0;
        });
    }
}
