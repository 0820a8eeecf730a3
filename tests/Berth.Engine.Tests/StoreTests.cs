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

    [Theory]
    [InlineData("")]
    [InlineData("{ \"Id\": \"cccc")]
    [InlineData("garbage \u0001\u0002")]
    [InlineData("null")]
    public void A_corrupt_record_is_moved_aside_and_the_others_load(string content)
    {
        var store = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json");
        string good = new('a', 64), bad = new('c', 64);
        store.Save(new ContainerRecord { Id = good, Name = "good" });
        store.Save(new ContainerRecord { Id = bad, Name = "bad" });
        string badPath = store.PathFor(bad);
        File.WriteAllText(badPath, content);

        var logger = new ListLogger();
        var reloaded = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json", logger);

        Assert.Equal("good", Assert.Single(reloaded.All).Name);
        Assert.False(File.Exists(badPath));
        string aside = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(badPath)!, "state.json.corrupt-*"));
        Assert.Equal(content, File.ReadAllText(aside));
        Assert.Contains(logger.Messages, m => m.Contains(badPath) && m.Contains("moved aside"));
    }

    [Fact]
    public void Records_and_their_directories_are_private_and_no_temp_file_stays()
    {
        var store = new RecordStore<ContainerRecord>(_dir, c => c.Id, "state.json");
        string id = new('d', 64);
        store.Save(new ContainerRecord { Id = id, Name = "secret", Config = new ContainerConfig { Env = ["SECRET=x"] } });
        store.Save(store.Get(id)!);
        Assert.Equal(AtomicFile.PrivateFile, File.GetUnixFileMode(store.PathFor(id)));
        Assert.Equal(RecordStore<ContainerRecord>.PrivateDirectory, File.GetUnixFileMode(Path.GetDirectoryName(store.PathFor(id))!));
        Assert.Equal(RecordStore<ContainerRecord>.PrivateDirectory, File.GetUnixFileMode(_dir));
        Assert.Equal(["state.json"], Directory.GetFiles(Path.GetDirectoryName(store.PathFor(id))!).Select(Path.GetFileName));
    }

    internal sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Messages { get; } = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId,
            TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Messages) Messages.Add(formatter(state, exception));
        }
    }

    [Fact]
    public void Times_are_written_as_docker_writes_them()
    {
        Assert.Equal("0001-01-01T00:00:00Z", DockerTimeConverter.Format(DateTimeOffset.MinValue));
        var t = new DateTimeOffset(2026, 11, 22, 19, 36, 2, TimeSpan.Zero).AddTicks(7999460);
        Assert.Equal("2026-11-22T19:36:02.799946000Z", DockerTimeConverter.Format(t));
    }
}
