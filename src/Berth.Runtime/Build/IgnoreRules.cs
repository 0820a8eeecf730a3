using System.Text;
using System.Text.RegularExpressions;

namespace Berth.Runtime.Build;

/// <summary>.dockerignore: one pattern a line (Go filepath.Match plus "**"), "#" comments, "!" exceptions; the last
/// rule that matches a path or one of its parent directories decides.</summary>
public sealed class IgnoreRules
{
    private readonly List<(Regex Pattern, bool Exception)> _rules = new();
    private readonly List<string> _exceptions = new();

    public IgnoreRules(string text)
    {
        foreach (string raw in text.Replace("\r\n", "\n").Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            bool exception = line.StartsWith('!');
            if (exception) line = line[1..].Trim();
            string cleaned = Clean(line);
            if (cleaned.Length == 0) continue;
            _rules.Add((new Regex("^" + ToRegex(cleaned) + "$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)), exception));
            if (exception) _exceptions.Add(cleaned);
        }
    }

    public bool IsEmpty => _rules.Count == 0;

    /// <summary>True when <paramref name="path"/> (relative to the context, '/'-separated) is left out.</summary>
    public bool Ignores(string path)
    {
        path = Clean(path);
        bool ignored = false;
        foreach (var (pattern, exception) in _rules)
        {
            if (Matches(pattern, path)) ignored = !exception;
        }
        return ignored;
    }

    /// <summary>True when an exception rule may take back something under the ignored directory
    /// <paramref name="directory"/>, so a walk must still look inside it (as moby's patternmatcher decides).</summary>
    public bool MayKeepInside(string directory)
    {
        string prefix = Clean(directory) + "/";
        foreach (string pattern in _exceptions)
        {
            if (pattern.StartsWith(prefix, StringComparison.Ordinal)) return true;
            int glob = pattern.IndexOfAny(['*', '?', '[', '\\']);
            if (glob >= 0 && prefix.StartsWith(pattern[..glob], StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private static bool Matches(Regex pattern, string path)
    {
        if (pattern.IsMatch(path)) return true;
        for (int slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            if (pattern.IsMatch(path[..slash])) return true;
        return false;
    }

    private static string Clean(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/'))
        {
            if (part is "" or ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else parts.Add(part);
        }
        return string.Join('/', parts);
    }

    private static string ToRegex(string pattern)
    {
        var regex = new StringBuilder();
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                i++;
                if (i + 1 < pattern.Length && pattern[i + 1] == '/') { i++; regex.Append("(?:.*/)?"); }
                else regex.Append(".*");
            }
            else if (c == '*') regex.Append("[^/]*");
            else if (c == '?') regex.Append("[^/]");
            else if (c == '[')
            {
                int close = pattern.IndexOf(']', i + 1);
                if (close < 0) { regex.Append(@"\["); continue; }
                string set = pattern[(i + 1)..close];
                regex.Append('[').Append(set.StartsWith('^') || set.StartsWith('!') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                i = close;
            }
            else if (c == '\\' && i + 1 < pattern.Length) regex.Append(Regex.Escape(pattern[++i].ToString()));
            else regex.Append(Regex.Escape(c.ToString()));
        }
        return regex.ToString();
    }
}
