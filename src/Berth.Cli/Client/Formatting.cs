using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>How the docker CLI 28 renders things on the client: ports, durations, sizes, ids, tables.</summary>
public static class Formatting
{
    /// <summary>One item of `GET /containers/json`'s Ports.</summary>
    public readonly record struct PortItem(string Ip, int PrivatePort, int PublicPort, string Type);

    public static List<PortItem> PortItems(JsonNode? ports)
    {
        var list = new List<PortItem>();
        foreach (var p in ports as JsonArray ?? [])
        {
            if (p is not JsonObject o) continue;
            list.Add(new PortItem(
                o["IP"]?.GetValue<string>() ?? "",
                o["PrivatePort"]?.GetValue<int>() ?? 0,
                o["PublicPort"]?.GetValue<int>() ?? 0,
                o["Type"]?.GetValue<string>() ?? "tcp"));
        }
        return list;
    }

    /// <summary>The PORTS column, as docker/cli's DisplayablePorts: sorted by private port, IP, public port and type;
    /// published ports whose public and private numbers are equal, and exposed-only ports, are grouped per IP and
    /// protocol and consecutive ones collapsed into ranges ("0.0.0.0:8000-8002->8000-8002/tcp", "7000-7002/tcp");
    /// mappings to a different port ("0.0.0.0:8080->80/tcp") are listed one by one after the groups.</summary>
    public static string DisplayablePorts(IEnumerable<PortItem> items)
    {
        var ports = items.ToList();
        ports.Sort((a, b) =>
            a.PrivatePort != b.PrivatePort ? a.PrivatePort.CompareTo(b.PrivatePort)
            : a.Ip != b.Ip ? string.CompareOrdinal(a.Ip, b.Ip)
            : a.PublicPort != b.PublicPort ? a.PublicPort.CompareTo(b.PublicPort)
            : string.CompareOrdinal(a.Type, b.Type));
        var groups = new Dictionary<string, (int First, int Last)>();
        var groupOrder = new List<string>();
        var result = new List<string>();
        var hostMappings = new List<string>();
        foreach (var port in ports)
        {
            int current = port.PrivatePort;
            string key = port.Type;
            if (port.Ip.Length > 0)
            {
                if (port.PublicPort != current)
                {
                    hostMappings.Add($"{JoinHostPort(port.Ip, port.PublicPort.ToString(CultureInfo.InvariantCulture))}->{port.PrivatePort}/{port.Type}");
                    continue;
                }
                key = $"{port.Ip}/{port.Type}";
            }
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = (current, current);
                groupOrder.Add(key);
                continue;
            }
            if (current == group.Last + 1)
            {
                groups[key] = (group.First, current);
                continue;
            }
            result.Add(FormGroup(key, group.First, group.Last));
            groups[key] = (current, current);
        }
        foreach (string key in groupOrder) result.Add(FormGroup(key, groups[key].First, groups[key].Last));
        result.AddRange(hostMappings);
        return string.Join(", ", result);
    }

    private static string FormGroup(string key, int first, int last)
    {
        int slash = key.LastIndexOf('/');
        string ip = slash < 0 ? "" : key[..slash], type = slash < 0 ? key : key[(slash + 1)..];
        string group = first == last ? first.ToString(CultureInfo.InvariantCulture) : $"{first}-{last}";
        if (ip.Length > 0) group = $"{JoinHostPort(ip, group)}->{group}";
        return $"{group}/{type}";
    }

    /// <summary>Go's net.JoinHostPort: IPv6 hosts in brackets.</summary>
    public static string JoinHostPort(string host, string port) => host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";

    /// <summary>`docker port` lines from NetworkSettings.Ports ({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"7000/tcp":null}),
    /// natural-sorted as the CLI does. With <paramref name="privatePort"/> ("80" or "80/udp") only that port's host
    /// addresses are listed; null when it has none.</summary>
    public static List<string>? PortLines(JsonNode? networkPorts, string? privatePort)
    {
        var lines = new List<string>();
        var ports = networkPorts as JsonObject ?? new JsonObject();
        if (privatePort is not null)
        {
            string key = privatePort.Contains('/') ? privatePort : privatePort + "/tcp";
            if (!ports.TryGetPropertyValue(key, out var bindings) || bindings is not JsonArray { Count: > 0 } array) return null;
            foreach (var b in array) lines.Add(JoinHostPort(Str(b?["HostIp"]), Str(b?["HostPort"])));
        }
        else
        {
            foreach (var (key, bindings) in ports)
                foreach (var b in bindings as JsonArray ?? [])
                    lines.Add($"{key} -> {JoinHostPort(Str(b?["HostIp"]), Str(b?["HostPort"]))}");
        }
        lines.Sort(NaturalCompare);
        return lines;
    }

    private static string Str(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : node?.ToString() ?? "";

    /// <summary>fvbommel/sortorder's NaturalLess: runs of digits compare by value, everything else byte by byte.</summary>
    public static int NaturalCompare(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            bool da = char.IsAsciiDigit(a[i]), db = char.IsAsciiDigit(b[j]);
            if (da && db)
            {
                int si = i, sj = j;
                while (si < a.Length && a[si] == '0') si++;
                while (sj < b.Length && b[sj] == '0') sj++;
                int ei = si, ej = sj;
                while (ei < a.Length && char.IsAsciiDigit(a[ei])) ei++;
                while (ej < b.Length && char.IsAsciiDigit(b[ej])) ej++;
                int lenA = ei - si, lenB = ej - sj;
                if (lenA != lenB) return lenA.CompareTo(lenB);
                int c = string.CompareOrdinal(a, si, b, sj, lenA);
                if (c != 0) return c;
                // Equal values: fewer leading zeros first.
                if (ei - i != ej - j) return (ei - i).CompareTo(ej - j);
                i = ei;
                j = ej;
                continue;
            }
            if (a[i] != b[j]) return a[i].CompareTo(b[j]);
            i++;
            j++;
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    /// <summary>Go's units.HumanDuration, as used for "Up 3 seconds" and "5 seconds ago".</summary>
    public static string HumanDuration(TimeSpan d)
    {
        long seconds = (long)d.TotalSeconds;
        if (seconds < 1) return "Less than a second";
        if (seconds == 1) return "1 second";
        if (seconds < 60) return $"{seconds} seconds";
        long minutes = (long)d.TotalMinutes;
        if (minutes == 1) return "About a minute";
        if (minutes < 60) return $"{minutes} minutes";
        long hours = (long)Math.Round(d.TotalHours, MidpointRounding.AwayFromZero);
        if (hours == 1) return "About an hour";
        if (hours < 48) return $"{hours} hours";
        if (hours < 24 * 7 * 2) return $"{hours / 24} days";
        if (hours < 24 * 30 * 2) return $"{hours / 24 / 7} weeks";
        if (hours < 24 * 365 * 2) return $"{hours / 24 / 30} months";
        return $"{(long)d.TotalHours / 24 / 365} years";
    }

    /// <summary>"5 seconds ago" for a unix time; docker prints "N/A" for a zero time.</summary>
    public static string Ago(long unixSeconds, DateTimeOffset now) =>
        unixSeconds <= 0 ? "N/A" : HumanDuration(now - DateTimeOffset.FromUnixTimeSeconds(unixSeconds)) + " ago";

    /// <summary>Go's time.Time.String() of a unix time in local time: "2006-01-02 15:04:05 -0700 MST".</summary>
    public static string GoTime(long unixSeconds) => GoTime(DateTimeOffset.FromUnixTimeSeconds(unixSeconds));

    /// <summary>Go's time.Time.String() in local time, its fraction of a second without trailing zeros (none when
    /// zero): "2006-01-02 15:04:05.999999999 -0700 MST".</summary>
    public static string GoTime(DateTimeOffset time)
    {
        var local = time.ToLocalTime();
        var offset = local.Offset;
        string sign = offset < TimeSpan.Zero ? "-" : "+";
        string numeric = $"{sign}{Math.Abs(offset.Hours):00}{Math.Abs(offset.Minutes):00}";
        string zone = offset == TimeSpan.Zero ? "UTC" : numeric;
        return local.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture).TrimEnd('.') + " " + numeric + " " + zone;
    }

    /// <summary>Go's units.HumanSizeWithPrecision(size, 3): decimal units, 3 significant digits ("1.98MB"); progress
    /// lines use units.HumanSize, 4 digits.</summary>
    public static string HumanSize(double size, int precision = 3)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
        int i = 0;
        while (size >= 1000 && i < units.Length - 1)
        {
            size /= 1000;
            i++;
        }
        return size.ToString("G" + precision, CultureInfo.InvariantCulture).Replace("E+0", "e+0").Replace("E+", "e+") + units[i];
    }

    /// <summary>Go's units.BytesSize: binary units with 4 significant digits ("23.47GiB").</summary>
    public static string BytesSize(double size)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
        int i = 0;
        while (size >= 1024 && i < units.Length - 1)
        {
            size /= 1024;
            i++;
        }
        return size.ToString("G4", CultureInfo.InvariantCulture) + units[i];
    }

    /// <summary>stringid.TruncateID: strips "sha256:" and keeps 12 characters.</summary>
    public static string ShortId(string id)
    {
        int colon = id.IndexOf(':');
        if (colon >= 0) id = id[(colon + 1)..];
        return id.Length > 12 ? id[..12] : id;
    }

    /// <summary>formatter.Ellipsis: at most <paramref name="max"/> characters, the last one "…" when cut.</summary>
    public static string Ellipsis(string s, int max)
    {
        var runes = s.EnumerateRunes().ToList();
        if (runes.Count <= max) return s;
        if (max <= 1) return "…";
        return string.Concat(runes.Take(max - 1).Select(r => r.ToString())) + "…";
    }

    /// <summary>Go's strconv.Quote for the COMMAND column.</summary>
    public static string GoQuote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var rune in s.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                case '\a': sb.Append("\\a"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\v': sb.Append("\\v"); break;
                default:
                    if (rune.Value < 0x20 || rune.Value == 0x7f) sb.Append($"\\x{rune.Value:x2}");
                    else sb.Append(rune.ToString());
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>The image as `docker ps` shows it (truncated): ids shortened, digests and docker.io/library/ dropped.</summary>
    public static string PsImage(string image, string imageId, bool trunc)
    {
        if (image.Length == 0) return "<no image>";
        if (!trunc) return image;
        if (ShortId(imageId) == ShortId(image) && image.StartsWith("sha256:", StringComparison.Ordinal)) return ShortId(image);
        int at = image.IndexOf('@');
        if (at >= 0) image = image[..at];
        foreach (string prefix in new[] { "docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/" })
            if (image.StartsWith(prefix, StringComparison.Ordinal)) return image[prefix.Length..];
        return image;
    }

    /// <summary>Go's text/tabwriter as the docker CLI configures it (minwidth 10, tabwidth 1, padding 3, spaces):
    /// cells end with '\t'; a column block is a run of consecutive lines having that cell; its width is the widest
    /// cell plus 3, at least 10. The text after a line's last tab is not aligned.</summary>
    public static string TabWrite(string text, int minWidth = 10, int padding = 3)
    {
        var lines = text.Split('\n').Select(l => l.Split('\t')).ToList();
        bool trailingNewline = text.EndsWith('\n');
        if (trailingNewline) lines.RemoveAt(lines.Count - 1);
        var output = new StringBuilder();
        var widths = new List<int>();
        Format(0, lines.Count);
        return output.ToString();

        void Format(int line0, int line1)
        {
            int column = widths.Count;
            for (int current = line0; current < line1; current++)
            {
                if (column >= lines[current].Length - 1) continue;
                WriteLines(line0, current);
                line0 = current;
                int width = minWidth;
                for (; current < line1; current++)
                {
                    if (column >= lines[current].Length - 1) break;
                    int w = Width(lines[current][column]) + padding;
                    if (w > width) width = w;
                }
                widths.Add(width);
                Format(line0, current);
                widths.RemoveAt(widths.Count - 1);
                line0 = current;
                current--;
            }
            WriteLines(line0, line1);
        }

        void WriteLines(int line0, int line1)
        {
            for (int i = line0; i < line1; i++)
            {
                var cells = lines[i];
                for (int j = 0; j < cells.Length; j++)
                {
                    output.Append(cells[j]);
                    if (j < widths.Count && j < cells.Length - 1) output.Append(' ', Math.Max(0, widths[j] - Width(cells[j])));
                }
                if (i < lines.Count - 1 || trailingNewline) output.Append('\n');
            }
        }
    }

    private static int Width(string cell) => cell.EnumerateRunes().Count();

    /// <summary>Go's json.Indent with the 4-space indent `docker inspect` uses: the server's JSON keeps its key
    /// order and string escapes, empty arrays and objects stay "[]" and "{}".</summary>
    public static string IndentJson(string json, string indent = "    ")
    {
        var sb = new StringBuilder(json.Length * 2);
        int depth = 0;
        bool inString = false, needIndent = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                sb.Append(c);
                if (c == '\\' && i + 1 < json.Length) sb.Append(json[++i]);
                else if (c == '"') inString = false;
                continue;
            }
            if (char.IsWhiteSpace(c)) continue;
            if (needIndent && c != ']' && c != '}')
            {
                needIndent = false;
                depth++;
                NewLine();
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    sb.Append(c);
                    break;
                case '{':
                case '[':
                    sb.Append(c);
                    needIndent = true;
                    break;
                case ',':
                    sb.Append(c);
                    NewLine();
                    break;
                case ':':
                    sb.Append(": ");
                    break;
                case '}':
                case ']':
                    if (needIndent) needIndent = false; // empty: "{}" or "[]"
                    else
                    {
                        depth--;
                        NewLine();
                    }
                    sb.Append(c);
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }
        return sb.ToString();

        void NewLine()
        {
            sb.Append('\n');
            for (int d = 0; d < depth; d++) sb.Append(indent);
        }
    }

    /// <summary>Docker's reference normalization for the tag API: "webapp" → docker.io/library/webapp.</summary>
    public static (string Repo, string Tag) SplitReference(string reference)
    {
        string name = reference, tag = "";
        int at = name.IndexOf('@');
        if (at >= 0) name = name[..at];
        int colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/')) (name, tag) = (name[..colon], name[(colon + 1)..]);
        return (name, tag);
    }

    public static string NormalizeRepo(string repo)
    {
        int slash = repo.IndexOf('/');
        if (slash < 0) return "docker.io/library/" + repo;
        string first = repo[..slash];
        if (first.Contains('.') || first.Contains(':') || first == "localhost") return repo;
        return "docker.io/" + repo;
    }

    public static bool IsIpAddress(string text) => IPAddress.TryParse(text, out _);
}
