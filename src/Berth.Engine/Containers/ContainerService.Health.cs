using System.Collections.Concurrent;
using System.Text;
using Berth.Engine.Containers.Health;
using Berth.Engine.Model;
using Berth.Runtime.Containers;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>Health checks: while a container with a check runs, its command runs as an exec every interval; each
/// result lands in State.Health and a change of status is a `health_status: ...` event.</summary>
public sealed partial class ContainerService
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _healthChecks = new();

    /// <summary>Called where the exit watcher starts (start, and adoption at engine start). At start the caller
    /// holds the container's lock, so the starting state is saved with the start.</summary>
    private void StartHealthChecks(ContainerRecord record)
    {
        StopHealthChecks(record.Id);
        if (HealthSettings.From(record.Config.Healthcheck) is not { } settings) return;
        if (record.State.Health is null)
        {
            record.State.Health = new HealthState();
            _store.Save(record);
        }
        var cts = new CancellationTokenSource();
        _healthChecks[record.Id] = cts;
        _ = Task.Run(() => RunHealthChecksAsync(record.Id, record.State.StartedAt, settings, cts.Token));
    }

    private void StopHealthChecks(string id)
    {
        if (_healthChecks.TryRemove(id, out var cts)) cts.Cancel();
    }

    private async Task RunHealthChecksAsync(string id, DateTimeOffset startedAt, HealthSettings settings, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(settings.NextWait(DateTimeOffset.UtcNow - startedAt), ct);
                var probe = await ProbeAsync(id, settings, ct);
                await RecordProbeAsync(id, startedAt, settings, probe, ct);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { _logger.LogWarning(e, "health checks of container {Id} stopped", id[..12]); }
    }

    private async Task<HealthProbe> ProbeAsync(string id, HealthSettings settings, CancellationToken ct)
    {
        var record = Get(id);
        var probe = new HealthProbe { Start = DateTimeOffset.UtcNow };
        var spec = new ExecSpec(settings.Command, ProcessEnvironment(record), record.Config.User, record.Config.WorkingDir,
            Tty: false, AttachStdin: false, Privileged: false);
        var output = new StringBuilder();
        // Each probe is an exec, as dockerd runs it: exec_create, exec_start and exec_die with its execID.
        var execId = new Dictionary<string, string> { ["execID"] = Networks.NetworkService.NewId() };
        string command = string.Join(' ', settings.Command);
        Publish(record, "exec_create: " + command, execId);
        try
        {
            Publish(record, "exec_start: " + command, execId);
            await using var session = await _runtime.ExecAsync(id, spec, ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(settings.Timeout);
            try
            {
                await foreach (var (_, data) in session.ReadOutputAsync(timeout.Token))
                    if (output.Length < HealthSettings.MaxOutput) output.Append(Encoding.UTF8.GetString(data.Span));
                probe.ExitCode = await session.Exited.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                session.Kill();
                probe.ExitCode = -1;
                output.Clear().Append($"Health check exceeded timeout ({FormatSeconds(settings.Timeout)})");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            probe.ExitCode = -1;
            output.Clear().Append(e.Message);
        }
        probe.End = DateTimeOffset.UtcNow;
        if (!ct.IsCancellationRequested)
            Publish(record, "exec_die", new Dictionary<string, string>(execId) { ["exitCode"] = probe.ExitCode.ToString() });
        probe.Output = output.Length > HealthSettings.MaxOutput ? output.ToString(0, HealthSettings.MaxOutput) : output.ToString();
        return probe;
    }

    private async Task RecordProbeAsync(string id, DateTimeOffset startedAt, HealthSettings settings, HealthProbe probe,
        CancellationToken ct)
    {
        var handle = Handle(id);
        string? changed;
        ContainerRecord? record;
        await handle.Lock.WaitAsync(ct);
        try
        {
            record = _store.Get(id);
            // A probe that finished after the container stopped or started again belongs to no current run.
            if (record is null || !record.State.Running || record.State.StartedAt != startedAt || ct.IsCancellationRequested)
                return;
            record.State.Health ??= new HealthState();
            changed = HealthRules.Apply(record.State.Health, probe, settings, startedAt);
            _store.Save(record);
        }
        finally { handle.Lock.Release(); }
        if (changed is not null) Publish(record, "health_status: " + changed);
    }

    /// <summary>Go's time.Duration text for whole seconds ("30s"), else milliseconds.</summary>
    private static string FormatSeconds(TimeSpan span) =>
        span.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{(long)span.TotalSeconds}s" : $"{span.TotalMilliseconds}ms";
}
