using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

public sealed class TemplateException(string message) : Exception(message);

/// <summary>A subset of Go's text/template, as `docker ps --format` and `docker inspect -f` use it:
/// <list type="bullet">
/// <item>Text and {{actions}}, with {{- and -}} trimming and {{/* comments */}}.</item>
/// <item>Fields {{.A.B}}, {{.}}, variables {{$}}, {{$x := PIPE}}, {{$x.A}}; string, number, true/false/nil literals; (PIPE) groups; pipes A | f.</item>
/// <item>{{if}} / {{else if}} / {{else}} / {{end}}, {{range PIPE}} with {{range $v := }} and {{range $k, $v := }} and {{else}}, {{with}}.</item>
/// <item>Functions: json, join, split, lower, upper, title, truncate, pad, println, print, printf (%s %d %v %q), index, len,
/// eq, ne, lt, le, gt, ge, not, and, or.</item>
/// </list>
/// Values are JSON nodes (the engine's replies) or dictionaries of computed fields (table rows). Printing follows
/// Go's %v: maps as map[k:v] with sorted keys; objects whose keys are all Go-style field names print as structs
/// {v1 v2}; null as &lt;nil&gt;; a missing key as &lt;no value&gt;.</summary>
public sealed class GoTemplate
{
    private readonly List<Node> _nodes;
    private readonly string _source;

    private GoTemplate(List<Node> nodes, string source)
    {
        _nodes = nodes;
        _source = source;
    }

    /// <summary>Missing map keys print as this, as in Go.</summary>
    public static readonly object NoValue = new NoValueMarker();

    private sealed class NoValueMarker { public override string ToString() => "<no value>"; }

    public static GoTemplate Parse(string text)
    {
        try { return new(new Parser(text).ParseAll(), text); }
        catch (TemplateException e) { throw new TemplateException("template: :1: " + e.Message); }
    }

    /// <summary>A JSON null reached through a field: printed as Go prints the zero value of that field's type in
    /// Docker's structs ("[]" for lists such as Binds or Env, "map[]" for maps such as Labels, else "&lt;nil&gt;").</summary>
    private sealed record NullField(string Name);

    private static readonly HashSet<string> SliceFields =
    [
        "Args", "Binds", "Env", "Cmd", "Entrypoint", "Aliases", "DNSNames", "Links", "CapAdd", "CapDrop", "Dns", "DnsOptions",
        "DnsSearch", "ExtraHosts", "GroupAdd", "VolumesFrom", "SecurityOpt", "MaskedPaths", "ReadonlyPaths", "OnBuild", "ExecIDs",
        "Mounts", "Devices", "Ulimits", "SecondaryIPAddresses", "SecondaryIPv6Addresses", "RepoTags", "RepoDigests", "Layers",
        "Warnings", "Shell", "DeviceCgroupRules", "DeviceRequests", "Config", "Tmpfs",
    ];

    private static readonly HashSet<string> MapFields =
    [
        "Labels", "ExposedPorts", "Volumes", "Options", "DriverOpts", "Ports", "Networks", "PortBindings", "Containers",
        "StorageOpt", "Sysctls", "Annotations", "Data",
    ];

    private static string ShowNull(string? field) =>
        field is null ? "<nil>" : SliceFields.Contains(field) || field.EndsWith("/tcp") || field.EndsWith("/udp") || field.EndsWith("/sctp") ? "[]"
        : MapFields.Contains(field) ? "map[]" : "<nil>";

    /// <param name="header">Table header mode: formatting functions return their first argument unchanged (docker's HeaderFunctions).</param>
    /// <param name="missingKeyError">A missing map key is an error (Go's missingkey=error, which `docker inspect -f` uses).</param>
    public string Execute(object? data, bool header = false, bool missingKeyError = false)
    {
        var sb = new StringBuilder();
        var state = new ExecState(data, header, missingKeyError, _source);
        foreach (var node in _nodes) node.Execute(state, data, sb);
        return sb.ToString();
    }

    // ---------------------------------------------------------------- AST

    private abstract class Node
    {
        public abstract void Execute(ExecState state, object? dot, StringBuilder output);
    }

    private sealed class TextNode(string text) : Node
    {
        public override void Execute(ExecState state, object? dot, StringBuilder output) => output.Append(text);
    }

    private sealed class ActionNode(Pipeline pipeline) : Node
    {
        public override void Execute(ExecState state, object? dot, StringBuilder output)
        {
            var value = pipeline.Evaluate(state, dot);
            if (pipeline.Declarations.Count == 0) output.Append(Show(value));
        }
    }

    private sealed class IfNode(Pipeline condition, List<Node> then, List<Node>? otherwise, bool with) : Node
    {
        public override void Execute(ExecState state, object? dot, StringBuilder output)
        {
            int mark = state.Variables.Count;
            var value = condition.Evaluate(state, dot);
            var branch = IsTrue(value) ? then : otherwise;
            if (branch is not null)
                foreach (var node in branch) node.Execute(state, with && IsTrue(value) ? value : dot, output);
            state.Variables.RemoveRange(mark, state.Variables.Count - mark);
        }
    }

    private sealed class RangeNode(Pipeline pipeline, List<Node> body, List<Node>? otherwise) : Node
    {
        public override void Execute(ExecState state, object? dot, StringBuilder output)
        {
            int mark = state.Variables.Count;
            var declarations = pipeline.Declarations;
            var value = pipeline.Evaluate(state, dot, declare: false);
            var items = Iterate(value).ToList();
            if (items.Count == 0 && otherwise is not null)
                foreach (var node in otherwise) node.Execute(state, dot, output);
            foreach (var (key, item) in items)
            {
                int inner = state.Variables.Count;
                if (declarations.Count == 1) state.Variables.Add((declarations[0], item));
                else if (declarations.Count == 2)
                {
                    state.Variables.Add((declarations[0], key));
                    state.Variables.Add((declarations[1], item));
                }
                foreach (var node in body) node.Execute(state, item, output);
                state.Variables.RemoveRange(inner, state.Variables.Count - inner);
            }
            state.Variables.RemoveRange(mark, state.Variables.Count - mark);
        }
    }

    private sealed class ExecState(object? root, bool header, bool missingKeyError, string source)
    {
        public object? Root { get; } = root;
        public bool Header { get; } = header;
        public bool MissingKeyError { get; } = missingKeyError;

        public TemplateException Error(int offset, string at, string message)
        {
            int line = 1 + source.Take(offset).Count(c => c == '\n');
            int lastNewline = source.LastIndexOf('\n', Math.Max(0, Math.Min(offset, source.Length) - 1));
            int col = offset - lastNewline - 1;
            return new TemplateException($"template: :{line}:{col}: executing \"\" at <{at}>: {message}");
        }
        public List<(string Name, object? Value)> Variables { get; } = new();

        public object? Variable(string name)
        {
            if (name == "$") return Root;
            for (int i = Variables.Count - 1; i >= 0; i--)
                if (Variables[i].Name == name) return Variables[i].Value;
            throw new TemplateException($"undefined variable: {name}");
        }
    }

    private sealed class Pipeline(List<string> declarations, List<List<Operand>> commands)
    {
        public List<string> Declarations { get; } = declarations;

        public object? Evaluate(ExecState state, object? dot, bool declare = true)
        {
            object? value = null;
            bool piped = false;
            foreach (var command in commands)
            {
                value = EvaluateCommand(state, dot, command, piped ? value : null, piped);
                piped = true;
            }
            if (declare && Declarations.Count > 0) state.Variables.Add((Declarations[^1], value));
            return value;
        }

        private static object? EvaluateCommand(ExecState state, object? dot, List<Operand> operands, object? input, bool piped)
        {
            var first = operands[0];
            if (first is IdentOperand ident)
            {
                var args = operands.Skip(1).Select(o => o.Evaluate(state, dot)).ToList();
                if (piped) args.Add(input);
                return Functions.Call(ident.Name, args, state.Header);
            }
            var target = first.Evaluate(state, dot);
            if (target is Func<object?[], object?> method)
            {
                var args = operands.Skip(1).Select(o => o.Evaluate(state, dot)).ToList();
                if (piped) args.Add(input);
                return method(args.ToArray());
            }
            if (operands.Count > 1) throw new TemplateException($"can't give argument to non-function {first}");
            return target;
        }
    }

    private abstract class Operand
    {
        public abstract object? Evaluate(ExecState state, object? dot);
    }

    private sealed class FieldOperand(List<string> chain, int offset) : Operand
    {
        public override object? Evaluate(ExecState state, object? dot) => Walk(dot, chain, state, offset, ToString());
        public override string ToString() => "." + string.Join('.', chain);
    }

    private sealed class VariableOperand(string name, List<string> chain, int offset) : Operand
    {
        public override object? Evaluate(ExecState state, object? dot) =>
            Walk(state.Variable(name), chain, state, offset, name + string.Concat(chain.Select(c => "." + c)));
    }

    private sealed class LiteralOperand(object? value) : Operand
    {
        public override object? Evaluate(ExecState state, object? dot) => value;
    }

    private sealed class IdentOperand(string name) : Operand
    {
        public string Name { get; } = name;
        public override object? Evaluate(ExecState state, object? dot) => Functions.Call(Name, [], state.Header);
        public override string ToString() => Name;
    }

    private sealed class GroupOperand(Pipeline pipeline, List<string> chain) : Operand
    {
        public override object? Evaluate(ExecState state, object? dot) => Walk(pipeline.Evaluate(state, dot), chain, state, 0, "(...)");
    }

    private static object? Walk(object? value, List<string> chain, ExecState state, int offset, string at)
    {
        foreach (string field in chain)
        {
            value = value switch
            {
                JsonObject o => o.TryGetPropertyValue(field, out var child) ? (object?)child ?? new NullField(field)
                    : state.MissingKeyError ? throw state.Error(offset, at, $"map has no entry for key \"{field}\"") : NoValue,
                IDictionary<string, object?> d => d.TryGetValue(field, out var child) ? child
                    : state.Header ? "" : throw state.Error(offset, at, $"can't evaluate field {field}"),
                _ when ReferenceEquals(value, NoValue) || value is null or NullField => state.MissingKeyError
                    ? throw state.Error(offset, at, $"nil pointer evaluating interface {{}}.{field}") : NoValue,
                _ => throw state.Error(offset, at, $"can't evaluate field {field} in type {TypeName(value)}"),
            };
        }
        return value;
    }

    private static string TypeName(object? value) => value switch
    {
        string => "string",
        JsonArray or System.Collections.IList => "[]interface {}",
        _ => value is JsonValue v ? v.GetValueKind().ToString().ToLowerInvariant() : value?.GetType().Name ?? "nil",
    };

    // ---------------------------------------------------------------- values

    /// <summary>A JSON value as a plain .NET value: string, long, double, bool, null; containers as they are.</summary>
    public static object? Unwrap(object? value)
    {
        if (value is NullField) return null;
        if (value is not JsonValue v) return value;
        return v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => v.TryGetValue(out long l) ? l : v.TryGetValue(out int i) ? i
                : v.TryGetValue(out double d) ? (d == Math.Floor(d) && Math.Abs(d) < 9e15 ? (long)d : d) : v.ToJsonString(),
            JsonValueKind.Null => null,
            _ => v.ToJsonString(),
        };
    }

    /// <summary>Go's fmt %v of a value.</summary>
    public static string Show(object? value)
    {
        if (value is NullField nullField) return ShowNull(nullField.Name);
        value = Unwrap(value);
        switch (value)
        {
            case null: return "<nil>";
            case NoValueMarker: return "<no value>";
            case string s: return s;
            case bool b: return b ? "true" : "false";
            case long or int: return Convert.ToString(value, CultureInfo.InvariantCulture)!;
            case double d: return d.ToString("R", CultureInfo.InvariantCulture).Replace("E+", "e+").Replace("E-", "e-");
            case JsonArray a: return "[" + string.Join(' ', a.Select(i => Show(i))) + "]";
            case JsonObject o:
                if (o.Count > 0 && o.All(kv => IsGoFieldName(kv.Key)))
                    return "{" + string.Join(' ', o.Select(kv => kv.Value is null ? ShowNull(kv.Key) : Show(kv.Value))) + "}";
                return "map[" + string.Join(' ', o.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .Select(kv => kv.Key + ":" + (kv.Value switch
                    {
                        null => ShowNull(kv.Key),
                        JsonObject { Count: 0 } => "{}", // map[string]struct{}: ExposedPorts, Volumes
                        var v => Show(v),
                    }))) + "]";
            case IDictionary<string, object?> d:
                return "map[" + string.Join(' ', d.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + ":" + Show(kv.Value))) + "]";
            case System.Collections.IEnumerable e:
                return "[" + string.Join(' ', e.Cast<object?>().Select(Show)) + "]";
            default: return value.ToString() ?? "";
        }
    }

    private static bool IsGoFieldName(string key) =>
        key.Length > 0 && char.IsAsciiLetterUpper(key[0]) && key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    public static bool IsTrue(object? value)
    {
        value = Unwrap(value);
        return value switch
        {
            null or NoValueMarker => false,
            bool b => b,
            string s => s.Length > 0,
            long l => l != 0,
            int i => i != 0,
            double d => d != 0,
            JsonArray a => a.Count > 0,
            JsonObject o => o.Count > 0,
            System.Collections.ICollection c => c.Count > 0,
            _ => true,
        };
    }

    private static IEnumerable<(object? Key, object? Value)> Iterate(object? value)
    {
        value = Unwrap(value);
        switch (value)
        {
            case null or NoValueMarker: yield break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) yield return (i, a[i]);
                break;
            case JsonObject o:
                foreach (var kv in o.OrderBy(kv => kv.Key, StringComparer.Ordinal)) yield return (kv.Key, kv.Value);
                break;
            case IDictionary<string, object?> d:
                foreach (var kv in d.OrderBy(kv => kv.Key, StringComparer.Ordinal)) yield return (kv.Key, kv.Value);
                break;
            case string s:
                throw new TemplateException($"range can't iterate over {s}");
            case System.Collections.IEnumerable e:
                int index = 0;
                foreach (var item in e) yield return (index++, item);
                break;
            case long n:
                for (long i = 0; i < n; i++) yield return (i, i);
                break;
            default:
                throw new TemplateException($"range can't iterate over {Show(value)}");
        }
    }

    /// <summary>Go's encoding/json of a value: compact, &lt; &gt; &amp; escaped.</summary>
    public static string ToJson(object? value)
    {
        value = value is NoValueMarker or NullField ? null : value;
        var options = new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        string json = value switch
        {
            JsonNode node => node.ToJsonString(options),
            IDictionary<string, object?> d => JsonSerializer.Serialize(d.ToDictionary(kv => kv.Key, kv => Unwrap(kv.Value) is Func<object?[], object?> ? null : kv.Value), options),
            _ => JsonSerializer.Serialize(value, options),
        };
        return json.Replace("<", "\\u003c").Replace(">", "\\u003e").Replace("&", "\\u0026");
    }

    // ---------------------------------------------------------------- functions

    private static class Functions
    {
        private static readonly HashSet<string> HeaderPassThrough = ["json", "split", "join", "title", "lower", "upper", "truncate", "pad"];

        public static object? Call(string name, List<object?> args, bool header)
        {
            if (header && HeaderPassThrough.Contains(name)) return args.Count > 0 ? Show(args[0]) : "";
            switch (name)
            {
                case "true": return true;
                case "false": return false;
                case "nil": return null;
                case "json":
                    Need(name, args, 1);
                    return ToJson(args[0]);
                case "join":
                    Need(name, args, 2);
                    return string.Join(Show(args[1]), Iterate(args[0]).Select(kv => Show(kv.Value)));
                case "split":
                    Need(name, args, 2);
                    return Show(args[0]).Split(Show(args[1])).Cast<object?>().ToList();
                case "lower":
                    Need(name, args, 1);
                    return Show(args[0]).ToLowerInvariant();
                case "upper":
                    Need(name, args, 1);
                    return Show(args[0]).ToUpperInvariant();
                case "title":
                    Need(name, args, 1);
                    return string.Join(' ', Show(args[0]).Split(' ').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));
                case "truncate":
                {
                    Need(name, args, 2);
                    string s = Show(args[0]);
                    int n = (int)ToLong(args[1]);
                    return s.Length > n ? s[..n] : s;
                }
                case "pad":
                    Need(name, args, 3);
                    return new string(' ', (int)ToLong(args[1])) + Show(args[0]) + new string(' ', (int)ToLong(args[2]));
                case "println":
                    return string.Join(' ', args.Select(Show)) + "\n";
                case "print":
                {
                    var sb = new StringBuilder();
                    for (int i = 0; i < args.Count; i++)
                    {
                        if (i > 0 && Unwrap(args[i]) is not string && Unwrap(args[i - 1]) is not string) sb.Append(' ');
                        sb.Append(Show(args[i]));
                    }
                    return sb.ToString();
                }
                case "printf":
                    if (args.Count < 1) throw new TemplateException("wrong number of args for printf");
                    return Printf(Show(args[0]), args.Skip(1).ToList());
                case "index":
                {
                    if (args.Count < 1) throw new TemplateException("wrong number of args for index");
                    object? value = args[0];
                    foreach (var key in args.Skip(1))
                    {
                        var k = Unwrap(key);
                        value = Unwrap(value) switch
                        {
                            // Docker's maps (Labels, Options) hold strings: a missing key is "".
                            JsonObject o => o.TryGetPropertyValue(Show(k), out var child) ? child : "",
                            IDictionary<string, object?> d => d.TryGetValue(Show(k), out var child) ? child : "",
                            JsonArray a when k is long or int => ToLong(k) is var i && i >= 0 && i < a.Count ? a[(int)i]
                                : throw new TemplateException($"error calling index: index out of range: {i}"),
                            null or NoValueMarker => "",
                            _ => throw new TemplateException($"can't index item of type {TypeName(value)}"),
                        };
                    }
                    return value;
                }
                case "len":
                    Need(name, args, 1);
                    return Unwrap(args[0]) switch
                    {
                        string s => (long)s.Length,
                        JsonArray a => (long)a.Count,
                        JsonObject o => (long)o.Count,
                        System.Collections.ICollection c => (long)c.Count,
                        var other => throw new TemplateException($"error calling len: len of type {TypeName(other)}"),
                    };
                case "not":
                    Need(name, args, 1);
                    return !IsTrue(args[0]);
                case "and":
                    return args.FirstOrDefault(a => !IsTrue(a), args.LastOrDefault());
                case "or":
                    return args.FirstOrDefault(IsTrue, args.LastOrDefault());
                case "eq":
                    if (args.Count < 2) throw new TemplateException("wrong number of args for eq");
                    return args.Skip(1).Any(a => Compare(args[0], a) == 0);
                case "ne":
                    Need(name, args, 2);
                    return Compare(args[0], args[1]) != 0;
                case "lt":
                    Need(name, args, 2);
                    return Compare(args[0], args[1]) < 0;
                case "le":
                    Need(name, args, 2);
                    return Compare(args[0], args[1]) <= 0;
                case "gt":
                    Need(name, args, 2);
                    return Compare(args[0], args[1]) > 0;
                case "ge":
                    Need(name, args, 2);
                    return Compare(args[0], args[1]) >= 0;
                default:
                    throw new TemplateException($"function \"{name}\" not defined");
            }
        }

        private static void Need(string name, List<object?> args, int count)
        {
            if (args.Count != count) throw new TemplateException($"wrong number of args for {name}: want {count} got {args.Count}");
        }

        private static long ToLong(object? value) => Unwrap(value) switch
        {
            long l => l,
            int i => i,
            double d => (long)d,
            string s when long.TryParse(s, out long l) => l,
            var other => throw new TemplateException($"expected integer; found {Show(other)}"),
        };

        private static int Compare(object? a, object? b)
        {
            a = Unwrap(a);
            b = Unwrap(b);
            if (a is long or int or double && b is long or int or double)
                return Convert.ToDouble(a, CultureInfo.InvariantCulture).CompareTo(Convert.ToDouble(b, CultureInfo.InvariantCulture));
            if (a is bool x && b is bool y) return x == y ? 0 : x ? 1 : -1;
            return string.CompareOrdinal(Show(a), Show(b));
        }

        private static string Printf(string format, List<object?> args)
        {
            var sb = new StringBuilder();
            int next = 0;
            for (int i = 0; i < format.Length; i++)
            {
                if (format[i] != '%' || i + 1 >= format.Length)
                {
                    sb.Append(format[i]);
                    continue;
                }
                char verb = format[++i];
                if (verb == '%')
                {
                    sb.Append('%');
                    continue;
                }
                if (next >= args.Count)
                {
                    sb.Append($"%!{verb}(MISSING)");
                    continue;
                }
                var arg = args[next++];
                sb.Append(verb switch
                {
                    'q' => Formatting.GoQuote(Show(arg)),
                    'd' => ToLong(arg).ToString(CultureInfo.InvariantCulture),
                    _ => Show(arg),
                });
            }
            return sb.ToString();
        }
    }

    // ---------------------------------------------------------------- parser

    private sealed class Parser(string text)
    {
        private int _pos;

        private enum Kind { Text, Action }

        private readonly record struct Chunk(Kind Kind, string Value, int Offset = 0);

        private List<Chunk> _chunks = new();
        private int _index;

        public List<Node> ParseAll()
        {
            _chunks = Lex();
            var nodes = ParseList(out string? terminator, out _);
            if (terminator is not null) throw new TemplateException($"unexpected {{{{{terminator}}}}}");
            return nodes;
        }

        private List<Chunk> Lex()
        {
            var chunks = new List<Chunk>();
            var pendingText = new StringBuilder();
            while (_pos < text.Length)
            {
                int open = text.IndexOf("{{", _pos, StringComparison.Ordinal);
                if (open < 0)
                {
                    pendingText.Append(text, _pos, text.Length - _pos);
                    break;
                }
                pendingText.Append(text, _pos, open - _pos);
                int start = open + 2;
                bool trimLeft = start < text.Length && text[start] == '-' && start + 1 < text.Length && char.IsWhiteSpace(text[start + 1]);
                if (trimLeft) start++;
                int close = FindClose(start);
                if (close < 0) throw new TemplateException("unclosed action");
                int end = close;
                bool trimRight = end - 1 >= start && text[end - 1] == '-' && end - 2 >= start && char.IsWhiteSpace(text[end - 2]);
                if (trimRight) end--;
                if (trimLeft)
                {
                    string t = pendingText.ToString().TrimEnd();
                    pendingText.Clear().Append(t);
                }
                if (pendingText.Length > 0) chunks.Add(new Chunk(Kind.Text, pendingText.ToString()));
                pendingText.Clear();
                string raw = text[start..end];
                string action = raw.Trim();
                int offset = start + (raw.Length - raw.TrimStart().Length);
                if (!(action.StartsWith("/*", StringComparison.Ordinal) && action.EndsWith("*/", StringComparison.Ordinal)))
                    chunks.Add(new Chunk(Kind.Action, action, offset));
                _pos = close + 2;
                if (trimRight)
                    while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
            }
            if (pendingText.Length > 0) chunks.Add(new Chunk(Kind.Text, pendingText.ToString()));
            return chunks;
        }

        /// <summary>The "}}" that closes an action, skipping quoted strings.</summary>
        private int FindClose(int from)
        {
            for (int i = from; i < text.Length - 1; i++)
            {
                char c = text[i];
                if (c == '"')
                {
                    for (i++; i < text.Length && text[i] != '"'; i++)
                        if (text[i] == '\\') i++;
                }
                else if (c == '`')
                {
                    i = text.IndexOf('`', i + 1);
                    if (i < 0) return -1;
                }
                else if (c == '}' && text[i + 1] == '}') return i;
            }
            return -1;
        }

        /// <summary>Nodes up to {{end}} or {{else ...}}; <paramref name="terminator"/> says which ("end", "else", or null at the end).</summary>
        private List<Node> ParseList(out string? terminator, out string? elseRest)
        {
            var nodes = new List<Node>();
            elseRest = null;
            while (_index < _chunks.Count)
            {
                var chunk = _chunks[_index++];
                if (chunk.Kind == Kind.Text)
                {
                    nodes.Add(new TextNode(chunk.Value));
                    continue;
                }
                string action = chunk.Value;
                string keyword = FirstWord(action);
                string rest = action[keyword.Length..].TrimStart();
                int restOffset = chunk.Offset + (action.Length - rest.Length);
                rest = rest.TrimEnd();
                switch (keyword)
                {
                    case "end":
                        terminator = "end";
                        return nodes;
                    case "else":
                        terminator = "else";
                        elseRest = rest;
                        return nodes;
                    case "if":
                    case "with":
                        nodes.Add(ParseIf(rest, restOffset, keyword == "with"));
                        break;
                    case "range":
                    {
                        var pipeline = ParsePipeline(rest, restOffset, allowDeclarations: true);
                        var body = ParseList(out string? term, out string? elseText);
                        List<Node>? otherwise = null;
                        if (term == "else")
                        {
                            if (!string.IsNullOrEmpty(elseText)) throw new TemplateException("unexpected {{else " + elseText + "}} in range");
                            otherwise = ParseList(out term, out _);
                        }
                        if (term != "end") throw new TemplateException("unexpected EOF: {{range}} without {{end}}");
                        nodes.Add(new RangeNode(pipeline, body, otherwise));
                        break;
                    }
                    default:
                        if (action.Length == 0) throw new TemplateException("missing value for command");
                        nodes.Add(new ActionNode(ParsePipeline(action, chunk.Offset, allowDeclarations: true)));
                        break;
                }
            }
            terminator = null;
            return nodes;
        }

        private IfNode ParseIf(string condition, int offset, bool with)
        {
            var pipeline = ParsePipeline(condition, offset, allowDeclarations: true);
            var then = ParseList(out string? term, out string? elseText);
            List<Node>? otherwise = null;
            if (term == "else")
            {
                if (!string.IsNullOrEmpty(elseText) && (FirstWord(elseText) is "if" or "with"))
                {
                    // {{else if X}} ... {{end}}: a nested if sharing this {{end}}.
                    string word = FirstWord(elseText);
                    otherwise = [ParseIf(elseText[word.Length..].Trim(), offset, word == "with")];
                    term = "end";
                }
                else
                {
                    otherwise = ParseList(out term, out _);
                }
            }
            if (term != "end") throw new TemplateException($"unexpected EOF: {{{{{(with ? "with" : "if")}}}}} without {{{{end}}}}");
            return new IfNode(pipeline, then, otherwise, with);
        }

        private static string FirstWord(string action)
        {
            int i = 0;
            while (i < action.Length && char.IsAsciiLetter(action[i])) i++;
            string word = action[..i];
            return word is "if" or "else" or "end" or "range" or "with" && (i == action.Length || !char.IsAsciiLetterOrDigit(action[i])) ? word : "";
        }

        // ------------------------------------------------------------ pipelines

        private static Pipeline ParsePipeline(string source, int baseOffset, bool allowDeclarations)
        {
            var offsets = new List<int>();
            var tokens = Tokenize(source, offsets);
            int i = 0;
            var declarations = new List<string>();
            if (allowDeclarations)
            {
                // $x := ... or $k, $v := ...
                int j = 0;
                var names = new List<string>();
                while (j < tokens.Count && tokens[j].StartsWith('$') && !tokens[j].Contains('.'))
                {
                    names.Add(tokens[j]);
                    j++;
                    if (j < tokens.Count && tokens[j] == ",") j++;
                    else break;
                }
                if (names.Count > 0 && j < tokens.Count && tokens[j] is ":=" or "=")
                {
                    declarations = names;
                    i = j + 1;
                }
            }
            var commands = new List<List<Operand>>();
            var current = new List<Operand>();
            while (i < tokens.Count)
            {
                string token = tokens[i++];
                if (token == "|")
                {
                    if (current.Count == 0) throw new TemplateException("missing command before |");
                    commands.Add(current);
                    current = new List<Operand>();
                    continue;
                }
                if (token == "(")
                {
                    int depth = 1, start = i;
                    while (i < tokens.Count && depth > 0)
                    {
                        if (tokens[i] == "(") depth++;
                        else if (tokens[i] == ")") depth--;
                        i++;
                    }
                    if (depth != 0) throw new TemplateException("unclosed left paren");
                    var inner = ParsePipeline(string.Join(' ', tokens.GetRange(start, i - start - 1)), baseOffset + offsets[start], false);
                    var chain = new List<string>();
                    while (i < tokens.Count && tokens[i].StartsWith('.') && tokens[i].Length > 1)
                        chain.AddRange(tokens[i++][1..].Split('.'));
                    current.Add(new GroupOperand(inner, chain));
                    continue;
                }
                current.Add(ParseOperand(token, baseOffset + offsets[i - 1]));
            }
            if (current.Count == 0) throw new TemplateException("missing value for command");
            commands.Add(current);
            return new Pipeline(declarations, commands);
        }


        private static Operand ParseOperand(string token, int offset)
        {
            if (token == ".") return new FieldOperand([], offset);
            // Go reports a chain's position at its second element (.A.B → .B), a single field at itself.
            if (token.StartsWith('.'))
            {
                int second = token.IndexOf('.', 1);
                return new FieldOperand(token[1..].Split('.').ToList(), offset + (second < 0 ? 0 : second));
            }
            if (token.StartsWith('$'))
            {
                int dot = token.IndexOf('.');
                offset += dot < 0 ? 0 : dot;
                return dot < 0 ? new VariableOperand(token, [], offset) : new VariableOperand(token[..dot], token[(dot + 1)..].Split('.').ToList(), offset);
            }
            if (token.StartsWith('"')) return new LiteralOperand(Unquote(token));
            if (token.StartsWith('`')) return new LiteralOperand(token[1..^1]);
            if (token is "true" or "false") return new LiteralOperand(token == "true");
            if (token == "nil") return new LiteralOperand(null);
            if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l)) return new LiteralOperand(l);
            if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return new LiteralOperand(d);
            if (token.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')) return new IdentOperand(token);
            throw new TemplateException($"unexpected \"{token}\" in command");
        }

        private static string Unquote(string token)
        {
            try { return JsonSerializer.Deserialize<string>(token) ?? ""; }
            catch (JsonException) { throw new TemplateException($"bad string syntax: {token}"); }
        }

        private static List<string> Tokenize(string source, List<int> offsets)
        {
            var tokens = new List<string>();
            int i = 0;
            while (i < source.Length)
            {
                char c = source[i];
                if (char.IsWhiteSpace(c))
                {
                    i++;
                    continue;
                }
                int start = i;
                offsets.Add(start);
                if (c == '"')
                {
                    for (i++; i < source.Length && source[i] != '"'; i++)
                        if (source[i] == '\\') i++;
                    if (i >= source.Length) throw new TemplateException("unterminated quoted string");
                    tokens.Add(source[start..++i]);
                }
                else if (c == '`')
                {
                    int end = source.IndexOf('`', i + 1);
                    if (end < 0) throw new TemplateException("unterminated raw quoted string");
                    tokens.Add(source[start..(end + 1)]);
                    i = end + 1;
                }
                else if (c is '|' or '(' or ')' or ',')
                {
                    tokens.Add(c.ToString());
                    i++;
                }
                else if (c == ':' && i + 1 < source.Length && source[i + 1] == '=')
                {
                    tokens.Add(":=");
                    i += 2;
                }
                else if (c == '=')
                {
                    tokens.Add("=");
                    i++;
                }
                else
                {
                    while (i < source.Length && !char.IsWhiteSpace(source[i]) && source[i] is not ('|' or '(' or ')' or ',' or '=')
                           && !(source[i] == ':' && i + 1 < source.Length && source[i + 1] == '='))
                        i++;
                    tokens.Add(source[start..i]);
                }
            }
            return tokens;
        }
    }
}
