using Berth.Linux;

namespace Berth.Runtime.Images;

/// <summary>An image's (or a container's) root filesystem as one read-only tree: a read-only overlay of its layer
/// directories (top first) on a scratch mount point, unmounted and removed on disposal. One layer needs no overlay
/// (overlayfs wants two lower directories without an upper one); no layer is an empty directory.</summary>
public sealed class MergedView : IDisposable
{
    private readonly string? _mountPoint;
    private readonly string? _scratch;

    public string Path { get; }

    public MergedView(IReadOnlyList<string> layersTopFirst, string scratchParent)
    {
        if (layersTopFirst.Count == 1) { Path = layersTopFirst[0]; return; }
        _scratch = System.IO.Path.Combine(scratchParent, "view-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_scratch);
        Path = _scratch;
        if (layersTopFirst.Count == 0) return;
        _mountPoint = _scratch;
        Interop.Mount("overlay", _mountPoint, "overlay", Interop.MS_RDONLY | Interop.MS_NODEV | Interop.MS_NOSUID,
            "lowerdir=" + string.Join(':', layersTopFirst));
    }

    public void Dispose()
    {
        if (_mountPoint is not null) Interop.Unmount(_mountPoint);
        if (_scratch is not null) Directory.Delete(_scratch);
    }
}
