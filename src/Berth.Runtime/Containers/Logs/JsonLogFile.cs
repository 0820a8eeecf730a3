using System.Globalization;
using System.IO.Compression;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Containers;

#pragma warning disable CA1416 // Linux only: file modes are set at creation

/// <summary>Where a container's log lives, as dockerd lays it out: json-file at &lt;container dir&gt;/&lt;id&gt;-json.log,
/// local at &lt;container dir&gt;/local-logs/container.log; rotated files NAME.1 (newest) ... NAME.(max-file − 1),
/// NAME.N.gz with compress.</summary>
public static class JsonLogFile
{
    public static string PathOf(string bundle, LogPolicy policy) => policy.Local
        ? Path.Combine(bundle, "local-logs", "container.log")
        : Path.Combine(bundle, Path.GetFileName(Path.TrimEndingDirectorySeparator(bundle)) + "-json.log");

    /// <summary>inspect's LogPath: dockerd shows json-file's file only (local's layout is not an API).</summary>
    public static string ApiPath(string bundle, string? driver) =>
        driver is "local" or "none" ? "" : PathOf(bundle, LogPolicy.Unlimited);

    public static string Rotated(string path, int n, bool compressed) => $"{path}.{n}{(compressed ? ".gz" : "")}";

    /// <summary>The rotated files that exist, newest (1) first; a plain file wins over a .gz of the same number
    /// only when the .gz is missing (a compression cut short).</summary>
    public static List<(int N, string Path, bool Compressed)> RotatedFiles(string path)
    {
        var found = new SortedDictionary<int, (string, bool)>();
        string? dir = Path.GetDirectoryName(path);
        if (dir is null || !Directory.Exists(dir)) return [];
        string prefix = Path.GetFileName(path) + ".";
        foreach (string file in Directory.EnumerateFiles(dir, prefix + "*"))
        {
            if (Path.GetFileName(file).Length <= prefix.Length) continue; // the pattern also matches NAME itself
            string suffix = Path.GetFileName(file)[prefix.Length..];
            bool compressed = suffix.EndsWith(".gz", StringComparison.Ordinal);
            if (compressed) suffix = suffix[..^3];
            if (!int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1) continue;
            if (compressed || !found.ContainsKey(n)) found[n] = (file, compressed);
        }
        return found.Select(f => (f.Key, f.Value.Item1, f.Value.Item2)).ToList();
    }

    /// <summary>The files to read, oldest first.</summary>
    public static List<(string Path, bool Compressed)> ReadOrder(string path)
    {
        var order = RotatedFiles(path).OrderByDescending(f => f.N).Select(f => (f.Path, f.Compressed)).ToList();
        order.Add((path, false));
        return order;
    }

    public static void DeleteAll(string path)
    {
        foreach (var (file, _) in ReadOrder(path)) File.Delete(file);
        foreach (var (_, file, compressed) in RotatedFiles(path))
            if (compressed) File.Delete(file[..^3]);
    }
}

/// <summary>Appends entries to the log file and rotates it as dockerd's json-file does: before an entry, a file at
/// or past max-size is renamed NAME.1 (older ones shift, the one past max-file goes; with max-file 1 the file is
/// emptied), and with compress NAME.1 becomes NAME.1.gz. Every step leaves readable files if cut short, and
/// <see cref="Open"/> finishes a compression that was.</summary>
public sealed class JsonLogWriter : IDisposable
{
    private readonly string _path;
    private readonly LogPolicy _policy;
    private FileStream _stream;
    private SafeFileHandle _file => _stream.SafeFileHandle;

    private JsonLogWriter(string path, LogPolicy policy)
    {
        _path = path;
        _policy = policy;
        _stream = OpenCurrent();
    }

    public static JsonLogWriter Open(string path, LogPolicy policy)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        foreach (string tmp in Directory.EnumerateFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".*.tmp"))
            File.Delete(tmp);
        if (policy.Compress)
            foreach (var (_, file, compressed) in JsonLogFile.RotatedFiles(path))
            {
                if (compressed) File.Delete(file[..^3]);
                else Compress(file);
            }
        return new JsonLogWriter(path, policy);
    }

    public long Size { get; private set; }
    public ulong Inode { get; private set; }

    /// <summary>Whether the next entry goes to a new file (Docker checks before each write, so a file passes max-size
    /// by at most one entry).</summary>
    public bool Full(long pending) => _policy.Capped && Size + pending >= _policy.MaxSize;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return;
        RandomAccess.Write(_file, bytes, Size);
        Size += bytes.Length;
    }

    /// <summary>Back to what a persisted drain state says was written (a daemon killed after a write and before
    /// it saved its state writes that part again).</summary>
    public void TruncateTo(ulong inode, long size)
    {
        long target = inode == Inode ? Math.Min(size, Size) : 0;
        if (target == Size) return;
        RandomAccess.SetLength(_file, target);
        Size = target;
    }

    public void Rotate()
    {
        _stream.Dispose();
        if (_policy.MaxFiles < 2)
        {
            File.Delete(_path);
        }
        else
        {
            bool gz = _policy.Compress;
            File.Delete(JsonLogFile.Rotated(_path, _policy.MaxFiles - 1, gz));
            File.Delete(JsonLogFile.Rotated(_path, _policy.MaxFiles - 1, false));
            for (int n = _policy.MaxFiles - 2; n >= 1; n--)
                if (File.Exists(JsonLogFile.Rotated(_path, n, gz)))
                    File.Move(JsonLogFile.Rotated(_path, n, gz), JsonLogFile.Rotated(_path, n + 1, gz), overwrite: true);
            File.Move(_path, JsonLogFile.Rotated(_path, 1, false), overwrite: true);
            if (gz) Compress(JsonLogFile.Rotated(_path, 1, false));
        }
        _stream = OpenCurrent();
    }

    /// <summary>FILE to FILE.gz through a temporary name, then FILE goes: at any moment one complete copy exists.</summary>
    private static void Compress(string file)
    {
        string tmp = file + ".gz.tmp";
        using (var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16))
        using (var output = new FileStream(tmp, new FileStreamOptions
               {
                   Mode = FileMode.Create, Access = FileAccess.Write, BufferSize = 1 << 16,
                   UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
               }))
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
            input.CopyTo(gzip);
        File.Move(tmp, file + ".gz", overwrite: true);
        File.Delete(file);
    }

    private FileStream OpenCurrent()
    {
        var stream = new FileStream(_path, new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete,
            BufferSize = 0, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
        });
        Size = RandomAccess.GetLength(stream.SafeFileHandle);
        Inode = Interop.StatAt(stream.SafeFileHandle, "")?.Inode ?? 0;
        return stream;
    }

    public void Dispose() => _stream.Dispose();
}
