using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Berth.Runtime.Containers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Runtime.Security;

/// <summary>What one container gets beyond its spec: seccomp filter, AppArmor profile, the host's devices.</summary>
public sealed record Isolation(JsonObject? Seccomp, string? AppArmorProfile, IReadOnlyList<DeviceNode> Devices)
{
    public static readonly Isolation None = new(null, null, []);
}

/// <summary>The host's confinement facilities, found once at daemon start: Docker's default seccomp profile (read
/// from a packaged file, parsed once, translated once per capability set), AppArmor where the host has it.
/// Turns a container's security options into its <see cref="Isolation"/>.</summary>
public sealed class HostSecurity
{
    /// <summary>Where the default profile is looked for, first found wins: Docker's own profile
    /// (scripts/install-deps.sh puts the one Debian's golang-github-docker-docker-dev ships at the first path; the
    /// package itself installs the second), then Debian's containers-common profile (Podman's: less strict, it lets
    /// unshare, keyctl and mount through to the capability checks).</summary>
    public static readonly IReadOnlyList<string> DefaultProfilePaths =
    [
        "/usr/share/berth/seccomp/default.json",
        "/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json",
        "/usr/share/containers/seccomp.json",
    ];

    private const int CustomProfileCacheSize = 32;
    private readonly ConcurrentDictionary<string, JsonObject?> _defaultByCaps = new();
    private readonly ConcurrentDictionary<string, SeccompProfile> _custom = new();
    private readonly SeccompHost _host;
    private string? _appArmorDirectory;

    public HostSecurity(SeccompProfile? defaultSeccomp, string defaultSeccompSource, bool seccompSupported,
        bool appArmorEnabled, string? defaultAppArmorProfile, SeccompHost? host = null)
    {
        DefaultSeccomp = defaultSeccomp;
        DefaultSeccompSource = defaultSeccompSource;
        SeccompSupported = seccompSupported;
        AppArmorEnabled = appArmorEnabled;
        DefaultAppArmorProfile = defaultAppArmorProfile;
        _host = host ?? SeccompHost.Current;
    }

    /// <summary>None of it: what the runtime probe and tests without a daemon use.</summary>
    public static HostSecurity Unconfined { get; } = new(null, "", seccompSupported: true, false, null);

    public SeccompProfile? DefaultSeccomp { get; }
    public string DefaultSeccompSource { get; }
    public bool SeccompSupported { get; }
    public bool AppArmorEnabled { get; }
    public string? DefaultAppArmorProfile { get; }

    /// <summary>dockerd's `--seccomp-profile` values besides a path: Docker's own profile, or no filter at all.</summary>
    public const string BuiltinProfile = "builtin", UnconfinedProfile = "unconfined";

    /// <summary>The daemon's `--seccomp-profile` as given (a path, "unconfined"), or null for the built-in default.</summary>
    public string? DaemonProfile { get; private init; }

    /// <summary>As dockerd's /info SecurityOptions: what is active; the profile is "builtin", "unconfined" or the
    /// daemon's --seccomp-profile path.</summary>
    public IReadOnlyList<string> InfoOptions =>
    [
        .. AppArmorEnabled ? ["name=apparmor"] : Array.Empty<string>(),
        .. !SeccompSupported ? Array.Empty<string>()
            : DaemonProfile is { } given ? [$"name=seccomp,profile={given}"]
            : DefaultSeccomp is not null ? [$"name=seccomp,profile={BuiltinProfile}"] : Array.Empty<string>(),
    ];

    /// <summary>Reads the daemon's `--seccomp-profile` file as dockerd does at start: a file that cannot be read or
    /// parsed stops the daemon (SecurityOptionException with dockerd's wording).</summary>
    public static SeccompProfile ReadDaemonProfile(string path)
    {
        try { return SeccompProfile.Parse(File.ReadAllText(path)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SecurityOptionException)
        {
            throw new SecurityOptionException($"opening seccomp profile ({path}) failed: {e.Message}");
        }
    }

    /// <summary>Looks at this host once; what is missing is logged and left out, never a failure.</summary>
    /// <param name="detectAppArmor">false in tests: loading a profile would change the host.</param>
    /// <param name="daemonProfile">dockerd's `--seccomp-profile`: a path (read here; a bad one is a
    /// SecurityOptionException), "unconfined" (no filter unless a container asks for one), or null/"builtin".</param>
    public static HostSecurity Detect(string stateDirectory, ILogger? logger = null,
        IReadOnlyList<string>? profilePaths = null, bool detectAppArmor = true, string? daemonProfile = null)
    {
        logger ??= NullLogger.Instance;
        profilePaths ??= DefaultProfilePaths;
        if (daemonProfile == BuiltinProfile) daemonProfile = null;
        bool seccompSupported = KernelHasSeccomp();
        SeccompProfile? profile = null;
        string source = "";
        if (!seccompSupported)
            logger.LogWarning("seccomp is not enabled in this kernel: containers run without a seccomp filter");
        else if (daemonProfile == UnconfinedProfile)
            logger.LogWarning("--seccomp-profile unconfined: containers run WITHOUT a seccomp filter unless they ask for one");
        else if (daemonProfile is not null)
        {
            profile = ReadDaemonProfile(daemonProfile);
            source = daemonProfile;
            logger.LogInformation("default seccomp profile: {Path} ({Rules} rules, --seccomp-profile)", source,
                profile.Syscalls.Count);
        }
        else
        {
            source = profilePaths.FirstOrDefault(File.Exists) ?? "";
            if (source.Length == 0)
                logger.LogWarning("no default seccomp profile found (looked for {Paths}; scripts/install-deps.sh "
                    + "installs one): containers run WITHOUT a seccomp filter", string.Join(", ", profilePaths));
            else
            {
                try
                {
                    profile = SeccompProfile.Parse(File.ReadAllText(source));
                    logger.LogInformation("default seccomp profile: {Path} ({Rules} rules)", source,
                        profile.Syscalls.Count);
                }
                catch (Exception e) when (e is SecurityOptionException or IOException)
                {
                    logger.LogWarning("the default seccomp profile {Path} cannot be used ({Error}): containers run "
                        + "WITHOUT a seccomp filter", source, e.Message);
                    source = "";
                }
            }
        }

        bool appArmor = detectAppArmor && AppArmor.HostSupports();
        string? appArmorProfile = null;
        if (!appArmor)
            logger.LogInformation("AppArmor is not enabled on this host: containers run without an AppArmor profile");
        else if (AppArmor.LoadDefaultProfile(Path.Combine(stateDirectory, "apparmor")) is { } error)
            logger.LogWarning("AppArmor profile {Profile} could not be loaded ({Error}): containers run without one",
                AppArmor.DefaultProfileName, error);
        else
        {
            appArmorProfile = AppArmor.DefaultProfileName;
            logger.LogInformation("AppArmor profile {Profile} loaded", appArmorProfile);
        }
        return new HostSecurity(profile, source, seccompSupported, appArmor, appArmorProfile)
        {
            _appArmorDirectory = Path.Combine(stateDirectory, "apparmor"),
            DaemonProfile = daemonProfile,
        };
    }

    /// <summary>Create-time checks, so a container that cannot start as asked is refused at once (400).</summary>
    public void Validate(SecurityOptions options, IEnumerable<string>? capAdd, IEnumerable<string>? capDrop)
    {
        Capabilities.Normalize(capAdd, "CapAdd");
        Capabilities.Normalize(capDrop, "CapDrop");
        if (options.Seccomp == SeccompMode.Custom)
        {
            if (!SeccompSupported)
                throw new SecurityOptionException(
                    "seccomp is not enabled in this kernel, cannot run a custom seccomp profile");
            Custom(options.SeccompProfile);
        }
        if (options.AppArmorProfile is { } requested && requested != "unconfined" && !AppArmorEnabled)
            throw new SecurityOptionException(
                $"invalid --security-opt: \"apparmor={requested}\": AppArmor is not enabled on this host");
    }

    /// <summary>The confinement of one container, from its options and effective capabilities.</summary>
    public Isolation Resolve(ContainerSpec spec, IReadOnlyList<string> capabilities)
    {
        var options = spec.Security;
        JsonObject? seccomp = null;
        if (SeccompSupported)
        {
            if (options.Seccomp == SeccompMode.Custom)
                seccomp = Custom(options.SeccompProfile).ToOci(capabilities, _host);
            else if (options.Seccomp == SeccompMode.Default && !spec.Privileged && DefaultSeccomp is { } profile)
                seccomp = _defaultByCaps.GetOrAdd(string.Join(',', capabilities.Order(StringComparer.Ordinal)),
                    _ => profile.ToOci(capabilities, _host))?.DeepClone().AsObject();
        }
        string? appArmor = null;
        if (AppArmorEnabled)
        {
            appArmor = options.AppArmorProfile ?? (spec.Privileged ? "unconfined" : DefaultAppArmorProfile);
            if (appArmor == AppArmor.DefaultProfileName && _appArmorDirectory is not null)
                AppArmor.EnsureDefaultProfileLoaded(_appArmorDirectory);
        }
        var devices = spec.Privileged ? HostDevices.Scan() : [];
        return new Isolation(seccomp, appArmor, devices);
    }

    private SeccompProfile Custom(string json)
    {
        if (_custom.TryGetValue(json, out var cached)) return cached;
        var parsed = SeccompProfile.Parse(json);
        if (_custom.Count >= CustomProfileCacheSize) _custom.Clear();
        _custom[json] = parsed;
        return parsed;
    }

    private static bool KernelHasSeccomp()
    {
        try { return File.ReadLines("/proc/self/status").Any(l => l.StartsWith("Seccomp:", StringComparison.Ordinal)); }
        catch (IOException) { return false; }
    }
}
