using System.Buffers;
using System.Globalization;
using System.Text;
using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Runtime.Containers;

#pragma warning disable CA1416 // Linux only: file modes are set at creation

/// <summary>Turns conmon's log into Docker's json-file, losing nothing however far behind the daemon falls or however
/// long it is away (docs/logs.md). conmon writes its k8s-file records to container.log, the spool, and nothing
/// else: it is never given a size cap, so it never drops a file. Berth tails the spool (inotify, and a look every
/// second), converts each record to Docker's JSON line (conmon's P/F partial records joined back into Docker's
/// messages of up to 16 KiB) and writes and rotates the json-file itself (<see cref="JsonLogWriter"/>). When the
/// spool passes a few MiB Berth renames it container.log.draining and asks conmon, through its control fifo, to
/// reopen: conmon closes the old file before it makes a new container.log, so once that appears the renamed file is
/// complete; it is drained to its end and deleted. After each batch Berth saves where it is (log-drain: the spool's
/// inode, where each stream resumes, the json file's inode and size), so a daemon killed at any point resumes where
/// its file says, writing each entry exactly once.</summary>
public sealed class LogDrain : IDisposable
{
    public const string SpoolName = "container.log";
    private const string DrainingName = "container.log.draining";
    private const string StateName = "log-drain";
    private const int StateSize = 192;
    private const int BlockSize = 256 * 1024;
    /// <summary>Docker's message size: a longer line is written in pieces of this size.</summary>
    public const int MaxMessage = 16 * 1024;
    /// <summary>conmon's records are at most its 8 KiB buffer plus a header; a longer one is not conmon's.</summary>
    private const int MaxRecord = 64 * 1024;
    private const long DefaultSpoolLimit = 4 * 1024 * 1024;
    private const int OutputFlushSize = 128 * 1024;
    /// <summary>conmon's control message that reopens the log (REOPEN_LOGS_EVENT).</summary>
    private static readonly byte[] ReopenMessage = "2 0 0\n"u8.ToArray();
    private static readonly TimeSpan ReopenPatience = TimeSpan.FromSeconds(10);
    /// <summary>inotify reports every write; the look is a safety net. Every running container has one, so an idle
    /// engine pays for it: a look a second each was most of an idle engine's CPU with 20 containers.</summary>
    private static readonly TimeSpan IdleLook = TimeSpan.FromSeconds(30);
    /// <summary>While conmon is expected to go (the container exited), to reopen the spool, or after a failed drain.
    /// </summary>
    private static readonly TimeSpan PendingLook = TimeSpan.FromSeconds(1);

    private readonly string _bundle;
    private readonly ILogger _logger;
    private readonly Func<bool> _conmonGone;
    private readonly Action<LogDrain>? _onFinished;
    private readonly long _spoolLimit;
    private readonly JsonLogWriter _writer;
    private readonly FileStream _state;
    private readonly Lock _lock = new();
    private readonly FileSystemWatcher? _watcher;
    private readonly Timer? _timer;
    private int _scheduled;
    private bool _finished, _disposed, _exited, _failed;
    private TimeSpan _lookPeriod = IdleLook;

    private FileStream? _spool;
    private ulong _spoolInode;
    private bool _spoolIsDraining;
    private long _position;
    private long _reopenAskedAt = -1;
    private readonly ByteBuffer _out = new(OutputFlushSize + 4 * MaxMessage);
    private readonly Pending[] _pending = [new(), new()];
    private readonly (long Offset, int Skip)[] _resume = new (long, int)[2];
    private readonly byte[] _conmonTime = new byte[35];
    private byte[] _time = JsonLogLine.FormatTime(DateTimeOffset.UtcNow);

    /// <summary>A message being joined from partial records, and where it started (to resume it after a restart).
    /// </summary>
    private sealed class Pending
    {
        public readonly byte[] Bytes = new byte[MaxMessage];
        public int Length;
        public long StartOffset;
        public int StartSkip;
    }

    /// <summary>Takes over the container's log: finishes what a previous daemon left (or converts the files of a
    /// Berth before this format), drains what is there, then keeps draining while conmon runs.</summary>
    public LogDrain(string bundle, LogPolicy policy, ILogger logger, Func<bool> conmonGone,
        Action<LogDrain>? onFinished = null, bool watch = true)
    {
        _bundle = bundle;
        _onFinished = onFinished;
        _logger = logger;
        _conmonGone = conmonGone;
        _spoolLimit = policy.LegacyConmonCap && policy.Capped
            ? Math.Max(1, Math.Min(DefaultSpoolLimit, LegacyConmonCap(policy) / 2)) : DefaultSpoolLimit;
        _writer = JsonLogWriter.Open(JsonLogFile.PathOf(bundle, policy), policy);
        bool resuming = File.Exists(Path.Combine(bundle, StateName));
        _state = new FileStream(Path.Combine(bundle, StateName), new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, BufferSize = 0,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        var saved = resuming ? LoadState() : null;
        if (saved is { } s) _writer.TruncateTo(s.JsonInode, s.JsonSize);
        else MigrateLegacyFiles();
        lock (_lock)
        {
            OpenSpool(saved);
            DrainLocked();
        }
        if (!watch || _finished) return;
        _watcher = new FileSystemWatcher(bundle, SpoolName) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.Size };
        _watcher.Changed += (_, _) => Schedule();
        _watcher.Created += (_, _) => Schedule();
        _watcher.Renamed += (_, _) => Schedule();
        _watcher.Error += (_, _) => Schedule();
        _watcher.EnableRaisingEvents = true;
        _timer = new Timer(_ => Schedule(), null, IdleLook, IdleLook);
    }

    /// <summary>conmon wrote the exit file and goes next, with no inotify event for that: drain now and look every
    /// second until it is gone and the drain has finished.</summary>
    public void ContainerExited()
    {
        lock (_lock)
        {
            if (_finished || _disposed) return;
            _exited = true;
            SetLookPeriodLocked();
        }
        Schedule();
    }

    private void SetLookPeriodLocked()
    {
        var period = _exited || _failed || _spoolIsDraining ? PendingLook : IdleLook;
        if (period == _lookPeriod || _timer is null || _finished || _disposed) return;
        _lookPeriod = period;
        try { _timer.Change(period, period); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>The cap a Berth before this format gave conmon (it truncates at it): the spool is rotated well before.
    /// </summary>
    private static long LegacyConmonCap(LogPolicy policy) =>
        policy.MaxFiles < 2 ? policy.MaxSize : policy.MaxSize * policy.MaxFiles;

    /// <summary>Everything conmon has written is in the json file when this returns.</summary>
    public void DrainNow()
    {
        lock (_lock)
        {
            if (!_finished && !_disposed) DrainLocked();
        }
    }

    /// <summary>Runs <paramref name="action"/> with the log drained and no rotation under way (to open a consistent
    /// set of files).</summary>
    public T Drained<T>(Func<T> action)
    {
        lock (_lock)
        {
            if (!_finished && !_disposed) DrainLocked();
            return action();
        }
    }

    /// <summary>Events come in bursts while a container writes: one drain runs at a time and takes in all of them.
    /// </summary>
    private void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                Volatile.Write(ref _scheduled, 0);
                DrainNow();
            }, null);
    }

    public bool Finished
    {
        get { lock (_lock) return _finished; }
    }

    private void DrainLocked()
    {
        _failed = false;
        try
        {
            while (true)
            {
                if (_spool is null)
                {
                    OpenSpool(null);
                    if (_spool is null)
                    {
                        if (_conmonGone()) Finish();
                        return;
                    }
                }
                bool progressed = ReadSpool();
                if (_spoolIsDraining)
                {
                    bool switched = Interop.StatNoFollow(Path.Combine(_bundle, SpoolName)) is { } current
                        && current.Inode != _spoolInode;
                    if (!switched && !_conmonGone())
                    {
                        AskConmonToReopen();
                        return;
                    }
                    // conmon closed this file before it made the new one: this read reaches its true end.
                    ReadSpool();
                    EndOfSpoolFile();
                    File.Delete(Path.Combine(_bundle, DrainingName));
                    if (!switched)
                    {
                        Finish();
                        return;
                    }
                    continue;
                }
                if (Interop.StatNoFollow(Path.Combine(_bundle, SpoolName)) is { } spool && spool.Inode != _spoolInode)
                {
                    // A conmon started by an older Berth swapped the spool by itself at its cap.
                    ReadSpool();
                    EndOfSpoolFile();
                    continue;
                }
                if (_position >= _spoolLimit && !_conmonGone())
                {
                    File.Move(Path.Combine(_bundle, SpoolName), Path.Combine(_bundle, DrainingName));
                    _spoolIsDraining = true;
                    _reopenAskedAt = -1;
                    AskConmonToReopen();
                    return;
                }
                if (!progressed && _conmonGone())
                {
                    ReadSpool(); // conmon wrote its last before it went
                    EndOfSpoolFile();
                    Finish();
                }
                return;
            }
        }
        catch (Exception e) when (e is IOException or LinuxException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "draining the log in {Bundle} failed; trying again", _bundle);
            _failed = true;
        }
        finally { SetLookPeriodLocked(); }
    }

    /// <summary>conmon is gone and its last output is in the json file: nothing is held open any more.</summary>
    private void Finish()
    {
        _finished = true;
        _spool?.Dispose();
        _spool = null;
        if (_onFinished is { } done) ThreadPool.UnsafeQueueUserWorkItem(_ => done(this), null);
    }

    private void OpenSpool((ulong SpoolInode, (long, int)[] Resume, ulong JsonInode, long JsonSize)? saved)
    {
        string draining = Path.Combine(_bundle, DrainingName);
        string path = File.Exists(draining) ? draining : Path.Combine(_bundle, SpoolName);
        _spool = OpenedLogFile.TryOpen(path, compressed: false)?.File;
        if (_spool is null) return;
        _spoolIsDraining = path == draining;
        _spoolInode = Interop.StatAt(_spool.SafeFileHandle, "")?.Inode ?? 0;
        if (saved is { } s && s.SpoolInode == _spoolInode)
        {
            s.Resume.CopyTo(_resume, 0);
            _position = Math.Min(_resume[0].Offset, _resume[1].Offset);
        }
        else
        {
            _resume[0] = _resume[1] = (0, 0);
            _position = 0;
            SaveState(0);
        }
    }

    /// <summary>Converts the complete records from where it stands to the end of the spool.</summary>
    /// <returns>Whether anything was read.</returns>
    private bool ReadSpool()
    {
        var spool = _spool!;
        long start = _position;
        byte[] block = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
        while (true)
        {
            int n = RandomAccess.Read(spool.SafeFileHandle, block.AsSpan(0, BlockSize), _position);
            if (n == 0) break;
            var data = block.AsSpan(0, n);
            int from = 0;
            while (from < n)
            {
                int newline = data[from..].IndexOf((byte)'\n');
                if (newline < 0) break;
                ProcessRecord(data.Slice(from, newline), _position + from);
                from += newline + 1;
            }
            if (from == 0 && n == BlockSize) from = n; // no record ends in a whole block: not conmon's, dropped
            else if (from == 0) break; // a record conmon is still writing
            _position += from;
            if (n < BlockSize) break;
        }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
        if (_position == start) return false;
        _writer.Append(_out.Span);
        _out.Clear();
        SaveState(_position);
        return true;
    }

    private void ProcessRecord(ReadOnlySpan<byte> record, long offset)
    {
        if (record.Length > MaxRecord) return;
        int a = record.IndexOf((byte)' ');
        if (a < 0) return;
        int b = record[(a + 1)..].IndexOf((byte)' ') + a + 1;
        if (b <= a) return;
        int c = record[(b + 1)..].IndexOf((byte)' ') + b + 1;
        if (c <= b || c != b + 2) return;
        var streamName = record.Slice(a + 1, b - a - 1);
        int s = streamName.SequenceEqual("stdout"u8) ? 0 : streamName.SequenceEqual("stderr"u8) ? 1 : -1;
        if (s < 0 || offset < _resume[s].Offset) return;
        var time = record[..a];
        // conmon stamps every record of one read alike: the conversion runs once per read, not per line.
        if (!time.SequenceEqual(_conmonTime))
        {
            _time = JsonLogLine.FromConmonTime(time) ?? JsonLogLine.FormatTime(DateTimeOffset.UtcNow);
            if (time.Length == _conmonTime.Length) time.CopyTo(_conmonTime);
        }
        bool partial = record[b + 1] == (byte)'P';
        var content = record[(c + 1)..];
        int pos = offset == _resume[s].Offset ? Math.Min(_resume[s].Skip, content.Length) : 0;
        var p = _pending[s];
        while (pos < content.Length)
        {
            if (p.Length == 0)
            {
                p.StartOffset = offset;
                p.StartSkip = pos;
            }
            int take = Math.Min(MaxMessage - p.Length, content.Length - pos);
            content.Slice(pos, take).CopyTo(p.Bytes.AsSpan(p.Length));
            p.Length += take;
            pos += take;
            if (p.Length == MaxMessage) Emit(s, offset);
        }
        if (partial) return;
        if (p.Length == 0)
        {
            p.StartOffset = offset;
            p.StartSkip = content.Length;
        }
        p.Bytes[p.Length++] = (byte)'\n';
        Emit(s, offset);
    }

    /// <summary>Writes stream <paramref name="s"/>'s message; a full file is rotated first, with the state saved
    /// on both sides of the rotation so a restart finds a state that matches the files.</summary>
    private void Emit(int s, long offset)
    {
        var p = _pending[s];
        if (_writer.Full(_out.Length))
        {
            _writer.Append(_out.Span);
            _out.Clear();
            SaveState(offset);
            _writer.Rotate();
            SaveState(offset);
        }
        JsonLogLine.Write(_out, p.Bytes.AsSpan(0, p.Length), s == 0 ? StdStream.Stdout : StdStream.Stderr, _time);
        p.Length = 0;
        // Written ahead of the saved state is fine: a restart cuts the file back to the state's size.
        if (_out.Length >= OutputFlushSize)
        {
            _writer.Append(_out.Span);
            _out.Clear();
        }
    }

    /// <summary>A line left open at the end of a spool file is written as Docker writes one at the end of its input:
    /// a message without newline.</summary>
    private void EndOfSpoolFile()
    {
        for (int s = 0; s < 2; s++)
            if (_pending[s].Length > 0) Emit(s, _position);
        _writer.Append(_out.Span);
        _out.Clear();
        SaveState(_position);
        _spool?.Dispose();
        _spool = null;
    }

    private void AskConmonToReopen()
    {
        if (_reopenAskedAt >= 0 && Environment.TickCount64 - _reopenAskedAt < ReopenPatience.TotalMilliseconds) return;
        _reopenAskedAt = Environment.TickCount64;
        try
        {
            // Non-blocking: with no conmon reading the fifo, the open fails instead of hanging.
            using var fifo = Interop.Open(Path.Combine(_bundle, "ctl"), Interop.O_WRONLY | Interop.O_NONBLOCK);
            using var stream = new FileStream(fifo, FileAccess.Write, bufferSize: 0);
            stream.Write(ReopenMessage);
        }
        catch (Exception e) when (e is IOException or LinuxException)
        {
            _logger.LogDebug(e, "asking conmon to reopen the log in {Bundle} failed", _bundle);
        }
    }

    /// <summary>One fixed-size record written in place: a single write, whole or not at all for a killed daemon.
    /// </summary>
    private void SaveState(long position)
    {
        var resume = new (long Offset, int Skip)[2];
        for (int s = 0; s < 2; s++)
            resume[s] = _pending[s].Length > 0 ? (_pending[s].StartOffset, _pending[s].StartSkip) : (position, 0);
        string text = string.Create(CultureInfo.InvariantCulture,
            $"1 {_spoolInode} {resume[0].Offset} {resume[0].Skip} {resume[1].Offset} {resume[1].Skip} {_writer.Inode} {_writer.Size}");
        var bytes = new byte[StateSize];
        bytes.AsSpan().Fill((byte)' ');
        Encoding.ASCII.GetBytes(text).CopyTo(bytes, 0);
        bytes[^1] = (byte)'\n';
        RandomAccess.Write(_state.SafeFileHandle, bytes, 0);
    }

    private (ulong SpoolInode, (long, int)[] Resume, ulong JsonInode, long JsonSize)? LoadState()
    {
        var bytes = new byte[StateSize];
        int n = RandomAccess.Read(_state.SafeFileHandle, bytes, 0);
        var f = Encoding.ASCII.GetString(bytes, 0, n).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var c = CultureInfo.InvariantCulture;
        if (f.Length < 8 || f[0] != "1" || !ulong.TryParse(f[1], c, out ulong spool)
            || !long.TryParse(f[2], c, out long o0) || !int.TryParse(f[3], c, out int s0)
            || !long.TryParse(f[4], c, out long o1) || !int.TryParse(f[5], c, out int s1)
            || !ulong.TryParse(f[6], c, out ulong json) || !long.TryParse(f[7], c, out long size))
        {
            _logger.LogWarning("the log drain state in {Bundle} is unreadable; draining the spool from its start", _bundle);
            return null;
        }
        return (spool, [(o0, s0), (o1, s1)], json, size);
    }

    /// <summary>The files a Berth before this format kept (k8s-file records rotated to container.log.N, and
    /// container.log.keep), converted once, oldest first, then removed.</summary>
    private void MigrateLegacyFiles()
    {
        var spool = Interop.StatNoFollow(Path.Combine(_bundle, SpoolName));
        var legacy = Directory.EnumerateFiles(_bundle, SpoolName + ".*")
            .Where(f => Path.GetFileName(f).Length > SpoolName.Length + 1) // the pattern also matches container.log
            .Select(f => (Path: f, N: int.TryParse(Path.GetFileName(f)[(SpoolName.Length + 1)..], NumberStyles.None,
                CultureInfo.InvariantCulture, out int n) ? n : 0))
            .Where(f => f.N > 0).OrderByDescending(f => f.N).Select(f => f.Path).ToList();
        string keep = Path.Combine(_bundle, SpoolName + ".keep");
        if (Interop.StatNoFollow(keep) is { } kept && kept.Inode != spool?.Inode) legacy.Add(keep);
        lock (_lock)
        {
            foreach (string file in legacy)
            {
                _spool = OpenedLogFile.TryOpen(file, compressed: false)?.File;
                if (_spool is null) continue;
                _resume[0] = _resume[1] = (0, 0);
                _position = 0;
                ReadSpool();
                EndOfSpoolFile();
                File.Delete(file);
            }
        }
        File.Delete(keep);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _timer?.Dispose();
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _finished = true;
            _spool?.Dispose();
            _writer.Dispose();
            _state.Dispose();
        }
    }

    /// <summary>Before conmon starts on the bundle again: the previous run is drained, so the spool and the state
    /// go (conmon starts a new spool; the json file goes on).</summary>
    public static bool HasDrainingFile(string bundle) => File.Exists(Path.Combine(bundle, DrainingName));

    public static void ResetSpool(string bundle)
    {
        foreach (string name in new[] { SpoolName, DrainingName, SpoolName + ".tmp", StateName })
            File.Delete(Path.Combine(bundle, name));
    }

    public static void DeleteAll(string bundle, LogPolicy policy)
    {
        ResetSpool(bundle);
        JsonLogFile.DeleteAll(JsonLogFile.PathOf(bundle, policy));
    }
}
