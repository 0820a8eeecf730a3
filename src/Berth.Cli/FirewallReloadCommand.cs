using System.CommandLine;

namespace Berth.Cli;

/// <summary>`berth firewall-reload`: asks the running engine to re-apply its nftables table from its store
/// (after an admin flushed the ruleset, for instance).</summary>
public static class FirewallReloadCommand
{
    public static Command Create()
    {
        var command = new Command("firewall-reload", "Re-apply Berth's nftables rules from the engine's state");
        command.Options.Add(ClientCommands.HostOption);
        command.SetAction(async (parse, ct) =>
        {
            using var client = EngineClient.Create(parse.GetValue(ClientCommands.HostOption));
            var response = await client.PostAsync("/berth/firewall/reload", null, ct);
            if (response.IsSuccessStatusCode) { Console.WriteLine("firewall rules re-applied"); return 0; }
            Console.Error.WriteLine($"Error: {await EngineClient.ErrorMessageAsync(response, ct)}");
            return 1;
        });
        return command;
    }
}
