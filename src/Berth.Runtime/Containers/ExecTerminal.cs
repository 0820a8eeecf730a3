using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Runtime.Containers;

/// <summary>The terminal of an `exec -t`. `runc exec --tty` in the foreground wants a terminal as its own stdio: it
/// makes the container's pseudo-terminal, puts ours in raw mode and copies between the two, and on SIGWINCH gives
/// the container's terminal the size of ours. The daemon holds the master (the client's bytes in, the output out)
/// and the slave, which it closes once runc has exited so that reading the master ends (EIO) after the last output.</summary>
public sealed class ExecTerminal : IDisposable
{
    private const int SIGWINCH = 28;

    private readonly SafeFileHandle _master;
    private readonly SafeFileHandle _slave;

    private ExecTerminal(SafeFileHandle master, SafeFileHandle slave, string slavePath)
    {
        _master = master;
        _slave = slave;
        SlavePath = slavePath;
        // Reads and writes go straight to the fd (no buffer), so they may run at once from two tasks.
        Master = new FileStream(master, FileAccess.ReadWrite, 0);
    }

    public static ExecTerminal Open()
    {
        var (master, path) = Interop.OpenPseudoTerminal();
        try { return new ExecTerminal(master, Interop.OpenTerminalSlave(path), path); }
        catch
        {
            master.Dispose();
            throw;
        }
    }

    /// <summary>Where the runtime's stdio is opened (a host path: the daemon made it).</summary>
    public string SlavePath { get; }

    /// <summary>The client's side: reads give the process's output, writes are its keyboard.</summary>
    public Stream Master { get; }

    /// <summary>Sets the size and tells the runtime (<paramref name="runtimePid"/>) to pass it on; before the runtime
    /// has its handler the signal is ignored, and the runtime reads the size when it starts.</summary>
    public void Resize(int rows, int cols, int? runtimePid)
    {
        Interop.SetWindowSize(_master, rows, cols);
        if (runtimePid is int pid) Interop.Kill(pid, SIGWINCH);
    }

    /// <summary>The runtime has exited: with no slave left open, reading the master ends after the last output.</summary>
    public void CloseSlave() => _slave.Dispose();

    public void Dispose()
    {
        _slave.Dispose();
        Master.Dispose();
    }
}
