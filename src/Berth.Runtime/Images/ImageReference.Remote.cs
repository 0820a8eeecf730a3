namespace Berth.Runtime.Images;

public static partial class ImageReference
{
    /// <summary>A reference split as a registry sees it: "redis" is docker.io, repository "library/redis", tag
    /// "latest"; a digest, when given, wins over the tag. ImageException when the reference is invalid.</summary>
    public static RemoteReference ParseRemote(string reference)
    {
        var (familiar, tag, digest) = Parse(reference);
        var (domain, path) = SplitDomain(familiar);
        if (digest is not null && !DigestPattern().IsMatch(digest))
            throw new ImageException($"invalid reference format: unsupported digest {digest} (sha256:<64 hex> expected)");
        return new RemoteReference(domain, path, digest is null ? tag ?? "latest" : tag, digest);
    }

    /// <summary>A name without tag or digest ("redis", "host:5000/app"): what `pull -a` takes, and what the API's
    /// fromImage without a tag pulls every tag of.</summary>
    public static bool IsNameOnly(string reference)
    {
        var (_, tag, digest) = Parse(reference);
        return tag is null && digest is null;
    }

    /// <summary>The API's fromImage and tag pair; the tag may be a digest (`docker pull name@sha256:...`).</summary>
    public static RemoteReference ParseRemote(string name, string? tagOrDigest)
    {
        var reference = ParseRemote(name);
        if (string.IsNullOrEmpty(tagOrDigest)) return reference;
        if (tagOrDigest.Contains(':'))
            return DigestPattern().IsMatch(tagOrDigest) ? reference with { Tag = null, Digest = tagOrDigest }
                : throw new ImageException($"invalid reference format: unsupported digest {tagOrDigest}");
        if (!TagPattern().IsMatch(tagOrDigest)) throw new ImageException("invalid tag format");
        return reference with { Tag = tagOrDigest, Digest = null };
    }

    [System.Text.RegularExpressions.GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    internal static partial System.Text.RegularExpressions.Regex DigestPattern();
}

/// <summary>Registry host (docker.io for Docker Hub), repository path inside it, tag and digest.</summary>
public sealed record RemoteReference(string Domain, string Path, string? Tag, string? Digest)
{
    public bool IsDockerHub => Domain == "docker.io";

    /// <summary>The name as Docker shows it: "redis", "user/app", "localhost:5000/app".</summary>
    public string FamiliarName => IsDockerHub
        ? Path.StartsWith("library/", StringComparison.Ordinal) && Path.IndexOf('/', 8) < 0 ? Path[8..] : Path
        : $"{Domain}/{Path}";

    /// <summary>"docker.io/library/redis": the name with its registry, as `docker pull` prints it last.</summary>
    public string FullName => $"{Domain}/{Path}";

    /// <summary>What the registry's manifest endpoint takes: the digest when there is one, else the tag.</summary>
    public string TagOrDigest => Digest ?? Tag ?? "latest";

    /// <summary>"redis:7" or "redis@sha256:...": the tag the pull sets, or the digest reference.</summary>
    public override string ToString() => Digest is not null ? $"{FamiliarName}@{Digest}" : $"{FamiliarName}:{Tag}";

}
