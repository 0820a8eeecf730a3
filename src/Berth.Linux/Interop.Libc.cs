using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>P/Invoke declarations live only in this project, one partial file per call family.</summary>
public static unsafe partial class Interop
{
    internal const string Libc = "libc";

    [LibraryImport(Libc, EntryPoint = "strerror")]
    private static partial nint strerror_raw(int errnum);

    public static string StrError(int errno) => Marshal.PtrToStringUTF8(strerror_raw(errno)) ?? $"errno {errno}";

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}

public static partial class Interop
{
    [LibraryImport(Libc, EntryPoint = "geteuid")]
    public static partial uint GetEUid();

    [LibraryImport(Libc, EntryPoint = "getegid")]
    public static partial uint GetEGid();
}
