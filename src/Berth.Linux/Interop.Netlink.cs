using System.Runtime.InteropServices;

namespace Berth.Linux;

public static unsafe partial class Interop
{
    public const int AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000, NETLINK_ROUTE = 0, NETLINK_NETFILTER = 12;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }

    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport(Libc, EntryPoint = "bind", SetLastError = true)]
    private static partial int bind(int fd, SockaddrNl* addr, int len);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    private static partial nint send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport(Libc, EntryPoint = "recv", SetLastError = true)]
    private static partial nint recv(int fd, byte* buffer, nint length, int flags);

    /// <summary>nfnetlink's multicast group of nftables changes (NFNLGRP_NFTABLES).</summary>
    public const int NFNLGRP_NFTABLES = 7;

    /// <summary>A bound AF_NETLINK socket of the given protocol, in the calling thread's network namespace, joined to
    /// the multicast groups of the <paramref name="groups"/> mask (bit N-1 for group N).</summary>
    public static SafeFdHandle OpenNetlink(int protocol, uint groups = 0)
    {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
        if (fd < 0) throw LinuxException.FromLastError($"socket(AF_NETLINK, {protocol})");
        var handle = new SafeFdHandle(fd);
        var address = new SockaddrNl { Family = AF_NETLINK, Groups = groups };
        if (bind(fd, &address, sizeof(SockaddrNl)) != 0)
        {
            var error = LinuxException.FromLastError("bind netlink socket");
            handle.Dispose();
            throw error;
        }
        return handle;
    }

    public static void Send(SafeFdHandle fd, ReadOnlySpan<byte> data, string what)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                nint sent = send(fd.Fd, p, data.Length, 0);
                if (sent >= 0) return;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw new LinuxException($"send {what}", errno);
            }
        }
    }

    public static int Receive(SafeFdHandle fd, Span<byte> buffer, string what)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint received = recv(fd.Fd, p, buffer.Length, 0);
                if (received >= 0) return (int)received;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw new LinuxException($"recv {what}", errno);
            }
        }
    }
}

/// <summary>An owned file descriptor, closed once.</summary>
public sealed class SafeFdHandle : SafeHandle
{
    public SafeFdHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
