namespace Berth.Engine.Containers;

/// <summary>
/// Which Entrypoint and Cmd a new container gets from its create request and its image, as moby's config merge
/// decides: an absent or empty request Entrypoint lets an absent or empty Cmd take the image's Cmd, and only an absent
/// (null) Entrypoint takes the image's Entrypoint. Testcontainers sends empty arrays meaning "the image's".
/// </summary>
public static class ImageCommandMerge
{
    public static (List<string>? Entrypoint, List<string>? Cmd) Merge(
        IReadOnlyList<string>? requestEntrypoint, IReadOnlyList<string>? requestCmd,
        IReadOnlyList<string>? imageEntrypoint, IReadOnlyList<string>? imageCmd)
    {
        var entrypoint = requestEntrypoint?.ToList();
        var cmd = requestCmd?.ToList();
        if (entrypoint is not { Count: > 0 })
        {
            if (cmd is not { Count: > 0 }) cmd = imageCmd?.ToList();
            if (entrypoint is null) entrypoint = imageEntrypoint?.ToList();
        }
        // `docker run --entrypoint ""` sends [""]: no entrypoint at all, and the image's Cmd is not taken either.
        if (entrypoint is [""]) entrypoint = null;
        return (entrypoint is { Count: > 0 } ? entrypoint : null, cmd is { Count: > 0 } ? cmd : null);
    }
}
