namespace Berth.Cli.Client;

/// <summary>`--network` of run/create in its long form, as the docker CLI reads it: `name=NET,gw-priority=N,alias=A`
/// (a plain value is the network's name or a mode).</summary>
public sealed record RunNetworkSpec(string? Name, int GwPriority, IReadOnlyList<string> Aliases)
{
    public static RunNetworkSpec Parse(string? value)
    {
        if (value is null || !value.Contains('=')) return new(value, 0, []);
        string? name = null;
        int priority = 0;
        var aliases = new List<string>();
        foreach (string field in value.Split(','))
        {
            int eq = field.IndexOf('=');
            string key = eq < 0 ? field : field[..eq], item = eq < 0 ? "" : field[(eq + 1)..];
            switch (key)
            {
                case "name": name = item; break;
                case "alias": aliases.Add(item); break;
                case "gw-priority" when int.TryParse(item, out int parsed): priority = parsed; break;
                case "gw-priority":
                    throw new CliException($"invalid argument \"{value}\" for \"--network\" flag: invalid gw-priority value \"{item}\"", 125);
                default:
                    throw new CliException($"invalid argument \"{value}\" for \"--network\" flag: invalid field key {key}", 125);
            }
        }
        return new(name, priority, aliases);
    }
}
