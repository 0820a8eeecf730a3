using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>Container commands: run, ps, inspect, port, logs, stop, start, restart, kill, rm, rename, wait.</summary>
public static class Containers
{
    public const string TemplateHelp =
        "Go-template subset: {{.Field.Sub}}, {{json .X}}, {{range .X}}..{{end}}, {{range $k, $v := .X}}, {{if}}/{{else}}/{{end}}, {{with}}, " +
        "{{index .X \"k\"}}, pipes, and the functions join, split, lower, upper, title, truncate, pad, len, println, printf, eq, ne, not, and, or";

    public static IEnumerable<Command> Create() =>
    [
        RunCommand(), RunCommand(createOnly: true), PsCommand(), InspectCommand(), PortCommand(), LogsCommand(),
        StopCommand(), StartCommand(), RestartCommand(), KillCommand(), RmCommand(), RenameCommand(), WaitCommand(),
    ];

    internal static Argument<string[]> Names(string name = "CONTAINER") => new(name) { Arity = ArgumentArity.OneOrMore };

    // ------------------------------------------------------------------ run

    /// <summary>`run`, or `create` (the same options and body without --detach, as docker create).</summary>
    private static Command RunCommand(bool createOnly = false)
    {
        var detach = new Option<bool>("--detach", "-d") { Description = "Run the container in the background and print its ID" };
        var rm = new Option<bool>("--rm") { Description = "Remove the container when it exits" };
        var name = new Option<string?>("--name") { Description = "Name of the container" };
        var publish = new Option<string[]>("--publish", "-p") { Description = "Publish a port: [ip:][hostPort:]containerPort[/proto], ranges allowed (repeatable)" };
        var publishAll = new Option<bool>("--publish-all", "-P") { Description = "Publish every exposed port to a random host port" };
        var expose = new Option<string[]>("--expose") { Description = "Expose a port or a range of ports (repeatable)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Set an environment variable K=V (repeatable)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Keep STDIN open and send it to the container" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Allocate a pseudo-TTY" };
        var network = new Option<string?>("--network", "--net") { Description = "Connect the container to a network" };
        var alias = new Option<string[]>("--network-alias") { Description = "Network-scoped alias (repeatable)" };
        var hostname = new Option<string?>("--hostname") { Description = "Container host name" };
        var entrypoint = new Option<string?>("--entrypoint") { Description = "Overwrite the image's ENTRYPOINT" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the container" };
        var user = new Option<string?>("--user", "-u") { Description = "User name or UID[:GID]" };
        var label = new Option<string[]>("--label", "-l") { Description = "Set a label k=v (repeatable)" };
        var volume = new Option<string[]>("--volume", "-v") { Description = "Bind mount a volume [SRC:]DST[:OPTS] (repeatable)" };
        var mount = new Option<string[]>("--mount") { Description = "Attach a filesystem mount type=bind|volume|tmpfs,... (repeatable)" };
        var tmpfs = new Option<string[]>("--tmpfs") { Description = "Mount a tmpfs directory DST[:OPTS] (repeatable)" };
        var volumesFrom = new Option<string[]>("--volumes-from") { Description = "Mount volumes from a container[:ro|rw] (repeatable)" };
        var restart = new Option<string?>("--restart") { Description = "Restart policy: no, always, unless-stopped, on-failure[:N]" };
        var securityOpt = new Option<string[]>("--security-opt")
        {
            Description = "Security option: seccomp=PATH|unconfined, apparmor=, label=, no-new-privileges, "
                + "systempaths=unconfined (repeatable)",
        };
        var privileged = new Option<bool>("--privileged") { Description = "Give extended privileges to this container" };
        var capAdd = new Option<string[]>("--cap-add") { Description = "Add a Linux capability (repeatable)" };
        var capDrop = new Option<string[]>("--cap-drop") { Description = "Drop a Linux capability (repeatable)" };
        var logDriver = new Option<string?>("--log-driver") { Description = "Logging driver for the container" };
        var logOpt = new Option<string[]>("--log-opt") { Description = "Log driver option k=v (repeatable)" };
        var readOnly = new Option<bool>("--read-only") { Description = "Mount the container's root filesystem read only" };
        var image = new Argument<string>("IMAGE");
        var command = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.ZeroOrMore, Description = "Command and arguments (options after IMAGE belong to the command)" };
        var run = new Command(createOnly ? "create" : "run",
            createOnly ? "Create a new container" : "Create and run a new container from an image")
        {
            detach, rm, name, publish, publishAll, expose, env, interactive, tty, network, alias, hostname, entrypoint, workdir, user, label, volume, restart,
            securityOpt, privileged, capAdd, capDrop, logDriver, logOpt, readOnly, mount, tmpfs, volumesFrom, image, command,
        };
        var detachKeys = new Option<string?>("--detach-keys") { Description = Attach.DetachKeysHelp };
        run.Options.Add(detachKeys);
        var resources = new RunResources();
        foreach (var option in resources.Options) run.Options.Add(option);
        var addresses = new RunNetworkAddresses();
        foreach (var option in addresses.Options()) run.Options.Add(option);
        if (createOnly) run.Options.Remove(detach);
        var health = new RunHealthOptions();
        foreach (var option in health.All) run.Options.Add(option);
        var pull = new RunPullOptions();
        foreach (var option in pull.All) run.Options.Add(option);
        return run.Action(async (parse, api, ct) =>
        {
            bool useTty = parse.GetValue(tty);
            var settings = new RunSettings
            {
                Image = parse.GetValue(image)!,
                Command = parse.GetValue(command) ?? [],
                Detach = !createOnly && parse.GetValue(detach),
                AutoRemove = parse.GetValue(rm),
                Name = parse.GetValue(name),
                Publish = parse.GetValue(publish) ?? [],
                PublishAll = parse.GetValue(publishAll),
                Expose = parse.GetValue(expose) ?? [],
                Env = parse.GetValue(env) ?? [],
                Interactive = parse.GetValue(interactive),
                Tty = useTty,
                Network = parse.GetValue(network),
                NetworkAliases = parse.GetValue(alias) ?? [],
                IpamConfig = addresses.IpamConfig(parse),
                Hostname = parse.GetValue(hostname),
                Entrypoint = parse.GetResult(entrypoint) is null ? null : parse.GetValue(entrypoint) ?? "",
                WorkingDir = parse.GetValue(workdir),
                User = parse.GetValue(user),
                Labels = parse.GetValue(label) ?? [],
                Volumes = parse.GetValue(volume) ?? [],
                Mounts = parse.GetValue(mount) ?? [],
                Tmpfs = parse.GetValue(tmpfs) ?? [],
                VolumesFrom = parse.GetValue(volumesFrom) ?? [],
                Restart = parse.GetValue(restart),
                SecurityOpt = parse.GetValue(securityOpt) ?? [],
                Privileged = parse.GetValue(privileged),
                CapAdd = parse.GetValue(capAdd) ?? [],
                CapDrop = parse.GetValue(capDrop) ?? [],
                LogDriver = parse.GetValue(logDriver),
                LogOpt = parse.GetValue(logOpt) ?? [],
                ReadOnly = parse.GetValue(readOnly),
                Healthcheck = health.Read(parse),
                ConsoleSize = useTty ? Terminal.Size() : (0, 0),
                Resources = resources.Read(parse),
                Pull = pull.Read(parse),
                DetachKeys = parse.GetValue(detachKeys),
            };
            return createOnly ? await CreateOnlyAsync(api, settings, ct) : await RunAsync(api, settings, ct);
        }, runStyleErrors: true);
    }

    public static async Task<int> RunAsync(EngineApi api, RunSettings settings, CancellationToken ct)
    {
        if (settings.Detach && settings.AutoRemove && settings.Restart is not (null or "no"))
            throw new CliException("conflicting options: cannot specify both --restart and --rm", 125);
        if (settings.Interactive && settings.Tty && !settings.Detach && !Terminal.IsTerminal(0))
            throw new CliException("the input device is not a TTY", 1);
        var body = RunRequest.Build(settings);
        string id = await CreateAsync(api, settings, body, ct);

        if (settings.Detach)
        {
            // As the docker CLI: the wait is registered before start, then dropped.
            using var waiting = await api.SendAsync(HttpMethod.Post, $"/containers/{id}/wait?condition={(settings.AutoRemove ? "removed" : "next-exit")}", ct, headersOnly: true);
            await StartOrFailAsync(api, id, ct);
            Console.WriteLine(id);
            return 0;
        }

        string query = "stream=1&stdout=1&stderr=1" + (settings.Interactive ? "&stdin=1" : "");
        await using var hijack = await HijackedConnection.OpenAsync(api.Host, api.Versioned($"/containers/{id}/attach?{query}"), null, ct);
        using var waitResponse = await api.SendAsync(HttpMethod.Post, $"/containers/{id}/wait?condition={(settings.AutoRemove ? "removed" : "next-exit")}", ct, headersOnly: true);

        using var raw = settings.Tty && settings.Interactive ? Terminal.MakeRaw() : null;
        var streaming = Attach.StreamAsync(hijack, settings.Tty, settings.Interactive, settings.DetachKeys, ct);
        using var signals = settings.Tty ? null : ProxySignals(api, id);
        try
        {
            await api.PostAsync($"/containers/{id}/start", ct);
        }
        catch (ApiException e)
        {
            raw?.Dispose();
            if (settings.AutoRemove)
            {
                // The engine removes it; wait for that as the docker CLI does, but not forever.
                await Task.WhenAny(waitResponse.Content.ReadAsStringAsync(ct), Task.Delay(TimeSpan.FromSeconds(10), ct));
            }
            throw new CliException("Error response from daemon: " + e.Message, StartFailureCode(e.Message));
        }
        using var resize = settings.Tty ? Resizer(api, $"/containers/{id}/resize") : null;

        if (await streaming) return 0; // detached: the container runs on
        raw?.Dispose();
        return await ReadWaitStatusAsync(waitResponse, ct);
    }

    /// <summary>docker create: the run body, then the id. Errors from the engine are printed plainly with exit 1, as
    /// docker create does (its own validation errors keep run's style and 125).</summary>
    private static async Task<int> CreateOnlyAsync(EngineApi api, RunSettings settings, CancellationToken ct)
    {
        var body = RunRequest.Build(settings);
        try
        {
            Console.WriteLine(await CreateAsync(api, settings, body, ct));
            return 0;
        }
        catch (ApiException e)
        {
            Console.Error.WriteLine("Error response from daemon: " + e.Message);
            return 1;
        }
    }

    /// <summary>docker run's exit codes when start fails: 127 command not found, 126 not executable, else 125.</summary>
    public static int StartFailureCode(string message)
    {
        if (message.Contains("executable file not found") || message.Contains("no such file or directory")) return 127;
        if (message.Contains("permission denied") || message.Contains("is a directory")) return 126;
        return 125;
    }

    private static async Task<string> CreateAsync(EngineApi api, RunSettings settings, JsonObject body, CancellationToken ct)
    {
        string path = "/containers/create" + (settings.Name is { Length: > 0 } n ? "?name=" + EngineApi.Q(n) : "");
        async Task<string> Create()
        {
            var reply = await api.PostJsonAsync(path, body, ct);
            return reply.Str("Id") ?? throw new CliException("the engine returned no container id", 125);
        }
        await settings.Pull.PullFirstAsync(api, settings.Image, ct);
        try { return await Create(); }
        catch (ApiException e) when (e.Status == 404 && e.Message.Contains("No such image", StringComparison.OrdinalIgnoreCase)
                                     && settings.Pull.Policy == RunPull.Missing)
        {
            // As docker: pull, then create again.
            await settings.Pull.PullMissingAsync(api, settings.Image, ct);
            return await Create();
        }
    }

    private static async Task StartOrFailAsync(EngineApi api, string id, CancellationToken ct)
    {
        try { await api.PostAsync($"/containers/{id}/start", ct); }
        catch (ApiException e) { throw new CliException("Error response from daemon: " + e.Message, StartFailureCode(e.Message)); }
    }

    public static async Task<int> ReadWaitStatusAsync(HttpResponseMessage response, CancellationToken ct)
    {
        string text;
        try { text = await response.Content.ReadAsStringAsync(ct); }
        catch (HttpRequestException) { throw new CliException("error waiting for the container: the connection to the engine was lost", 125); }
        JsonNode? reply = null;
        try { reply = JsonNode.Parse(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? ""); }
        catch (JsonException) { }
        if (reply is null) throw new CliException($"error waiting for the container: {text}", 125);
        if (reply["Error"]?["Message"] is JsonValue message && message.GetValue<string>() is { Length: > 0 } m)
            throw new CliException($"error waiting for the container: {m}", 125);
        return reply["StatusCode"]?.GetValue<int>() ?? 0;
    }

    /// <summary>SIGINT/SIGTERM/SIGHUP/SIGQUIT to the client go to the container (docker's --sig-proxy).</summary>
    internal static IDisposable ProxySignals(EngineApi api, string id)
    {
        var registrations = new List<PosixSignalRegistration>();
        foreach (var (signal, name) in new[] { (PosixSignal.SIGINT, "SIGINT"), (PosixSignal.SIGTERM, "SIGTERM"), (PosixSignal.SIGHUP, "SIGHUP"), (PosixSignal.SIGQUIT, "SIGQUIT") })
        {
            registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                _ = Task.Run(async () =>
                {
                    try { await api.PostAsync($"/containers/{id}/kill?signal={name}", CancellationToken.None); }
                    catch (Exception e) when (e is ApiException or CliException) { }
                });
            }));
        }
        return new Disposables(registrations);
    }

    /// <summary>Sends the terminal's size now and on every SIGWINCH.</summary>
    internal static IDisposable? Resizer(EngineApi api, string path)
    {
        if (!Terminal.IsTerminal(1) && !Terminal.IsTerminal(0)) return null;
        async Task Send()
        {
            var (h, w) = Terminal.Size();
            if (h == 0 && w == 0) return;
            try { await api.PostAsync($"{path}?h={h}&w={w}", CancellationToken.None); }
            catch (Exception e) when (e is ApiException or CliException) { }
        }
        _ = Send();
        return PosixSignalRegistration.Create(PosixSignal.SIGWINCH, context => { _ = Send(); });
    }

    private sealed class Disposables(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item.Dispose();
        }
    }

    // ------------------------------------------------------------------ ps

    public const string DefaultPsFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

    public static readonly Dictionary<string, object?> PsHeader = new()
    {
        ["ID"] = "CONTAINER ID", ["Image"] = "IMAGE", ["Command"] = "COMMAND", ["CreatedAt"] = "CREATED AT", ["RunningFor"] = "CREATED",
        ["Ports"] = "PORTS", ["State"] = "STATE", ["Status"] = "STATUS", ["Size"] = "SIZE", ["Names"] = "NAMES", ["Labels"] = "LABELS",
        ["Label"] = (Func<object?[], object?>)(_ => "LABEL"), ["Mounts"] = "MOUNTS", ["LocalVolumes"] = "LOCAL VOLUMES",
        ["Networks"] = "NETWORKS", ["Platform"] = "PLATFORM",
    };

    private static Command PsCommand()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Show all containers (default shows just running)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only display container IDs" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Don't truncate output" };
        var size = new Option<bool>("--size", "-s") { Description = "Display total file sizes" };
        var filter = new Option<string[]>("--filter", "-f") { Description = "Filter output: name=, id=, status=, label=, ancestor=, network=, publish=, expose= (repeatable)" };
        var format = new Option<string?>("--format") { Description = "\"table TEMPLATE\" or a TEMPLATE. Fields: .ID .Names .Image .Command .CreatedAt .RunningFor .Ports .State .Status .Size .Labels .Label \"k\" .Mounts .Networks; \\t for tabs. " + TemplateHelp };
        var ps = new Command("ps", "List containers") { all, quiet, noTrunc, size, filter, format };
        return ps.Action(async (parse, api, ct) =>
        {
            string? fmt = parse.GetValue(format);
            bool wantSize = parse.GetValue(size) || fmt?.Contains(".Size") == true;
            var query = new List<string>();
            if (parse.GetValue(all)) query.Add("all=1");
            if (wantSize) query.Add("size=1");
            if (parse.GetValue(filter) is { Length: > 0 } filters) query.Add("filters=" + EngineApi.Q(FiltersJson(filters)));
            var list = await api.GetJsonAsync("/containers/json" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct) as JsonArray ?? [];
            bool trunc = !parse.GetValue(noTrunc);
            if (parse.GetValue(quiet)) fmt = "{{.ID}}";
            else if (string.IsNullOrEmpty(fmt) || fmt == "table") fmt = DefaultPsFormat + (parse.GetValue(size) ? "\t{{.Size}}" : "");
            var now = DateTimeOffset.UtcNow;
            Console.Out.Write(Cli.Render(fmt, list.Select(c => (object?)PsRow(c!, trunc, now)), PsHeader));
            return 0;
        });
    }

    /// <summary>--filter k=v pairs as the API's {"k":["v",...]}.</summary>
    public static string FiltersJson(IEnumerable<string> filters)
    {
        var map = new JsonObject();
        foreach (string f in filters)
        {
            int eq = f.IndexOf('=');
            if (eq <= 0) throw new CliException($"bad format of filter (expected name=value)");
            string key = f[..eq].Trim().ToLowerInvariant(), value = f[(eq + 1)..];
            if (map[key] is not JsonArray values) map[key] = values = new JsonArray();
            values.Add(value);
        }
        return map.ToJsonString();
    }

    /// <summary>One `ps` row's fields, computed as docker/cli's ContainerContext does.</summary>
    public static Dictionary<string, object?> PsRow(JsonNode c, bool trunc, DateTimeOffset now)
    {
        string id = c.Str("Id") ?? "";
        var names = (c["Names"] as JsonArray ?? []).Select(n => n?.GetValue<string>() ?? "").Select(n => n.StartsWith('/') ? n[1..] : n).ToList();
        if (trunc) names = names.Where(n => !n.Contains('/')).Take(1).ToList();
        string command = c.Str("Command") ?? "";
        long created = c["Created"]?.GetValue<long>() ?? 0;
        var labels = c["Labels"] as JsonObject ?? new JsonObject();
        string size = "";
        if (c["SizeRw"] is not null || c["SizeRootFs"] is not null)
        {
            long rw = c["SizeRw"]?.GetValue<long>() ?? 0, rootfs = c["SizeRootFs"]?.GetValue<long>() ?? 0;
            size = Formatting.HumanSize(rw) + (rootfs > 0 ? $" (virtual {Formatting.HumanSize(rootfs)})" : "");
        }
        var mounts = (c["Mounts"] as JsonArray ?? []).Select(m => m.Str("Name") is { Length: > 0 } n ? n : m.Str("Source") ?? "")
            .Select(m => trunc ? Formatting.Ellipsis(m, 15) : m);
        var networks = (c["NetworkSettings"]?["Networks"] as JsonObject ?? new JsonObject()).Select(kv => kv.Key).OrderBy(k => k, StringComparer.Ordinal);
        return new Dictionary<string, object?>
        {
            ["ID"] = trunc ? Formatting.ShortId(id) : id,
            ["Names"] = string.Join(',', names),
            ["Image"] = Formatting.PsImage(c.Str("Image") ?? "", c.Str("ImageID") ?? "", trunc),
            ["Command"] = Formatting.GoQuote(trunc ? Formatting.Ellipsis(command, 20) : command),
            ["CreatedAt"] = Formatting.GoTime(created),
            ["RunningFor"] = Formatting.Ago(created, now),
            ["Ports"] = Formatting.DisplayablePorts(Formatting.PortItems(c["Ports"])),
            ["State"] = c.Str("State") ?? "",
            ["Status"] = c.Str("Status") ?? "",
            ["Size"] = size,
            ["Labels"] = string.Join(',', labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={GoTemplate.Show(kv.Value)}")),
            ["Label"] = (Func<object?[], object?>)(args => args.Length == 1 && labels[GoTemplate.Show(args[0])] is { } v ? GoTemplate.Show(v) : ""),
            ["Mounts"] = string.Join(',', mounts),
            ["LocalVolumes"] = (c["Mounts"] as JsonArray ?? []).Count(m => m.Str("Driver") == "local").ToString(),
            ["Networks"] = string.Join(',', networks),
            ["Platform"] = "",
        };
    }

    // ------------------------------------------------------------------ inspect

    private static Command InspectCommand()
    {
        var format = new Option<string?>("--format", "-f") { Description = "Format the output with a template. " + TemplateHelp };
        var type = new Option<string?>("--type") { Description = "Only look for this kind of object: container, image or network" };
        var names = Names("NAME");
        var inspect = new Command("inspect", "Return low-level information on containers, images or networks") { format, type, names };
        return inspect.Action(async (parse, api, ct) =>
        {
            string? kind = parse.GetValue(type);
            if (kind is not (null or "container" or "image" or "network"))
                throw new CliException($"\"{kind}\" is not a valid value for --type");
            return await InspectAsync(parse.GetValue(names)!, parse.GetValue(format), name => FindObjectAsync(api, name, kind, ct));
        });
    }

    /// <summary>docker's inspect: each object rendered in turn, errors collected; then the output (an empty line
    /// when a template produced nothing), the errors on stderr, exit code 1 if any; 64 for a template that does
    /// not parse.</summary>
    public static async Task<int> InspectAsync(IEnumerable<string> names, string? format, Func<string, Task<string>> fetch)
    {
        GoTemplate? template = null;
        if (!string.IsNullOrEmpty(format))
        {
            try { template = GoTemplate.Parse(format); }
            catch (TemplateException e) { throw new CliException("template parsing error: " + e.Message, 64); }
        }
        var raws = new List<string>();
        var output = new System.Text.StringBuilder();
        var errors = new List<string>();
        foreach (string name in names)
        {
            string raw;
            try { raw = await fetch(name); }
            catch (Exception e) when (e is ApiException or CliException)
            {
                errors.Add(e is ApiException ? "Error response from daemon: " + e.Message : e.Message);
                continue;
            }
            if (template is null)
            {
                raws.Add(raw);
                continue;
            }
            try { output.Append(template.Execute(JsonNode.Parse(raw), missingKeyError: true)).Append('\n'); }
            catch (TemplateException e) { errors.Add("template parsing error: " + e.Message); }
        }
        if (template is null) Console.Out.Write(RenderInspect(raws, null));
        else Console.Out.Write(output.Length == 0 ? "\n" : output.ToString());
        Console.Out.Flush();
        foreach (string error in errors) Console.Error.WriteLine(error);
        return errors.Count > 0 ? 1 : 0;
    }

    /// <summary>Tries container, image, then network as `docker inspect` does; "No such object" when none has it.</summary>
    private static async Task<string> FindObjectAsync(EngineApi api, string name, string? kind, CancellationToken ct)
    {
        var paths = new List<(string Kind, string Path)>
        {
            ("container", $"/containers/{EngineApi.Q(name)}/json"),
            ("image", $"/images/{name}/json"),
            ("network", $"/networks/{EngineApi.Q(name)}"),
        };
        foreach (var (k, path) in paths.Where(p => kind is null || p.Kind == kind))
        {
            try { return await api.GetStringAsync(path, ct); }
            catch (ApiException e) when (e.Status == 404)
            {
                if (kind is not null) throw new CliException($"Error: No such {kind}: {name}");
            }
        }
        throw new CliException($"Error: No such object: {name}");
    }

    /// <summary>Without a template, the engine's JSON objects in an array indented by 4 spaces; with one, a line per object.</summary>
    public static string RenderInspect(IReadOnlyList<string> raws, string? format)
    {
        if (string.IsNullOrEmpty(format))
            return raws.Count == 0 ? "[]\n" : Formatting.IndentJson("[" + string.Join(',', raws) + "]") + "\n";
        var template = GoTemplate.Parse(format);
        return string.Concat(raws.Select(r => template.Execute(JsonNode.Parse(r), missingKeyError: true) + "\n"));
    }

    // ------------------------------------------------------------------ port

    private static Command PortCommand()
    {
        var container = new Argument<string>("CONTAINER");
        var privatePort = new Argument<string?>("PRIVATE_PORT[/PROTO]") { Arity = ArgumentArity.ZeroOrOne };
        var port = new Command("port", "List port mappings or a specific mapping for the container") { container, privatePort };
        return port.Action(async (parse, api, ct) =>
        {
            string name = parse.GetValue(container)!;
            string? wanted = parse.GetValue(privatePort);
            if (wanted is not null)
            {
                string number = wanted.Split('/')[0];
                if (!ushort.TryParse(number, out _))
                    throw new CliException($"Error: invalid port ({number}): strconv.ParseUint: parsing \"{number}\": invalid syntax");
            }
            var c = await api.GetJsonAsync($"/containers/{EngineApi.Q(name)}/json", ct);
            var lines = Formatting.PortLines(c?["NetworkSettings"]?["Ports"], wanted)
                        ?? throw new CliException($"Error: No public port '{wanted}' published for {name}");
            if (lines.Count > 0) Console.Out.Write(string.Join('\n', lines) + "\n");
            return 0;
        });
    }

    // ------------------------------------------------------------------ logs

    private static Command LogsCommand()
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "Follow log output" };
        var timestamps = new Option<bool>("--timestamps", "-t") { Description = "Show timestamps" };
        var tail = new Option<string>("--tail", "-n") { Description = "Number of lines to show from the end of the logs", DefaultValueFactory = _ => "all" };
        var since = new Option<string?>("--since") { Description = "Show logs since a unix timestamp or RFC 3339 time" };
        var container = new Argument<string>("CONTAINER");
        var logs = new Command("logs", "Fetch the logs of a container") { follow, timestamps, tail, since, container };
        return logs.Action(async (parse, api, ct) =>
        {
            var c = await api.GetJsonAsync($"/containers/{EngineApi.Q(parse.GetValue(container)!)}/json", ct);
            string id = c.Str("Id")!;
            bool tty = c?["Config"]?["Tty"]?.GetValue<bool>() == true;
            var query = new List<string> { "stderr=1", "stdout=1", "tail=" + EngineApi.Q(parse.GetValue(tail) ?? "all") };
            if (parse.GetValue(follow)) query.Add("follow=1");
            if (parse.GetValue(timestamps)) query.Add("timestamps=1");
            if (parse.GetValue(since) is { Length: > 0 } s) query.Add("since=" + EngineApi.Q(s));
            using var response = await api.SendAsync(HttpMethod.Get, $"/containers/{id}/logs?{string.Join('&', query)}", ct, headersOnly: true);
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            if (tty) await stream.CopyToAsync(Cli.Stdout, ct);
            else
                await HijackedConnection.Demultiplex(async (buffer, token) =>
                {
                    try
                    {
                        await stream.ReadExactlyAsync(buffer, token);
                        return true;
                    }
                    catch (EndOfStreamException) { return false; }
                }, Cli.Stdout, Cli.Stderr, ct);
            return 0;
        });
    }

    // ------------------------------------------------------------------ lifecycle

    private static Command StopCommand()
    {
        var time = new Option<int?>("--timeout", "--time", "-t") { Description = "Seconds to wait before killing the container" };
        var signal = new Option<string?>("--signal", "-s") { Description = "Signal to send to the container" };
        var names = Names();
        var stop = new Command("stop", "Stop one or more running containers") { time, signal, names };
        return stop.Action(async (parse, api, ct) =>
        {
            var query = new List<string>();
            if (parse.GetValue(signal) is { Length: > 0 } s) query.Add("signal=" + EngineApi.Q(s));
            if (parse.GetValue(time) is { } t) query.Add("t=" + t);
            string q = query.Count > 0 ? "?" + string.Join('&', query) : "";
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                await api.PostAsync($"/containers/{EngineApi.Q(name)}/stop{q}", ct);
                Console.WriteLine(name);
            });
        });
    }

    private static Command StartCommand()
    {
        var names = Names();
        var start = new Command("start", "Start one or more stopped containers") { names };
        return start.Action(async (parse, api, ct) =>
        {
            var failed = new List<string>();
            int code = await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                try { await api.PostAsync($"/containers/{EngineApi.Q(name)}/start", ct); }
                catch (ApiException)
                {
                    failed.Add(name);
                    throw;
                }
                Console.WriteLine(name);
            });
            if (failed.Count > 0) Console.Error.WriteLine($"Error: failed to start containers: {string.Join(", ", failed)}");
            return code;
        });
    }

    private static Command RestartCommand()
    {
        var time = new Option<int?>("--timeout", "--time", "-t") { Description = "Seconds to wait before killing the container" };
        var names = Names();
        var restart = new Command("restart", "Restart one or more containers") { time, names };
        return restart.Action(async (parse, api, ct) =>
        {
            string q = parse.GetValue(time) is { } t ? "?t=" + t : "";
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                await api.PostAsync($"/containers/{EngineApi.Q(name)}/restart{q}", ct);
                Console.WriteLine(name);
            });
        });
    }

    private static Command KillCommand()
    {
        var signal = new Option<string?>("--signal", "-s") { Description = "Signal to send to the container (default KILL)" };
        var names = Names();
        var kill = new Command("kill", "Kill one or more running containers") { signal, names };
        return kill.Action(async (parse, api, ct) =>
        {
            string q = parse.GetValue(signal) is { Length: > 0 } s ? "?signal=" + EngineApi.Q(s) : "";
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                await api.PostAsync($"/containers/{EngineApi.Q(name)}/kill{q}", ct);
                Console.WriteLine(name);
            });
        });
    }

    private static Command RmCommand()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Force the removal of a running container (uses SIGKILL)" };
        var volumes = new Option<bool>("--volumes", "-v") { Description = "Remove anonymous volumes associated with the container" };
        var names = Names();
        var rm = new Command("rm", "Remove one or more containers") { force, volumes, names };
        return rm.Action(async (parse, api, ct) =>
        {
            bool f = parse.GetValue(force);
            var query = new List<string>();
            if (parse.GetValue(volumes)) query.Add("v=1");
            if (f) query.Add("force=1");
            string q = query.Count > 0 ? "?" + string.Join('&', query) : "";
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                try { using var _ = await api.SendAsync(HttpMethod.Delete, $"/containers/{EngineApi.Q(name)}{q}", ct); }
                catch (ApiException e) when (f && e.Status == 404) { return; } // docker rm -f ignores missing containers
                Console.WriteLine(name);
            });
        });
    }

    private static Command RenameCommand()
    {
        var container = new Argument<string>("CONTAINER");
        var newName = new Argument<string>("NEW_NAME");
        var rename = new Command("rename", "Rename a container") { container, newName };
        return rename.Action(async (parse, api, ct) =>
        {
            await api.PostAsync($"/containers/{EngineApi.Q(parse.GetValue(container)!)}/rename?name={EngineApi.Q(parse.GetValue(newName)!)}", ct);
            return 0;
        });
    }

    private static Command WaitCommand()
    {
        var names = Names();
        var wait = new Command("wait", "Block until one or more containers stop, then print their exit codes") { names };
        return wait.Action(async (parse, api, ct) =>
            await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                using var response = await api.SendAsync(HttpMethod.Post, $"/containers/{EngineApi.Q(name)}/wait", ct, headersOnly: true);
                Console.WriteLine(await ReadWaitStatusAsync(response, ct));
            }));
    }
}
