using System.Runtime.InteropServices;

namespace Berth.Linux;

/// <summary>The client's terminal: isatty, raw mode (termios), window size.</summary>
public static unsafe partial class Interop
{
    private const ulong TIOCGWINSZ = 0x5413;

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
