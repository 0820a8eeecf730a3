using System.Runtime.InteropServices;
using Berth.Linux;

namespace Berth.Runtime.Images;

/// <summary>Seams in the store's commit, for tests that must see or widen a window that is otherwise microseconds
/// wide. Left at their defaults outside tests.</summary>
public sealed class ImageStoreHooks
{
    /// <summary>Inside a commit, under the store's lock: the layers are in layers/, the image record is not written
    /// yet. Garbage collection must not run here.</summary>
    public const string AfterLayersMoved = "image.commit.after-layers-moved";

    /// <summary>Makes the extracted layers' file contents durable before they are moved into the store.</summary>
    public Action<SafeHandle, string> SyncFilesystem { get; init; } = Interop.SyncFilesystem;

    /// <summary>Called at the named steps (the daemon passes CrashPoints.Hit: BERTH_TEST_PAUSE_AT can hold it there).</summary>
    public Action<string> Checkpoint { get; init; } = _ => { };
}
