using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>What `berth run` was asked for.</summary>
public sealed record RunSettings
{
    public required string Image { get; init; }
    public IReadOnlyList<string> Command { get; init; } = [];
    public bool Detach { get; init; }
    public bool AutoRemove { get; init; }
    public string? Name { get; init; }
    public IReadOnlyList<string> Publish { get; init; } = [];
    public bool PublishAll { get; init; }
    public IReadOnlyList<string> Expose { get; init; } = [];
    public IReadOnlyList<string> Env { get; init; } = [];
    public bool Interactive { get; init; }
    public bool Tty { get; init; }
    public string? Network { get; init; }
    public IReadOnlyList<string> NetworkAliases { get; init; } = [];
    /// <summary>`--ip`, `--ip6`, `--link-local-ip` (null: none given).</summary>
    public System.Text.Json.Nodes.JsonObject? IpamConfig { get; init; }
    public string? Hostname { get; init; }
    /// <summary>Null when not given; "" resets the image's entrypoint (sent as [""]).</summary>
    public string? Entrypoint { get; init; }
    public string? WorkingDir { get; init; }
    public string? User { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    public IReadOnlyList<string> Volumes { get; init; } = [];
    public IReadOnlyList<string> Mounts { get; init; } = [];
    public IReadOnlyList<string> Tmpfs { get; init; } = [];
    public IReadOnlyList<string> VolumesFrom { get; init; } = [];
    public string? Restart { get; init; }
    public IReadOnlyList<string> SecurityOpt { get; init; } = [];
    public bool Privileged { get; init; }
    public IReadOnlyList<string> CapAdd { get; init; } = [];
    public IReadOnlyList<string> CapDrop { get; init; } = [];
    public string? LogDriver { get; init; }
    public IReadOnlyList<string> LogOpt { get; init; } = [];
    public bool ReadOnly { get; init; }
    public (int Height, int Width) ConsoleSize { get; init; }
    /// <summary>From --health-* / --no-healthcheck; null leaves the image's.</summary>
    public JsonObject? Healthcheck { get; init; }
    /// <summary>HostConfig fields of the resource flags (<see cref="RunResources"/>), laid over the defaults.</summary>
    public JsonObject Resources { get; init; } = new();
    /// <summary>--pull, -q and --platform: when and how the image is pulled.</summary>
    public RunPull Pull { get; init; } = RunPull.Default;
    public string? DetachKeys { get; init; }
}

/// <summary>The `POST /containers/create` body the docker CLI 28 sends for `docker run`, and its -p/--expose
/// parsing (go-connections' nat.ParsePortSpecs, with its error messages).</summary>
public static class RunRequest
{
    public sealed record PortBinding(string HostIp, string HostPort);

    /// <summary>-p and --expose into ExposedPorts ("80/tcp") and PortBindings, as docker does on the client.</summary>
    public static (SortedSet<string> Exposed, SortedDictionary<string, List<PortBinding>> Bindings) ParsePorts(
        IEnumerable<string> publish, IEnumerable<string> expose)
    {
        var exposed = new SortedSet<string>(StringComparer.Ordinal);
        var bindings = new SortedDictionary<string, List<PortBinding>>(StringComparer.Ordinal);
        foreach (string spec in publish)
        {
            foreach (var (port, binding) in ParsePortSpec(spec))
            {
                exposed.Add(port);
                if (!bindings.TryGetValue(port, out var list)) bindings[port] = list = new();
                list.Add(binding);
            }
        }
        foreach (string e in expose)
        {
            if (e.Contains(':')) throw new CliException($"invalid port format for --expose: {e}", 125);
            var (proto, port) = SplitProtoPort(e);
            if (!TryParsePortRange(port, out ulong start, out ulong end, out string? error))
                throw new CliException($"invalid range format for --expose: {e}, error: {error}", 125);
            for (ulong p = start; p <= end; p++) exposed.Add($"{p}/{proto.ToLowerInvariant()}");
        }
        return (exposed, bindings);
    }

    /// <summary>nat.ParsePortSpec: ip:hostPort:containerPort[/proto] and its shorter forms, ranges, [v6].</summary>
    public static List<(string Port, PortBinding Binding)> ParsePortSpec(string rawPort)
    {
        var parts = rawPort.Split(':');
        int n = parts.Length;
        string containerPort = parts[^1];
        string ip = n switch { 1 or 2 => "", 3 => parts[0], _ => string.Join(':', parts[..(n - 2)]) };
        string hostPort = n >= 2 ? parts[n - 2] : "";
        string proto;
        (proto, containerPort) = SplitProtoPort(containerPort);
        if (ip.Length > 0 && ip[0] == '[')
        {
            int close = ip.IndexOf(']');
            if (close != ip.Length - 1) throw new CliException($"invalid IP address {ip}: address {ip}: missing ']' in address", 125);
            ip = ip[1..close];
        }
        if (ip.Length > 0 && !IsGoIp(ip)) throw new CliException($"invalid IP address: {ip}", 125);
        if (containerPort.Length == 0) throw new CliException($"no port specified: {rawPort}<empty>", 125);
        if (!TryParsePortRange(containerPort, out ulong start, out ulong end, out _))
            throw new CliException($"invalid containerPort: {containerPort}", 125);
        ulong hostStart = 0, hostEnd = 0;
        if (hostPort.Length > 0 && !TryParsePortRange(hostPort, out hostStart, out hostEnd, out _))
            throw new CliException($"invalid hostPort: {hostPort}", 125);
        if (hostPort.Length > 0 && end - start != hostEnd - hostStart && end != start)
            throw new CliException($"invalid ranges specified for container and host Ports: {containerPort} and {hostPort}", 125);
        string lower = proto.ToLowerInvariant();
        if (lower is not ("tcp" or "udp" or "sctp")) throw new CliException($"invalid proto: {proto}", 125);
        var result = new List<(string, PortBinding)>();
        for (ulong i = 0; i <= end - start; i++)
        {
            string host = hostPort.Length > 0 ? (hostStart + i).ToString(CultureInfo.InvariantCulture) : "";
            if (start == end && hostStart != hostEnd) host = $"{host}-{hostEnd}";
            result.Add(($"{start + i}/{lower}", new PortBinding(ip, host)));
        }
        return result;
    }

    /// <summary>nat.SplitProtoPort: "80/udp" → ("udp", "80"); no protocol → tcp.</summary>
    public static (string Proto, string Port) SplitProtoPort(string raw)
    {
        var parts = raw.Split('/');
        if (raw.Length == 0 || parts[0].Length == 0) return ("", "");
        if (parts.Length == 1) return ("tcp", raw);
        if (parts[1].Length == 0) return ("tcp", parts[0]);
        return (parts[1], parts[0]);
    }

    /// <summary>nat.ParsePortRange: "80" or "8000-8010", each 0..65535.</summary>
    public static bool TryParsePortRange(string ports, out ulong start, out ulong end, out string? error)
    {
        start = end = 0;
        error = null;
        if (ports.Length == 0)
        {
            error = "empty string specified for ports";
            return false;
        }
        var parts = ports.Split('-');
        if (!ParseUint16(parts[0], out start) || (parts.Length > 1 && !ParseUint16(parts[1], out end)))
        {
            error = $"strconv.ParseUint: parsing \"{ports}\": invalid syntax";
            return false;
        }
        if (parts.Length == 1) end = start;
        if (end < start)
        {
            error = $"invalid range specified for port: {ports}";
            return false;
        }
        return true;
    }

    private static bool ParseUint16(string text, out ulong value) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value <= 65535;

    /// <summary>Go's net.ParseIP: dotted quads without leading zeros, or IPv6 (no zone).</summary>
    public static bool IsGoIp(string text)
    {
        if (text.Contains(':')) return !text.Contains('%') && IPAddress.TryParse(text, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6;
        var octets = text.Split('.');
        return octets.Length == 4 && octets.All(o => o.Length is > 0 and <= 3 && o.All(char.IsAsciiDigit)
            && (o.Length == 1 || o[0] != '0') && int.Parse(o, CultureInfo.InvariantCulture) <= 255);
    }

    /// <summary>The create body, field for field as the docker CLI 28.2 sends it.</summary>
    public static JsonObject Build(RunSettings s)
    {
        var (exposed, bindings) = ParsePorts(s.Publish, s.Expose);
        bool attach = !s.Detach;
        var labels = new JsonObject();
        foreach (string label in s.Labels)
        {
            int eq = label.IndexOf('=');
            labels[eq < 0 ? label : label[..eq]] = eq < 0 ? "" : label[(eq + 1)..];
        }
        JsonArray? env = s.Env.Count == 0 ? null : Strings(s.Env.Select(ResolveEnv));
        JsonArray? entrypoint = s.Entrypoint is null ? null : Strings([s.Entrypoint]);
        var exposedPorts = new JsonObject();
        foreach (string port in exposed) exposedPorts[port] = new JsonObject();
        var portBindings = new JsonObject();
        foreach (var (port, list) in bindings)
            portBindings[port] = new JsonArray(list.Select(b => (JsonNode?)new JsonObject { ["HostIp"] = b.HostIp, ["HostPort"] = b.HostPort }).ToArray());
        var networkSpec = RunNetworkSpec.Parse(s.Network);
        string networkMode = string.IsNullOrEmpty(networkSpec.Name) ? "default" : networkSpec.Name;
        var (restartName, restartCount) = ParseRestart(s.Restart);
        var security = RunSecurityOptions.Parse(s.SecurityOpt);
        var logConfig = RunSecurityOptions.LogConfig(s.LogDriver, s.LogOpt);

        var endpoint = new JsonObject
        {
            ["Aliases"] = s.NetworkAliases.Count + networkSpec.Aliases.Count == 0 ? null : Strings(s.NetworkAliases.Concat(networkSpec.Aliases)),
            ["DNSNames"] = null,
            ["DriverOpts"] = null,
            ["EndpointID"] = "",
            ["Gateway"] = "",
            ["GlobalIPv6Address"] = "",
            ["GlobalIPv6PrefixLen"] = 0,
            ["GwPriority"] = networkSpec.GwPriority,
            ["IPAMConfig"] = s.IpamConfig,
            ["IPAddress"] = "",
            ["IPPrefixLen"] = 0,
            ["IPv6Gateway"] = "",
            ["Links"] = null,
            ["MacAddress"] = "",
            ["NetworkID"] = "",
        };

        var (anonymousVolumes, binds) = RunStorageOptions.SplitVolumes(s.Volumes);
        var body = new JsonObject
        {
            ["Hostname"] = s.Hostname ?? "",
            ["Domainname"] = "",
            ["User"] = s.User ?? "",
            ["AttachStdin"] = attach && s.Interactive,
            ["AttachStdout"] = attach,
            ["AttachStderr"] = attach,
            ["ExposedPorts"] = exposedPorts.Count == 0 ? null : exposedPorts,
            ["Tty"] = s.Tty,
            ["OpenStdin"] = s.Interactive,
            ["StdinOnce"] = attach && s.Interactive,
            ["Env"] = env,
            ["Cmd"] = s.Command.Count == 0 ? null : Strings(s.Command),
            ["Image"] = s.Image,
            ["Volumes"] = anonymousVolumes,
            ["WorkingDir"] = s.WorkingDir ?? "",
            ["Entrypoint"] = entrypoint,
            ["OnBuild"] = null,
            ["Labels"] = labels,
            ["HostConfig"] = new JsonObject
            {
                ["Binds"] = binds,
                ["ContainerIDFile"] = "",
                ["LogConfig"] = logConfig,
                ["NetworkMode"] = networkMode,
                ["PortBindings"] = portBindings,
                ["RestartPolicy"] = new JsonObject { ["Name"] = restartName, ["MaximumRetryCount"] = restartCount },
                ["AutoRemove"] = s.AutoRemove,
                ["VolumeDriver"] = "",
                ["VolumesFrom"] = s.VolumesFrom.Count == 0 ? null : Strings(s.VolumesFrom),
                ["ConsoleSize"] = new JsonArray(s.ConsoleSize.Height, s.ConsoleSize.Width),
                ["CapAdd"] = RunSecurityOptions.Capabilities(s.CapAdd),
                ["CapDrop"] = RunSecurityOptions.Capabilities(s.CapDrop),
                ["CgroupnsMode"] = "",
                ["Dns"] = new JsonArray(),
                ["DnsOptions"] = new JsonArray(),
                ["DnsSearch"] = new JsonArray(),
                ["ExtraHosts"] = null,
                ["GroupAdd"] = null,
                ["IpcMode"] = "",
                ["Cgroup"] = "",
                ["Links"] = null,
                ["OomScoreAdj"] = 0,
                ["PidMode"] = "",
                ["Privileged"] = s.Privileged,
                ["PublishAllPorts"] = s.PublishAll,
                ["ReadonlyRootfs"] = s.ReadOnly,
                ["SecurityOpt"] = security.Options.Count == 0 ? null : Strings(security.Options),
                ["UTSMode"] = "",
                ["UsernsMode"] = "",
                ["ShmSize"] = 0,
                ["Isolation"] = "",
                ["CpuShares"] = 0,
                ["Memory"] = 0,
                ["NanoCpus"] = 0,
                ["CgroupParent"] = "",
                ["BlkioWeight"] = 0,
                ["BlkioWeightDevice"] = new JsonArray(),
                ["BlkioDeviceReadBps"] = new JsonArray(),
                ["BlkioDeviceWriteBps"] = new JsonArray(),
                ["BlkioDeviceReadIOps"] = new JsonArray(),
                ["BlkioDeviceWriteIOps"] = new JsonArray(),
                ["CpuPeriod"] = 0,
                ["CpuQuota"] = 0,
                ["CpuRealtimePeriod"] = 0,
                ["CpuRealtimeRuntime"] = 0,
                ["CpusetCpus"] = "",
                ["CpusetMems"] = "",
                ["Devices"] = new JsonArray(),
                ["DeviceCgroupRules"] = null,
                ["DeviceRequests"] = null,
                ["MemoryReservation"] = 0,
                ["MemorySwap"] = 0,
                ["MemorySwappiness"] = -1,
                ["OomKillDisable"] = false,
                ["PidsLimit"] = 0,
                ["Ulimits"] = new JsonArray(),
                ["CpuCount"] = 0,
                ["CpuPercent"] = 0,
                ["IOMaximumIOps"] = 0,
                ["IOMaximumBandwidth"] = 0,
                // systempaths=unconfined: empty lists (not null) tell the engine to mask nothing.
                ["MaskedPaths"] = security.UnconfinedSystemPaths ? new JsonArray() : null,
                ["ReadonlyPaths"] = security.UnconfinedSystemPaths ? new JsonArray() : null,
            },
            ["NetworkingConfig"] = new JsonObject
            {
                ["EndpointsConfig"] = new JsonObject { [networkMode] = endpoint },
            },
        };
        // Omitted when unset, as the docker CLI (omitempty): the image's check stays.
        if (s.Healthcheck is not null) body["Healthcheck"] = s.Healthcheck.DeepClone();
        var hostConfig = body["HostConfig"]!.AsObject();
        foreach (var (key, value) in s.Resources) hostConfig[key] = value?.DeepClone();
        // Mounts and Tmpfs are omitempty in the docker CLI's HostConfig.
        if (s.Mounts.Count > 0) hostConfig["Mounts"] = new JsonArray(s.Mounts.Select(m => (JsonNode?)RunStorageOptions.Mount(m)).ToArray());
        if (RunStorageOptions.Tmpfs(s.Tmpfs) is { } tmpfs) hostConfig["Tmpfs"] = tmpfs;
        return body;
    }

    /// <summary>"-e VAR" takes VAR's value from the client's environment when it has one, as docker does.</summary>
    private static string ResolveEnv(string entry)
    {
        if (entry.Contains('=')) return entry;
        string? value = Environment.GetEnvironmentVariable(entry);
        return value is null ? entry : $"{entry}={value}";
    }

    public static (string Name, int MaximumRetryCount) ParseRestart(string? policy)
    {
        if (string.IsNullOrEmpty(policy)) return ("no", 0);
        var parts = policy.Split(':', 2);
        string name = parts[0];
        if (name is not ("no" or "always" or "unless-stopped" or "on-failure"))
            throw new CliException($"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", 125);
        int count = 0;
        if (parts.Length == 2 && (name != "on-failure" || !int.TryParse(parts[1], out count) || count < 0))
            throw new CliException($"invalid restart policy format: {policy}", 125);
        return (name, count);
    }

    private static JsonArray Strings(IEnumerable<string> items) => new(items.Select(i => (JsonNode?)JsonValue.Create(i)).ToArray());
}
