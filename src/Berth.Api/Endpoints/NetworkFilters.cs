using System.Text.RegularExpressions;
using Berth.Engine;
using Berth.Engine.Model;

namespace Berth.Api.Endpoints;

/// <summary>`GET /networks?filters=` as dockerd's daemon/network filter reads it: driver and scope match exactly; name
/// and id match exactly or as a regular expression found anywhere in the value (a pattern that does not compile
/// matches exactly only, as in Go); label all of key or key=value; type builtin (bridge, host, none) or custom;
/// dangling (one value: true/1 or false/0) networks no container uses, never the builtin ones. Any other key is a 400.
/// </summary>
public sealed class NetworkFilters
{
    private static readonly string[] Known = ["dangling", "driver", "id", "label", "name", "scope", "type"];
    private static readonly string[] Builtin = ["bridge", "host", "none"];

    private readonly Dictionary<string, List<string>> _filters;
    private readonly List<(string Value, Regex? Pattern)> _names, _ids;
    private readonly bool? _dangling;
    private readonly Func<NetworkRecord, bool> _inUse;

    private NetworkFilters(Dictionary<string, List<string>> filters, Func<NetworkRecord, bool> inUse)
    {
        _filters = filters;
        _inUse = inUse;
        if (filters.GetValueOrDefault("dangling") is { Count: > 0 } dangling)
        {
            if (dangling.Count > 1) throw new BadRequestException("got more than one value for filter key \"dangling\"");
            _dangling = dangling[0] switch
            {
                "true" or "1" => true,
                "false" or "0" => false,
                _ => throw new BadRequestException("invalid value for filter 'dangling', must be \"true\" (or \"1\"), or \"false\" (or \"0\")"),
            };
        }
        foreach (string type in filters.GetValueOrDefault("type") ?? [])
            if (type is not ("builtin" or "custom"))
                throw new BadRequestException($"invalid filter: 'type'='{DockerResults.Shorten(type)}'");
        _names = Patterns("name");
        _ids = Patterns("id");
    }

    /// <param name="inUse">Whether a container uses the network (for `dangling`).</param>
    public static NetworkFilters Parse(string? json, Func<NetworkRecord, bool>? inUse = null) =>
        new(FilterJson.Parse(json, Known), inUse ?? (_ => false));

    public static bool IsBuiltin(NetworkRecord n) => Builtin.Contains(n.Name);

    public bool Matches(NetworkRecord n)
    {
        if (Has("driver", out var drivers) && !drivers.Contains(n.Driver)) return false;
        if (_names.Count > 0 && !AnyMatch(_names, n.Name)) return false;
        if (_ids.Count > 0 && !AnyMatch(_ids, n.Id)) return false;
        if (Has("label", out var labels) && !labels.All(l => PruneFilter.Has(n.Labels, l))) return false;
        if (Has("scope", out var scopes) && !scopes.Contains("local")) return false;
        if (_dangling is { } dangling && dangling != (!IsBuiltin(n) && !_inUse(n))) return false;
        if (Has("type", out var types) && !types.Contains(IsBuiltin(n) ? "builtin" : "custom")) return false;
        return true;
    }

    private bool Has(string key, out List<string> values)
    {
        values = _filters.GetValueOrDefault(key) ?? [];
        return values.Count > 0;
    }

    private List<(string, Regex?)> Patterns(string key) => (_filters.GetValueOrDefault(key) ?? []).Select(value =>
    {
        try { return (value, (Regex?)new Regex(value, RegexOptions.CultureInvariant, FilterJson.MatchTimeout)); }
        catch (ArgumentException) { return (value, null); }
    }).ToList();

    private static bool AnyMatch(List<(string Value, Regex? Pattern)> patterns, string input) =>
        patterns.Any(p => p.Value == input || p.Pattern is { } regex && FilterJson.IsMatch(regex, input));
}
