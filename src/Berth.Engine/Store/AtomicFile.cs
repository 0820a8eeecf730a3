using Berth.Linux;

namespace Berth.Engine.Store;

/// <summary>Crash-safe file replacement: write a temp file beside the target, fsync, rename over it, fsync the
/// directory. A SIGKILL or power cut at any point leaves either the old or the new content, never a torn file.</summary>
public static class AtomicFile
{
    /// <summary>Records may hold secrets (a container's Env): only root reads them, as dockerd's config.v2.json.</summary>
    public const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static long _tempCounter;

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> content, UnixFileMode mode = PrivateFile)
    {
        // Unique per write, so two writers of one path (or a leftover of a crash) never share a temp file.
        string temp = $"{path}.tmp-{Environment.ProcessId}-{Interlocked.Increment(ref _tempCounter)}";
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode,
        };
        try
        {
            using var stream = new FileStream(temp, options);
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        File.Move(temp, path, overwrite: true);
        Interop.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Creates a directory (and makes its entry durable in the parent) or tightens the mode of one that
    /// exists.</summary>
    public static void EnsureDirectory(string path, UnixFileMode mode)
    {
        if (Directory.Exists(path))
        {
            if (File.GetUnixFileMode(path) != mode) File.SetUnixFileMode(path, mode);
            return;
        }
        Directory.CreateDirectory(path, mode);
        // CreateDirectory applies the umask: set the mode we meant.
        File.SetUnixFileMode(path, mode);
        Interop.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Temp files a crash left beside records.</summary>
    public static bool IsTemp(string path) => Path.GetFileName(path).Contains(".tmp-", StringComparison.Ordinal);
}
