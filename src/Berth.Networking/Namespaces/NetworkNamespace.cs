using System.Runtime.ExceptionServices;
using Berth.Linux;
using Berth.Networking.Netlink;
using Microsoft.Win32.SafeHandles;

namespace Berth.Networking.Namespaces;

/// <summary>Network namespaces kept alive by a bind mount on a file, as `ip netns` and CNI do.
/// setns/unshare change only the calling OS thread, so they run on a dedicated thread that ends afterwards:
/// never on a thread-pool thread, whose next task would run inside the container's namespace.</summary>
public static class NetworkNamespace
{
    public static void Create(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (File.Create(path)) { }
        try
        {
            OnDedicatedThread(() =>
            {
                Interop.Unshare(Interop.CLONE_NEWNET);
                Interop.Mount($"/proc/self/task/{Interop.GetTid()}/ns/net", path, null, Interop.MS_BIND, null);
                using var netlink = RouteNetlinkClient.Open();
                netlink.SetLinkUp(1); // lo is always index 1 in a new namespace
                return 0;
            });
        }
        catch
        {
            Remove(path);
            throw;
        }
    }

    /// <summary>Unmounts and deletes; the namespace itself goes when its last user (the container) is gone.</summary>
    public static void Remove(string path)
    {
        if (!File.Exists(path)) return;
        Interop.Unmount(path);
        File.Delete(path);
    }

    public static SafeFileHandle OpenFd(string path) => Interop.Open(path, Interop.O_RDONLY);

    /// <summary>Runs <paramref name="action"/> on a new thread inside the namespace; the thread ends after it.</summary>
    public static T Run<T>(string path, Func<T> action)
    {
        using var fd = OpenFd(path);
        return OnDedicatedThread(() =>
        {
            Interop.SetNs(fd, Interop.CLONE_NEWNET, $"netns {path}");
            return action();
        });
    }

    private static T OnDedicatedThread<T>(Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var thread = new Thread(() =>
        {
            try { result = action(); }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        }, 256 * 1024) { IsBackground = true, Name = "berth-netns" };
        thread.Start();
        thread.Join();
        error?.Throw();
        return result;
    }
}
