using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth pause/unpause/top/stats/update` and `berth system df`, with Docker's syntax and output.</summary>
public static class ResourceCommands
{
    private const string StatsFormat =
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

    private static readonly Dictionary<string, object?> StatsHeader = new()
    {
        ["ID"] = "CONTAINER ID", ["Container"] = "CONTAINER", ["Name"] = "NAME", ["CPUPerc"] = "CPU %",
        ["MemUsage"] = "MEM USAGE / LIMIT", ["MemPerc"] = "MEM %", ["NetIO"] = "NET I/O", ["BlockIO"] = "BLOCK I/O",
        ["PIDs"] = "PIDS",
    };

    public static IEnumerable<Command> Create() =>
        [Simple("pause", "Pause all processes within one or more containers"),
         Simple("unpause", "Unpause all processes within one or more containers"),
         TopCommand(), StatsCommand(), UpdateCommand(), SystemCommand()];

    private static Command Simple(string verb, string description)
    {
        var names = Containers.Names();
        var command = new Command(verb, description) { names };
        return command.Action(async (parse, api, ct) => await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
        {
            await api.PostAsync($"/containers/{EngineApi.Q(name)}/{verb}", ct);
            Console.WriteLine(name);
        }));
    }

    private static Command TopCommand()
    {
        var name = new Argument<string>("CONTAINER");
        var psArgs = new Argument<string[]>("ps OPTIONS") { Arity = ArgumentArity.ZeroOrMore };
        var top = new Command("top", "Display the running processes of a container") { name, psArgs };
        top.TreatUnmatchedTokensAsErrors = false;
        return top.Action(async (parse, api, ct) =>
        {
            var options = parse.GetValue(psArgs)!.Concat(parse.UnmatchedTokens).ToArray();
            string q = options.Length > 0 ? "?ps_args=" + EngineApi.Q(string.Join(' ', options)) : "";
            var reply = await api.GetJsonAsync($"/containers/{EngineApi.Q(parse.GetValue(name)!)}/top{q}", ct);
            var lines = new List<string> { string.Join('\t', (reply?["Titles"] as JsonArray ?? []).Select(t => (string?)t)) };
            foreach (var row in reply?["Processes"] as JsonArray ?? [])
                lines.Add(string.Join('\t', (row as JsonArray ?? []).Select(v => (string?)v)));
            Console.Out.Write(Formatting.TabWrite(string.Join('\n', lines) + "\n"));
            return 0;
        });
    }

    private static Command StatsCommand()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Show all containers (default shows just running)" };
        var noStream = new Option<bool>("--no-stream") { Description = "Disable streaming stats and only pull the first result" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Do not truncate output" };
        var format = new Option<string?>("--format") { Description = "Format output using a custom template" };
        var names = new Argument<string[]>("CONTAINER") { Arity = ArgumentArity.ZeroOrMore };
        var stats = new Command("stats", "Display a live stream of container(s) resource usage statistics")
            { all, noStream, noTrunc, format, names };
        return stats.Action(async (parse, api, ct) =>
        {
            var targets = parse.GetValue(names)!.ToList();
            if (targets.Count == 0)
            {
                var list = await api.GetJsonAsync($"/containers/json?all={(parse.GetValue(all) ? 1 : 0)}", ct);
                targets = (list as JsonArray ?? []).Select(c => c.Str("Id")!).ToList();
            }
            string fmt = parse.GetValue(format) is { Length: > 0 } f ? f : StatsFormat;
            while (true)
            {
                var samples = await Task.WhenAll(targets.Select(t =>
                    api.GetJsonAsync($"/containers/{EngineApi.Q(t)}/stats?stream=false", ct)));
                var rows = samples.Select((s, i) => (object?)Row(s, targets[i], parse.GetValue(noTrunc))).ToList();
                string text = Cli.Render(fmt, rows, StatsHeader);
                if (parse.GetValue(noStream))
                {
                    Console.Out.Write(text);
                    return 0;
                }
                // As docker: clear the screen and draw the table again each round.
                Console.Out.Write("\u001b[2J\u001b[H" + text);
            }
        });
    }

    /// <summary>One stats row as the docker CLI computes it from a stats object.</summary>
    public static Dictionary<string, object?> Row(JsonNode? s, string target, bool noTrunc)
    {
        double cpuDelta = Num(s, "cpu_stats", "cpu_usage", "total_usage") - Num(s, "precpu_stats", "cpu_usage", "total_usage");
        double systemDelta = Num(s, "cpu_stats", "system_cpu_usage") - Num(s, "precpu_stats", "system_cpu_usage");
        double online = Num(s, "cpu_stats", "online_cpus");
        if (online == 0) online = (s?["cpu_stats"]?["cpu_usage"]?["percpu_usage"] as JsonArray)?.Count ?? 0;
        double cpu = systemDelta > 0 && cpuDelta > 0 ? cpuDelta / systemDelta * online * 100 : 0;
        var memory = s?["memory_stats"];
        double usage = Num(memory, "usage"), limit = Num(memory, "limit");
        // cgroup v1 reports total_inactive_file, v2 inactive_file: the page cache the kernel can drop.
        double inactive = memory?["stats"]?["total_inactive_file"] is { } v1 ? (double)v1
            : Num(memory, "stats", "inactive_file");
        if (inactive < usage) usage -= inactive;
        double rx = 0, tx = 0;
        foreach (var (_, n) in s?["networks"] as JsonObject ?? [])
        {
            rx += Num(n, "rx_bytes");
            tx += Num(n, "tx_bytes");
        }
        double read = 0, written = 0;
        foreach (var e in s?["blkio_stats"]?["io_service_bytes_recursive"] as JsonArray ?? [])
        {
            string op = (e.Str("op") ?? "").ToLowerInvariant();
            if (op == "read") read += Num(e, "value");
            else if (op == "write") written += Num(e, "value");
        }
        string id = s.Str("id") ?? target;
        bool running = s.Str("read") is { } r && !r.StartsWith("0001", StringComparison.Ordinal);
        string P(double v) => running ? v.ToString("F2", CultureInfo.InvariantCulture) + "%" : "--";
        return new Dictionary<string, object?>
        {
            ["ID"] = noTrunc ? id : Formatting.ShortId(id),
            ["Container"] = target,
            ["Name"] = (s.Str("name") ?? "").TrimStart('/') is { Length: > 0 } name ? name : "--",
            ["CPUPerc"] = P(cpu),
            ["MemUsage"] = running ? $"{Formatting.BytesSize(usage)} / {Formatting.BytesSize(limit)}" : "-- / --",
            ["MemPerc"] = P(limit > 0 ? usage / limit * 100 : 0),
            ["NetIO"] = running ? $"{Formatting.HumanSize(rx)} / {Formatting.HumanSize(tx)}" : "--",
            ["BlockIO"] = running ? $"{Formatting.HumanSize(read)} / {Formatting.HumanSize(written)}" : "--",
            ["PIDs"] = running ? ((long)Num(s, "pids_stats", "current")).ToString(CultureInfo.InvariantCulture) : "--",
        };
    }

    private static double Num(JsonNode? node, params string[] path)
    {
        foreach (string key in path) node = node?[key];
        return node is JsonValue value && value.TryGetValue(out double d) ? d : 0;
    }

    private static Command UpdateCommand()
    {
        var restart = new Option<string?>("--restart") { Description = "Restart policy to apply when a container exits" };
        var names = Containers.Names();
        var resources = new RunResources();
        var update = new Command("update", "Update configuration of one or more containers") { restart, names };
        foreach (var option in resources.UpdateOptions) update.Options.Add(option);
        return update.Action(async (parse, api, ct) =>
        {
            var body = resources.Read(parse);
            if (parse.GetValue(restart) is { } policy) body["RestartPolicy"] = RunResources.RestartPolicy(policy);
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                await api.PostJsonAsync($"/containers/{EngineApi.Q(name)}/update", body.DeepClone(), ct);
                Console.WriteLine(name);
            });
        });
    }

    private static Command SystemCommand()
    {
        var format = new Option<string?>("--format") { Description = "Format output using a custom template" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Show detailed information on space usage" };
        var df = new Command("df", "Show docker disk usage") { format, verbose };
        df.Action(async (parse, api, ct) =>
        {
            var usage = await api.GetJsonAsync("/system/df", ct);
            if (parse.GetValue(verbose))
            {
                Console.Out.Write(DiskUsageVerbose.Write(usage, parse.GetValue(format), DateTimeOffset.UtcNow));
                return 0;
            }
            var images = usage?["Images"] as JsonArray ?? [];
            var containers = usage?["Containers"] as JsonArray ?? [];
            var volumes = usage?["Volumes"] as JsonArray ?? [];
            double imageSize = images.Sum(i => Num(i, "Size"));
            double unusedImages = images.Where(i => Num(i, "Containers") == 0).Sum(i => Num(i, "Size"));
            double containerSize = containers.Sum(c => Num(c, "SizeRw"));
            double stoppedSize = containers.Where(c => c.Str("State") != "running").Sum(c => Num(c, "SizeRw"));
            double volumeSize = volumes.Sum(v => Num(v, "UsageData", "Size"));
            string Reclaimable(double part, double whole) => whole > 0
                ? $"{Formatting.HumanSize(part)} ({(part / whole * 100).ToString("F0", CultureInfo.InvariantCulture)}%)"
                : Formatting.HumanSize(part);
            var rows = new List<object?>
            {
                DfRow("Images", images.Count, images.Count(i => Num(i, "Containers") > 0), imageSize, Reclaimable(unusedImages, imageSize)),
                DfRow("Containers", containers.Count, containers.Count(c => c.Str("State") == "running"), containerSize,
                    Reclaimable(stoppedSize, containerSize)),
                DfRow("Local Volumes", volumes.Count, volumes.Count(v => Num(v, "UsageData", "RefCount") > 0), volumeSize,
                    Reclaimable(volumes.Where(v => Num(v, "UsageData", "RefCount") == 0).Sum(v => Num(v, "UsageData", "Size")),
                        volumeSize)),
                DfRow("Build Cache", 0, 0, 0, "0B"),
            };
            string fmt = parse.GetValue(format) is { Length: > 0 } f ? f
                : "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
            Console.Out.Write(Cli.Render(fmt, rows, new Dictionary<string, object?>
            {
                ["Type"] = "TYPE", ["TotalCount"] = "TOTAL", ["Active"] = "ACTIVE", ["Size"] = "SIZE",
                ["Reclaimable"] = "RECLAIMABLE",
            }));
            return 0;
        });
        return new Command("system", "Manage Berth") { df };
    }

    private static Dictionary<string, object?> DfRow(string type, int total, int active, double size, string reclaimable) => new()
    {
        ["Type"] = type, ["TotalCount"] = total.ToString(CultureInfo.InvariantCulture),
        ["Active"] = active.ToString(CultureInfo.InvariantCulture), ["Size"] = Formatting.HumanSize(size),
        ["Reclaimable"] = reclaimable,
    };
}
