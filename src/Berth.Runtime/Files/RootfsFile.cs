using Berth.Linux;

namespace Berth.Runtime.Files;

/// <summary>A file inside a container's rootfs could not be read safely (not a regular file, too large).</summary>
public sealed class RootfsFileException(string message) : Exception(message);

/// <summary>Host-side reads of small files inside a container's root filesystem (/etc/passwd, /etc/group): the path is
/// resolved inside the rootfs (a symlink to ../../../etc/passwd reads the rootfs' own), only regular files are read
/// (a symlink to /dev/zero or a FIFO is refused at once, never blocked on) and the size is capped.</summary>
public static class RootfsFile
{
    public const int DefaultMaxBytes = 1 << 20;

    /// <summary>The file's bytes, or null when it does not exist.</summary>
    public static byte[]? ReadAllBytes(string rootfs, string path, int maxBytes = DefaultMaxBytes)
    {
        using var root = RootedDirectory.Open(rootfs);
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY is implied for non-terminals here.
        try { handle = root.OpenInRoot(path, Interop.O_RDONLY | Interop.O_NONBLOCK); }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR) { return null; }
        catch (LinuxException e) when (e.Errno is Errno.ELOOP or Errno.EXDEV)
        {
            throw new RootfsFileException($"{path} in the container cannot be read: {e.Message}");
        }
        using (handle)
        {
            var info = Interop.StatAt(handle, "")!.Value;
            if (!info.IsRegular)
            {
                string mode = Convert.ToString(info.Mode, 8);
                throw new RootfsFileException($"{path} in the container is not a regular file (mode 0{mode})");
            }
            if (info.Size > maxBytes)
                throw new RootfsFileException($"{path} in the container is larger than {maxBytes} bytes ({info.Size})");
            // The size may change under us: read at most maxBytes + 1 and refuse if the extra byte came.
            var buffer = new byte[Math.Min(info.Size, maxBytes) + 1];
            int total = 0;
            while (total < buffer.Length)
            {
                int n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
                if (n == 0) break;
                total += n;
                if (total == buffer.Length && total > maxBytes)
                    throw new RootfsFileException($"{path} in the container is larger than {maxBytes} bytes");
                if (total == buffer.Length) Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
            }
            return buffer[..total];
        }
    }

    /// <summary>The file as UTF-8 lines, or an empty list when it does not exist.</summary>
    public static IReadOnlyList<string> ReadLines(string rootfs, string path, int maxBytes = DefaultMaxBytes)
    {
        var bytes = ReadAllBytes(rootfs, path, maxBytes);
        if (bytes is null) return [];
        return System.Text.Encoding.UTF8.GetString(bytes).Split('\n').Select(l => l.TrimEnd('\r')).ToList();
    }
}
