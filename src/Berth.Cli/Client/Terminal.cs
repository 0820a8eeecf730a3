using System.Runtime.InteropServices;

namespace Berth.Cli.Client;

/// <summary>The client's terminal for -t: raw mode on stdin while attached (as moby/term's MakeRaw, which is
/// cfmakeraw) and its size for /resize.</summary>
public static partial class Terminal
{
    private const ulong TIOCGWINSZ = 0x5413;

    [StructLayout(LayoutKind.Sequential)]
    private struct WinSize
    {
        public ushort Rows, Cols, XPixel, YPixel;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int isatty(int fd);

    [DllImport("libc", SetLastError = true)]
    private static extern int tcgetattr(int fd, byte[] termios);

    [DllImport("libc", SetLastError = true)]
    private static extern int tcsetattr(int fd, int optionalActions, byte[] termios);

    [DllImport("libc")]
    private static extern void cfmakeraw(byte[] termios);

    [DllImport("libc", SetLastError = true)]
    private static extern int ioctl(int fd, ulong request, ref WinSize size);

    public static bool IsTerminal(int fd) => isatty(fd) == 1;

    /// <summary>(height, width) of the terminal on <paramref name="fd"/>, or (0, 0).</summary>
    public static (int Height, int Width) Size(int fd = 1)
    {
        var size = new WinSize();
        if (ioctl(fd, TIOCGWINSZ, ref size) != 0 && ioctl(0, TIOCGWINSZ, ref size) != 0) return (0, 0);
        return (size.Rows, size.Cols);
    }

    /// <summary>Puts stdin in raw mode; disposing restores it. Null when stdin is not a terminal.</summary>
    public static IDisposable? MakeRaw(int fd = 0)
    {
        if (!IsTerminal(fd)) return null;
        var saved = new byte[128];
        if (tcgetattr(fd, saved) != 0) return null;
        var raw = (byte[])saved.Clone();
        cfmakeraw(raw);
        if (tcsetattr(fd, 0, raw) != 0) return null;
        return new Restore(fd, saved);
    }

    private sealed class Restore(int fd, byte[] saved) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) tcsetattr(fd, 0, saved);
        }
    }
}
