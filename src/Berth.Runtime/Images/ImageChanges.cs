using System.Text.Json;

namespace Berth.Runtime.Images;

/// <summary>`docker import --change` lines: the Dockerfile instructions that only touch the image config.</summary>
public static class ImageChanges
{
    public static void Apply(ImageConfig config, string change)
    {
        string line = change.Trim();
        int space = line.IndexOfAny([' ', '\t']);
        string instruction = (space < 0 ? line : line[..space]).ToUpperInvariant();
        string rest = space < 0 ? "" : line[(space + 1)..].Trim();
        switch (instruction)
        {
            case "CMD": config.Cmd = Command(rest); break;
            case "ENTRYPOINT": config.Entrypoint = Command(rest); break;
            case "WORKDIR": config.WorkingDir = rest; break;
            case "USER": config.User = rest; break;
            case "STOPSIGNAL": config.StopSignal = rest; break;
            case "ENV":
                foreach (var (key, value) in Pairs(rest, "ENV"))
                {
                    config.Env ??= new();
                    config.Env.RemoveAll(e => e.Split('=', 2)[0] == key);
                    config.Env.Add($"{key}={value}");
                }
                break;
            case "LABEL":
                foreach (var (key, value) in Pairs(rest, "LABEL")) (config.Labels ??= new())[key] = value;
                break;
            case "EXPOSE":
                foreach (string port in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    int slash = port.IndexOf('/');
                    string range = slash < 0 ? port : port[..slash], proto = slash < 0 ? "tcp" : port[(slash + 1)..].ToLowerInvariant();
                    if (proto is not ("tcp" or "udp" or "sctp")) throw new ImageException($"invalid proto: {proto}");
                    var bounds = range.Split('-');
                    if (!int.TryParse(bounds[0], out int start) || !int.TryParse(bounds[^1], out int end) || start is < 1 or > 65535 || end < start || end > 65535)
                        throw new ImageException($"invalid containerPort: {range}");
                    for (int p = start; p <= end; p++) (config.ExposedPorts ??= new())[$"{p}/{proto}"] = new EmptyObject();
                }
                break;
            case "VOLUME":
                foreach (string volume in rest.StartsWith('[') ? JsonArray(rest, "VOLUME") : rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList())
                    (config.Volumes ??= new())[volume] = new EmptyObject();
                break;
            case "ONBUILD": (config.OnBuild ??= new()).Add(rest); break;
            default:
                throw new ImageException($"{instruction} is not a valid change command");
        }
    }

    private static List<string> Command(string rest) =>
        rest.StartsWith('[') ? JsonArray(rest, "command") : ["/bin/sh", "-c", rest];

    private static List<string> JsonArray(string text, string what)
    {
        try { return JsonSerializer.Deserialize<List<string>>(text) ?? []; }
        catch (JsonException) { throw new ImageException($"invalid JSON array for {what}: {text}"); }
    }

    private static IEnumerable<(string Key, string Value)> Pairs(string rest, string instruction)
    {
        if (!rest.Contains('='))
        {
            int space = rest.IndexOf(' ');
            if (space < 0) throw new ImageException($"{instruction} requires a value: {rest}");
            yield return (rest[..space], rest[(space + 1)..].Trim());
            yield break;
        }
        foreach (string token in Tokenize(rest))
        {
            int eq = token.IndexOf('=');
            if (eq <= 0) throw new ImageException($"{instruction} names can not be blank and need a value: {token}");
            yield return (token[..eq], token[(eq + 1)..]);
        }
    }

    /// <summary>Splits on spaces outside double quotes and drops the quotes.</summary>
    private static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var current = new System.Text.StringBuilder();
        bool quoted = false;
        foreach (char c in text)
        {
            if (c == '"') { quoted = !quoted; continue; }
            if (c == ' ' && !quoted) { if (current.Length > 0) { tokens.Add(current.ToString()); current.Clear(); } continue; }
            current.Append(c);
        }
        if (current.Length > 0) tokens.Add(current.ToString());
        return tokens;
    }
}
