using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Runtime.Security;

public sealed record SeccompArgument(uint Index, ulong Value, ulong ValueTwo, string Op);

/// <summary>When a rule applies: Go architecture names ("amd64"), capabilities, a minimum kernel.</summary>
public sealed record SeccompCondition(IReadOnlyList<string> Arches, IReadOnlyList<string> Caps, Version? MinKernel)
{
    public static readonly SeccompCondition None = new([], [], null);
}

public sealed record SeccompRule(IReadOnlyList<string> Names, string Action, uint? ErrnoRet,
    IReadOnlyList<SeccompArgument> Args, SeccompCondition Includes, SeccompCondition Excludes);

public sealed record SeccompArch(string Architecture, IReadOnlyList<string> SubArchitectures);

/// <summary>Where a profile is translated for: the host's architecture (Go's and libseccomp's names), kernel.</summary>
public sealed record SeccompHost(string GoArch, string SeccompArch, Version Kernel)
{
    /// <summary>This machine: Go's GOARCH names, as profiles' includes/excludes use them.</summary>
    public static SeccompHost Current { get; } = Detect();

    private static SeccompHost Detect()
    {
        var (goArch, seccompArch) = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => ("amd64", "SCMP_ARCH_X86_64"),
            System.Runtime.InteropServices.Architecture.X86 => ("x86", "SCMP_ARCH_X86"),
            System.Runtime.InteropServices.Architecture.Arm64 => ("arm64", "SCMP_ARCH_AARCH64"),
            System.Runtime.InteropServices.Architecture.Arm => ("arm", "SCMP_ARCH_ARM"),
            System.Runtime.InteropServices.Architecture.S390x => ("s390x", "SCMP_ARCH_S390X"),
            System.Runtime.InteropServices.Architecture.Ppc64le => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            var other => (other.ToString().ToLowerInvariant(), ""),
        };
        string release = "0.0";
        try { release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { }
        return new SeccompHost(goArch, seccompArch, SeccompProfile.ParseKernelVersion(release) ?? new Version(0, 0));
    }
}

/// <summary>A seccomp profile in Docker's format (defaultAction, defaultErrnoRet, archMap or architectures, syscalls
/// with includes/excludes by arch, caps and minKernel), and its translation to the OCI `linux.seccomp` section for
/// one container: rules whose conditions do not hold for this host and this container's capabilities are left
/// out, the architectures are the host's entry of archMap. Parsing and translating are pure.</summary>
public sealed class SeccompProfile
{
    private static readonly HashSet<string> Actions =
    [
        "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
    ];

    private static readonly HashSet<string> Operators =
    [
        "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
    ];

    public string DefaultAction { get; private init; } = "";
    public uint? DefaultErrnoRet { get; private init; }
    public IReadOnlyList<string> Architectures { get; private init; } = [];
    public IReadOnlyList<SeccompArch> ArchMap { get; private init; } = [];
    public IReadOnlyList<string> Flags { get; private init; } = [];
    public string ListenerPath { get; private init; } = "";
    public string ListenerMetadata { get; private init; } = "";
    public IReadOnlyList<SeccompRule> Syscalls { get; private init; } = [];

    /// <summary>As dockerd: a profile with neither a default action nor rules means no filter at all.</summary>
    public bool IsEmpty => DefaultAction.Length == 0 && Syscalls.Count == 0;

    /// <summary>Reads a profile; a malformed one is a <see cref="SecurityOptionException"/> that says where.</summary>
    public static SeccompProfile Parse(string json)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw Bad($"it is not valid JSON ({e.Message})"); }
        if (root is not JsonObject profile) throw Bad("it is not a JSON object");

        var architectures = Strings(profile, "architectures");
        var archMap = new List<SeccompArch>();
        foreach (var entry in Objects(profile, "archMap"))
            archMap.Add(new SeccompArch(Text(entry, "architecture"), Strings(entry, "subArchitectures")));
        if (architectures.Count > 0 && archMap.Count > 0)
            throw Bad("'architectures' and 'archMap' were both given: use one of them");

        var rules = new List<SeccompRule>();
        int index = 0;
        foreach (var call in Objects(profile, "syscalls"))
        {
            string where = $"syscalls[{index++}]";
            string name = Text(call, "name");
            var names = Strings(call, "names");
            if (name.Length > 0 && names.Count > 0) throw Bad($"{where}: 'name' and 'names' were both given");
            if (name.Length > 0) names = [name];
            if (names.Count == 0) throw Bad($"{where}: no syscall names");
            string action = Text(call, "action");
            if (!Actions.Contains(action)) throw Bad($"{where}: unknown action \"{action}\"");
            var args = new List<SeccompArgument>();
            foreach (var arg in Objects(call, "args"))
            {
                string op = Text(arg, "op");
                if (!Operators.Contains(op)) throw Bad($"{where}: unknown argument operator \"{op}\"");
                args.Add(new SeccompArgument((uint)Number(arg, "index", where), Number(arg, "value", where),
                    Number(arg, "valueTwo", where), op));
            }
            rules.Add(new SeccompRule(names, action, OptionalNumber(call, "errnoRet", where) is { } e ? (uint)e : null,
                args, Condition(call, "includes", where), Condition(call, "excludes", where)));
        }

        string defaultAction = Text(profile, "defaultAction");
        if (defaultAction.Length > 0 && !Actions.Contains(defaultAction))
            throw Bad($"unknown defaultAction \"{defaultAction}\"");
        if (defaultAction.Length == 0 && rules.Count > 0) throw Bad("rules without a defaultAction");
        return new SeccompProfile
        {
            DefaultAction = defaultAction,
            DefaultErrnoRet = OptionalNumber(profile, "defaultErrnoRet", "defaultErrnoRet") is { } d ? (uint)d : null,
            Architectures = architectures,
            ArchMap = archMap,
            Flags = Strings(profile, "flags"),
            ListenerPath = Text(profile, "listenerPath"),
            ListenerMetadata = Text(profile, "listenerMetadata"),
            Syscalls = rules,
        };
    }

    /// <summary>The OCI `linux.seccomp` object for a container with <paramref name="capabilities"/> (its bounding
    /// set) on <paramref name="host"/>; null for an empty profile.</summary>
    public JsonObject? ToOci(IReadOnlyCollection<string> capabilities, SeccompHost host)
    {
        if (IsEmpty) return null;
        var architectures = new List<string>(Architectures);
        if (ArchMap.FirstOrDefault(a => a.Architecture == host.SeccompArch) is { } native)
            architectures.AddRange([native.Architecture, .. native.SubArchitectures]);

        var syscalls = new JsonArray();
        foreach (var rule in Syscalls.Where(r => Applies(r, capabilities, host)))
        {
            var entry = new JsonObject { ["names"] = Array(rule.Names), ["action"] = rule.Action };
            if (rule.ErrnoRet is { } errno) entry["errnoRet"] = errno;
            if (rule.Args.Count > 0)
                entry["args"] = new JsonArray(rule.Args.Select(a => (JsonNode?)new JsonObject
                {
                    ["index"] = a.Index, ["value"] = a.Value, ["valueTwo"] = a.ValueTwo, ["op"] = a.Op,
                }).ToArray());
            syscalls.Add(entry);
        }
        var seccomp = new JsonObject { ["defaultAction"] = DefaultAction };
        if (DefaultErrnoRet is { } defaultErrno) seccomp["defaultErrnoRet"] = defaultErrno;
        if (architectures.Count > 0) seccomp["architectures"] = Array(architectures);
        if (Flags.Count > 0) seccomp["flags"] = Array(Flags);
        if (ListenerPath.Length > 0) seccomp["listenerPath"] = ListenerPath;
        if (ListenerMetadata.Length > 0) seccomp["listenerMetadata"] = ListenerMetadata;
        seccomp["syscalls"] = syscalls;
        return seccomp;
    }

    /// <summary>Excludes first (any match drops the rule), then includes (every condition must hold), as moby does.
    /// Capability conditions are about the container's own set, not the daemon's.</summary>
    private static bool Applies(SeccompRule rule, IReadOnlyCollection<string> caps, SeccompHost host)
    {
        var ex = rule.Excludes;
        if (ex.Arches.Contains(host.GoArch)) return false;
        if (ex.Caps.Any(caps.Contains)) return false;
        if (ex.MinKernel is { } exKernel && host.Kernel >= exKernel) return false;
        var inc = rule.Includes;
        if (inc.Arches.Count > 0 && !inc.Arches.Contains(host.GoArch)) return false;
        if (!inc.Caps.All(caps.Contains)) return false;
        if (inc.MinKernel is { } incKernel && host.Kernel < incKernel) return false;
        return true;
    }

    /// <summary>"6.18.44-fc-v782" → 6.18.44; "4.8" → 4.8.0; null when it does not start with major.minor.</summary>
    public static Version? ParseKernelVersion(string release)
    {
        var parts = new List<int>();
        foreach (string part in release.Split('.', 3))
        {
            string digits = new(part.TakeWhile(char.IsAsciiDigit).ToArray());
            if (digits.Length == 0 || !int.TryParse(digits, out int n)) break;
            parts.Add(n);
            if (digits.Length != part.Length) break;
        }
        return parts.Count switch
        {
            >= 3 => new Version(parts[0], parts[1], parts[2]),
            2 => new Version(parts[0], parts[1], 0),
            _ => null,
        };
    }

    private static SeccompCondition Condition(JsonObject call, string field, string where)
    {
        if (call[field] is not JsonObject condition) return SeccompCondition.None;
        string minKernel = Text(condition, "minKernel");
        Version? kernel = null;
        if (minKernel.Length > 0)
            kernel = ParseKernelVersion(minKernel) ?? throw Bad($"{where}.{field}: bad minKernel \"{minKernel}\"");
        return new SeccompCondition(Strings(condition, "arches"), Strings(condition, "caps"), kernel);
    }

    private static string Text(JsonObject node, string field) => node[field] switch
    {
        null => "",
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw Bad($"'{field}' is not a string"),
    };

    private static List<string> Strings(JsonObject node, string field) => node[field] switch
    {
        null => [],
        JsonArray a => a.Select(i => i is JsonValue v && v.TryGetValue(out string? s) ? s
            : throw Bad($"'{field}' holds something other than strings")).ToList(),
        _ => throw Bad($"'{field}' is not an array"),
    };

    private static IEnumerable<JsonObject> Objects(JsonObject node, string field) => node[field] switch
    {
        null => [],
        JsonArray a => a.Select(i => i as JsonObject ?? throw Bad($"'{field}' holds something other than objects")),
        _ => throw Bad($"'{field}' is not an array"),
    };

    private static ulong Number(JsonObject node, string field, string where) => OptionalNumber(node, field, where) ?? 0;

    private static ulong? OptionalNumber(JsonObject node, string field, string where) => node[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out ulong n) => n,
        JsonValue v when v.TryGetValue(out double d) && d >= 0 && d <= ulong.MaxValue && d == Math.Floor(d) => (ulong)d,
        _ => throw Bad($"{where}: '{field}' is not a non-negative integer"),
    };

    private static JsonArray Array(IEnumerable<string> items) =>
        new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());

    private static SecurityOptionException Bad(string why) => new($"invalid seccomp profile: {why}");
}
