using System.Text.Json;

namespace Berth.Cli;

/// <summary>`berth daemon --config-file daemon.json`: dockerd's configuration file, with dockerd's key names. Each
/// entry stands for the flag of the same meaning, so the file is turned into those flags and parsed with the rest:
/// one path for both. As dockerd, an unknown key, a value of the wrong type, or a key also given as a flag is an
/// error that stops the daemon before it starts.</summary>
public static class DaemonConfigFile
{
    public const string Flag = "--config-file";

    private enum Kind { Text, Bool, List, Map, Pools, Number, Switch }

    /// <summary>File key → the flag it stands for and the JSON type it takes.</summary>
    private static readonly Dictionary<string, (string Flag, Kind Kind)> Keys = new(StringComparer.Ordinal)
    {
        ["hosts"] = ("--host", Kind.List),
        ["data-root"] = ("--data-root", Kind.Text),
        ["exec-root"] = ("--exec-root", Kind.Text),
        ["bridge"] = ("--bridge", Kind.Text),
        ["bip"] = ("--bip", Kind.Text),
        ["default-runtime"] = ("--runtime", Kind.Text),
        ["debug"] = ("--debug", Kind.Bool),
        ["group"] = ("--group", Kind.Text),
        ["log-opts"] = ("--log-opt", Kind.Map),
        ["log-driver"] = ("--log-driver", Kind.Text),
        ["tlsverify"] = ("--tlsverify", Kind.Bool),
        ["tlscacert"] = ("--tlscacert", Kind.Text),
        ["tlscert"] = ("--tlscert", Kind.Text),
        ["tlskey"] = ("--tlskey", Kind.Text),
        ["insecure-tcp"] = ("--insecure-tcp", Kind.Bool),
        ["default-address-pools"] = ("--default-address-pool", Kind.Pools),
        ["insecure-registries"] = ("--insecure-registry", Kind.List),
        ["registry-mirrors"] = ("--registry-mirror", Kind.List),
        ["mtu"] = ("--mtu", Kind.Number),
        ["icc"] = ("--icc", Kind.Switch),
        ["ip-masq"] = ("--ip-masq", Kind.Switch),
        ["iptables"] = ("--iptables", Kind.Switch),
        ["ip-forward"] = ("--ip-forward", Kind.Switch),
        ["ip"] = ("--ip", Kind.Text),
        ["seccomp-profile"] = ("--seccomp-profile", Kind.Text),
        ["ipv6"] = ("--ipv6", Kind.Bool),
        ["fixed-cidr-v6"] = ("--fixed-cidr-v6", Kind.Text),
        ["userland-proxy"] = ("--userland-proxy", Kind.Switch),
        ["userland-proxy-path"] = ("--userland-proxy-path", Kind.Text),
        ["allow-direct-routing"] = ("--allow-direct-routing", Kind.Switch),
    };

    /// <summary>Short spellings of the flags above, for the conflict check.</summary>
    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        ["-H"] = "--host", ["-b"] = "--bridge", ["-D"] = "--debug", ["-G"] = "--group",
    };

    /// <summary>For `daemon` arguments holding --config-file: the arguments with the file's entries appended as flags
    /// (the --config-file pair removed). Other arguments come back unchanged.</summary>
    public static string[] Expand(string[] args)
    {
        if (args.Length == 0 || args[0] != "daemon") return args;
        var rest = new List<string>();
        string? path = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == Flag && i + 1 < args.Length) path = args[++i];
            else if (args[i].StartsWith(Flag + "=", StringComparison.Ordinal)) path = args[i][(Flag.Length + 1)..];
            else rest.Add(args[i]);
        }
        if (path is null) return args;
        string json;
        try { json = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"unable to read the configuration file {path}: {e.Message}");
        }
        return [.. rest, .. ToFlags(json, rest)];
    }

    /// <summary>The flags that the file's entries stand for; <paramref name="given"/> are the command line's arguments.</summary>
    public static IReadOnlyList<string> ToFlags(string json, IReadOnlyList<string> given)
    {
        JsonElement root;
        try { root = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip }).RootElement; }
        catch (JsonException e) { throw new ArgumentException($"the configuration file is not valid JSON: {e.Message}"); }
        if (root.ValueKind != JsonValueKind.Object) throw new ArgumentException("the configuration file must hold a JSON object");

        var unknown = root.EnumerateObject().Select(p => p.Name).Where(n => !Keys.ContainsKey(n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"the following directives don't match any configuration option: {string.Join(", ", unknown)}");
        var givenFlags = given.Where(a => a.StartsWith('-')).Select(a => a.Split('=')[0])
            .Select(a => Aliases.GetValueOrDefault(a, a)).ToHashSet(StringComparer.Ordinal);
        var both = root.EnumerateObject().Where(p => givenFlags.Contains(Keys[p.Name].Flag)).Select(p => p.Name).ToList();
        if (both.Count > 0)
            throw new ArgumentException(
                $"the following directives are specified both as a flag and in the configuration file: {string.Join(", ", both)}");

        var flags = new List<string>();
        foreach (var property in root.EnumerateObject())
        {
            var (flag, kind) = Keys[property.Name];
            var value = property.Value;
            switch (kind)
            {
                case Kind.Text when value.ValueKind == JsonValueKind.String:
                    flags.Add(flag);
                    flags.Add(value.GetString()!);
                    break;
                case Kind.Bool when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    if (value.GetBoolean()) flags.Add(flag);
                    break;
                case Kind.Number when value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int number):
                    flags.AddRange([flag, number.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                    break;
                case Kind.Switch when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    flags.AddRange([flag, value.GetBoolean() ? "true" : "false"]);
                    break;
                case Kind.List when value.ValueKind == JsonValueKind.Array
                                    && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String):
                    foreach (var item in value.EnumerateArray()) flags.AddRange([flag, item.GetString()!]);
                    break;
                case Kind.Map when value.ValueKind == JsonValueKind.Object
                                   && value.EnumerateObject().All(e => e.Value.ValueKind == JsonValueKind.String):
                    foreach (var item in value.EnumerateObject()) flags.AddRange([flag, $"{item.Name}={item.Value.GetString()}"]);
                    break;
                case Kind.Pools when value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(IsPool):
                    foreach (var pool in value.EnumerateArray())
                        flags.AddRange([flag, $"base={pool.GetProperty("base").GetString()},size={pool.GetProperty("size").GetInt32()}"]);
                    break;
                default:
                    throw new ArgumentException($"invalid value for {property.Name} in the configuration file: expected "
                        + kind switch { Kind.Text => "a string", Kind.Bool or Kind.Switch => "true or false", Kind.Number => "a number", Kind.List => "an array of strings",
                            Kind.Pools => "an array of {\"base\": CIDR, \"size\": N}", _ => "an object of strings" });
            }
        }
        return flags;
    }

    private static bool IsPool(JsonElement pool) =>
        pool.ValueKind == JsonValueKind.Object
        && pool.TryGetProperty("base", out var b) && b.ValueKind == JsonValueKind.String
        && pool.TryGetProperty("size", out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out _)
        && pool.EnumerateObject().Count() == 2;
}
