using System.Net;
using System.Net.Sockets;
using Berth.Engine.Model;

namespace Berth.Engine.Networks;

/// <summary>`--ip`/`--ip6` checked as dockerd's validateEndpointSettings checks them, at create and at connect rather than
/// when the address is taken at start: an unparsable address, one outside every subnet of its family, or any static
/// address on the default bridge is a 400.</summary>
public sealed partial class NetworkService
{
    /// <summary>Throws dockerd's 400 for <paramref name="settings"/>' static addresses on <paramref name="network"/>. At
    /// create the message names the EndpointsConfig key (<paramref name="createKey"/>), as dockerd's does; null at connect.</summary>
    public static void ValidateStaticAddresses(NetworkRecord network, EndpointSettings? settings, string? createKey)
    {
        string? v4 = settings?.IPAMConfig?["IPv4Address"]?.GetValue<string>(), v6 = settings?.IPAMConfig?["IPv6Address"]?.GetValue<string>();
        if (string.IsNullOrEmpty(v4) && string.IsNullOrEmpty(v6)) return;
        var problems = new List<string>();
        if (network.IsDefault) problems.Add("user-specified IP address is supported on user-defined networks only");
        Check(v4, AddressFamily.InterNetwork, "IPv4");
        Check(v6, AddressFamily.InterNetworkV6, "IPv6");
        if (problems.Count == 0) return;
        string joined = problems.Count == 1 ? problems[0] : "* " + string.Join("\n* ", problems);
        string message = "invalid endpoint settings:\n" + joined;
        throw new BadRequestException(createKey is null ? message : $"invalid config for network {createKey}: {message}");

        void Check(string? text, AddressFamily family, string name)
        {
            if (string.IsNullOrEmpty(text)) return;
            if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != family || address.Equals(IPAddress.Any)
                || address.Equals(IPAddress.IPv6Any))
                problems.Add($"invalid {name} address: {text}");
            else if (!network.IsDefault && !SubnetsOf(network).Any(s => s.BaseAddress.AddressFamily == family && s.Contains(address)))
                problems.Add($"no configured subnet contains IP address {address}");
        }
    }
}
