using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Resources;

/// <summary>Kernel files (cgroup figures, /proc/stat) held open and read again from offset 0: the kernel writes a
/// seq_file's text anew for each read from the start, so a sampler pays a pread per figure instead of a path
/// lookup, open, fstat, reads and close. A file that is not there is remembered as such. Not thread-safe: one
/// sampler owns it.</summary>
public sealed class KernelFiles : IDisposable
{
    private readonly Dictionary<string, SafeFileHandle?> _handles = new(StringComparer.Ordinal);
    private byte[] _buffer = new byte[8192];

    /// <summary>The file's whole text now; empty when it is missing or gone (a removed cgroup reads ENODEV).
    /// Valid until the next read.</summary>
    public ReadOnlySpan<byte> Read(string path)
    {
        if (!_handles.TryGetValue(path, out var handle)) _handles[path] = handle = TryOpen(path);
        if (handle is null) return default;
        int total = 0;
        try
        {
            // A multi-record seq_file may stop at its page-sized buffer: read on until the end.
            int n;
            while ((n = RandomAccess.Read(handle, _buffer.AsSpan(total), total)) > 0)
            {
                total += n;
                if (total == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return default;
        }
        return _buffer.AsSpan(0, total);
    }

    private static SafeFileHandle? TryOpen(string path)
    {
        try { return Interop.Open(path, Interop.O_RDONLY); }
        catch (LinuxException) { return null; }
    }

    public void Dispose()
    {
        foreach (var handle in _handles.Values) handle?.Dispose();
        _handles.Clear();
    }
}
