using Berth.Runtime.Images;

namespace Berth.Api.Endpoints;

/// <summary>`GET /images/{name}/history`: the config's history, newest first; each line that made a layer names the
/// image that added it (walking the parent chain of built images), the others "&lt;missing&gt;" as dockerd shows them.</summary>
public static class ImageHistory
{
    public static List<object> Of(ImageStore images, ImageRecord image)
    {
        if (image.History.Count == 0)
            return [new { Id = image.Id, Created = image.Created.ToUnixTimeSeconds(), CreatedBy = "", Tags = image.RepoTags, Size = image.Size, Comment = image.Comment }];
        // The chain of parents, newest first, matched to history entries from the end.
        var chain = new List<ImageRecord>();
        for (var current = image; current is not null && chain.Count <= image.History.Count; current = current.Parent.Length > 0 ? images.Find(current.Parent) : null)
            chain.Add(current);
        var result = new List<object>();
        int layer = image.LayerDiffIds.Count - 1;
        for (int i = image.History.Count - 1, depth = 0; i >= 0; i--, depth++)
        {
            var line = image.History[i];
            var owner = depth < chain.Count && chain[depth].History.Count == i + 1 ? chain[depth] : null;
            long size = 0;
            if (!line.EmptyLayer && layer >= 0) size = images.LayerSize(image.LayerDiffIds[layer--]);
            result.Add(new
            {
                Id = owner?.Id ?? (i == image.History.Count - 1 ? image.Id : "<missing>"),
                Created = line.Created.ToUnixTimeSeconds(),
                CreatedBy = line.CreatedBy,
                Tags = owner?.RepoTags ?? (IReadOnlyList<string>)[],
                Size = size,
                Comment = line.Comment,
            });
        }
        return result;
    }
}
