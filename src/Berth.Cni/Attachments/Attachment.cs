using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Cni.Spec;
using Berth.Networking.Ports;

namespace Berth.Cni.Attachments;

/// <summary>What one ADD made for (container, interface) on a network: enough for DEL, CHECK and GC to undo or
/// verify it without the runtime's help, and for a retried ADD to repair a half-done one. Standalone attachments own
/// a veth and an address; chained ones (after the reference bridge plugin) only their port mappings. DefaultRoute: this
/// attachment's interface holds the namespace's default route (a namespace's first berth-cni attachment).</summary>
public sealed record Attachment(string Network, string ContainerId, string IfName, bool Chained, string Bridge,
    IPNetwork Subnet, IPAddress Address, IPAddress? Gateway, string? HostVeth, string? Mac,
    IReadOnlyList<PortMapping> PortMappings, string? Netns = null, bool DefaultRoute = true)
{
    /// <summary>The owner string host-local writes in an address file: the container ID, CRLF, the interface.</summary>
    public string Owner => OwnerOf(ContainerId, IfName);

    public static string OwnerOf(string containerId, string ifName) => containerId.Trim() + "\r\n" + ifName;

    /// <summary>"bcni" + 10 hex digits of a hash of (container, interface): unique per attachment, 14 characters.</summary>
    public static string HostVethFor(string containerId, string ifName) =>
        "bcni" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(containerId + "/" + ifName)))[..10];

    public IEnumerable<Berth.Networking.Firewall.PortPublication> Publications(string ownerTag) =>
        PortMappings.Select(m => new Berth.Networking.Firewall.PortPublication(ownerTag, m.HostIp, m.Protocol, m.HostPort,
            Address, m.ContainerPort, Bridge));

    public string ToJson()
    {
        var o = new JsonObject
        {
            ["network"] = Network, ["containerId"] = ContainerId, ["ifName"] = IfName, ["chained"] = Chained,
            ["bridge"] = Bridge, ["subnet"] = Subnet.ToString(), ["address"] = Address.ToString(),
            ["gateway"] = Gateway?.ToString(), ["hostVeth"] = HostVeth, ["mac"] = Mac, ["netns"] = Netns,
            ["defaultRoute"] = DefaultRoute,
            ["portMappings"] = new JsonArray(PortMappings.Select(m => (JsonNode)new JsonObject
            {
                ["hostIP"] = m.HostIp?.ToString(), ["hostPort"] = m.HostPort, ["containerPort"] = m.ContainerPort,
                ["protocol"] = ContainerPort.Name(m.Protocol),
            }).ToArray()),
        };
        return o.ToJsonString();
    }

    public static Attachment FromJson(string json)
    {
        var o = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("attachment record is not an object");
        string S(string key) => NetworkConfig.Str(o, key) ?? throw new JsonException($"attachment record lacks {key}");
        string? N(string key) => NetworkConfig.Str(o, key);
        var maps = (o["portMappings"] as JsonArray ?? []).OfType<JsonObject>().Select(m => new PortMapping(
            NetworkConfig.Str(m, "hostIP") is { } ip ? IPAddress.Parse(ip) : null,
            m["hostPort"]!.GetValue<int>(), m["containerPort"]!.GetValue<int>(),
            ContainerPort.TryProtocol(NetworkConfig.Str(m, "protocol") ?? "tcp", out var p) ? p : PortProtocol.Tcp)).ToList();
        return new Attachment(S("network"), S("containerId"), S("ifName"), o["chained"]?.GetValue<bool>() ?? false,
            S("bridge"), IPNetwork.Parse(S("subnet")), IPAddress.Parse(S("address")),
            N("gateway") is { } gw ? IPAddress.Parse(gw) : null, N("hostVeth"), N("mac"), maps, N("netns"),
            o["defaultRoute"]?.GetValue<bool>() ?? true);
    }
}
