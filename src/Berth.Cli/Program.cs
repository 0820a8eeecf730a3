using System.CommandLine;

namespace Berth.Cli;

public static class Program
{
    public static Task<int> Main(string[] args)
    {
        var root = new RootCommand("Berth: a container engine that speaks the Docker Engine API");
        root.Subcommands.Add(DaemonCommand.Create());
        root.Subcommands.Add(FirewallReloadCommand.Create());
        foreach (var command in ClientCommands.Create()) root.Subcommands.Add(command);
        return root.Parse(args).InvokeAsync();
    }
}
