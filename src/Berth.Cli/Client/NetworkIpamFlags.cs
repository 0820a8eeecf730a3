using System.Net;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`network create --subnet --gateway --ip-range --aux-address` (each repeatable) into IPAM.Config entries as
/// the docker CLI pairs them: each gateway, range and aux address goes to the subnet that contains it.</summary>
public static class NetworkIpamFlags
{
    public static JsonArray Config(string[] subnets, string[] gateways, string[] ranges, string[] auxAddresses)
    {
        if (subnets.Length == 0 && (gateways.Length > 0 || ranges.Length > 0 || auxAddresses.Length > 0))
            throw new CliException("every ip-range or gateway must have a corresponding subnet");
        var parsed = subnets.Select(s => IPNetwork.TryParse(s, out var n) ? n : throw new CliException($"invalid CIDR address: {s}")).ToList();
        var entries = subnets.Select(s => new JsonObject { ["Subnet"] = s }).ToList();
        foreach (string range in ranges)
        {
            if (!IPNetwork.TryParse(range, out var r)) throw new CliException($"invalid CIDR address: {range}");
            int i = Owner(parsed, r.BaseAddress, "range", range);
            if (entries[i]["IPRange"] is not null)
                throw new CliException($"cannot configure multiple ranges ({range}, {entries[i]["IPRange"]}) on the same subnet ({subnets[i]})");
            entries[i]["IPRange"] = range;
        }
        foreach (string gateway in gateways)
        {
            if (!IPAddress.TryParse(gateway, out var g)) throw new CliException($"invalid gateway address: {gateway}");
            int i = Owner(parsed, g, "gateway", gateway);
            if (entries[i]["Gateway"] is not null)
                throw new CliException($"cannot configure multiple gateways ({gateway}, {entries[i]["Gateway"]}) for the same subnet ({subnets[i]})");
            entries[i]["Gateway"] = gateway;
        }
        foreach (var (key, value) in Networks.KeyValues(auxAddresses))
        {
            string text = value?.GetValue<string>() ?? "";
            if (!IPAddress.TryParse(text, out var a)) throw new CliException($"invalid aux-address: {key}={text}");
            int i = Owner(parsed, a, "aux-address", text);
            if (entries[i]["AuxiliaryAddresses"] is not JsonObject aux) entries[i]["AuxiliaryAddresses"] = aux = new JsonObject();
            aux[key] = text;
        }
        return new JsonArray(entries.Select(e => (JsonNode?)e).ToArray());
    }

    private static int Owner(List<IPNetwork> subnets, IPAddress address, string what, string text) =>
        subnets.FindIndex(s => s.Contains(address)) is >= 0 and var i ? i : throw new CliException($"no matching subnet for {what} {text}");
}
