using Berth.Engine;
using Berth.Runtime.Images;

namespace Berth.Api.Endpoints;

/// <summary>The image events of what the image routes did (tag, untag, delete, load), with dockerd's actors: the
/// image id, and the reference as `name`.</summary>
internal static class ImageEvents
{
    private const string LoadedTag = "Loaded image: ";
    private const string LoadedId = "Loaded image ID: ";

    public static void Tagged(BerthEngine engine, string source, string repo, string? tag)
    {
        if (engine.Images.Find(source) is not { } image) return;
        engine.Events.Image("tag", image.Id, ImageStore.NormalizeTag(string.IsNullOrEmpty(tag) ? repo : $"{repo}:{tag}"));
    }

    public static void Removed(BerthEngine engine, string? imageId, IReadOnlyList<ImageDeleteItem> items)
    {
        foreach (var item in items)
        {
            if (item.Untagged is { } reference) engine.Events.Image("untag", imageId ?? reference, reference);
            if (item.Deleted is { } id) engine.Events.Image("delete", id, id);
        }
    }

    /// <summary>One `load` event per image named in the load's output lines.</summary>
    public static void Loaded(BerthEngine engine, IEnumerable<string> lines)
    {
        foreach (string line in lines)
        {
            string? reference = line.StartsWith(LoadedTag, StringComparison.Ordinal) ? line[LoadedTag.Length..]
                : line.StartsWith(LoadedId, StringComparison.Ordinal) ? line[LoadedId.Length..] : null;
            if (reference is not null && engine.Images.Find(reference) is { } image)
                engine.Events.Image("load", image.Id, reference);
        }
    }
}
