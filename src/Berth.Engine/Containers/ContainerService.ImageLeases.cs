using System.Collections.Concurrent;
using Berth.Runtime.Images;

namespace Berth.Engine.Containers;

/// <summary>Images that a create has resolved but not yet recorded: `rmi` sees them in use, so it never removes an
/// image (and, through garbage collection, the layers) that the container being created is about to need.</summary>
public sealed partial class ContainerService
{
    private readonly ConcurrentDictionary<string, int> _imageLeases = new();

    /// <summary>Who uses an image, for rmi's conflict check: a container's short id, or a create in flight.</summary>
    public string? ImageUser(string imageId) =>
        All.FirstOrDefault(c => c.ImageId == imageId)?.ShortId
        ?? (_imageLeases.ContainsKey(imageId) ? "(a container being created)" : null);

    /// <summary>Holds <paramref name="image"/> until disposed. The image is looked up again once held: an rmi that
    /// came between the first lookup and the lease removed it, and the create fails as if it had come later.</summary>
    private ImageLease LeaseImage(ImageRecord image, string reference)
    {
        _imageLeases.AddOrUpdate(image.Id, 1, (_, n) => n + 1);
        var lease = new ImageLease(this, image.Id);
        if (_images.Find(image.Id) is null)
        {
            lease.Dispose();
            throw new NotFoundException($"No such image: {NormalizeReference(reference)}");
        }
        return lease;
    }

    private sealed class ImageLease(ContainerService service, string imageId) : IDisposable
    {
        private bool _released;

        public void Dispose()
        {
            if (_released) return;
            _released = true;
            var leases = service._imageLeases;
            while (leases.TryGetValue(imageId, out int n))
            {
                bool swapped = n <= 1
                    ? leases.TryRemove(new KeyValuePair<string, int>(imageId, n))
                    : leases.TryUpdate(imageId, n - 1, n);
                if (swapped) return;
            }
        }
    }
}
