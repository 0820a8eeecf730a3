using System.Net;
using System.Net.Sockets;

namespace Berth.Networking.Ports;

public enum PortProtocol { Tcp, Udp, Sctp }

public sealed class PortSpecException(string message) : Exception(message);
public sealed class PortAllocationException(string message) : Exception(message);

/// <summary>A container port with its protocol, written "80/tcp" as Docker does.</summary>
public readonly record struct ContainerPort(int Port, PortProtocol Protocol)
{
    public override string ToString() => $"{Port}/{Name(Protocol)}";

    public static string Name(PortProtocol protocol) => protocol.ToString().ToLowerInvariant();

    public static ContainerPort Parse(string text) =>
        TryParse(text, out var port, out string? error) ? port : throw new PortSpecException(error!);

    public static bool TryParse(string text, out ContainerPort port, out string? error)
    {
        port = default;
        string number = text, proto = "tcp";
        int slash = text.IndexOf('/');
        if (slash >= 0) (number, proto) = (text[..slash], text[(slash + 1)..]);
        if (!TryProtocol(proto, out var protocol)) { error = $"invalid proto: {proto}"; return false; }
        if (!int.TryParse(number, out int value) || value is < 1 or > 65535) { error = $"invalid containerPort: {number}"; return false; }
        port = new ContainerPort(value, protocol);
        error = null;
        return true;
    }

    public static bool TryProtocol(string text, out PortProtocol protocol)
    {
        protocol = text.ToLowerInvariant() switch { "tcp" or "" => PortProtocol.Tcp, "udp" => PortProtocol.Udp, "sctp" => PortProtocol.Sctp, _ => (PortProtocol)(-1) };
        return (int)protocol >= 0;
    }
}

/// <summary>One item of HostConfig.PortBindings as sent: HostPort "" (engine picks), "8080", or "8000-8010".</summary>
public sealed record PortBindingRequest(string HostIp, string HostPort);

public sealed record PublishedPort(IPAddress HostIp, int HostPort, ContainerPort ContainerPort);

public sealed record ParsedPortSpecs(IReadOnlySet<ContainerPort> ExposedPorts, Dictionary<ContainerPort, List<PortBindingRequest>> PortBindings);

/// <summary>Docker's -p/--expose syntax (what the docker CLI turns into ExposedPorts and PortBindings) and the
/// engine-side validation of PortBindings sent raw to the API.</summary>
public static class PortSpecParser
{
    public static ParsedPortSpecs Parse(IEnumerable<string> publishSpecs, IEnumerable<string> exposeSpecs)
    {
        var exposed = new HashSet<ContainerPort>();
        var bindings = new Dictionary<ContainerPort, List<PortBindingRequest>>();
        foreach (string spec in exposeSpecs)
        {
            var (range, protocol) = SplitProtocol(spec);
            var (start, end) = ParseRange(range, "containerPort");
            for (int p = start; p <= end; p++) exposed.Add(new ContainerPort(p, protocol));
        }
        foreach (string spec in publishSpecs)
        {
            var (rest, protocol) = SplitProtocol(spec);
            string hostIp = "", hostPort = "", containerPart;
            if (rest.StartsWith('['))
            {
                int close = rest.IndexOf(']');
                if (close < 0) throw new PortSpecException($"invalid ip address: {rest}");
                hostIp = rest[1..close];
                rest = rest[(close + 1)..].TrimStart(':');
                var parts = rest.Split(':');
                if (parts.Length != 2) throw new PortSpecException($"invalid port specification: \"{spec}\"");
                (hostPort, containerPart) = (parts[0], parts[1]);
            }
            else
            {
                var parts = rest.Split(':');
                switch (parts.Length)
                {
                    case 1: containerPart = parts[0]; break;
                    case 2: (hostPort, containerPart) = (parts[0], parts[1]); break;
                    case 3: (hostIp, hostPort, containerPart) = (parts[0], parts[1], parts[2]); break;
                    default: throw new PortSpecException($"invalid port specification: \"{spec}\"");
                }
            }
            if (hostIp.Length > 0 && !IsStrictAddress(hostIp)) throw new PortSpecException($"invalid ip address: {hostIp}");
            var (cStart, cEnd) = ParseRange(containerPart, "containerPort");
            (int hStart, int hEnd) = hostPort.Length == 0 ? (0, 0) : ParseRange(hostPort, "hostPort");
            int cLength = cEnd - cStart, hLength = hEnd - hStart;
            if (hostPort.Length > 0 && hLength != cLength && cLength != 0)
                throw new PortSpecException($"invalid ranges specified for container and host Ports: {containerPart} and {hostPort}");
            for (int i = 0; i <= cLength; i++)
            {
                var port = new ContainerPort(cStart + i, protocol);
                exposed.Add(port);
                string host = hostPort.Length == 0 ? "" : cLength == 0 ? hostPort : (hStart + i).ToString();
                if (!bindings.TryGetValue(port, out var list)) bindings[port] = list = new();
                list.Add(new PortBindingRequest(hostIp, host));
            }
        }
        return new ParsedPortSpecs(exposed, bindings);
    }

    public static void Validate(IReadOnlyDictionary<string, IReadOnlyList<PortBindingRequest>?>? portBindings,
        IReadOnlyDictionary<string, object?>? exposedPorts)
    {
        foreach (string key in exposedPorts?.Keys ?? Enumerable.Empty<string>()) ContainerPort.Parse(key);
        foreach (var (key, list) in portBindings ?? new Dictionary<string, IReadOnlyList<PortBindingRequest>?>())
        {
            ContainerPort.Parse(key);
            foreach (var binding in list ?? [])
            {
                if (!string.IsNullOrEmpty(binding.HostIp) && !IsStrictAddress(binding.HostIp))
                    throw new PortSpecException($"invalid IP address: {binding.HostIp}");
                if (!IsEphemeral(binding.HostPort)) ParseRange(binding.HostPort, "hostPort");
            }
        }
    }

    /// <summary>A host port the engine picks: none given, or 0 (dockerd reads "0" and "0-0" as "any free port").</summary>
    public static bool IsEphemeral(string? hostPort) => string.IsNullOrEmpty(hostPort) || hostPort is "0" or "0-0";

    public static (int Start, int End) ParseRange(string text, string what)
    {
        if (what == "hostPort" && IsEphemeral(text)) return (0, 0);
        int dash = text.IndexOf('-');
        string a = dash < 0 ? text : text[..dash], b = dash < 0 ? text : text[(dash + 1)..];
        if (!int.TryParse(a, out int start) || start is < 1 or > 65535) throw new PortSpecException($"invalid {what}: {a}");
        if (!int.TryParse(b, out int end) || end is < 1 or > 65535) throw new PortSpecException($"invalid {what}: {b}");
        if (end < start) throw new PortSpecException($"invalid range specified for {what}: {text}");
        return (start, end);
    }

    private static (string Remainder, PortProtocol Protocol) SplitProtocol(string spec)
    {
        int slash = spec.LastIndexOf('/');
        if (slash < 0) return (spec, PortProtocol.Tcp);
        string proto = spec[(slash + 1)..];
        if (!ContainerPort.TryProtocol(proto, out var protocol)) throw new PortSpecException($"invalid proto: {proto}");
        return (spec[..slash], protocol);
    }

    /// <summary>IPAddress.TryParse also takes legacy forms ("1.2.3", "10"); Docker wants four dotted octets or IPv6.</summary>
    public static bool IsStrictAddress(string text) =>
        IPAddress.TryParse(text, out var address) && (address.AddressFamily == AddressFamily.InterNetworkV6 || text.Split('.').Length == 4);

    internal static AddressFamily Family(IPAddress address) => address.AddressFamily;
}
