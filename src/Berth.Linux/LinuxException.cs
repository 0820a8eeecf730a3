using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>A failed Linux call: carries errno and what was being done, e.g.
/// "mount overlay on /var/lib/berth/...: No such file or directory (errno 2)".</summary>
public sealed class LinuxException : Exception
{
    public LinuxException(string operation, int errno)
        : base($"{operation}: {Interop.StrError(errno)} (errno {errno})")
    {
        Operation = operation;
        Errno = errno;
    }

    public string Operation { get; }
    public int Errno { get; }

    /// <summary>Throws with the errno of the last P/Invoke (declared with SetLastError = true).</summary>
    public static LinuxException FromLastError(string operation) => new(operation, Marshal.GetLastPInvokeError());
}
