using System.Net;
using System.Net.Sockets;

namespace Berth.TestSupport;

public static class Ports
{
    private static readonly HashSet<int> HandedOut = new();

    /// <summary>A TCP port free on every address right now, from the kernel's ephemeral range, and never one this
    /// process handed out before (the kernel gives a port just closed again: two calls in a row returned the same one).</summary>
    public static int Free()
    {
        while (true)
        {
            var listener = new TcpListener(IPAddress.IPv6Any, 0) { Server = { DualMode = true } };
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
    }
}

public static class PortRanges
{
    /// <summary>A run of <paramref name="count"/> consecutive TCP ports free right now, below the ephemeral range.</summary>
    public static int FreeRange(int count)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            int start = Random.Shared.Next(21000, 31000 - count);
            var held = new List<TcpListener>();
            try
            {
                for (int port = start; port < start + count; port++)
                {
                    var listener = new TcpListener(IPAddress.IPv6Any, port) { Server = { DualMode = true } };
                    listener.Start();
                    held.Add(listener);
                }
                return start;
            }
            catch (SocketException) { }
            finally
            {
                foreach (var listener in held) listener.Stop();
            }
        }
        throw new InvalidOperationException($"no {count} consecutive free ports");
    }
}
