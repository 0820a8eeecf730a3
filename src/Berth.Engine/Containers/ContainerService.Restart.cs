using System.Collections.Concurrent;
using Berth.Engine.Containers.Restart;
using Berth.Engine.Model;
using Berth.Runtime.Containers;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>Restart policies acting: an exit the policy covers marks the container restarting and starts it again
/// after Docker's backoff; an API stop or kill calls that off; engine start brings back what the policy says.</summary>
public sealed partial class ContainerService
{
    private readonly ConcurrentDictionary<string, RestartTracker> _restarts = new();

    private sealed class RestartTracker
    {
        public volatile bool ManuallyStopped;
        public TimeSpan LastDelay;
        private CancellationTokenSource? _pending;

        public CancellationToken Replace()
        {
            var next = new CancellationTokenSource();
            Interlocked.Exchange(ref _pending, next)?.Cancel();
            return next.Token;
        }

        public void CancelPending() => Interlocked.Exchange(ref _pending, null)?.Cancel();
    }

    private RestartTracker Restarts(string id) => _restarts.GetOrAdd(id, _ => new RestartTracker());

    /// <summary>An API stop or kill: no policy restart follows, and a pending one is called off.</summary>
    private void MarkManuallyStopped(string id)
    {
        var tracker = Restarts(id);
        tracker.ManuallyStopped = true;
        tracker.CancelPending();
    }

    /// <summary>An API start: the policy counts from zero again, as dockerd resets its restart manager.</summary>
    private void ResetRestartPolicy(ContainerRecord record)
    {
        var tracker = Restarts(record.Id);
        tracker.ManuallyStopped = false;
        tracker.LastDelay = TimeSpan.Zero;
        tracker.CancelPending();
        record.RestartCount = 0;
    }

    /// <summary>Under the container's lock, with its exit recorded: marks it restarting when the policy says so
    /// (saved together with the exit) and returns the wait before the start; null when it stays exited.</summary>
    private TimeSpan? DecideRestartLocked(ContainerRecord record, ContainerExit exit)
    {
        var tracker = Restarts(record.Id);
        record.State.ManuallyStopped = tracker.ManuallyStopped;
        if (!RestartRules.ShouldRestart(record.HostConfig.RestartPolicy, exit.ExitCode, tracker.ManuallyStopped, record.RestartCount))
            return null;
        tracker.LastDelay = RestartRules.NextDelay(tracker.LastDelay, exit.FinishedAt - record.State.StartedAt);
        record.RestartCount++;
        record.State.Status = "restarting";
        record.State.Restarting = true;
        return tracker.LastDelay;
    }

    /// <summary>The start follows <paramref name="delay"/> after now; what the exit's teardown took is already
    /// subtracted by the caller, as moby's restart manager's timer runs while the daemon cleans up.</summary>
    private void ScheduleRestart(string id, TimeSpan delay)
    {
        var tracker = Restarts(id);
        var ct = tracker.Replace();
        _ = Task.Run(async () =>
        {
            try { if (delay > TimeSpan.Zero) await Task.Delay(delay, ct); }
            catch (OperationCanceledException) { return; }
            if (ct.IsCancellationRequested || tracker.ManuallyStopped) return;
            try { await StartAsync(id, byPolicy: true, CancellationToken.None); }
            catch (Exception e) when (e is NotModifiedException or NotFoundException) { }
            catch (Exception e)
            {
                _logger.LogWarning(e, "restarting container {Id} by its restart policy failed", id[..12]);
                await EndRestartingAsync(id, manuallyStopped: false);
            }
        });
    }

    /// <summary>A pending restart ends: the container is plainly exited (stopped while waiting, or its start failed).</summary>
    private async Task EndRestartingAsync(string id, bool manuallyStopped)
    {
        var handle = Handle(id);
        await handle.Lock.WaitAsync();
        try
        {
            if (_store.Get(id) is not { State.Restarting: true } record) return;
            record.State.Restarting = false;
            record.State.Status = "exited";
            record.State.ManuallyStopped |= manuallyStopped;
            _store.Save(record);
        }
        finally { handle.Lock.Release(); }
    }

    /// <summary>`docker stop` of a container waiting for its restart: the restart is called off. False when the
    /// container was not waiting.</summary>
    private async Task<bool> StopRestartingAsync(ContainerRecord record)
    {
        if (!record.State.Restarting) return false;
        MarkManuallyStopped(record.Id);
        await EndRestartingAsync(record.Id, manuallyStopped: true);
        return true;
    }

    /// <summary>At engine start, once reconciled: containers found not running that their policy brings back (an
    /// engine killed while a container waited for its restart included).</summary>
    private void StartByPolicyAtEngineStart()
    {
        foreach (var record in _store.All)
        {
            if (record.State.Running || record.State.StartedAt == DateTimeOffset.MinValue) continue;
            var state = record.State;
            if (!state.Restarting && !RestartRules.ShouldStartWithEngine(record.HostConfig.RestartPolicy, state.ExitCode,
                    state.ManuallyStopped, record.RestartCount))
                continue;
            _logger.LogInformation("starting container {Id}: restart policy {Policy}", record.ShortId, record.HostConfig.RestartPolicy.Name);
            ScheduleRestart(record.Id, TimeSpan.Zero);
        }
    }

    private void ForgetRestarts(string id)
    {
        if (_restarts.TryRemove(id, out var tracker)) tracker.CancelPending();
    }
}
