using System.Runtime.InteropServices;

namespace Berth.Linux;

public static partial class Interop
{
    public const int CLONE_NEWNS = 0x00020000, CLONE_NEWUTS = 0x04000000, CLONE_NEWIPC = 0x08000000,
        CLONE_NEWNET = 0x40000000, CLONE_NEWPID = 0x20000000;

    [LibraryImport(Libc, EntryPoint = "unshare", SetLastError = true)]
    private static partial int unshare(int flags);

    [LibraryImport(Libc, EntryPoint = "setns", SetLastError = true)]
    private static partial int setns(int fd, int nstype);

    /// <summary>Affects only the calling OS thread for CLONE_NEWNET: call it on a dedicated thread.</summary>
    public static void Unshare(int flags)
    {
        if (unshare(flags) != 0) throw LinuxException.FromLastError($"unshare 0x{flags:x}");
    }

    /// <summary>Affects only the calling OS thread for CLONE_NEWNET: call it on a dedicated thread.</summary>
    public static void SetNs(SafeHandle nsFd, int nstype, string what)
    {
        if (setns((int)nsFd.DangerousGetHandle(), nstype) != 0) throw LinuxException.FromLastError($"setns {what}");
    }
}
