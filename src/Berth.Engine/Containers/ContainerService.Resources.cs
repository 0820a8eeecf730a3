using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Engine.Model;
using Berth.Engine.Resources;
using Berth.Engine.Store;
using Berth.Runtime.Containers;
using Berth.Runtime.Resources;

namespace Berth.Engine.Containers;

/// <summary>Pause/unpause (the runtime's freezer), live limit updates, top and stats of a running container.</summary>
public sealed partial class ContainerService
{
    public async Task PauseAsync(string idOrName)
    {
        await ChangeRunningAsync(idOrName, async record =>
        {
            if (record.State.Paused) throw new ConflictException($"Container {record.Id} is already paused");
            await _runtime.PauseAsync(record.Id);
            record.State.Paused = true;
            record.State.Status = "paused";
            Publish(record, "pause");
        });
    }

    public async Task UnpauseAsync(string idOrName)
    {
        await ChangeRunningAsync(idOrName, async record =>
        {
            if (!record.State.Paused) throw new ConflictException($"Container {record.Id} is not paused");
            await _runtime.ResumeAsync(record.Id);
            record.State.Paused = false;
            record.State.Status = "running";
            Publish(record, "unpause");
        });
    }

    /// <summary>POST /containers/{id}/update: the limits given (non-zero fields, as dockerd reads them) and the
    /// restart policy; a running container gets the new limits at once through the runtime.</summary>
    public async Task<List<string>> UpdateAsync(string idOrName, JsonObject body)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync();
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            // The docker CLI sends unset pointer fields as null: they change nothing.
            foreach (string key in body.Where(f => f.Value is null).Select(f => f.Key).ToList()) body.Remove(key);
            HostConfig update;
            try { update = body.Deserialize<HostConfig>(EngineJson.Options) ?? new HostConfig(); }
            catch (JsonException e) { throw new BadRequestException($"invalid update: {e.Message}", e); }
            var hc = record.HostConfig;
            var updated = ResourceUpdate.Apply(hc, update, body);
            ContainerResources.ValidateLimits(updated, Environment.ProcessorCount);
            if (body["RestartPolicy"] is JsonObject && !string.IsNullOrEmpty(update.RestartPolicy.Name))
            {
                if (hc.AutoRemove && update.RestartPolicy.Name != "no")
                    throw new BadRequestException("Restart policy cannot be updated because AutoRemove is enabled for the container");
                if (update.RestartPolicy.Name is not ("no" or "always" or "unless-stopped" or "on-failure"))
                    throw new BadRequestException($"invalid restart policy '{update.RestartPolicy.Name}'");
                updated.RestartPolicy = update.RestartPolicy;
            }
            if (record.State.Running)
            {
                try { await _runtime.UpdateAsync(record.Id, ContainerResources.ToLimits(updated)); }
                catch (RuntimeException e) { throw new BadRequestException($"Cannot update container {record.Id}: {e.Message}", e); }
            }
            record.HostConfig = updated;
            _store.Save(record);
            Publish(record, "update");
            return [];
        }
        finally { handle.Lock.Release(); }
    }

    /// <summary>`docker top`: ps on the host with the caller's options, its rows kept for the container's pids.</summary>
    public async Task<(List<string> Titles, List<List<string>> Processes)> TopAsync(string idOrName, string? psArgs)
    {
        var record = Get(idOrName);
        if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
        var pids = _runtime.Pids(record.Id).ToHashSet();
        var info = new ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string.IsNullOrWhiteSpace(psArgs) ? "-ef" : psArgs)
                     .Split(' ', StringSplitOptions.RemoveEmptyEntries))
            info.ArgumentList.Add(arg);
        using var ps = Process.Start(info) ?? throw new BadRequestException("could not run ps");
        var stdout = ps.StandardOutput.ReadToEndAsync();
        string stderr = await ps.StandardError.ReadToEndAsync();
        await ps.WaitForExitAsync();
        if (ps.ExitCode != 0)
            throw new BadRequestException($"ps: {(stderr.Trim().Length > 0 ? stderr.Trim() : $"exit status {ps.ExitCode}")}");
        try { return PsOutput.Filter(await stdout, pids); }
        catch (FormatException e) { throw new BadRequestException(e.Message, e); }
    }

    /// <summary>The container's figures now; null when it is not running (stats then shows zeros, as dockerd).</summary>
    public StatsSample? Stats(ContainerRecord record) => record.State.Running ? _runtime.ReadStats(record.Id) : null;

    private StatsCollector? _statsCollector;

    /// <summary>A sample now and one a second from the shared sampler; a null (not running) ends the stream.</summary>
    public IAsyncEnumerable<StatsSample?> StreamStats(ContainerRecord record, TimeSpan interval, CancellationToken ct)
    {
        if (!record.State.Running) return NotRunning();
        return (_statsCollector ??= new StatsCollector(_runtime, interval)).WatchAsync(record.Id, ct);

        static async IAsyncEnumerable<StatsSample?> NotRunning()
        {
            await Task.CompletedTask;
            yield return null;
        }
    }

    /// <summary>Runs a change on a running container under its lock and saves the record after it.</summary>
    private async Task ChangeRunningAsync(string idOrName, Func<ContainerRecord, Task> change)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync();
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
            try { await change(record); }
            catch (RuntimeException e) { throw new ConflictException(e.Message); }
            _store.Save(record);
        }
        finally { handle.Lock.Release(); }
    }
}
