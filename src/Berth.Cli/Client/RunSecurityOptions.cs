using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>The client-side handling the docker CLI 28 gives --security-opt, --cap-add/--cap-drop and
/// --log-driver/--log-opt before they go into the create body (observed against the real CLI).</summary>
public static class RunSecurityOptions
{
    public sealed record Parsed(IReadOnlyList<string> Options, bool UnconfinedSystemPaths);

    /// <summary>`systempaths=unconfined` is taken out (it becomes empty MaskedPaths/ReadonlyPaths); every other option
    /// needs a key and a value split by '=' or ':' (bare `no-new-privileges` aside); `seccomp=PATH` is replaced
    /// by `seccomp=` and the file's compacted JSON, read here on the client.</summary>
    public static Parsed Parse(IEnumerable<string> options, Func<string, byte[]>? readFile = null)
    {
        readFile ??= File.ReadAllBytes;
        var result = new List<string>();
        bool unconfined = false;
        foreach (string option in options)
        {
            if (option == "systempaths=unconfined")
            {
                unconfined = true;
                continue;
            }
            var (key, value, ok) = Cut(option, '=');
            if (!ok && key != "no-new-privileges") (key, value, ok) = Cut(option, ':');
            if ((!ok || value.Length == 0) && key != "no-new-privileges")
                throw new CliException($"Invalid --security-opt: {GoQuote(option)}", 125);
            if (key == "seccomp" && value is not ("builtin" or "unconfined"))
                result.Add("seccomp=" + ReadProfile(value, readFile));
            else
                result.Add(option);
        }
        return new Parsed(result, unconfined);
    }

    /// <summary>Upper-cased, "CAP_" prefixed (except ALL), without duplicates, sorted; null when none.</summary>
    public static JsonArray? Capabilities(IEnumerable<string> caps)
    {
        var normal = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string cap in caps)
        {
            string upper = cap.ToUpperInvariant();
            normal.Add(upper == "ALL" || upper.StartsWith("CAP_", StringComparison.Ordinal) ? upper : "CAP_" + upper);
        }
        return normal.Count == 0 ? null : new JsonArray(normal.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray());
    }

    /// <summary>HostConfig.LogConfig: each --log-opt split at its first '=' (no '=' is a key with an empty value;
    /// the last one wins), keys sorted as Go marshals a map. Options with driver "none" are refused.</summary>
    public static JsonObject LogConfig(string? driver, IReadOnlyList<string> logOpts)
    {
        if (driver == "none" && logOpts.Count > 0) throw new CliException("invalid logging opts for driver none", 125);
        var config = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string opt in logOpts)
        {
            var (key, value, _) = Cut(opt, '=');
            config[key] = value;
        }
        var json = new JsonObject();
        foreach (var (key, value) in config) json[key] = value;
        return new JsonObject { ["Type"] = driver ?? "", ["Config"] = json };
    }

    private static string ReadProfile(string path, Func<string, byte[]> readFile)
    {
        byte[] content;
        try
        {
            if (Directory.Exists(path)) throw new IOException($"read {path}: is a directory");
            content = readFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string why = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => $"open {path}: no such file or directory",
                UnauthorizedAccessException => $"open {path}: permission denied",
                _ when e.Message.StartsWith("read ", StringComparison.Ordinal) => e.Message,
                _ => $"open {path}: {e.Message}",
            };
            throw new CliException($"opening seccomp profile ({path}) failed: {why}", 125);
        }
        try
        {
            return Compact(content);
        }
        catch (JsonException e)
        {
            throw new CliException($"compacting json for seccomp profile ({path}) failed: {e.Message}", 125);
        }
    }

    /// <summary>Go's json.Compact: the document checked, then whitespace outside strings dropped; strings (and their
    /// escapes) are kept byte for byte.</summary>
    public static string Compact(byte[] json)
    {
        using (JsonDocument.Parse(json)) { }
        var kept = new List<byte>(json.Length);
        bool inString = false, escaped = false;
        foreach (byte b in json)
        {
            if (inString)
            {
                if (escaped) escaped = false;
                else if (b == '\\') escaped = true;
                else if (b == '"') inString = false;
            }
            else if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') continue;
            else if (b == '"') inString = true;
            kept.Add(b);
        }
        return Encoding.UTF8.GetString(kept.ToArray());
    }

    private static (string Key, string Value, bool Found) Cut(string text, char separator)
    {
        int at = text.IndexOf(separator);
        return at < 0 ? (text, "", false) : (text[..at], text[(at + 1)..], true);
    }

    /// <summary>Go's %q for the plain strings these messages quote.</summary>
    private static string GoQuote(string text)
    {
        var quoted = new StringBuilder("\"");
        foreach (char c in text)
        {
            quoted.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                < ' ' => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }
        return quoted.Append('"').ToString();
    }
}
