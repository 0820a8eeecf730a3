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
        try { args = DaemonConfigFile.Expand(args); }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"berth daemon: {e.Message}");
            return Task.FromResult(2);
        }
        args = ClientCommands.PrepareArgs(args, root);
        // run and exec forward SIGINT/SIGTERM to the container themselves instead of being cancelled by them.
        var configuration = new InvocationConfiguration();
        if (args.Length > 0 && args[0] is "run" or "exec") configuration.ProcessTerminationTimeout = null;
        return root.Parse(args).InvokeAsync(configuration);
    }
}
