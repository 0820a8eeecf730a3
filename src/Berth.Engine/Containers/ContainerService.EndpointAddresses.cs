using System.Net;
using Berth.Engine.Model;

namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    /// <summary>IPAMConfig.LinkLocalIPs (`--link-local-ip`), refused as dockerd refuses them.</summary>
    private static IReadOnlyList<IPAddress> LinkLocalAddresses(EndpointSettings? settings)
    {
        if (settings?.IPAMConfig?["LinkLocalIPs"] is not System.Text.Json.Nodes.JsonArray list) return [];
        var addresses = new List<IPAddress>();
        foreach (var item in list)
        {
            string text = item?.GetValueKind() == System.Text.Json.JsonValueKind.String ? item.GetValue<string>() : item?.ToJsonString() ?? "";
            if (!IPAddress.TryParse(text, out var address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
                throw new BadRequestException($"invalid link-local IP address: {text}");
            addresses.Add(address);
        }
        return addresses;
    }
}
