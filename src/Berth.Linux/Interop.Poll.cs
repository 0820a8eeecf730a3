using System.Runtime.InteropServices;

namespace Berth.Linux;

public static unsafe partial class Interop
{
    private const short POLLHUP = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    private static partial int poll(PollFd* fds, nuint count, int timeout);

    /// <summary>Whether the peer of a connected socket is gone, not just done sending: a unix stream socket whose peer
    /// closed reads POLLHUP, one whose peer only shut down its writing side does not. Does not wait.</summary>
    public static bool PeerHungUp(SafeHandle socket)
    {
        bool added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            var entry = new PollFd { Fd = (int)socket.DangerousGetHandle() };
            while (true)
            {
                int n = poll(&entry, 1, 0);
                if (n >= 0) return n > 0 && (entry.Revents & POLLHUP) != 0;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw new LinuxException("poll socket", errno);
            }
        }
        finally
        {
            if (added) socket.DangerousRelease();
        }
    }
}
