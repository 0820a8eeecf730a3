using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>Extended attributes on a path without following a final symlink (overlay opaque markers, file capabilities).</summary>
public static unsafe partial class Interop
{
    private const int ENODATA = 61, ERANGE = 34;

    [LibraryImport(Libc, EntryPoint = "lsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lsetxattr(string path, string name, byte* value, nuint size, int flags);

    [LibraryImport(Libc, EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static void SetXattr(string path, string name, ReadOnlySpan<byte> value)
    {
        fixed (byte* data = value)
        {
            if (lsetxattr(path, name, data, (nuint)value.Length, 0) != 0)
                throw LinuxException.FromLastError($"setxattr {name} on {path}");
        }
    }

    /// <summary>The attribute's value, or null when the path does not carry it.</summary>
    public static byte[]? GetXattr(string path, string name)
    {
        while (true)
        {
            nint size = lgetxattr(path, name, null, 0);
            if (size < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ENODATA) return null;
                throw new LinuxException($"getxattr {name} on {path}", errno);
            }
            var buffer = new byte[size];
            fixed (byte* data = buffer)
            {
                nint read = lgetxattr(path, name, data, (nuint)buffer.Length);
                if (read >= 0) return buffer[..(int)read];
                int errno = Marshal.GetLastPInvokeError();
                if (errno == ERANGE) continue; // grew between the two calls
                if (errno == ENODATA) return null;
                throw new LinuxException($"getxattr {name} on {path}", errno);
            }
        }
    }
}
