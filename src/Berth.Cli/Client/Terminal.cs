using Berth.Linux;

namespace Berth.Cli.Client;

/// <summary>The client's terminal for -t: raw mode on stdin while attached (as moby/term's MakeRaw, which is
/// cfmakeraw) and its size for /resize.</summary>
public static class Terminal
{
    public static bool IsTerminal(int fd) => Interop.IsTerminal(fd);

    /// <summary>(height, width) of the terminal on stdout (or stdin), or (0, 0).</summary>
    public static (int Height, int Width) Size() => Interop.WindowSize(1) ?? Interop.WindowSize(0) ?? (0, 0);

    /// <summary>stdin as it comes. On a terminal .NET's Console.OpenStandardInput reads through its own line editor
    /// (echoing, and holding every key until Enter), so the detach keys never came alone: read the descriptor.
    /// </summary>
    public static Stream OpenInput() => Interop.IsTerminal(0)
        ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0)
        : Console.OpenStandardInput();

    /// <summary>Puts stdin in raw mode; disposing restores it. Null when stdin is not a terminal.</summary>
    public static IDisposable? MakeRaw(int fd = 0)
    {
        if (!Interop.IsTerminal(fd)) return null;
        var saved = new byte[Interop.TermiosSize];
        if (!Interop.GetTermios(fd, saved)) return null;
        var raw = (byte[])saved.Clone();
        Interop.MakeRaw(raw);
        return Interop.SetTermios(fd, raw) ? new Restore(fd, saved) : null;
    }

    private sealed class Restore(int fd, byte[] saved) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interop.SetTermios(fd, saved);
        }
    }
}
