using Berth.Runtime.Containers;

namespace Berth.Engine.Containers;

/// <summary>In-memory companion of a container record: its lock, the exit watcher and the waiters.</summary>
internal sealed class ContainerHandle
{
    public SemaphoreSlim Lock { get; } = new(1, 1);
    public CancellationTokenSource? Watcher { get; set; }

    private TaskCompletionSource<ContainerExit> _nextExit = NewExit();
    private readonly TaskCompletionSource<int> _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<PendingAttach> _pendingAttaches = new();

    public Task<ContainerExit> NextExit => _nextExit.Task;
    public Task<int> Removed => _removed.Task;
    public int LastExitCode { get; set; }

    public void SignalExit(ContainerExit exit)
    {
        LastExitCode = exit.ExitCode;
        Interlocked.Exchange(ref _nextExit, NewExit()).TrySetResult(exit);
    }

    public void SignalRemoved() => _removed.TrySetResult(LastExitCode);

    /// <summary>An attach that arrived before start: fulfilled right after the runtime created the container and
    /// before it starts it, so not a byte of output is lost.</summary>
    public PendingAttach AddPendingAttach()
    {
        var pending = new PendingAttach();
        lock (_pendingAttaches) _pendingAttaches.Add(pending);
        return pending;
    }

    public void RemovePendingAttach(PendingAttach pending)
    {
        lock (_pendingAttaches) _pendingAttaches.Remove(pending);
    }

    public List<PendingAttach> TakePendingAttaches()
    {
        lock (_pendingAttaches)
        {
            var taken = _pendingAttaches.ToList();
            _pendingAttaches.Clear();
            return taken;
        }
    }

    private static TaskCompletionSource<ContainerExit> NewExit() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class PendingAttach
{
    public TaskCompletionSource<AttachSession> Session { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
