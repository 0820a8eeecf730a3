using System.Collections.Concurrent;

namespace Berth.Engine.Store;

/// <summary>Records kept in memory and persisted one JSON file each under a directory
/// (containers/&lt;id&gt;/state.json style layout when <paramref name="fileName"/> is given).</summary>
public sealed class RecordStore<T> where T : class
{
    private readonly string _directory;
    private readonly string? _fileName;
    private readonly Func<T, string> _key;
    private readonly ConcurrentDictionary<string, T> _records = new();
    private long _version;

    public RecordStore(string directory, Func<T, string> key, string? fileName = null)
    {
        _directory = directory;
        _key = key;
        _fileName = fileName;
        Directory.CreateDirectory(directory);
        Load();
    }

    public ICollection<T> All => _records.Values;

    /// <summary>Bumped by every save and delete: readers that index the records know when to rebuild.</summary>
    public long Version => Interlocked.Read(ref _version);

    public T? Get(string key) => _records.TryGetValue(key, out var value) ? value : null;

    public string PathFor(string key) => _fileName is null
        ? Path.Combine(_directory, key + ".json")
        : Path.Combine(_directory, key, _fileName);

    public void Save(T record)
    {
        string key = _key(record);
        string path = PathFor(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteJson(path, record, EngineJson.Options);
        _records[key] = record;
        Interlocked.Increment(ref _version);
    }

    public void Delete(string key)
    {
        _records.TryRemove(key, out _);
        Interlocked.Increment(ref _version);
        if (_fileName is null) File.Delete(PathFor(key));
        else if (Directory.Exists(Path.Combine(_directory, key))) Directory.Delete(Path.Combine(_directory, key), recursive: true);
    }

    private void Load()
    {
        IEnumerable<string> files = _fileName is null
            ? Directory.EnumerateFiles(_directory, "*.json")
            : Directory.EnumerateDirectories(_directory).Select(d => Path.Combine(d, _fileName)).Where(File.Exists);
        foreach (string file in files)
        {
            var record = AtomicFile.ReadJson<T>(file, EngineJson.Options);
            if (record is not null) _records[_key(record)] = record;
        }
    }
}
