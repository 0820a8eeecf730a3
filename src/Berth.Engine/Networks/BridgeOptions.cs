using System.Net;
using System.Net.Sockets;
using Berth.Engine.Model;

namespace Berth.Engine.Networks;

/// <summary>The bridge driver's options (`docker network create -o KEY=VALUE`), read as dockerd reads them: booleans
/// as Go's strconv.ParseBool, the MTU as a number, the host binding as an IPv4 address.</summary>
public static class BridgeOptions
{
    public const string Name = "com.docker.network.bridge.name";
    public const string EnableIcc = "com.docker.network.bridge.enable_icc";
    public const string EnableIpMasquerade = "com.docker.network.bridge.enable_ip_masquerade";
    public const string HostBindingIpv4 = "com.docker.network.bridge.host_binding_ipv4";
    public const string InhibitIpv4 = "com.docker.network.bridge.inhibit_ipv4";
    public const string Mtu = "com.docker.network.driver.mtu";

    /// <summary>Refuses values dockerd refuses, with its wording.</summary>
    public static void Validate(IReadOnlyDictionary<string, string> options)
    {
        foreach (string key in new[] { EnableIcc, EnableIpMasquerade, InhibitIpv4 })
            if (options.TryGetValue(key, out var value) && ParseBool(value) is null)
                throw new BadRequestException($"failed to parse {key} value: strconv.ParseBool: parsing \"{value}\": invalid syntax");
        if (options.TryGetValue(Mtu, out var mtu) && (!int.TryParse(mtu, out int m) || m < 68 || m > 65535))
            throw new BadRequestException($"invalid MTU {mtu}: an integer between 68 and 65535 is expected");
        if (options.TryGetValue(HostBindingIpv4, out var binding)
            && (!IPAddress.TryParse(binding, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork))
            throw new BadRequestException($"failed to parse {HostBindingIpv4} value: invalid address {binding}");
        if (options.TryGetValue(Name, out var bridge) && (bridge.Length is 0 or > 15 || bridge.Contains('/') || bridge.Any(char.IsWhiteSpace)))
            throw new BadRequestException($"invalid {Name} \"{bridge}\": 1 to 15 characters, no '/' or spaces");
    }

    public static bool Flag(NetworkRecord network, string key, bool fallback) =>
        network.Options.TryGetValue(key, out var value) ? ParseBool(value) ?? fallback : fallback;

    public static int MtuOf(NetworkRecord network, int fallback) =>
        network.Options.TryGetValue(Mtu, out var value) && int.TryParse(value, out int mtu) ? mtu : fallback;

    public static string? HostBindingOf(NetworkRecord network) => network.Options.GetValueOrDefault(HostBindingIpv4);

    /// <summary>Go's strconv.ParseBool.</summary>
    public static bool? ParseBool(string value) => value switch
    {
        "1" or "t" or "T" or "TRUE" or "true" or "True" => true,
        "0" or "f" or "F" or "FALSE" or "false" or "False" => false,
        _ => null,
    };
}
