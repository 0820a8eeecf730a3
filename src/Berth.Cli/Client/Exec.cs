using System.CommandLine;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`berth exec`: inspect, POST /containers/{id}/exec, POST /exec/{id}/start hijacked, then the exit code
/// from GET /exec/{id}/json — the docker CLI's sequence.</summary>
public static class Exec
{
    public static IEnumerable<Command> Create() => [ExecCommand()];

    private static Command ExecCommand()
    {
        var detach = new Option<bool>("--detach", "-d") { Description = "Run the command in the background" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Keep STDIN open and send it to the command" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Allocate a pseudo-TTY" };
        var env = new Option<string[]>("--env", "-e") { Description = "Set an environment variable K=V (repeatable)" };
        var user = new Option<string?>("--user", "-u") { Description = "User name or UID[:GID]" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the container" };
        var privileged = new Option<bool>("--privileged") { Description = "Give extended privileges to the command" };
        var detachKeys = new Option<string?>("--detach-keys") { Description = Attach.DetachKeysHelp };
        var container = new Argument<string>("CONTAINER");
        var command = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "Command and arguments (options after CONTAINER belong to the command)" };
        var exec = new Command("exec", "Execute a command in a running container") { detach, interactive, tty, env, user, workdir, privileged, detachKeys, container, command };
        return exec.Action(async (parse, api, ct) =>
        {
            bool useTty = parse.GetValue(tty), stdin = parse.GetValue(interactive), background = parse.GetValue(detach);
            if (stdin && useTty && !background && !Terminal.IsTerminal(0)) throw new CliException("the input device is not a TTY");
            string name = parse.GetValue(container)!;
            var c = await api.GetJsonAsync($"/containers/{EngineApi.Q(name)}/json", ct);
            string id = c.Str("Id")!;
            var size = useTty ? Terminal.Size() : (0, 0);
            var body = BuildCreateBody(parse.GetValue(command)!, parse.GetValue(env) ?? [], parse.GetValue(user), parse.GetValue(workdir),
                useTty, stdin && !background, !background, parse.GetValue(privileged), size);
            body["DetachKeys"] = parse.GetValue(detachKeys) ?? "";
            var created = await api.PostJsonAsync($"/containers/{id}/exec", body, ct);
            string execId = created.Str("Id") ?? throw new CliException("the engine returned no exec id");

            if (background)
            {
                await api.PostJsonAsync($"/exec/{execId}/start", new JsonObject { ["Detach"] = true, ["Tty"] = useTty }, ct);
                return 0;
            }
            var start = new JsonObject { ["Detach"] = false, ["Tty"] = useTty, ["ConsoleSize"] = useTty ? new JsonArray(size.Item1, size.Item2) : null };
            await using var hijack = await HijackedConnection.OpenAsync(api.Host, api.Versioned($"/exec/{execId}/start"), start.ToJsonString(), ct);
            using var raw = useTty && stdin ? Terminal.MakeRaw() : null;
            using var resize = useTty ? Containers.Resizer(api, $"/exec/{execId}/resize") : null;
            if (await Attach.StreamAsync(hijack, useTty, stdin, parse.GetValue(detachKeys), ct))
            {
                // docker exec reports its detach as an error: the exec runs on.
                raw?.Dispose();
                throw new CliException("read escape sequence");
            }
            raw?.Dispose();
            var inspect = await api.GetJsonAsync($"/exec/{execId}/json", ct);
            return inspect?["ExitCode"]?.GetValue<int?>() ?? 0;
        });
    }

    /// <summary>The exec create body as the docker CLI sends it.</summary>
    public static JsonObject BuildCreateBody(IReadOnlyList<string> cmd, IReadOnlyList<string> env, string? user, string? workdir,
        bool tty, bool attachStdin, bool attachOutput, bool privileged, (int Height, int Width) consoleSize) => new()
    {
        ["User"] = user ?? "",
        ["Privileged"] = privileged,
        ["Tty"] = tty,
        ["ConsoleSize"] = tty ? new JsonArray(consoleSize.Height, consoleSize.Width) : null,
        ["AttachStdin"] = attachStdin,
        ["AttachStderr"] = attachOutput,
        ["AttachStdout"] = attachOutput,
        ["DetachKeys"] = "",
        ["Env"] = env.Count == 0 ? null : new JsonArray(env.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray()),
        ["WorkingDir"] = workdir ?? "",
        ["Cmd"] = new JsonArray(cmd.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray()),
    };
}
