namespace Berth.Runtime.Security;

public enum SeccompMode { Default, Unconfined, Custom }

/// <summary>A `--security-opt` value Berth does not know or cannot honour: the API answers 400.</summary>
public sealed class SecurityOptionException(string message) : Exception(message);

/// <summary>HostConfig.SecurityOpt, parsed. The forms are dockerd's (`key=value`, the legacy `key:value`, bare
/// `no-new-privileges`, `writable-cgroups` and `disable`), plus `systempaths=unconfined` (which the docker CLI turns
/// into empty MaskedPaths/ReadonlyPaths itself, docker-py does not) and Podman's `mask=`/`unmask=`.
/// Anything else is refused rather than dropped.</summary>
public sealed record SecurityOptions
{
    public static readonly SecurityOptions None = new();

    public SeccompMode Seccomp { get; init; } = SeccompMode.Default;
    /// <summary>The profile's JSON for <see cref="SeccompMode.Custom"/> (the docker CLI sends the file's
    /// content).</summary>
    public string SeccompProfile { get; init; } = "";
    public bool NoNewPrivileges { get; init; }
    /// <summary>null: the engine's default; "unconfined" or a profile name otherwise.</summary>
    public string? AppArmorProfile { get; init; }
    public bool LabelDisabled { get; init; }
    public bool? WritableCgroups { get; init; }
    public bool SystemPathsUnconfined { get; init; }
    public IReadOnlyList<string> Mask { get; init; } = [];
    public IReadOnlyList<string> Unmask { get; init; } = [];
    public bool UnmaskAll { get; init; }

    public static SecurityOptions Parse(IEnumerable<string>? options)
    {
        var result = new SecurityOptions();
        foreach (string option in options ?? [])
            result = result.With(option);
        return result;
    }

    private SecurityOptions With(string option)
    {
        switch (option)
        {
            case "no-new-privileges": return this with { NoNewPrivileges = true };
            case "writable-cgroups": return this with { WritableCgroups = true };
            case "disable": return this with { LabelDisabled = true };
        }
        // As dockerd: '=' separates when present, else the deprecated ':'.
        int separator = option.IndexOf('=');
        if (separator < 0) separator = option.IndexOf(':');
        if (separator <= 0) throw Invalid(option, "expected key=value");
        string key = option[..separator], value = option[(separator + 1)..];
        if (value.Length == 0) throw Invalid(option, $"{key} needs a value");
        return key switch
        {
            "seccomp" => WithSeccomp(option, value),
            "no-new-privileges" => this with { NoNewPrivileges = Bool(option, value) },
            "writable-cgroups" => this with { WritableCgroups = Bool(option, value) },
            "apparmor" => this with { AppArmorProfile = value },
            "label" => WithLabel(option, value),
            "systempaths" when value == "unconfined" => this with { SystemPathsUnconfined = true },
            "systempaths" => throw Invalid(option, "the only value is systempaths=unconfined"),
            "mask" => this with { Mask = [.. Mask, .. Paths(option, value)] },
            "unmask" when value == "ALL" => this with { UnmaskAll = true },
            "unmask" => this with { Unmask = [.. Unmask, .. Paths(option, value)] },
            _ => throw Invalid(option, $"unknown option \"{key}\" (known: seccomp, apparmor, label, no-new-privileges, "
                + "systempaths, writable-cgroups, mask, unmask)"),
        };
    }

    private SecurityOptions WithSeccomp(string option, string value)
    {
        if (value == "unconfined") return this with { Seccomp = SeccompMode.Unconfined, SeccompProfile = "" };
        if (value == "builtin") return this with { Seccomp = SeccompMode.Default, SeccompProfile = "" };
        if (!value.TrimStart().StartsWith('{'))
            throw Invalid(Shorten(option), "a seccomp profile is sent as its JSON content (the docker CLI reads the "
                + "file and sends it); use seccomp=unconfined, seccomp=builtin or the profile's JSON");
        return this with { Seccomp = SeccompMode.Custom, SeccompProfile = value };
    }

    /// <summary>Berth applies no SELinux labels: `label=disable` says just that and is fine; a label to apply would be
    /// silently ignored (as dockerd does on a host without SELinux), so it is refused.</summary>
    private SecurityOptions WithLabel(string option, string value)
    {
        if (value == "disable") return this with { LabelDisabled = true };
        string labelKey = value.Split(':', 2)[0];
        if (labelKey is "user" or "role" or "type" or "level" or "filetype" or "nested")
            throw Invalid(option, "Berth does not apply SELinux labels (only label=disable is accepted)");
        throw Invalid(option, $"bad label option \"{value}\": valid ones are disable, or user, role, type, level, "
            + "filetype followed by ':' and a value");
    }

    /// <summary>Go's strconv.ParseBool, which dockerd uses.</summary>
    private static bool Bool(string option, string value) => value switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw Invalid(option, "expected true or false"),
    };

    private static string[] Paths(string option, string value)
    {
        var paths = value.Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (paths.Length == 0 || paths.Any(p => !p.StartsWith('/')))
            throw Invalid(option, "expected absolute paths separated by ':'");
        return paths;
    }

    private static string Shorten(string option) => option.Length <= 80 ? option : option[..77] + "...";

    private static SecurityOptionException Invalid(string option, string why) =>
        new($"invalid --security-opt: \"{option}\": {why}");
}
