using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Berth.Runtime.Images;

/// <summary>`docker import --change` / `docker commit --change` lines: the Dockerfile instructions that only touch the
/// image config, parsed and expanded the way Docker's builder does, with its error wording.</summary>
public static partial class ImageChanges
{
    private static readonly HashSet<string> ValidCommands =
        ["cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume", "workdir"];

    /// <summary>Applies one change to an existing config. Unlike a batch, an ENTRYPOINT here keeps the config's Cmd.</summary>
    public static void Apply(ImageConfig config, string change) => ApplyLines(config, [change], resetCmdOnEntrypoint: false);

    /// <summary>Applies a batch as Docker's BuildFromConfig does: every instruction is checked before any is applied,
    /// and an ENTRYPOINT clears Cmd unless the batch also sets CMD.</summary>
    public static void ApplyAll(ImageConfig config, IEnumerable<string> changes) => ApplyLines(config, changes, resetCmdOnEntrypoint: true);

    /// <summary>One Dockerfile instruction during a build: words expand from the build args and the config's Env
    /// (Env wins), and ENTRYPOINT clears Cmd as a build does.</summary>
    public static void ApplyBuildInstruction(ImageConfig config, string line, IReadOnlyList<string> buildArgs, char escape = '\\') =>
        ApplyLines(config, [line], resetCmdOnEntrypoint: true, buildArgs, escape);

    private static void ApplyLines(ImageConfig config, IEnumerable<string> changes, bool resetCmdOnEntrypoint,
        IReadOnlyList<string>? buildArgs = null, char escape = '\\')
    {
        var lines = new List<(string Instruction, string Arguments)>();
        foreach (string change in changes)
            foreach (string raw in change.Split('\n'))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line.StartsWith('#')) continue;
                int space = line.IndexOfAny([' ', '\t']);
                string instruction = space < 0 ? line : line[..space];
                if (!ValidCommands.Contains(instruction.ToLowerInvariant()))
                    throw new ImageException($"{instruction} is not a valid change command");
                lines.Add((instruction, space < 0 ? "" : line[(space + 1)..].Trim()));
            }
        bool cmdSet = false;
        foreach (var (instruction, rest) in lines)
        {
            string name = instruction.ToUpperInvariant();
            var (flags, args) = SplitFlags(rest);
            if (name != "HEALTHCHECK" && flags.Count > 0) throw new ImageException($"Unknown flag: {flags.Keys.First()}");
            var words = new ShellWords([.. buildArgs ?? [], .. config.Env ?? []], escape);
            switch (name)
            {
                case "CMD":
                    config.Cmd = Command(args, name);
                    cmdSet = true;
                    break;
                case "ENTRYPOINT":
                    config.Entrypoint = Command(args, name);
                    if (resetCmdOnEntrypoint && !cmdSet) config.Cmd = null;
                    break;
                case "ENV":
                    foreach (var (key, value) in ExpandPairs(NameValues(args, name, escape), words, name))
                    {
                        config.Env ??= new();
                        int existing = config.Env.FindIndex(e => e.Split('=', 2)[0] == key);
                        if (existing >= 0) config.Env[existing] = $"{key}={value}";
                        else config.Env.Add($"{key}={value}");
                    }
                    break;
                case "LABEL":
                    foreach (var (key, value) in ExpandPairs(NameValues(args, name, escape), words, name))
                        (config.Labels ??= new())[key] = value;
                    break;
                case "EXPOSE":
                    var ports = WhitespaceSplit(args).SelectMany(words.Words).ToList();
                    if (ports.Count == 0) throw new ImageException("EXPOSE requires at least one argument");
                    foreach (string spec in ports)
                        foreach (string port in PortSpec(spec))
                            (config.ExposedPorts ??= new())[port] = new EmptyObject();
                    break;
                case "WORKDIR":
                    if (args.Length == 0) throw new ImageException("WORKDIR requires exactly one argument");
                    string dir = words.Word(args);
                    config.WorkingDir = dir.StartsWith('/') ? dir : CleanPath("/" + config.WorkingDir + "/" + dir);
                    break;
                case "USER":
                    if (args.Length == 0) throw new ImageException("USER requires exactly one argument");
                    config.User = words.Word(args);
                    break;
                case "VOLUME":
                    var volumes = (JsonList(args) ?? WhitespaceSplit(args)).Select(words.Word).ToList();
                    if (volumes.Count == 0) throw new ImageException("VOLUME requires at least one argument");
                    foreach (string volume in volumes)
                    {
                        if (volume.Trim().Length == 0) throw new ImageException("VOLUME specified can not be an empty string");
                        (config.Volumes ??= new())[volume] = new EmptyObject();
                    }
                    break;
                case "STOPSIGNAL":
                    if (args.Length == 0) throw new ImageException("STOPSIGNAL requires exactly one argument");
                    string signal = words.Word(args);
                    ValidateSignal(signal);
                    config.StopSignal = signal;
                    break;
                case "ONBUILD":
                    if (args.Length == 0) throw new ImageException("ONBUILD requires at least one argument");
                    string trigger = WhitespaceSplit(args)[0].ToUpperInvariant();
                    if (trigger == "ONBUILD") throw new ImageException("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
                    if (trigger is "FROM" or "MAINTAINER") throw new ImageException($"{trigger} isn't allowed as an ONBUILD trigger");
                    (config.OnBuild ??= new()).Add(args);
                    break;
                case "HEALTHCHECK":
                    config.Healthcheck = HealthCheck(flags, args);
                    break;
            }
        }
    }

    // ------------------------------------------------------------------ argument forms

    /// <summary>CMD/ENTRYPOINT: a JSON array of strings (exec form) or anything else run by /bin/sh -c.</summary>
    private static List<string> Command(string args, string instruction)
    {
        if (args.Length == 0) throw new ImageException($"{instruction} requires at least one argument");
        return JsonList(args) ?? ["/bin/sh", "-c", args];
    }

    /// <summary>The exec form, or null when the text is not a JSON array (then it is shell form).</summary>
    private static List<string>? JsonList(string text)
    {
        if (!text.StartsWith('[')) return null;
        JsonElement array;
        try { array = JsonSerializer.Deserialize<JsonElement>(text); }
        catch (JsonException) { return null; }
        if (array.ValueKind != JsonValueKind.Array) return null;
        var list = new List<string>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                throw new ImageException("when using JSON array syntax, arrays must be comprised of strings only");
            list.Add(item.GetString()!);
        }
        return list;
    }

    /// <summary>ENV/LABEL: "name value" (old form, the value is the rest of the line) or name=value words.</summary>
    private static List<(string Key, string Value)> NameValues(string args, string instruction, char escape)
    {
        var words = QuotedWords(args, escape);
        if (words.Count == 0) throw new ImageException($"{instruction} requires at least one argument");
        if (!words[0].Contains('='))
        {
            var parts = WhitespaceRun().Split(args, 2);
            if (parts.Length < 2) throw new ImageException($"{instruction} must have two arguments");
            return [(parts[0], parts[1])];
        }
        var pairs = new List<(string, string)>();
        foreach (string word in words)
        {
            int eq = word.IndexOf('=');
            if (eq < 0) throw new ImageException($"Syntax error - can't find = in \"{word}\". Must be of the form: name=value");
            pairs.Add((word[..eq], word[(eq + 1)..]));
        }
        return pairs;
    }

    /// <summary>Expands every pair with the environment as it was before the instruction, as Docker does.</summary>
    private static List<(string Key, string Value)> ExpandPairs(List<(string Key, string Value)> pairs, ShellWords words, string instruction)
    {
        var expanded = pairs.Select(p => (Key: words.Word(p.Key), Value: words.Word(p.Value))).ToList();
        if (expanded.Any(p => p.Key.Length == 0)) throw new ImageException($"{instruction} names can not be blank");
        return expanded;
    }

    /// <summary>Words split at whitespace outside quotes, the quotes and escapes still in them (Dockerfile parseWords).</summary>
    private static List<string> QuotedWords(string text, char escape)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        char quote = '\0';
        bool blankOk = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quote == '\0' && char.IsWhiteSpace(c))
            {
                if (blankOk || current.Length > 0) words.Add(current.ToString());
                current.Clear();
                blankOk = false;
                continue;
            }
            if (c == escape && quote != '\'')
            {
                if (i + 1 == text.Length) { quote = '\0'; continue; } // a trailing escape is dropped
                current.Append(c).Append(text[++i]);
                continue;
            }
            if (quote == '\0' && c is '"' or '\'') { quote = c; blankOk = true; }
            else if (c == quote) quote = '\0';
            current.Append(c);
        }
        if (blankOk || current.Length > 0) words.Add(current.ToString());
        return words;
    }

    private static List<string> WhitespaceSplit(string text) => text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList();

    /// <summary>Leading --name=value words, as the Dockerfile parser takes them off every instruction.</summary>
    private static (Dictionary<string, string?> Flags, string Arguments) SplitFlags(string rest)
    {
        var flags = new Dictionary<string, string?>();
        while (rest.StartsWith("--", StringComparison.Ordinal))
        {
            int end = rest.IndexOfAny([' ', '\t']);
            string word = end < 0 ? rest : rest[..end];
            rest = end < 0 ? "" : rest[end..].TrimStart();
            if (word == "--") break;
            int eq = word.IndexOf('=');
            flags[eq < 0 ? word[2..] : word[2..eq]] = eq < 0 ? null : word[(eq + 1)..];
        }
        return (flags, rest);
    }

    // ------------------------------------------------------------------ values

    /// <summary>"80", "80/udp", "7000-7002", "127.0.0.1:8080:80/tcp" → the exposed "port/proto" keys.</summary>
    private static IEnumerable<string> PortSpec(string spec)
    {
        int slash = spec.LastIndexOf('/');
        string ports = slash < 0 ? spec : spec[..slash];
        string proto = slash < 0 || slash == spec.Length - 1 ? "tcp" : spec[(slash + 1)..];
        if (proto.ToLowerInvariant() is not ("tcp" or "udp" or "sctp")) throw new ImageException($"invalid proto: {proto}");
        proto = proto.ToLowerInvariant();
        string container = ports.Contains(':') ? ports[(ports.LastIndexOf(':') + 1)..] : ports;
        var bounds = container.Split('-');
        if (bounds.Length > 2 || !ushort.TryParse(bounds[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort start)
            || !ushort.TryParse(bounds[^1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort end) || end < start)
            throw new ImageException($"invalid containerPort: {container}");
        for (int port = start; port <= end; port++) yield return $"{port}/{proto}";
    }

    private static readonly HashSet<string> SignalNames =
        ["ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
         "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM",
         "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX"];

    private static void ValidateSignal(string signal)
    {
        if (uint.TryParse(signal, NumberStyles.None, CultureInfo.InvariantCulture, out uint number))
        {
            if (number == 0) throw new ImageException($"Invalid signal: {signal}");
            return;
        }
        string name = signal.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal)) name = name[3..];
        if (SignalNames.Contains(name) || RealtimeSignal().IsMatch(name)) return;
        throw new ImageException($"Invalid signal: {signal}");
    }

    private static HealthConfig HealthCheck(Dictionary<string, string?> flags, string args)
    {
        foreach (string flag in flags.Keys)
            if (flag is not ("interval" or "timeout" or "start-period" or "start-interval" or "retries")) throw new ImageException($"Unknown flag: {flag}");
        if (args.Length == 0) throw new ImageException("HEALTHCHECK requires at least one argument");
        int space = args.IndexOfAny([' ', '\t']);
        string type = (space < 0 ? args : args[..space]).ToUpperInvariant();
        string command = space < 0 ? "" : args[(space + 1)..].Trim();
        if (type == "NONE")
        {
            if (command.Length > 0) throw new ImageException("HEALTHCHECK NONE takes no arguments");
            return new HealthConfig { Test = ["NONE"] };
        }
        if (type != "CMD") throw new ImageException($"Unknown type \"{type}\" in HEALTHCHECK (try CMD)");
        if (command.Length == 0) throw new ImageException("Missing command after HEALTHCHECK CMD");
        var health = new HealthConfig
        {
            Test = JsonList(command) is { } exec ? ["CMD", .. exec] : ["CMD-SHELL", command],
            Interval = Interval(flags, "interval"),
            Timeout = Interval(flags, "timeout"),
            StartPeriod = Interval(flags, "start-period"),
            StartInterval = Interval(flags, "start-interval"),
        };
        if (flags.TryGetValue("retries", out string? retries))
        {
            if (!int.TryParse(retries, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int count))
                throw new ImageException($"strconv.ParseInt: parsing \"{retries}\": invalid syntax");
            if (count < 0) throw new ImageException($"--retries cannot be negative ({count})");
            health.Retries = count;
        }
        return health;
    }

    /// <summary>A Go duration flag in nanoseconds; 0 means unset, otherwise at least 1ms.</summary>
    private static long Interval(Dictionary<string, string?> flags, string name)
    {
        if (!flags.TryGetValue(name, out string? text)) return 0;
        if (text is null) throw new ImageException($"Missing a value on flag: {name}");
        long nanoseconds = GoDuration(text);
        if (nanoseconds == 0) return 0;
        if (nanoseconds < 0) throw new ImageException($"Interval \"{name}\" cannot be negative");
        if (nanoseconds < 1_000_000) throw new ImageException($"Interval \"{name}\" cannot be less than 1ms");
        return nanoseconds;
    }

    /// <summary>Go's time.ParseDuration: "1h2m3.5s", "300ms", "-1.5h", "0".</summary>
    public static long GoDuration(string text)
    {
        var match = DurationPattern().Match(text);
        if (!match.Success || (text.TrimStart('+', '-') != "0" && match.Groups["part"].Captures.Count == 0))
            throw new ImageException($"time: invalid duration \"{text}\"");
        decimal total = 0;
        for (int i = 0; i < match.Groups["number"].Captures.Count; i++)
        {
            decimal value = decimal.Parse(match.Groups["number"].Captures[i].Value, CultureInfo.InvariantCulture);
            total += value * match.Groups["unit"].Captures[i].Value switch
            {
                "ns" => 1m, "us" or "µs" or "μs" => 1_000m, "ms" => 1_000_000m, "s" => 1_000_000_000m,
                "m" => 60_000_000_000m, _ => 3_600_000_000_000m,
            };
        }
        return (long)(text.StartsWith('-') ? -total : total);
    }

    /// <summary>Lexical path cleaning (Go's path.Clean) for an absolute path.</summary>
    public static string CleanPath(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRun();

    [GeneratedRegex(@"^RTM(IN\+|AX-)([1-9]|1[0-5])$")]
    private static partial Regex RealtimeSignal();

    [GeneratedRegex(@"^[-+]?(?:0|(?<part>(?<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?<unit>ns|us|µs|μs|ms|s|m|h))+)$")]
    private static partial Regex DurationPattern();
}
