using Berth.Runtime.Files;
using Berth.Runtime.Images;

namespace Berth.Engine.Build;

public sealed partial class ImageBuilder
{
    /// <summary>The current image's root filesystem, mounted (an overlay) only when a step first looks into it: a COPY
    /// whose destination ends in "/" and hits the cache never needs it, and the mount and unmount were most of such a
    /// step.</summary>
    private sealed class LazyImageView(Func<IReadOnlyList<string>> layers, string scratchRoot) : IDisposable
    {
        private MergedView? _view;
        private RootedDirectory? _root;

        public string Path => (_view ??= new MergedView(layers(), scratchRoot)).Path;

        public RootedDirectory Root => _root ??= RootedDirectory.Open(Path);

        public void Dispose()
        {
            _root?.Dispose();
            _view?.Dispose();
        }
    }
}
