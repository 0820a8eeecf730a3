using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Networking.Ports;

namespace Berth.Cni.Spec;

/// <summary>runtimeConfig.portMappings item: what containerd and the kubelet send for hostPort.</summary>
public sealed record PortMapping(IPAddress? HostIp, int HostPort, int ContainerPort, PortProtocol Protocol);

/// <summary>A prevResult's address: the container's IPv4 address and its subnet.</summary>
public sealed record PreviousAddress(IPAddress Address, int PrefixLength, IPAddress? Gateway);

/// <summary>The network configuration berth-cni reads from stdin: the spec's fields, Berth's own, the runtime's
/// runtimeConfig (portMappings, ips, mac) and, when chained, prevResult. Parsed with JsonNode: no reflection, so the
/// NativeAOT binary stays small and starts fast.</summary>
public sealed class NetworkConfig
{
    public required string CniVersion { get; init; }
    public required string Name { get; init; }
    public required JsonObject Raw { get; init; }
    public string? Bridge { get; init; }
    public IPNetwork? Subnet { get; init; }
    public IPAddress? Gateway { get; init; }
    /// <summary>host-local's rangeStart/rangeEnd: addresses handed out (and asked for) lie between them, inclusive.</summary>
    public IPAddress? RangeStart { get; init; }
    public IPAddress? RangeEnd { get; init; }
    public int Mtu { get; init; } = 1500;
    public bool HairpinMode { get; init; } = true;
    public required string IpamDataDir { get; init; }
    public required string StateDir { get; init; }
    public IReadOnlyList<PortMapping> PortMappings { get; init; } = [];
    public IReadOnlyList<(IPAddress Address, int? PrefixLength)> RequestedIps { get; init; } = [];
    public PhysicalAddress? RequestedMac { get; init; }
    public JsonObject? PrevResult { get; init; }
    public IReadOnlyList<(string ContainerId, string IfName)>? ValidAttachments { get; init; }

    public const string DefaultBridge = "berth-cni0";

    public static NetworkConfig Parse(string json)
    {
        JsonObject root;
        try { root = JsonNode.Parse(json) as JsonObject ?? throw new CniException(CniErrorCode.DecodeFailure, "network config is not a JSON object"); }
        catch (JsonException e) { throw new CniException(CniErrorCode.DecodeFailure, "network config is not valid JSON", e.Message); }
        string version = Str(root, "cniVersion") ?? throw Invalid("cniVersion is missing");
        string name = Str(root, "name") ?? throw Invalid("name is missing");
        var ipam = root["ipam"] as JsonObject;
        var runtime = root["runtimeConfig"] as JsonObject;
        // top level, ipam, or host-local's ipam.ranges[0][0]
        string? Address(string key) => Str(root, key) ?? (ipam is null ? null : Str(ipam, key) ?? FirstRange(ipam, key));
        var config = new NetworkConfig
        {
            CniVersion = version,
            Name = name,
            Raw = root,
            Bridge = Str(root, "bridge"),
            Subnet = ParseSubnet(Address("subnet")),
            Gateway = ParseAddress(Address("gateway"), "gateway"),
            RangeStart = ParseAddress(Address("rangeStart"), "rangeStart"),
            RangeEnd = ParseAddress(Address("rangeEnd"), "rangeEnd"),
            Mtu = Int(root, "mtu") ?? 1500,
            HairpinMode = root["hairpinMode"] is JsonValue h ? h.GetValue<bool>() : true,
            IpamDataDir = (ipam is null ? null : Str(ipam, "dataDir")) ?? "/var/lib/cni/networks",
            StateDir = Str(root, "dataDir") ?? "/var/lib/cni/berth",
            PortMappings = runtime?["portMappings"] is JsonArray maps ? maps.Select(ParseMapping).ToList() : [],
            // the "ips" capability, and the args convention's cni.ips (CNI_ARGS IP= is the plugin's to add)
            RequestedIps = (runtime?["ips"] as JsonArray ?? []).Concat((root["args"] as JsonObject)?["cni"]?["ips"] as JsonArray ?? [])
                .Select(ParseRequestedIp).ToList(),
            RequestedMac = runtime?["mac"] is JsonValue mac ? ParseMac(mac.GetValue<string>()) : null,
            PrevResult = root["prevResult"] as JsonObject,
            ValidAttachments = root["cni.dev/valid-attachments"] is JsonArray valid
                ? valid.OfType<JsonObject>().Select(a => (Str(a, "containerID") ?? "", Str(a, "ifname") ?? "")).ToList()
                : null,
        };
        config.CheckRange();
        return config;
    }

    /// <summary>Whether <paramref name="address"/> lies in rangeStart..rangeEnd (the whole subnet when they are not set).</summary>
    public bool InRange(IPAddress address) =>
        (RangeStart is null || Compare(address, RangeStart) >= 0) && (RangeEnd is null || Compare(address, RangeEnd) <= 0);

    private void CheckRange()
    {
        foreach (var (bound, key) in new[] { (RangeStart, "rangeStart"), (RangeEnd, "rangeEnd") })
            if (bound is not null && (Subnet is not { } subnet || bound.AddressFamily != AddressFamily.InterNetwork || !subnet.Contains(bound)))
                throw Invalid($"{key} {bound} is not in the subnet {Subnet?.ToString() ?? "(none)"}");
        if (RangeStart is not null && RangeEnd is not null && Compare(RangeStart, RangeEnd) > 0)
            throw Invalid($"rangeStart {RangeStart} is after rangeEnd {RangeEnd}");
    }

    private static int Compare(IPAddress a, IPAddress b) => a.GetAddressBytes().AsSpan().SequenceCompareTo(b.GetAddressBytes());

    /// <summary>The first IPv4 address in prevResult.ips, preferring one on an interface inside the sandbox.</summary>
    public PreviousAddress? PreviousIpv4()
    {
        if (PrevResult?["ips"] is not JsonArray ips) return null;
        var interfaces = PrevResult["interfaces"] as JsonArray;
        PreviousAddress? fallback = null;
        foreach (var ip in ips.OfType<JsonObject>())
        {
            if (Str(ip, "address") is not { } text || !IPNetwork.TryParse(text, out _)) continue;
            int slash = text.IndexOf('/');
            var address = IPAddress.Parse(text[..slash]);
            if (address.AddressFamily != AddressFamily.InterNetwork) continue;
            var found = new PreviousAddress(address, int.Parse(text[(slash + 1)..]), ParseAddress(Str(ip, "gateway"), "gateway"));
            int? index = Int(ip, "interface");
            bool inSandbox = index is { } i && interfaces is not null && i >= 0 && i < interfaces.Count
                && interfaces[i] is JsonObject iface && !string.IsNullOrEmpty(Str(iface, "sandbox"));
            if (inSandbox) return found;
            fallback ??= found;
        }
        return fallback;
    }

    /// <summary>Host-side interface names in prevResult (no sandbox): the bridge and the container's veth.</summary>
    public IEnumerable<string> PreviousHostInterfaces() =>
        (PrevResult?["interfaces"] as JsonArray ?? []).OfType<JsonObject>()
            .Where(i => string.IsNullOrEmpty(Str(i, "sandbox"))).Select(i => Str(i, "name")).OfType<string>();

    private static PortMapping ParseMapping(JsonNode? node)
    {
        if (node is not JsonObject m) throw Invalid("runtimeConfig.portMappings items must be objects");
        int host = Int(m, "hostPort") ?? 0, container = Int(m, "containerPort") ?? 0;
        if (host is < 1 or > 65535) throw Invalid($"invalid hostPort {host} in runtimeConfig.portMappings");
        if (container is < 1 or > 65535) throw Invalid($"invalid containerPort {container} in runtimeConfig.portMappings");
        string protocol = Str(m, "protocol") ?? "tcp";
        if (!ContainerPort.TryProtocol(protocol, out var proto)) throw Invalid($"invalid protocol {protocol} in runtimeConfig.portMappings");
        var hostIp = ParseAddress(Str(m, "hostIP"), "hostIP");
        if (hostIp is not null && (hostIp.Equals(IPAddress.Any) || hostIp.Equals(IPAddress.IPv6Any))) hostIp = null;
        // The containers are IPv4 only and the kernel does not NAT IPv6 to IPv4: refused rather than silently unmapped.
        if (hostIp is { AddressFamily: AddressFamily.InterNetworkV6 })
            throw Invalid($"hostIP {hostIp} in runtimeConfig.portMappings: berth-cni maps IPv4 host addresses only (or \"\", 0.0.0.0, :: for all)");
        return new PortMapping(hostIp, host, container, proto);
    }

    private static (IPAddress, int?) ParseRequestedIp(JsonNode? node)
    {
        string text = node is JsonValue v && v.TryGetValue(out string? s) ? s : throw Invalid("runtimeConfig.ips items must be strings");
        int slash = text.IndexOf('/');
        var address = ParseAddress(slash < 0 ? text : text[..slash], "runtimeConfig.ips")!;
        int? prefix = slash < 0 ? null : int.TryParse(text[(slash + 1)..], out int p) ? p : throw Invalid($"invalid address {text} in runtimeConfig.ips");
        return (address, prefix);
    }

    private static PhysicalAddress ParseMac(string text) =>
        PhysicalAddress.TryParse(text.Replace(':', '-'), out var mac) && mac.GetAddressBytes().Length == 6
            ? mac : throw Invalid($"invalid MAC address {text} in runtimeConfig.mac");

    private static IPNetwork? ParseSubnet(string? text)
    {
        if (text is null) return null;
        if (!IPNetwork.TryParse(text, out var subnet) || subnet.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw Invalid($"invalid subnet {text}: an IPv4 network such as 10.88.0.0/16 is expected");
        return subnet;
    }

    private static IPAddress? ParseAddress(string? text, string field) =>
        string.IsNullOrEmpty(text) ? null : IPAddress.TryParse(text, out var a) ? a : throw Invalid($"invalid {field} address {text}");

    private static string? FirstRange(JsonObject ipam, string key) =>
        ipam["ranges"] is JsonArray { Count: > 0 } r && r[0] is JsonArray { Count: > 0 } set && set[0] is JsonObject range ? Str(range, key) : null;

    internal static string? Str(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static int? Int(JsonObject o, string key) =>
        o[key] is JsonValue v && (v.TryGetValue(out int i) || v.TryGetValue(out string? s) && int.TryParse(s, out i)) ? i : null;

    private static CniException Invalid(string message) => new(CniErrorCode.InvalidNetworkConfig, message);
}
