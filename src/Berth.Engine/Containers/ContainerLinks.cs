namespace Berth.Engine.Containers;

/// <summary>Legacy --link: "target:alias" as the CLI sends it (or dockerd's "/target:/client/alias"), and the
/// variables dockerd 28 gives a default-bridge container for each linked one (moby's daemon/links).</summary>
public static class ContainerLinks
{
    public readonly record struct Link(string Target, string Alias);

    public static IEnumerable<Link> Parse(IEnumerable<string>? links)
    {
        foreach (string link in links ?? [])
        {
            string[] parts = link.Split(':', 2);
            string target = parts[0].TrimStart('/');
            yield return new Link(target, parts.Length == 2 ? parts[1].Split('/').Last() : target);
        }
    }

    /// <summary>ALIAS_NAME, ALIAS_PORT*, and ALIAS_ENV_* for the linked container's variables (HOME and PATH left
    /// out), where ALIAS is the link's alias upper-cased with '-' as '_'. Consecutive ports of one protocol also get
    /// _START/_END variables for the range, as dockerd writes them.</summary>
    /// <param name="linkName">"/client/alias"</param>
    /// <param name="exposedPorts">"80/tcp", "53/udp" (a bare number is tcp)</param>
    public static List<string> Environment(string linkName, string address, IEnumerable<string> exposedPorts,
        IEnumerable<string> targetEnv)
    {
        string alias = linkName[(linkName.LastIndexOf('/') + 1)..].ToUpperInvariant().Replace('-', '_');
        var ports = exposedPorts.Select(ParsePort).OfType<(int Number, string Protocol)>()
            .OrderBy(p => p.Protocol == "tcp" ? 0 : 1).ThenBy(p => p.Protocol, StringComparer.Ordinal).ThenBy(p => p.Number)
            .ToList();
        var env = new List<string>();
        (int Number, string Protocol) start = default, end = default;
        for (int i = 0; i < ports.Count; i++)
        {
            var port = ports[i];
            if (i == 0)
            {
                start = end = port;
                env.Add($"{alias}_PORT={port.Protocol}://{address}:{port.Number}");
            }
            string prefix = $"{alias}_PORT_{port.Number}_{port.Protocol.ToUpperInvariant()}";
            env.Add($"{prefix}={port.Protocol}://{address}:{port.Number}");
            env.Add($"{prefix}_ADDR={address}");
            env.Add($"{prefix}_PORT={port.Number}");
            env.Add($"{prefix}_PROTO={port.Protocol}");
            if (port.Number == end.Number + 1 && port.Protocol == end.Protocol)
            {
                end = port;
                if (i < ports.Count - 1) continue;
            }
            if (end != start)
            {
                string range = $"{alias}_PORT_{start.Number}_{start.Protocol.ToUpperInvariant()}";
                env.Add($"{range}_START={start.Protocol}://{address}:{start.Number}");
                env.Add($"{range}_PORT_START={start.Number}");
                env.Add($"{range}_END={end.Protocol}://{address}:{end.Number}");
                env.Add($"{range}_PORT_END={end.Number}");
            }
            start = end = port;
        }
        env.Add($"{alias}_NAME={linkName}");
        foreach (string variable in targetEnv)
        {
            int equals = variable.IndexOf('=');
            if (equals < 0) continue;
            string name = variable[..equals];
            if (name is "HOME" or "PATH") continue;
            env.Add($"{alias}_ENV_{name}={variable[(equals + 1)..]}");
        }
        return env;
    }

    private static (int Number, string Protocol)? ParsePort(string spec)
    {
        string[] parts = spec.Split('/', 2);
        string protocol = parts.Length == 2 ? parts[1].ToLowerInvariant() : "tcp";
        return int.TryParse(parts[0], out int number) && number is > 0 and <= 65535 ? (number, protocol) : null;
    }
}
