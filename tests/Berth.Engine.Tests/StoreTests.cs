using Berth.Engine.Model;
using Berth.Engine.Store;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class StoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "berth-store-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Records_survive_a_reload_and_deletes_remove_the_directory()
    {
        var store = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json");
        var record = new ContainerRecord { Id = new string('a', 64), Name = "flask", Created = DateTimeOffset.UtcNow };
        record.State.Status = "running";
        store.Save(record);

        var reloaded = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json").Get(record.Id);
        Assert.NotNull(reloaded);
        Assert.Equal("flask", reloaded.Name);
        Assert.Equal("running", reloaded.State.Status);

        store.Delete(record.Id);
        Assert.False(Directory.Exists(Path.Combine(_dir, record.Id)));
        Assert.Empty(new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json").All);
    }

    [Fact]
    public void A_torn_temp_file_from_a_crash_is_ignored()
    {
        var store = new RecordStore<NetworkRecord>(_dir, n => n.Id);
        store.Save(new NetworkRecord { Id = "n1", Name = "bridge" });
        // What a SIGKILL between write and rename leaves: a temp file beside the real one.
        File.WriteAllText(Path.Combine(_dir, "n1.json.tmp-1-1"), "{ \"Id\": \"n1\", \"Na");
        var reloaded = new RecordStore<NetworkRecord>(_dir, n => n.Id);
        Assert.Equal("bridge", Assert.Single(reloaded.All).Name);
    }

    [Fact]
    public async Task Readers_never_see_a_record_half_way_through_an_update()
    {
        var store = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json");
        string id = new('b', 64);
        store.Save(new ContainerRecord { Id = id, Name = "flask" });
        var writer = Task.Run(() =>
        {
            for (int i = 0; i < 300; i++)
            {
                // As the service changes a record (start, exit): one field after another, then Save.
                var record = store.Get(id)!;
                bool running = !record.State.Running;
                record.State.Running = running;
                Thread.SpinWait(2000);
                record.State.Status = running ? "running" : "exited";
                record.State.Pid = running ? 4242 : 0;
                record.State.FinishedAt = running ? DateTimeOffset.MinValue : DateTimeOffset.UtcNow;
                store.Save(record);
            }
        });
        int reads = 0;
        var torn = new List<string>();
        while (!writer.IsCompleted)
        {
            foreach (var c in store.All.Append(store.Get(id)!))
            {
                reads++;
                bool stateSaysRunning = c.State.Status == "running" && c.State.Pid != 0 && c.State.FinishedAt.Year <= 1;
                bool stateSaysExited = c.State.Status is "exited" or "created" && c.State.Pid == 0;
                if (c.State.Running ? !stateSaysRunning : !stateSaysExited)
                    torn.Add($"Running={c.State.Running} Status={c.State.Status} Pid={c.State.Pid}");
            }
        }
        await writer;
        Assert.True(reads > 100, $"only {reads} reads overlapped the writes");
        Assert.Empty(torn);
    }

    [Fact]
    public void Times_are_written_as_docker_writes_them()
    {
        Assert.Equal("0001-01-01T00:00:00Z", DockerTimeConverter.Format(DateTimeOffset.MinValue));
        var t = new DateTimeOffset(2026, 11, 22, 19, 36, 2, TimeSpan.Zero).AddTicks(7999460);
        Assert.Equal("2026-11-22T19:36:02.799946000Z", DockerTimeConverter.Format(t));
    }
}
