using System.Text;
using Berth.Runtime.Containers;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>The log files on the real filesystem, in a temp directory of the test's own: sizes, rotation as conmon
/// does it (a new file renamed over container.log), reading across files, tail from the end.</summary>
public sealed class ContainerLogsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-logs-", 24));

    public ContainerLogsTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Record(int n, char tag = 'F') => $"2026-11-29T12:00:00.{n:D9}+00:00 stdout {tag} line {n}\n";

    private string Current => LogFiles.Current(_dir);

    /// <summary>What conmon does at its size cap: write container.log.tmp, rename it over container.log.</summary>
    private void ConmonRotates(string firstContent)
    {
        File.WriteAllText(Current + ".tmp", firstContent);
        File.Move(Current + ".tmp", Current, overwrite: true);
    }

    private List<string> ReadAll(int? tail = null)
    {
        var files = LogFiles.ReadOrder(_dir);
        var plan = tail is int n ? LogTail.Plan(files, n) : files.Select(f => (f, 0L)).ToList();
        var lines = new List<string>();
        K8sLogReader? reader = null;
        foreach (var (path, offset) in plan)
        {
            if (!File.Exists(path)) continue;
            var stream = File.OpenRead(path);
            stream.Seek(offset, SeekOrigin.Begin);
            if (reader is null) reader = new K8sLogReader(stream);
            else reader.SwitchTo(stream);
            lines.AddRange(reader.ReadAvailable().Select(e => Encoding.UTF8.GetString(e.Line).TrimEnd('\n')));
        }
        return lines;
    }

    [Theory]
    [InlineData("10k", 10 * 1024L)]
    [InlineData("20m", 20 * 1024 * 1024L)]
    [InlineData("1g", 1024 * 1024 * 1024L)]
    [InlineData("512", 512L)]
    [InlineData("1.5MB", 1536 * 1024L)]
    public void Sizes_read_as_docker_reads_them(string text, long bytes) => Assert.Equal(bytes, LogPolicy.ParseSize(text));

    [Fact]
    public void Rotation_keeps_what_conmon_replaces_and_at_most_max_file_files()
    {
        var policy = new LogPolicy(100, 3);
        File.WriteAllText(Current, Record(1));
        LogFiles.Sync(_dir, policy); // the rotator's start: container.log is kept by a second link
        for (int i = 2; i <= 6; i++)
        {
            ConmonRotates(Record(i));
            LogFiles.Sync(_dir, policy);
        }
        Assert.Equal(["line 4", "line 5", "line 6"], ReadAll());
        var names = Directory.GetFiles(_dir).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["container.log", "container.log.1", "container.log.2", "container.log.keep"], names);
        // The kept link is container.log itself: three files of data.
        Assert.Equal(Berth.Linux.Interop.StatNoFollow(Current)!.Value.Inode,
            Berth.Linux.Interop.StatNoFollow(Path.Combine(_dir, "container.log.keep"))!.Value.Inode);
    }

    [Fact]
    public void A_restart_rotates_the_old_log_first_so_no_file_passes_the_cap()
    {
        File.WriteAllText(Current, Record(1) + Record(2));
        LogFiles.PrepareForStart(_dir, new LogPolicy(100, 2));
        Assert.False(File.Exists(Current));
        Assert.Equal(["line 1", "line 2"], ReadAll());
        // With one file only, a full log is dropped, a small one continues.
        File.WriteAllText(Current, Record(3));
        LogFiles.PrepareForStart(_dir, new LogPolicy(1000, 1));
        Assert.True(File.Exists(Current));
        LogFiles.PrepareForStart(_dir, new LogPolicy(10, 1));
        Assert.False(File.Exists(Current));
    }

    [Fact]
    public void Tail_finds_the_last_lines_across_files_and_keeps_partial_lines_whole()
    {
        File.WriteAllText(Current + ".1", Record(1) + Record(2) + Record(3, 'P'));
        File.WriteAllText(Current, Record(4) + Record(5) + Record(6));
        Assert.Equal(["line 5", "line 6"], ReadAll(tail: 2));
        Assert.Equal(["line 2", "line 3line 4", "line 5", "line 6"], ReadAll(tail: 4));
        Assert.Equal(["line 1", "line 2", "line 3line 4", "line 5", "line 6"], ReadAll(tail: 100));
        Assert.Equal(5, ReadAll(tail: int.MaxValue).Count);
        Assert.Empty(ReadAll(tail: 0));
    }

    [Fact]
    public void Tail_of_a_large_log_reads_only_its_end()
    {
        // 20 MB of records; the tail search touches a few blocks at the end.
        using (var writer = new StreamWriter(Current))
            for (int i = 0; i < 300_000; i++) writer.Write(Record(i));
        var (offset, found) = LogTail.FindStart(Current, 4);
        Assert.Equal(4, found);
        Assert.True(new FileInfo(Current).Length - offset < 200);
        Assert.Equal(["line 299997", "line 299998", "line 299999"], ReadAll(tail: 3));
    }

    [Fact]
    public void A_line_without_end_comes_out_in_bounded_pieces()
    {
        var text = new StringBuilder();
        for (int i = 0; i < 41; i++) text.Append($"2026-11-29T12:00:00.{i:D9}+00:00 stdout P {new string('z', 8192)}\n");
        var reader = new K8sLogReader(new MemoryStream(Encoding.ASCII.GetBytes(text.ToString())));
        var entries = reader.ReadAvailable().Concat(reader.Flush()).ToList();
        Assert.All(entries, e => Assert.True(e.Line.Length <= K8sLogReader.MaxMessage));
        Assert.Equal(41 * 8192, entries.Sum(e => e.Line.Length));
    }
}
