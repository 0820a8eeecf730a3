namespace Berth.TestSupport;

/// <summary>A lock file shared by every test process on the machine, for what exists once per machine (the
/// neighbour's address, /etc/cni/net.d). FileShare.None takes an exclusive flock on Unix; another process holding it
/// makes the open fail, so this waits until it is free.</summary>
public static class MachineLock
{
    public static FileStream Acquire(string path, TimeSpan wait)
    {
        var deadline = DateTime.UtcNow + wait;
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (DateTime.UtcNow < deadline) { Thread.Sleep(100); }
        }
    }
}
