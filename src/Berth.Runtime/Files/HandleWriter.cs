using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Files;

/// <summary>Copies a stream into a file opened by fd. The source (a request body, a registry download) is read
/// asynchronously; the file is written with a plain pwrite on the calling thread. A FileStream over a handle that was
/// not opened for async I/O hands every WriteAsync to the thread pool: one thread hop per file of an archive, which
/// made a build context of 1,000 small files cost a second.</summary>
public static class HandleWriter
{
    public static async Task<long> CopyAsync(Stream source, SafeFileHandle target, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(128 * 1024);
        try
        {
            long offset = 0;
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                RandomAccess.Write(target, buffer.AsSpan(0, read), offset);
                offset += read;
            }
            return offset;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
