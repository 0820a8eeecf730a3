using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Engine.Store;

/// <summary>Records kept in memory and persisted one JSON file each under a directory
/// (containers/&lt;id&gt;/state.json style layout when <paramref name="fileName"/> is given).
/// Readers never share an object with a writer: Save keeps the bytes it wrote, and every read hands out a fresh copy
/// made from them, so a reader sees one whole saved version (never a record half-way through an update) and a writer
/// changes its own copy until it saves it. Writers of one record serialize among themselves (the container's lock).</summary>
public sealed class RecordStore<T> where T : class
{
    private readonly string _directory;
    private readonly string? _fileName;
    private readonly Func<T, string> _key;
    private readonly ILogger _logger;
    private readonly IRecordCodec<T> _codec;
    private readonly ConcurrentDictionary<string, Saved> _records = new();
    private long _version;

    /// <summary>One saved version: the bytes as written and a private copy that only predicates look at.</summary>
    private sealed record Saved(byte[] Json, T Snapshot);

    /// <summary>Directories of records: only root goes in (dockerd keeps containers/ at 0710, each one at 0700).</summary>
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public RecordStore(string directory, Func<T, string> key, string? fileName = null, ILogger? logger = null,
        IRecordCodec<T>? codec = null)
    {
        _directory = directory;
        _key = key;
        _fileName = fileName;
        _logger = logger ?? NullLogger.Instance;
        _codec = codec ?? PlainJsonCodec<T>.Instance;
        AtomicFile.EnsureDirectory(directory, PrivateDirectory);
        Load();
    }

    /// <summary>A copy of every record, each one consistent.</summary>
    public IReadOnlyList<T> All => _records.Values.Select(Copy).ToList();

    /// <summary>Bumped by every save and delete: readers that index the records know when to rebuild.</summary>
    public long Version => Interlocked.Read(ref _version);

    public int Count => _records.Count;

    /// <summary>A copy of the record, or null.</summary>
    public T? Get(string key) => _records.TryGetValue(key, out var saved) ? Copy(saved) : null;

    /// <summary>Copies of at most <paramref name="limit"/> records that match; the predicate sees saved versions and
    /// must not keep or change them.</summary>
    public List<T> Where(Func<T, bool> predicate, int limit = int.MaxValue) =>
        _records.Values.Where(s => predicate(s.Snapshot)).Take(limit).Select(Copy).ToList();

    public T? FirstOrDefault(Func<T, bool> predicate) => Where(predicate, 1).FirstOrDefault();

    public bool Any(Func<T, bool> predicate) => _records.Values.Any(s => predicate(s.Snapshot));

    public string PathFor(string key) => _fileName is null
        ? Path.Combine(_directory, key + ".json")
        : Path.Combine(_directory, key, _fileName);

    /// <summary>Writes the record and makes it the version readers get. The caller keeps its object: later changes
    /// to it are not seen until it is saved again.</summary>
    public void Save(T record)
    {
        string key = _key(record);
        string path = PathFor(key);
        if (_fileName is not null) AtomicFile.EnsureDirectory(Path.GetDirectoryName(path)!, PrivateDirectory);
        byte[] file = _codec.Encode(record);
        AtomicFile.WriteAllBytes(path, file);
        byte[] json = InMemory(file, record);
        _records[key] = new Saved(json, Deserialize(json));
        Interlocked.Increment(ref _version);
    }

    public void Delete(string key)
    {
        _records.TryRemove(key, out _);
        Interlocked.Increment(ref _version);
        string path = PathFor(key);
        if (File.Exists(path))
        {
            // The record goes first and durably: a crash later leaves a directory without a record, which the
            // owner's reconcile removes, never a record whose files are half gone.
            File.Delete(path);
            Berth.Linux.Interop.FsyncDirectory(Path.GetDirectoryName(path)!);
        }
        if (_fileName is not null && Directory.Exists(Path.Combine(_directory, key)))
            Directory.Delete(Path.Combine(_directory, key), recursive: true);
    }

    private static T Copy(Saved saved) => Deserialize(saved.Json);

    /// <summary>The bytes copies are made from: the file itself when it is the record's own JSON.</summary>
    private byte[] InMemory(byte[] file, T record) => ReferenceEquals(_codec, PlainJsonCodec<T>.Instance)
        ? file
        : JsonSerializer.SerializeToUtf8Bytes(record, EngineJson.Options);

    /// <summary>Files set aside beside a record (unreadable, or from a newer engine): their directory is kept.</summary>
    public static bool HasSetAside(string directory, string fileName) =>
        Directory.EnumerateFiles(directory, fileName + ".corrupt-*").Any()
        || Directory.EnumerateFiles(directory, fileName + ".newer-*").Any();

    private static T Deserialize(byte[] json) =>
        JsonSerializer.Deserialize<T>(json, EngineJson.Options) ?? throw new JsonException("a record is null");

    private static string SetAside(string file, string reason)
    {
        string aside = $"{file}.{reason}-{DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}";
        File.Move(file, aside, overwrite: true);
        return aside;
    }

    /// <summary>Reads every record. A crash leaves at most a temp file (removed); a record that does not parse (a disk
    /// fault, a hand edit) is moved aside with a warning, so the engine starts with the others.</summary>
    private void Load()
    {
        IEnumerable<string> recordDirectories = _fileName is null ? [_directory] : Directory.EnumerateDirectories(_directory);
        foreach (string dir in recordDirectories)
            foreach (string temp in Directory.EnumerateFiles(dir).Where(AtomicFile.IsTemp))
                File.Delete(temp);
        IEnumerable<string> files = _fileName is null
            ? Directory.EnumerateFiles(_directory, "*.json")
            : Directory.EnumerateDirectories(_directory).Select(d => Path.Combine(d, _fileName)).Where(File.Exists);
        foreach (string file in files)
        {
            // Files from before records were private get the mode they should have had.
            if (File.GetUnixFileMode(file) != AtomicFile.PrivateFile) File.SetUnixFileMode(file, AtomicFile.PrivateFile);
            byte[] content = File.ReadAllBytes(file);
            T record;
            try
            {
                record = _codec.Decode(content);
                if (string.IsNullOrEmpty(_key(record))) throw new JsonException("the record has no key");
            }
            catch (NewerRecordSchemaException e)
            {
                string aside = SetAside(file, "newer");
                _logger.LogWarning("record {File} was written by a newer Berth ({Error}); moved aside to {Aside}",
                    file, e.Message, aside);
                continue;
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                string aside = SetAside(file, "corrupt");
                _logger.LogWarning("record {File} is unreadable ({Error}); moved aside to {Aside}", file, e.Message, aside);
                continue;
            }
            byte[] json = InMemory(content, record);
            _records[_key(record)] = new Saved(json, record);
        }
    }
}
