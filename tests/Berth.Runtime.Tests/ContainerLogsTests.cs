using System.IO.Compression;
using System.Text;
using Berth.Runtime.Containers;
using Berth.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>The log drain on the real filesystem, in a temp directory of the test's own: conmon's spool records in,
/// Docker's json-file lines out, rotation and compression, a restart in the middle of a joined line, tail.</summary>
public sealed class ContainerLogsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-logs-", 24));

    public ContainerLogsTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Spool => Path.Combine(_dir, LogDrain.SpoolName);

    private static string Record(string stream, char tag, string content, int n = 1) =>
        $"2026-11-29T13:00:00.{n:D9}+01:00 {stream} {tag} {content}\n";

    private LogDrain Drain(LogPolicy policy, bool conmonGone = false) =>
        new(_dir, policy, NullLogger.Instance, () => conmonGone, watch: false);

    private List<LogEntry> ReadAll(LogPolicy policy, int? tail = null)
    {
        var files = JsonLogFile.ReadOrder(JsonLogFile.PathOf(_dir, policy))
            .Select(f => OpenedLogFile.TryOpen(f.Path, f.Compressed)).OfType<OpenedLogFile>().ToList();
        var plan = tail is int n ? JsonLogTail.Plan(files, n) : files;
        var entries = new List<LogEntry>();
        foreach (var file in plan)
        {
            if (!file.Compressed) file.File.Seek(file.Offset, SeekOrigin.Begin);
            using var text = file.Compressed ? file.OpenFromStart() : file.File;
            var reader = new JsonLogReader(text);
            reader.SkipLines(file.SkipLines);
            entries.AddRange(reader.ReadAvailable());
        }
        files.ForEach(f => f.Dispose());
        return entries;
    }

    private static string Text(IEnumerable<LogEntry> entries) => string.Concat(entries.Select(e => Encoding.UTF8.GetString(e.Line)));

    [Theory]
    [InlineData("10k", 10 * 1024L)]
    [InlineData("20m", 20 * 1024 * 1024L)]
    [InlineData("1g", 1024 * 1024 * 1024L)]
    [InlineData("512", 512L)]
    [InlineData("1.5MB", 1536 * 1024L)]
    public void Sizes_read_as_docker_reads_them(string text, long bytes) => Assert.Equal(bytes, LogPolicy.ParseSize(text));

    /// <summary>moby's jsonlogbytes_test.go cases are the anchor, and a line of dockerd 20.10's own file.</summary>
    [Theory]
    [InlineData("\"A log line with \\\"", "{\"log\":\"\\\"A log line with \\\\\\\"\",")]
    [InlineData("A log line with \r", "{\"log\":\"A log line with \\r\",")]
    [InlineData("A log line with & < >", "{\"log\":\"A log line with \\u0026 \\u003c \\u003e\",")]
    [InlineData("A log line with utf8 : 🚀 ψ ω β", "{\"log\":\"A log line with utf8 : 🚀 ψ ω β\",")]
    [InlineData("\u2028 \u2029", "{\"log\":\"\\u2028 \\u2029\",")]
    [InlineData("\x7f\t\u0001", "{\"log\":\"\x7f\\u0009\\u0001\",")]
    public void Lines_are_escaped_as_mobys_jsonlog_escapes_them(string log, string expectedStart)
    {
        var output = new ByteBuffer();
        JsonLogLine.Write(output, Encoding.UTF8.GetBytes(log), StdStream.Stdout, JsonLogLine.FormatTime(
            new DateTime(2017, 9, 1, 1, 1, 1, DateTimeKind.Utc), 1));
        Assert.Equal(expectedStart + "\"stream\":\"stdout\",\"time\":\"2017-09-01T01:01:01.000000001Z\"}\n",
            Encoding.UTF8.GetString(output.Span));
    }

    [Fact]
    public void Bytes_that_are_not_utf8_become_one_replacement_each_and_times_are_utc_with_trimmed_nanoseconds()
    {
        var output = new ByteBuffer();
        JsonLogLine.WriteString(output, [0xaf, 0xe2, 0x82, (byte)'x']);
        Assert.Equal("\"\\ufffd\\ufffd\\ufffdx\"", Encoding.UTF8.GetString(output.Span));
        Assert.Equal("\"2026-11-29T12:00:00.1Z\"",
            Encoding.ASCII.GetString(JsonLogLine.FromConmonTime("2026-11-29T13:00:00.100000000+01:00"u8)!));
        Assert.Equal("\"2026-11-30T00:30:05Z\"",
            Encoding.ASCII.GetString(JsonLogLine.FromConmonTime("2026-11-29T23:00:05.000000000-01:30"u8)!));
        // A line as dockerd 20.10 writes it (docker run alpine echo hello, its -json.log).
        var line = "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-30T06:40:12.337645214Z\"}"u8;
        var entry = JsonLogLine.Read(line)!;
        Assert.Equal(("hello\n", StdStream.Stdout), (Encoding.UTF8.GetString(entry.Line), entry.Stream));
        var again = new ByteBuffer();
        JsonLogLine.Write(again, entry.Line, entry.Stream, "\"2026-11-30T06:40:12.337645214Z\""u8);
        Assert.Equal(Encoding.UTF8.GetString(line) + "\n", Encoding.UTF8.GetString(again.Span));
    }

    [Fact]
    public void Partial_records_are_joined_streams_kept_apart_and_a_long_line_comes_in_16k_messages()
    {
        string longLine = new('x', 20000);
        File.WriteAllText(Spool, Record("stdout", 'P', "hel") + Record("stderr", 'F', "err") + Record("stdout", 'F', "lo")
            + Record("stdout", 'P', longLine[..8000]) + Record("stdout", 'P', longLine[8000..16000])
            + Record("stdout", 'F', longLine[16000..]) + "2026-11-29T13:00:00.0000");
        using (Drain(LogPolicy.Unlimited)) { }
        string[] lines = File.ReadAllLines(JsonLogFile.PathOf(_dir, LogPolicy.Unlimited));
        Assert.Equal(4, lines.Length);
        Assert.Equal("{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2026-11-29T12:00:00.000000001Z\"}", lines[0]);
        Assert.Equal("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-29T12:00:00.000000001Z\"}", lines[1]);
        var entries = ReadAll(LogPolicy.Unlimited);
        Assert.Equal(16 * 1024, entries[2].Line.Length);
        Assert.Equal(longLine + "\n", Encoding.UTF8.GetString(entries[2].Line) + Encoding.UTF8.GetString(entries[3].Line));
    }

    [Fact]
    public void A_daemon_gone_in_the_middle_of_a_joined_line_writes_every_entry_once_after_its_restart()
    {
        File.WriteAllText(Spool, Record("stdout", 'F', "one") + Record("stdout", 'P', "tw") + Record("stderr", 'F', "e1"));
        Drain(LogPolicy.Unlimited).Dispose(); // no final flush: the daemon simply went away
        string json = JsonLogFile.PathOf(_dir, LogPolicy.Unlimited);
        // What a killed daemon wrote after its last saved state is written again: the file is cut back first.
        File.AppendAllText(json, "{\"log\":\"half written");
        File.AppendAllText(Spool, Record("stdout", 'F', "o") + Record("stderr", 'F', "e2"));
        using (Drain(LogPolicy.Unlimited)) { }
        Assert.Equal(["one\n", "e1\n", "two\n", "e2\n"], ReadAll(LogPolicy.Unlimited).Select(e => Encoding.UTF8.GetString(e.Line)));
    }

    [Fact]
    public void Rotation_keeps_max_file_files_compresses_them_and_tail_reads_across_them()
    {
        var policy = LogPolicy.Parse(new Dictionary<string, string> { ["max-size"] = "1k", ["max-file"] = "3", ["compress"] = "true" });
        var spool = new StringBuilder();
        for (int i = 1; i <= 60; i++) spool.Append(Record("stdout", 'F', $"line {i}", i));
        File.WriteAllText(Spool, spool.ToString());
        using (Drain(policy, conmonGone: true)) { }
        string json = JsonLogFile.PathOf(_dir, policy);
        Assert.Equal(Path.Combine(_dir, Path.GetFileName(_dir) + "-json.log"), json);
        var names = Directory.GetFiles(_dir, "*-json.log*").Select(Path.GetFileName).Order().ToList();
        Assert.Equal([Path.GetFileName(json), Path.GetFileName(json) + ".1.gz", Path.GetFileName(json) + ".2.gz"], names);
        Assert.True(new FileInfo(json).Length <= 1024 + 100);
        using (var gz = new GZipStream(File.OpenRead(json + ".1.gz"), CompressionMode.Decompress))
        using (var text = new StreamReader(gz))
            Assert.StartsWith("{\"log\":\"line ", text.ReadLine());
        var all = ReadAll(policy).Select(e => Encoding.UTF8.GetString(e.Line).TrimEnd('\n')).ToList();
        Assert.Equal("line 60", all[^1]);
        int first = int.Parse(all[0]["line ".Length..]);
        Assert.Equal(Enumerable.Range(first, 61 - first).Select(i => $"line {i}"), all);
        Assert.Equal(["line 51", "line 52", "line 53", "line 54", "line 55", "line 56", "line 57", "line 58", "line 59", "line 60"],
            ReadAll(policy, tail: 10).Select(e => Encoding.UTF8.GetString(e.Line).TrimEnd('\n')));
        Assert.Equal(all, ReadAll(policy, tail: 1000).Select(e => Encoding.UTF8.GetString(e.Line).TrimEnd('\n')));
    }

    [Fact]
    public void Files_of_the_older_k8s_format_are_converted_once_in_order()
    {
        File.WriteAllText(Spool + ".2", Record("stdout", 'F', "a"));
        File.WriteAllText(Spool + ".1", Record("stdout", 'F', "b"));
        File.WriteAllText(Spool, Record("stdout", 'F', "c"));
        File.CreateSymbolicLink(Path.Combine(_dir, "unrelated"), "/etc/passwd");
        File.WriteAllText(Path.Combine(_dir, "log-policy"), "10240 3");
        var policy = LogFiles.LoadPolicy(_dir);
        Assert.True(policy.LegacyConmonCap);
        using (Drain(policy)) { }
        Assert.Equal("abc", Text(ReadAll(policy)).Replace("\n", ""));
        Assert.False(File.Exists(Spool + ".1"));
        using (Drain(policy)) { }
        Assert.Equal("abc", Text(ReadAll(policy)).Replace("\n", ""));
    }
}
