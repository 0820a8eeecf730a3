using System.Net;
using System.Net.Sockets;
using Berth.Cni.Spec;
using Berth.Networking.Ports;

namespace Berth.Cni.Plugin;

/// <summary>Whether a host process holds a mapping's host port, found by binding it for a moment. The Berth engine
/// (as dockerd) holds every port it publishes with a bound, listening socket, so this is how berth-cni sees the
/// engine's ports (and any host server's): kernel DNAT would otherwise steal their traffic without a word, as the
/// reference portmap plugin lets it. The engine, in turn, reads berth-cni's nftables maps before it publishes.</summary>
public static class HostPortProbe
{
    public static void RefuseHeld(IEnumerable<PortMapping> mappings)
    {
        foreach (var m in mappings)
            if (IsHeld(m))
                throw new CniException(CniErrorCode.PortAlreadyAllocated,
                    $"Bind for {m.HostIp?.ToString() ?? "0.0.0.0"}:{m.HostPort} failed: port is already allocated",
                    $"a process on this host (a Berth engine publishing it, or a server) holds {m.HostPort}/{ContainerPort.Name(m.Protocol)}");
    }

    private static bool IsHeld(PortMapping m)
    {
        var (type, protocol) = m.Protocol switch
        {
            PortProtocol.Tcp => (SocketType.Stream, ProtocolType.Tcp),
            PortProtocol.Udp => (SocketType.Dgram, ProtocolType.Udp),
            _ => (SocketType.Unknown, ProtocolType.Unknown),
        };
        if (type == SocketType.Unknown) return false; // SCTP: no probe
        using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        // TCP: SO_REUSEADDR, so only a listener (or a socket bound without it) counts, not a connection in TIME_WAIT.
        if (m.Protocol == PortProtocol.Tcp) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        else socket.ExclusiveAddressUse = true;
        try
        {
            socket.Bind(new IPEndPoint(m.HostIp ?? IPAddress.Any, m.HostPort));
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse) { return true; }
        catch (SocketException) { return false; } // e.g. a host address this host does not have: nothing can hold it
    }
}
