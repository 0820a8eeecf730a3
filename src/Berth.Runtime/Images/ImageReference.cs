using System.Text.RegularExpressions;

namespace Berth.Runtime.Images;

/// <summary>Docker image references (distribution/reference grammar) in their familiar form: "webapp" → "webapp:latest",
/// "docker.io/library/webapp:v1" → "webapp:v1", "localhost:5000/x" stays, uppercase or bad syntax refused.</summary>
public static partial class ImageReference
{
    private const string DefaultDomain = "docker.io", OfficialPrefix = "library/";

    /// <summary>The familiar "name:tag" form (tag "latest" when none); ImageException when the reference is invalid.</summary>
    public static string Normalize(string reference)
    {
        var (name, tag, digest) = Parse(reference);
        if (digest is not null) throw new ImageException($"invalid reference format: digest references are not supported here ({reference})");
        return $"{name}:{tag ?? "latest"}";
    }

    public static string? TryNormalize(string reference)
    {
        try { return Normalize(reference); }
        catch (ImageException) { return null; }
    }

    /// <summary>The reference Docker's tag API builds from repo and tag: the tag replaces one inside repo.</summary>
    public static string ForTagging(string repo, string? tag)
    {
        var (name, ownTag, digest) = Parse(repo);
        if (digest is not null) throw new ImageException("refusing to create a tag with a digest reference");
        if (name == "sha256") throw new ImageException("refusing to create an ambiguous tag using digest algorithm as name");
        if (!string.IsNullOrEmpty(tag))
        {
            if (!TagPattern().IsMatch(tag)) throw new ImageException("invalid tag format");
            ownTag = tag;
        }
        return $"{name}:{ownTag ?? "latest"}";
    }

    /// <summary>64 hex digits: a full image id without its algorithm.</summary>
    public static bool IsFullId(string reference) => reference.Length == 64 && HexPattern().IsMatch(reference);

    /// <summary>Splits into familiar name, tag and digest, validating as ParseNormalizedNamed does.</summary>
    private static (string Name, string? Tag, string? Digest) Parse(string reference)
    {
        if (string.IsNullOrEmpty(reference)) throw new ImageException("invalid reference format");
        if (IsFullId(reference))
            throw new ImageException($"invalid repository name ({reference}), cannot specify 64-byte hexadecimal strings");
        var match = ReferencePattern().Match(reference);
        if (!match.Success)
        {
            // Name as in reference (before tag/digest), to report uppercase the way Docker does.
            string bare = reference.Split('@')[0];
            int colon = bare.LastIndexOf(':');
            if (colon > bare.LastIndexOf('/')) bare = bare[..colon];
            string remote = SplitDomain(bare).Remote;
            if (remote != remote.ToLowerInvariant() && ReferencePattern().IsMatch(reference.ToLowerInvariant()))
                throw new ImageException($"invalid reference format: repository name ({remote}) must be lowercase");
            throw new ImageException("invalid reference format");
        }
        string name = match.Groups["name"].Value;
        if (name.Length > 255) throw new ImageException("invalid reference format: repository name must not be more than 255 characters");
        var (domain, path) = SplitDomain(name);
        string familiar = domain == DefaultDomain
            ? (path.StartsWith(OfficialPrefix, StringComparison.Ordinal) && path.IndexOf('/', OfficialPrefix.Length) < 0 ? path[OfficialPrefix.Length..] : path)
            : $"{domain}/{path}";
        string? tag = match.Groups["tag"].Success ? match.Groups["tag"].Value : null;
        string? digest = match.Groups["digest"].Success ? match.Groups["digest"].Value : null;
        return (familiar, tag, digest);
    }

    /// <summary>The first component is a registry when it has a dot or port, is localhost, or has uppercase letters.</summary>
    private static (string Domain, string Remote) SplitDomain(string name)
    {
        int slash = name.IndexOf('/');
        if (slash < 0) return (DefaultDomain, OfficialPrefix + name);
        string first = name[..slash];
        if (first.IndexOfAny(['.', ':']) < 0 && first != "localhost" && first == first.ToLowerInvariant())
            return (DefaultDomain, name);
        string domain = first == "index.docker.io" ? DefaultDomain : first;
        string remote = name[(slash + 1)..];
        if (domain == DefaultDomain && remote.IndexOf('/') < 0) remote = OfficialPrefix + remote;
        return (domain, remote);
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HexPattern();

    [GeneratedRegex(@"^[\w][\w.-]{0,127}$")]
    private static partial Regex TagPattern();

    // name = [domain/]component(/component)*; component = [a-z0-9]+(separator[a-z0-9]+)*; then :tag and @digest.
    [GeneratedRegex(@"^(?<name>(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$")]
    private static partial Regex ReferencePattern();
}
