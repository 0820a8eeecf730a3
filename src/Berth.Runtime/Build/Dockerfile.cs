using System.Text;
using System.Text.Json;
using Berth.Runtime.Images;

namespace Berth.Runtime.Build;

/// <summary>One instruction of a Dockerfile: its keyword (upper case), the leading --flags, the rest of the line, and
/// for the exec form the JSON array's strings. <see cref="Original"/> is the text as the legacy builder prints it in
/// "Step n/m : ..." (continuations joined, keyword as written).</summary>
public sealed record DockerfileInstruction(string Keyword, string Original, IReadOnlyDictionary<string, string?> Flags,
    string Arguments, IReadOnlyList<string>? Json, int Line)
{
    /// <summary>The Dockerfile's escape character (`# escape=`): word processing (ENV, COPY, ARG...) escapes with it.</summary>
    public char Escape { get; init; } = '\\';

    /// <summary>The value of --name, or null when the flag was not given; "--name" alone is an error as dockerd's.</summary>
    public string? Flag(string name)
    {
        if (!Flags.TryGetValue(name, out string? value)) return null;
        return value ?? throw new DockerfileException($"Missing a value on flag: {name}");
    }
}

/// <summary>A Dockerfile error (HTTP 400 before the build starts, an errorDetail once it runs).</summary>
public sealed class DockerfileException(string message) : ImageException(message);

/// <summary>The Dockerfile parser of Docker's legacy builder (moby builder/dockerfile/parser): parser directives
/// (`# escape=`), comments, line continuations with the escape character, empty continuation lines dropped, keywords
/// case-insensitive, --flags, JSON (exec) or shell form. Heredocs are BuildKit's only: the legacy builder reads
/// `<<EOF` as plain words, and so does this parser.</summary>
public static class DockerfileParser
{
    private static readonly HashSet<string> Keywords =
    [
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
        "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    ];

    // Instructions whose leading --words are flags (others keep them as arguments, e.g. `CMD --help`).
    private static readonly HashSet<string> TakesFlags = ["ADD", "COPY", "FROM", "HEALTHCHECK", "RUN"];

    public static IReadOnlyList<DockerfileInstruction> Parse(string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        char escape = '\\';
        int index = 0;
        // Parser directives: only at the very top, before any comment, blank line or instruction.
        var seen = new HashSet<string>();
        for (; index < lines.Length; index++)
        {
            var directive = System.Text.RegularExpressions.Regex.Match(lines[index], @"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$");
            if (!directive.Success) break;
            string name = directive.Groups[1].Value.ToLowerInvariant();
            if (!seen.Add(name)) throw new DockerfileException($"only one {name} parser directive can be used");
            if (name == "escape")
            {
                string value = directive.Groups[2].Value;
                if (value is not ("\\" or "`")) throw new DockerfileException($"invalid escape token '{value}' does not match ` or \\");
                escape = value[0];
            }
        }

        var result = new List<DockerfileInstruction>();
        var joined = new StringBuilder();
        int startLine = 0;
        for (; index < lines.Length; index++)
        {
            string line = lines[index];
            string trimmed = line.TrimStart(' ', '\t');
            if (trimmed.StartsWith('#')) continue; // comments, also inside a continuation
            if (joined.Length == 0)
            {
                if (trimmed.TrimEnd().Length == 0) continue;
                startLine = index + 1;
                line = trimmed;
            }
            else if (trimmed.TrimEnd().Length == 0) continue; // empty continuation lines are dropped
            string end = line.TrimEnd(' ', '\t');
            if (end.Length > 0 && end[^1] == escape)
            {
                joined.Append(end, 0, end.Length - 1);
                continue;
            }
            joined.Append(line);
            result.Add(ParseInstruction(joined.ToString(), escape, startLine));
            joined.Clear();
        }
        if (joined.Length > 0 && joined.ToString().Trim().Length > 0) result.Add(ParseInstruction(joined.ToString(), escape, startLine));
        if (result.Count == 0) throw new DockerfileException("the Dockerfile (Dockerfile) cannot be empty");
        return result;
    }

    public static DockerfileInstruction ParseInstruction(string line, char escape, int lineNumber)
    {
        string original = line.Trim();
        int space = original.IndexOfAny([' ', '\t']);
        string word = space < 0 ? original : original[..space];
        string keyword = word.ToUpperInvariant();
        if (!Keywords.Contains(keyword))
            throw new DockerfileException($"dockerfile parse error on line {lineNumber}: unknown instruction: {word}");
        string rest = space < 0 ? "" : original[(space + 1)..].TrimStart();
        var flags = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (TakesFlags.Contains(keyword))
        {
            while (rest.StartsWith("--", StringComparison.Ordinal))
            {
                int end = rest.IndexOfAny([' ', '\t']);
                string flag = end < 0 ? rest : rest[..end];
                rest = end < 0 ? "" : rest[end..].TrimStart();
                if (flag == "--") break;
                int eq = flag.IndexOf('=');
                flags[eq < 0 ? flag[2..] : flag[2..eq]] = eq < 0 ? null : flag[(eq + 1)..];
            }
        }
        return new DockerfileInstruction(keyword, original, flags, rest, JsonForm(rest), lineNumber) { Escape = escape };
    }

    /// <summary>The exec form: a JSON array of strings; anything else (including invalid JSON) is shell form.</summary>
    public static IReadOnlyList<string>? JsonForm(string text)
    {
        if (!text.StartsWith('[')) return null;
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array) return null;
            var list = new List<string>();
            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) return null;
                list.Add(item.GetString()!);
            }
            return list;
        }
        catch (JsonException) { return null; }
    }
}
