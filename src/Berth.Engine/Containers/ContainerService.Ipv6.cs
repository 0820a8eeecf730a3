using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Networks;

namespace Berth.Engine.Containers;

/// <summary>EndpointsConfig.IPAMConfig's IPv6 side: `--ip6` on run, create and connect.</summary>
public sealed partial class ContainerService
{
    /// <summary>`--ip6`: IPAMConfig.IPv6Address, an IPv6 address (400 otherwise, as dockerd).</summary>
    private static IPAddress? RequestedIpv6(EndpointSettings? settings) =>
        settings?.IPAMConfig?["IPv6Address"]?.GetValue<string>() is not { Length: > 0 } text ? null
        : IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 ? address
        : throw new BadRequestException($"invalid IPv6 address: {text}");
}
