using System.Threading.Channels;
using Berth.Runtime.Containers;

namespace Berth.Runtime.Resources;

/// <summary>One sampler for every stats stream, as dockerd's collector: each round reads the host's CPU time once
/// and then each watched container's files, so N streams cost N cgroup reads a second and one /proc/stat, not N
/// timers and N reads of /proc/stat. The loop runs only while someone watches.</summary>
public sealed class StatsCollector(ContainerRuntime runtime, TimeSpan interval)
{
    private sealed class Watch(string id)
    {
        public string Id { get; } = id;
        /// <summary>The newest sample only: a slow reader skips rounds instead of queueing them.</summary>
        public Channel<StatsSample?> Samples { get; } = Channel.CreateBounded<StatsSample?>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        public StatsSource Source { get; } = new();
    }

    private readonly Lock _lock = new();
    private readonly List<Watch> _watches = [];
    private bool _running;

    /// <summary>A sample now, then one each round; a null (the container is not running) ends the stream.</summary>
    public async IAsyncEnumerable<StatsSample?> WatchAsync(string id,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var watch = new Watch(id);
        try
        {
            var first = runtime.ReadStats(id, ContainerStatsReader.HostCpu(), watch.Source);
            yield return first;
            if (first is null) yield break;
            lock (_lock)
            {
                _watches.Add(watch);
                if (!_running)
                {
                    _running = true;
                    _ = Task.Run(RunAsync, CancellationToken.None);
                }
            }
            await foreach (var sample in watch.Samples.Reader.ReadAllAsync(ct))
            {
                yield return sample;
                if (sample is null) yield break;
            }
        }
        finally
        {
            lock (_lock) _watches.Remove(watch);
            // A round that took the watch before it left may still be reading its files.
            lock (watch.Source) watch.Source.Dispose();
        }
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(interval);
        using var hostFiles = new KernelFiles();
        while (await timer.WaitForNextTickAsync())
        {
            Watch[] watches;
            lock (_lock)
            {
                if (_watches.Count == 0)
                {
                    _running = false;
                    return;
                }
                watches = _watches.ToArray();
            }
            var host = ContainerStatsReader.HostCpu(hostFiles.Read("/proc/stat"));
            foreach (var watch in watches)
            {
                StatsSample? sample;
                try
                {
                    lock (watch.Source)
                        sample = watch.Source.Disposed ? null : runtime.ReadStats(watch.Id, host, watch.Source);
                }
                catch (Exception e) when (e is IOException or RuntimeException or UnauthorizedAccessException)
                {
                    sample = null;
                }
                watch.Samples.Writer.TryWrite(sample);
            }
        }
    }
}
