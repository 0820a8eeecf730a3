using System.Collections.Concurrent;
using System.Text.Json;

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
    private readonly ConcurrentDictionary<string, Saved> _records = new();

    /// <summary>One saved version: the bytes as written and a private copy that only predicates look at.</summary>
    private sealed record Saved(byte[] Json, T Snapshot);

    public RecordStore(string directory, Func<T, string> key, string? fileName = null)
    {
        _directory = directory;
        _key = key;
        _fileName = fileName;
        Directory.CreateDirectory(directory);
        Load();
    }

    /// <summary>A copy of every record, each one consistent.</summary>
    public IReadOnlyList<T> All => _records.Values.Select(Copy).ToList();

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
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(record, EngineJson.Options);
        AtomicFile.WriteAllBytes(path, json);
        _records[key] = new Saved(json, Deserialize(json));
    }

    public void Delete(string key)
    {
        _records.TryRemove(key, out _);
        if (_fileName is null) File.Delete(PathFor(key));
        else if (Directory.Exists(Path.Combine(_directory, key))) Directory.Delete(Path.Combine(_directory, key), recursive: true);
    }

    private static T Copy(Saved saved) => Deserialize(saved.Json);

    private static T Deserialize(byte[] json) =>
        JsonSerializer.Deserialize<T>(json, EngineJson.Options) ?? throw new JsonException("a record is null");

    private void Load()
    {
        IEnumerable<string> files = _fileName is null
            ? Directory.EnumerateFiles(_directory, "*.json")
            : Directory.EnumerateDirectories(_directory).Select(d => Path.Combine(d, _fileName)).Where(File.Exists);
        foreach (string file in files)
        {
            byte[] json = File.ReadAllBytes(file);
            var record = Deserialize(json);
            _records[_key(record)] = new Saved(json, record);
        }
    }
}
