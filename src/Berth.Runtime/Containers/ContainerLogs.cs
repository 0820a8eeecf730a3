using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Berth.Linux;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Containers;

/// <summary>The json-file options Berth applies (`--log-opt max-size=10m --log-opt max-file=3`): at most
/// <see cref="MaxFiles"/> files of at most <see cref="MaxSize"/> bytes each. MaxSize 0: no cap.</summary>
public sealed partial record LogPolicy(long MaxSize, int MaxFiles)
{
    public static readonly LogPolicy Unlimited = new(0, 1);

    /// <summary>Berth's cap when neither the container nor the daemon sets one: the figures of Docker's "local"
    /// driver (json-file has no cap in Docker, and a chatty container fills the disk).</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultOptions =
        new Dictionary<string, string> { ["max-size"] = "20m", ["max-file"] = "5" };

    /// <summary>The log drivers whose options Berth reads; json-file is what Berth writes whatever the name.</summary>
    public static bool IsFileDriver(string type) => type is "" or "json-file" or "local" or "k8s-file";

    public bool Capped => MaxSize > 0;

    /// <summary>The "none" driver: the output goes nowhere and nothing can be read back.</summary>
    public bool Discard { get; init; }

    public static readonly LogPolicy Discarded = new(0, 1) { Discard = true };

    /// <summary>Options as json-file takes them; unknown keys and bad values are an ArgumentException.</summary>
    public static LogPolicy Parse(IReadOnlyDictionary<string, string> options, string driver = "json-file")
    {
        long maxSize = 0;
        int maxFiles = 1;
        foreach (var (key, value) in options)
        {
            switch (key)
            {
                case "max-size":
                    maxSize = ParseSize(value);
                    break;
                case "max-file":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out maxFiles) || maxFiles < 1)
                    {
                        throw new ArgumentException(
                            $"invalid value for log opt max-file: \"{value}\": a whole number of at least 1");
                    }
                    break;
                case "compress":
                    if (!bool.TryParse(value, out _))
                        throw new ArgumentException($"invalid value for log opt compress: \"{value}\"");
                    break;
                // Docker adds these as attributes to each json entry; Berth's log has no place for them.
                case "labels" or "labels-regex" or "env" or "env-regex" or "tag":
                    break;
                default:
                    throw new ArgumentException($"unknown log opt '{key}' for {driver} log driver");
            }
        }
        if (maxFiles > 1 && maxSize == 0) throw new ArgumentException("max-file cannot be set without max-size");
        return maxSize == 0 ? Unlimited : new LogPolicy(maxSize, maxFiles);
    }

    /// <summary>Docker's sizes: "10k", "20m", "1g", "512", "1.5mb" (binary multiples).</summary>
    public static long ParseSize(string text)
    {
        var match = SizePattern().Match(text);
        decimal number = 0;
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out number))
        {
            throw new ArgumentException($"invalid value for log opt max-size: \"{text}\": a size such as 10k, 20m or 1g");
        }
        string unit = match.Groups[2].Value;
        int power = "bkmgtp".IndexOf(unit.Length > 0 ? char.ToLowerInvariant(unit[0]) : 'b');
        decimal bytes = number;
        for (int i = 0; i < power; i++) bytes *= 1024;
        if (bytes < 1 || bytes > long.MaxValue / 2)
            throw new ArgumentException($"invalid value for log opt max-size: \"{text}\": must be a positive size");
        return (long)bytes;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP]?)[iI]?[bB]?$")]
    private static partial Regex SizePattern();

    /// <summary>The policy as kept in the bundle, so a restarted daemon adopts a running container's rotation.</summary>
    internal string Serialize() => $"{MaxSize} {MaxFiles}";

    internal static LogPolicy Deserialize(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        bool valid = parts.Length == 2 && long.TryParse(parts[0], out long size) && size > 0
            && int.TryParse(parts[1], out int files) && files >= 1;
        return valid ? new LogPolicy(long.Parse(parts[0]), int.Parse(parts[1])) : Unlimited;
    }
}

/// <summary>The files of one container's log: conmon writes container.log (k8s-file) and replaces it with an empty one
/// when asked to reopen it, or by itself when the file passes --log-size-max (it truncates; it keeps nothing). Berth
/// keeps what conmon drops, as Docker's json-file rotation does: container.log.keep is a hard link to the file conmon
/// writes, so the replaced file lives on, and is then renamed container.log.1 (older ones shift to .2 ... up to
/// max-file - 1). With files to keep, Berth asks for each rotation itself (<see cref="LogRotator"/>), one at a time, so
/// no file is replaced before it is kept; conmon's own cap is then the whole budget (max-size × max-file), the bound
/// while the daemon is away (only history is lost then).</summary>
public static class LogFiles
{
    public const string CurrentName = "container.log";
    private const string KeptName = "container.log.keep";
    private const string PolicyName = "log-policy";

    public static string Current(string bundle) => Path.Combine(bundle, CurrentName);
    private static string Kept(string bundle) => Path.Combine(bundle, KeptName);
    private static string Rotated(string bundle, int n) => Path.Combine(bundle, $"{CurrentName}.{n}");

    /// <summary>The cap conmon enforces by itself: max-size when nothing is kept, else the whole budget (Berth rotates
    /// at max-size while it runs).</summary>
    public static long ConmonCap(LogPolicy policy) =>
        policy.MaxFiles < 2 ? policy.MaxSize : policy.MaxSize * policy.MaxFiles;

    public static void SavePolicy(string bundle, LogPolicy policy) =>
        File.WriteAllText(Path.Combine(bundle, PolicyName), policy.Serialize());

    public static LogPolicy LoadPolicy(string bundle)
    {
        string path = Path.Combine(bundle, PolicyName);
        return File.Exists(path) ? LogPolicy.Deserialize(File.ReadAllText(path)) : LogPolicy.Unlimited;
    }

    /// <summary>The files to read, oldest first: .N ... .1, a kept file not yet rotated, then container.log.</summary>
    public static List<string> ReadOrder(string bundle)
    {
        var order = RotatedFiles(bundle).OrderByDescending(r => r.N).Select(r => r.Path).ToList();
        var current = Interop.StatNoFollow(Current(bundle));
        if (Interop.StatNoFollow(Kept(bundle)) is { } kept && kept.Inode != current?.Inode) order.Add(Kept(bundle));
        order.Add(Current(bundle));
        return order;
    }

    private static IEnumerable<(int N, string Path)> RotatedFiles(string bundle)
    {
        if (!Directory.Exists(bundle)) yield break;
        foreach (string path in Directory.EnumerateFiles(bundle, CurrentName + ".*"))
        {
            string name = Path.GetFileName(path);
            if (name.Length <= CurrentName.Length + 1) continue; // the pattern also matches container.log itself
            string suffix = name[(CurrentName.Length + 1)..];
            if (int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0)
                yield return (n, path);
        }
    }

    /// <summary>Takes in what conmon rotated: a kept file that is no longer container.log becomes .1 (older files
    /// shift, the oldest beyond max-file goes), and the file conmon writes now is kept.</summary>
    /// <returns>Whether a replaced file was taken in.</returns>
    public static bool Sync(string bundle, LogPolicy policy)
    {
        if (!policy.Capped || policy.MaxFiles < 2) return false;
        var current = Interop.StatNoFollow(Current(bundle));
        if (current is null) return false;
        var kept = Interop.StatNoFollow(Kept(bundle));
        if (kept is { } k && k.Inode == current.Value.Inode) return false;
        if (kept is not null) ShiftInto(bundle, policy, Kept(bundle));
        try { Interop.HardLink(Current(bundle), Kept(bundle)); }
        catch (LinuxException e) when (e.Errno is 2 or 17) { } // conmon replaced it meanwhile; the next event syncs
        return kept is not null;
    }

    /// <summary>Before conmon starts on an existing log: conmon counts its cap from zero, so a non-empty
    /// container.log is rotated first (with max-file 1 it is dropped once full): every file stays under the cap.</summary>
    public static void PrepareForStart(string bundle, LogPolicy policy)
    {
        File.Delete(Path.Combine(bundle, CurrentName + ".tmp"));
        if (!policy.Capped)
        {
            File.Delete(Kept(bundle));
            return;
        }
        Sync(bundle, policy);
        File.Delete(Kept(bundle));
        var current = Interop.StatNoFollow(Current(bundle));
        if (current is not { Size: > 0 } file) return;
        if (policy.MaxFiles >= 2) ShiftInto(bundle, policy, Current(bundle));
        else if (file.Size >= policy.MaxSize) File.Delete(Current(bundle));
    }

    private static void ShiftInto(string bundle, LogPolicy policy, string newest)
    {
        int keep = policy.MaxFiles - 1;
        foreach (var (n, path) in RotatedFiles(bundle).ToList())
            if (n >= keep) File.Delete(path);
        for (int n = keep - 1; n >= 1; n--)
            if (File.Exists(Rotated(bundle, n))) File.Move(Rotated(bundle, n), Rotated(bundle, n + 1), overwrite: true);
        File.Move(newest, Rotated(bundle, 1), overwrite: true);
    }

    public static void DeleteAll(string bundle)
    {
        foreach (string path in ReadOrder(bundle)) File.Delete(path);
        File.Delete(Kept(bundle));
    }
}

/// <summary>Rotates one running container's log while the daemon runs: when container.log reaches max-size it asks
/// conmon to reopen it (conmon's control fifo), takes in the replaced file once conmon has swapped it (inotify; .NET
/// shares one inotify instance between watchers), and only then may ask again. So however fast the container
/// writes, every file is kept up to max-file unless Berth falls behind by (max-file - 1) × max-size (conmon then swaps
/// by itself at its cap); a file passes max-size by what is written while the swap is on its way.
/// A periodic look covers inotify events dropped under load.</summary>
public sealed class LogRotator : IDisposable
{
    /// <summary>conmon's control message that reopens the log (REOPEN_LOGS_EVENT).</summary>
    private static readonly byte[] ReopenMessage = "2 0 0\n"u8.ToArray();
    /// <summary>How long a reopen may be on its way before it is asked again (conmon busy or gone).</summary>
    private static readonly TimeSpan ReopenPatience = TimeSpan.FromSeconds(10);

    private readonly string _bundle;
    private readonly LogPolicy _policy;
    private readonly ILogger _logger;
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly Lock _lock = new();
    private long _reopenAskedAt = -1;
    private bool _disposed;

    public LogRotator(string bundle, LogPolicy policy, ILogger logger)
    {
        _bundle = bundle;
        _policy = policy;
        _logger = logger;
        _watcher = new FileSystemWatcher(bundle) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.Size };
        _watcher.Renamed += (_, e) => { if (e.Name == LogFiles.CurrentName) Sync(); };
        _watcher.Created += (_, e) => { if (e.Name == LogFiles.CurrentName) Sync(); };
        _watcher.Changed += (_, e) => { if (e.Name == LogFiles.CurrentName) Sync(); };
        _watcher.Error += (_, _) => Sync();
        _watcher.EnableRaisingEvents = true;
        _timer = new Timer(_ => Sync(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        Sync();
    }

    /// <summary>Takes in a swap conmon made, then asks for the next one when the file is full.</summary>
    public void Sync()
    {
        lock (_lock)
        {
            if (_disposed) return;
            try
            {
                if (LogFiles.Sync(_bundle, _policy)) _reopenAskedAt = -1;
                if (Interop.StatNoFollow(LogFiles.Current(_bundle)) is not { } current || current.Size < _policy.MaxSize)
                    return;
                if (_reopenAskedAt >= 0 && Environment.TickCount64 - _reopenAskedAt < ReopenPatience.TotalMilliseconds)
                    return;
                AskConmonToReopen();
                _reopenAskedAt = Environment.TickCount64;
            }
            catch (Exception e) when (e is IOException or LinuxException or UnauthorizedAccessException)
            {
                _logger.LogWarning(e, "rotating the log in {Bundle} failed", _bundle);
            }
        }
    }

    /// <summary>Non-blocking: with no conmon reading the fifo, the open fails instead of hanging.</summary>
    private void AskConmonToReopen()
    {
        using var fifo = Interop.Open(Path.Combine(_bundle, "ctl"), Interop.O_WRONLY | Interop.O_NONBLOCK);
        using var stream = new FileStream(fifo, FileAccess.Write, bufferSize: 0);
        stream.Write(ReopenMessage);
    }

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
        lock (_lock)
        {
            try { LogFiles.Sync(_bundle, _policy); }
            catch (Exception e) when (e is IOException or LinuxException or UnauthorizedAccessException)
            {
                _logger.LogWarning(e, "rotating the log in {Bundle} failed", _bundle);
            }
            _disposed = true;
        }
    }
}

/// <summary>`logs --tail N` from the end: reads the files backwards in blocks and counts complete lines, so the cost
/// is that of the lines shown, not of the log.</summary>
public static class LogTail
{
    private const int BlockSize = 64 * 1024;
    private const int HeaderSize = 96;

    /// <summary>Where to start reading each file (oldest first) to get the last <paramref name="lines"/> lines;
    /// files before the first one returned are not needed.</summary>
    public static List<(string Path, long Offset)> Plan(IReadOnlyList<string> files, int lines)
    {
        var plan = new List<(string, long)>();
        if (lines == 0)
        {
            // Nothing old: start at the end of the newest file.
            string newest = files[^1];
            plan.Add((newest, File.Exists(newest) ? new FileInfo(newest).Length : 0));
            return plan;
        }
        // The start is just after the (lines+1)-th complete record from the end; a line split into P records
        // belongs with the F record that ends it.
        int needed = lines == int.MaxValue ? lines : lines + 1;
        for (int i = files.Count - 1; i >= 0; i--)
        {
            if (!File.Exists(files[i])) continue;
            var (offset, found) = FindStart(files[i], needed);
            plan.Insert(0, (files[i], offset));
            if (found == needed) break;
            needed -= found;
        }
        return plan;
    }

    /// <summary>Offset just after the <paramref name="needed"/>-th F record from the end, or 0 with the number of F
    /// records found when the file holds fewer.</summary>
    public static (long Offset, int Found) FindStart(string path, int needed)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        long length = RandomAccess.GetLength(handle);
        var block = new byte[BlockSize];
        var header = new byte[HeaderSize];
        int found = 0;
        long nextStart = length; // start of the record after the one being looked at
        long position = length;
        while (position > 0)
        {
            int size = (int)Math.Min(BlockSize, position);
            position -= size;
            int read = RandomAccess.Read(handle, block.AsSpan(0, size), position);
            for (int i = read - 1; i >= 0; i--)
            {
                if (block[i] != (byte)'\n') continue;
                long start = position + i + 1;
                if (start >= length) continue; // the final newline of the file
                if (IsComplete(handle, header, start) && ++found == needed) return (nextStart, found);
                nextStart = start;
            }
        }
        if (length > 0 && IsComplete(handle, header, 0) && ++found == needed) return (nextStart, found);
        return (0, found);
    }

    private static bool IsComplete(SafeFileHandle handle, byte[] header, long start)
    {
        int n = RandomAccess.Read(handle, header, start);
        var span = header.AsSpan(0, n);
        int a = span.IndexOf((byte)' ');
        if (a < 0) return false;
        int b = span[(a + 1)..].IndexOf((byte)' ');
        if (b < 0) return false;
        int tag = a + 1 + b + 1;
        return tag < span.Length && span[tag] == (byte)'F';
    }
}

/// <summary>Reads conmon's k8s-file log: "&lt;RFC3339Nano&gt; &lt;stdout|stderr&gt; &lt;F|P&gt; &lt;bytes&gt;\n";
/// P marks a partial line continued by the next record, so lines are joined back as the process wrote them, up to
/// Docker's 16 KiB per message (a longer line comes out in 16 KiB pieces, as Docker's partial messages). Memory is
/// bounded whatever the file holds: one read block, one record, one partial message per stream.</summary>
public sealed class K8sLogReader(Stream stream)
{
    public const int MaxMessage = 16 * 1024;
    private const int MaxRecord = 256 * 1024;

    private Stream _stream = stream;
    private readonly byte[] _block = new byte[64 * 1024];
    private readonly MemoryStream _record = new();
    private bool _skippingRecord;
    private readonly Dictionary<StdStream, MemoryStream> _partial = new();

    /// <summary>Goes on with the next file (after a rotation): a line split across the two is joined.</summary>
    public void SwitchTo(Stream next) => _stream = next;

    /// <summary>The entries complete in what the stream holds now, read block by block as they are consumed.</summary>
    public IEnumerable<LogEntry> ReadAvailable()
    {
        int n;
        while ((n = _stream.Read(_block)) > 0)
        {
            var entries = new List<LogEntry>();
            int from = 0;
            while (from < n)
            {
                int newline = Array.IndexOf(_block, (byte)'\n', from, n - from);
                int end = newline < 0 ? n : newline;
                if (!_skippingRecord)
                {
                    if (_record.Length + end - from > MaxRecord) _skippingRecord = true; // not conmon's: drop it
                    else _record.Write(_block, from, end - from);
                }
                if (newline < 0) break;
                if (!_skippingRecord) Parse(_record.GetBuffer().AsSpan(0, (int)_record.Length), entries);
                _record.SetLength(0);
                _skippingRecord = false;
                from = newline + 1;
            }
            foreach (var entry in entries) yield return entry;
        }
    }

    /// <summary>What is left of lines that never ended (a prompt without newline, a process cut off), for a reader
    /// that is done with the log.</summary>
    public IEnumerable<LogEntry> Flush()
    {
        foreach (var (stream, message) in _partial)
        {
            if (message.Length == 0) continue;
            yield return new LogEntry(_lastTime, stream, message.ToArray());
            message.SetLength(0);
        }
    }

    private DateTimeOffset _lastTime;

    private void Parse(ReadOnlySpan<byte> line, List<LogEntry> entries)
    {
        int a = line.IndexOf((byte)' ');
        if (a < 0) return;
        int b = line[(a + 1)..].IndexOf((byte)' ') + a + 1;
        if (b <= a) return;
        int c = line[(b + 1)..].IndexOf((byte)' ') + b + 1;
        if (c <= b) return;
        // The time parsed from a stack copy: no string per record, as this runs once per line of a large log.
        if (a > 64) return;
        Span<char> timeText = stackalloc char[a];
        Encoding.ASCII.GetChars(line[..a], timeText);
        if (!DateTimeOffset.TryParse(timeText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            return;
        _lastTime = time;
        var stream = line.Slice(a + 1, b - a - 1).SequenceEqual("stderr"u8) ? StdStream.Stderr : StdStream.Stdout;
        bool partial = line.Slice(b + 1, c - b - 1).SequenceEqual("P"u8);
        var content = line[(c + 1)..];
        if (!_partial.TryGetValue(stream, out var message)) _partial[stream] = message = new MemoryStream();
        while (message.Length + content.Length >= MaxMessage)
        {
            int room = MaxMessage - (int)message.Length;
            message.Write(content[..room]);
            content = content[room..];
            entries.Add(new LogEntry(time, stream, message.ToArray()));
            message.SetLength(0);
        }
        message.Write(content);
        if (partial) return;
        message.WriteByte((byte)'\n');
        entries.Add(new LogEntry(time, stream, message.ToArray()));
        message.SetLength(0);
    }
}
