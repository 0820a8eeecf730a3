using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Berth.Linux;

/// <summary>Terminals: the client's (isatty, raw mode, window size) and the pseudo-terminals the daemon makes for
/// `exec -t`.</summary>
public static unsafe partial class Interop
{
    private const ulong TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;
    private const int O_NOCTTY = 0x100;

    /// <summary>struct termios is 60 bytes on Linux; a larger buffer is harmless.</summary>
    public const int TermiosSize = 128;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    [LibraryImport(Libc, EntryPoint = "isatty")]
    private static partial int isatty(int fd);

    [LibraryImport(Libc, EntryPoint = "tcgetattr", SetLastError = true)]
    private static partial int tcgetattr(int fd, byte* termios);

    [LibraryImport(Libc, EntryPoint = "tcsetattr", SetLastError = true)]
    private static partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport(Libc, EntryPoint = "cfmakeraw")]
    private static partial void cfmakeraw(byte* termios);

    [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
    private static partial int ioctl_winsize(int fd, ulong request, WinSize* size);

    [LibraryImport(Libc, EntryPoint = "unlockpt", SetLastError = true)]
    private static partial int unlockpt(SafeHandle fd);

    [LibraryImport(Libc, EntryPoint = "ptsname_r")]
    private static partial int ptsname_r(SafeHandle fd, byte* buffer, nuint length);

    /// <summary>A new pseudo-terminal: its master (close-on-exec, not the daemon's controlling terminal) and the
    /// path of its slave under /dev/pts.</summary>
    public static (SafeFileHandle Master, string SlavePath) OpenPseudoTerminal()
    {
        var master = Open("/dev/ptmx", O_RDWR | O_NOCTTY);
        try
        {
            if (unlockpt(master) != 0) throw LinuxException.FromLastError("unlockpt of a new pseudo-terminal");
            byte* name = stackalloc byte[128];
            int error = ptsname_r(master, name, 128);
            if (error != 0) throw new LinuxException("ptsname_r of a new pseudo-terminal", error);
            return (master, Marshal.PtrToStringUTF8((nint)name)!);
        }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    /// <summary>The slave side of a pseudo-terminal, opened without making it the daemon's controlling terminal.</summary>
    public static SafeFileHandle OpenTerminalSlave(string path) => Open(path, O_RDWR | O_NOCTTY);

    /// <summary>Sets a terminal's window size (TIOCSWINSZ).</summary>
    public static void SetWindowSize(SafeHandle terminal, int rows, int cols)
    {
        var size = new WinSize { Rows = (ushort)rows, Cols = (ushort)cols };
        bool added = false;
        terminal.DangerousAddRef(ref added);
        try
        {
            if (ioctl_winsize((int)terminal.DangerousGetHandle(), TIOCSWINSZ, &size) != 0)
                throw LinuxException.FromLastError("resizing a terminal");
        }
        finally
        {
            if (added) terminal.DangerousRelease();
        }
    }

    public static bool IsTerminal(int fd) => isatty(fd) == 1;

    public static bool GetTermios(int fd, byte[] termios)
    {
        fixed (byte* p = termios) return tcgetattr(fd, p) == 0;
    }

    public static bool SetTermios(int fd, byte[] termios)
    {
        fixed (byte* p = termios) return tcsetattr(fd, 0 /* TCSANOW */, p) == 0;
    }

    public static void MakeRaw(byte[] termios)
    {
        fixed (byte* p = termios) cfmakeraw(p);
    }

    /// <summary>(rows, columns) of the terminal on <paramref name="fd"/>, or null.</summary>
    public static (int Rows, int Cols)? WindowSize(int fd)
    {
        WinSize size;
        return ioctl_winsize(fd, TIOCGWINSZ, &size) == 0 ? (size.Rows, size.Cols) : null;
    }
}
