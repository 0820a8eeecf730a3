using System.CommandLine;
using Berth.Engine.Containers;

namespace Berth.Cli.Client;

/// <summary>`berth attach`, and the hijacked stream of attach, `run` and `exec` on a terminal: as the docker CLI, the
/// client finds the detach keys in what the user types, keeps them from the container and hangs up.</summary>
public static class Attach
{
    public static readonly string DetachKeysHelp = "Override the key sequence for detaching a container";

    public static IEnumerable<Command> Create() => [AttachCommand()];

    private static Command AttachCommand()
    {
        var noStdin = new Option<bool>("--no-stdin") { Description = "Do not attach STDIN" };
        var sigProxy = new Option<bool>("--sig-proxy") { Description = "Proxy all received signals to the process", DefaultValueFactory = _ => true };
        var detachKeys = new Option<string?>("--detach-keys") { Description = DetachKeysHelp };
        var container = new Argument<string>("CONTAINER");
        var attach = new Command("attach", "Attach local standard input, output, and error streams to a running container")
        {
            noStdin, sigProxy, detachKeys, container,
        };
        return attach.Action(async (parse, api, ct) =>
        {
            var c = await api.GetJsonAsync($"/containers/{EngineApi.Q(parse.GetValue(container)!)}/json", ct);
            string id = c.Str("Id")!;
            var state = c?["State"];
            if (state?["Running"]?.GetValue<bool>() != true) throw new CliException("You cannot attach to a stopped container, start it first");
            if (state["Paused"]?.GetValue<bool>() == true) throw new CliException("You cannot attach to a paused container, unpause it first");
            if (state["Restarting"]?.GetValue<bool>() == true) throw new CliException("You cannot attach to a restarting container, wait until it is running");
            bool tty = c?["Config"]?["Tty"]?.GetValue<bool>() == true;
            bool stdin = !parse.GetValue(noStdin) && c?["Config"]?["OpenStdin"]?.GetValue<bool>() == true;
            if (stdin && tty && !Terminal.IsTerminal(0)) throw new CliException("the input device is not a TTY");
            string? keys = parse.GetValue(detachKeys);
            string query = "stream=1&stdout=1&stderr=1" + (stdin ? "&stdin=1" : "")
                + (string.IsNullOrEmpty(keys) ? "" : "&detachKeys=" + EngineApi.Q(keys));
            // As the docker CLI: the wait is registered first, so an exit during the attach is not missed.
            using var waitResponse = await api.SendAsync(HttpMethod.Post, $"/containers/{id}/wait", ct, headersOnly: true);
            await using var hijack = await HijackedConnection.OpenAsync(api.Host, api.Versioned($"/containers/{id}/attach?{query}"), null, ct);
            using var raw = tty && stdin ? Terminal.MakeRaw() : null;
            using var resize = tty ? Containers.Resizer(api, $"/containers/{id}/resize") : null;
            using var signals = !tty && parse.GetValue(sigProxy) ? Containers.ProxySignals(api, id) : null;
            if (await StreamAsync(hijack, tty, stdin, keys, ct)) return 0;
            raw?.Dispose();
            return await Containers.ReadWaitStatusAsync(waitResponse, ct);
        });
    }

    /// <summary>The container's output until the engine ends the stream, and the user's input with it: true when
    /// the user typed the detach keys (on a terminal; an invalid sequence falls back to ctrl-p,ctrl-q as docker's).
    /// </summary>
    public static async Task<bool> StreamAsync(HijackedConnection hijack, bool tty, bool stdin, string? detachKeys,
        CancellationToken ct)
    {
        var output = hijack.CopyOutputAsync(Cli.Stdout, Cli.Stderr, tty, ct);
        if (!stdin)
        {
            await output;
            return false;
        }
        var scanner = tty
            ? new DetachKeyScanner(DetachKeys.Parse(string.IsNullOrEmpty(detachKeys) ? DetachKeys.Default : detachKeys)
                                   ?? DetachKeys.Parse(DetachKeys.Default)!)
            : null;
        var input = Task.Run(() => hijack.SendInputAsync(Terminal.OpenInput(), ct, scanner), ct);
        if (await Task.WhenAny(output, input) == input && await input) return true;
        await output;
        return false;
    }
}
