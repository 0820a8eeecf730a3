using System.CommandLine;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>`--ip`, `--ip6` and `--link-local-ip` of run/create and `network connect`: the endpoint's IPAMConfig, as
/// the docker CLI sends it (null when none is given).</summary>
public sealed class RunNetworkAddresses
{
    private readonly Option<string?> _ip = new("--ip") { Description = "IPv4 address (e.g., 172.30.100.104)" };
    private readonly Option<string?> _ip6 = new("--ip6") { Description = "IPv6 address (e.g., 2001:db8::33)" };
    private readonly Option<string[]> _linkLocal = new("--link-local-ip") { Description = "Container IPv4/IPv6 link-local addresses (repeatable)" };

    /// <param name="withIp">false where the command has its own --ip already.</param>
    public IEnumerable<Option> Options(bool withIp = true) => withIp ? [_ip, _ip6, _linkLocal] : [_ip6, _linkLocal];

    public JsonObject? IpamConfig(ParseResult parse, string? ip = null)
    {
        ip ??= parse.GetResult(_ip) is null ? null : parse.GetValue(_ip);
        string? ip6 = parse.GetValue(_ip6);
        string[] linkLocal = parse.GetValue(_linkLocal) ?? [];
        foreach (string address in new[] { ip, ip6 }.Concat(linkLocal))
            if (address is { Length: > 0 } && !RunRequest.IsGoIp(address))
                throw new CliException($"invalid argument \"{address}\": invalid IP address", 125);
        if (string.IsNullOrEmpty(ip) && string.IsNullOrEmpty(ip6) && linkLocal.Length == 0) return null;
        var config = new JsonObject();
        if (!string.IsNullOrEmpty(ip)) config["IPv4Address"] = ip;
        if (!string.IsNullOrEmpty(ip6)) config["IPv6Address"] = ip6;
        if (linkLocal.Length > 0) config["LinkLocalIPs"] = new JsonArray(linkLocal.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        return config;
    }
}
