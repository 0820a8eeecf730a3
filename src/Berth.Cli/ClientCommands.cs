using System.CommandLine;

namespace Berth.Cli;

/// <summary>The client side of `berth`, with Docker's syntax, talking to the engine's API.</summary>
public static class ClientCommands
{
    public static readonly Option<string?> HostOption = new("--host", "-H") { Description = "Engine socket (default: $BERTH_HOST, $DOCKER_HOST or unix:///run/berth/berth.sock)" };

    public static IEnumerable<Command> Create() => [];
}
