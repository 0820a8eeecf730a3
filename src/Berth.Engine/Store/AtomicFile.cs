using System.Text.Json;

namespace Berth.Engine.Store;

/// <summary>Crash-safe file replacement: write a temp file beside the target, fsync, rename over it.
/// A SIGKILL at any point leaves either the old or the new content, never a torn file.</summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content)
    {
        string temp = $"{path}.tmp-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    public static void WriteJson<T>(string path, T value, JsonSerializerOptions options) =>
        WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(value, options));

    public static T? ReadJson<T>(string path, JsonSerializerOptions options) where T : class =>
        File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllBytes(path), options) : null;
}
