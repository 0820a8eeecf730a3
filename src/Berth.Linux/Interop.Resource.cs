using System.Runtime.InteropServices;

namespace Berth.Linux;

public static unsafe partial class Interop
{
    private const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport(Libc, EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int getrlimit(int resource, RLimit* limit);

    [LibraryImport(Libc, EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int setrlimit(int resource, RLimit* limit);

    /// <summary>This process's open-files limit (RLIMIT_NOFILE): soft and hard.</summary>
    public static (ulong Soft, ulong Hard) GetOpenFilesLimit()
    {
        RLimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw LinuxException.FromLastError("getrlimit RLIMIT_NOFILE");
        return (limit.Current, limit.Maximum);
    }

    /// <summary>Raises the soft open-files limit to the hard one (what systemd's LimitNOFILE=soft:hard advises for
    /// programs that need many descriptors); returns the limits now in force.</summary>
    public static (ulong Soft, ulong Hard) RaiseOpenFilesLimit()
    {
        RLimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) != 0) throw LinuxException.FromLastError("getrlimit RLIMIT_NOFILE");
        if (limit.Current < limit.Maximum)
        {
            limit.Current = limit.Maximum;
            if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
                throw LinuxException.FromLastError($"setrlimit RLIMIT_NOFILE soft to {limit.Maximum}");
        }
        return (limit.Current, limit.Maximum);
    }
}
