using System.Text;
using System.Text.RegularExpressions;
using Berth.Engine;
using Berth.Runtime.Images;

namespace Berth.Api.Endpoints;

/// <summary>GET /images/json's filters as dockerd applies them: reference (Go's path.Match on "name:tag", then on the
/// name alone; RepoTags keep only the tags that match), dangling, label (key or key=value, all must hold), before and
/// since (an image reference: created before / after it; an unknown one is dockerd's 404), until (a time or a Go
/// duration before now).</summary>
public sealed class ImageListFilter
{
    private readonly List<Regex> _references;
    private readonly List<string> _labels;
    private readonly bool? _dangling;
    private DateTimeOffset? _before, _since, _until;

    private ImageListFilter(List<Regex> references, List<string> labels, bool? dangling)
    {
        _references = references;
        _labels = labels;
        _dangling = dangling;
    }

    /// <param name="find">The image a before/since reference names, null when there is none.</param>
    public static ImageListFilter Parse(string? json, Func<string, ImageRecord?> find)
    {
        var filters = FilterJson.Parse(json, ["reference", "dangling", "label", "before", "since", "until"]);
        bool? dangling = PruneFilter.ParseDangling(filters);
        var references = (filters.GetValueOrDefault("reference") ?? []).Select(PathPattern).ToList();
        DateTimeOffset? CreatedOf(string key) => filters.GetValueOrDefault(key) is [.., var last]
            ? (find(last) ?? throw new NotFoundException($"No such image: {DockerResults.Shorten(last)}")).Created
            : null;
        return new ImageListFilter(references, filters.GetValueOrDefault("label") ?? [], dangling)
        {
            _before = CreatedOf("before"),
            _since = CreatedOf("since"),
            _until = filters.GetValueOrDefault("until") is [.., var until] ? PruneFilter.Until(until) : null,
        };
    }

    /// <summary>The image's tags that pass (all of them without a reference filter); null when the image is left
    /// out.</summary>
    public IReadOnlyList<string>? Tags(ImageRecord image)
    {
        if (_dangling is { } dangling && dangling != (image.RepoTags.Count == 0)) return null;
        if (image.Created >= _before || image.Created <= _since || image.Created >= _until) return null;
        var labels = image.Config.Labels ?? new Dictionary<string, string>();
        foreach (string label in _labels)
        {
            var kv = label.Split('=', 2);
            if (!labels.TryGetValue(kv[0], out var value) || kv.Length == 2 && value != kv[1]) return null;
        }
        if (_references.Count == 0) return image.RepoTags;
        var kept = image.RepoTags.Where(tag => _references.Any(r => r.IsMatch(tag) || r.IsMatch(Name(tag)))).ToList();
        return kept.Count == 0 ? null : kept;
    }

    private static string Name(string tag)
    {
        int colon = tag.LastIndexOf(':');
        return colon > tag.LastIndexOf('/') ? tag[..colon] : tag;
    }

    /// <summary>Go's path.Match as a regular expression: * and ? stop at '/', [...] classes, \ escapes.</summary>
    private static Regex PathPattern(string pattern)
    {
        var regex = new StringBuilder("^");
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '*') regex.Append("[^/]*");
            else if (c == '?') regex.Append("[^/]");
            else if (c == '[' && pattern.IndexOf(']', i + 1) is var close and > 0)
            {
                string set = pattern[(i + 1)..close];
                regex.Append('[').Append(set.StartsWith('^') ? "^" + Regex.Escape(set[1..]) : Regex.Escape(set)).Append(']');
                i = close;
            }
            else if (c == '\\' && i + 1 < pattern.Length) regex.Append(Regex.Escape(pattern[++i].ToString()));
            else regex.Append(Regex.Escape(c.ToString()));
        }
        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant, FilterJson.MatchTimeout);
    }
}
