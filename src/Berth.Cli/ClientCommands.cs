using System.CommandLine;
using Berth.Cli.Client;

namespace Berth.Cli;

/// <summary>The client side of `berth`, with Docker's syntax, talking to the engine's API.</summary>
public static class ClientCommands
{
    public static readonly Option<string?> HostOption = new("--host", "-H") { Description = "Engine socket (default: $BERTH_HOST, $DOCKER_HOST or unix:///run/berth/berth.sock)" };

    /// <summary>Commands whose first positional argument ends the options: what follows is the container's command.</summary>
    private static readonly Dictionary<string, int> CommandAfterPositional = new() { ["run"] = 1, ["create"] = 1, ["exec"] = 1 };

    public static IEnumerable<Command> Create() =>
        Containers.Create().Concat(Exec.Create()).Concat(Attach.Create()).Concat(Images.Create()).Concat(Registry.Create()).Concat(Networks.Create())
            .Concat(Volumes.Create()).Concat(Copy.Create()).Concat(SystemCommands.Create()).Concat(Events.Create())
            .Concat(ResourceCommands.Create()).Concat(Builds.Create()).Concat(ContainerImages.Create());

    /// <summary>docker stops parsing options at the image of `run` (and the container of `exec`): `run img sh -c x`
    /// passes -c to sh. System.CommandLine would take -c as an option, so a "--" goes in after that argument.</summary>
    public static string[] PrepareArgs(string[] args, RootCommand root)
    {
        if (args.Length == 0 || !CommandAfterPositional.TryGetValue(args[0], out int positionals)) return args;
        var command = root.Subcommands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null) return args;
        var valueOptions = new HashSet<string>(StringComparer.Ordinal);
        var flagOptions = new HashSet<string>(StringComparer.Ordinal);
        foreach (var option in command.Options.Concat(root.Options))
        {
            var names = option.Aliases.Append(option.Name);
            foreach (string name in names)
                (option.ValueType == typeof(bool) ? flagOptions : valueOptions).Add(name);
        }
        int seen = 0;
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return args;
            if (a.StartsWith('-') && a.Length > 1)
            {
                if (a.Contains('=')) continue;
                if (valueOptions.Contains(a)) { i++; continue; }
                if (flagOptions.Contains(a)) continue;
                // Bundled short options (-it, -dp 80): the last one may take the next argument.
                if (!a.StartsWith("--") && a.Length > 2 && valueOptions.Contains("-" + a[^1])) { i++; continue; }
                continue;
            }
            if (++seen == positionals)
                return [.. args[..(i + 1)], "--", .. args[(i + 1)..]];
        }
        return args;
    }
}
