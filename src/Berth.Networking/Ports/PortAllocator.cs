using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Ports;

/// <summary>Host ports for publications, each held by a real bound socket as dockerd does: a host process cannot
/// take a published port, and a port a host process holds is refused. TCP sockets also listen, as dockerd's do:
/// .NET binds TCP sockets with SO_REUSEADDR, and on Linux a socket that is only bound does not stop another
/// SO_REUSEADDR socket (most servers) from binding and listening on the same port. Nothing accepts on them (kernel
/// DNAT delivers the traffic) except the userland proxy, which serves IPv6 addresses from the reserved socket.
/// <paramref name="cniClaims"/>: host ports that berth-cni pods on this host map (they hold no socket), refused too.</summary>
public sealed class PortAllocator(ILogger<PortAllocator>? logger = null, Func<IReadOnlyList<Firewall.CniPortClaim>>? cniClaims = null)
{
    private sealed record Reservation(string Owner, PublishedPort Port, Socket? Socket);

    private readonly ILogger _logger = logger ?? NullLogger<PortAllocator>.Instance;
    private readonly Lock _lock = new();
    // Per owner in reservation order, and by (port, protocol, family) for the conflict check: a container publishing
    // 10,000 ports must not scan every reservation per port.
    private readonly Dictionary<string, OrderedDictionary<PublishedPort, Reservation>> _byOwner = new();
    private readonly ReservationIndex _index = new();

    public IReadOnlyList<PublishedPort> Reserve(string ownerId,
        IReadOnlyDictionary<ContainerPort, IReadOnlyList<PortBindingRequest>> bindings, bool ipv6 = true)
    {
        lock (_lock)
        {
            RefuseOverOpenFilesLimit(bindings.Values.Sum(r => r.Count));
            var taken = new List<Reservation>();
            var pending = new ReservationIndex();
            // by (port, protocol): a container publishing 10,000 ports looks up, it does not scan
            var claims = (cniClaims?.Invoke() ?? []).ToLookup(c => (c.HostPort, c.Protocol));
            try
            {
                foreach (var (containerPort, requests) in bindings.OrderBy(b => b.Key.Port))
                    foreach (var request in requests)
                        foreach (var reservation in ReserveOne(ownerId, containerPort, request, ipv6, pending, claims))
                        {
                            taken.Add(reservation);
                            pending.Add(reservation);
                        }
            }
            catch
            {
                foreach (var r in taken) r.Socket?.Dispose();
                throw;
            }
            foreach (var r in taken) Add(r);
            return taken.Select(r => r.Port).ToList();
        }
    }

    public Socket? SocketOf(string ownerId, PublishedPort port)
    {
        lock (_lock) return _byOwner.GetValueOrDefault(ownerId)?.GetValueOrDefault(port)?.Socket;
    }

    public void Release(string ownerId)
    {
        lock (_lock)
        {
            if (!_byOwner.Remove(ownerId, out var owned)) return;
            foreach (var r in owned.Values)
            {
                r.Socket?.Dispose();
                _index.Remove(r);
            }
        }
    }

    public IReadOnlyList<PublishedPort> Reservations(string ownerId)
    {
        lock (_lock) return _byOwner.GetValueOrDefault(ownerId)?.Keys.ToList() ?? [];
    }

    /// <summary>After a daemon restart: bind again what the store says is published.</summary>
    public void Restore(string ownerId, IEnumerable<PublishedPort> ports)
    {
        lock (_lock)
        {
            var list = ports.ToList();
            // A wildcard port published for both families is held by one dual-stack socket, as Reserve holds it.
            var wildcards = list.Where(p => IsAny(p.HostIp)).CountBy(p => (p.HostPort, p.ContainerPort.Protocol)).ToDictionary();
            bool BothWildcards(PublishedPort p) => IsAny(p.HostIp) && wildcards[(p.HostPort, p.ContainerPort.Protocol)] == 2;
            Socket? shared = null;
            foreach (var port in list.OrderBy(p => p.HostPort).ThenBy(p => p.ContainerPort.Protocol).ThenByDescending(p => p.HostIp.AddressFamily))
            {
                Socket? socket = null;
                bool dual = BothWildcards(port);
                if (dual && port.HostIp.AddressFamily == AddressFamily.InterNetwork && shared is not null) socket = shared;
                else
                {
                    try { socket = Bind(dual ? IPAddress.IPv6Any : port.HostIp, port.HostPort, port.ContainerPort.Protocol, dualStack: dual); }
                    catch (SocketException e) { _logger.LogWarning("re-binding {Ip}:{Port} failed: {Error}", port.HostIp, port.HostPort, e.Message); }
                    shared = dual ? socket : null;
                }
                Add(new Reservation(ownerId, port, socket));
            }
        }
    }

    private void Add(Reservation reservation)
    {
        if (!_byOwner.TryGetValue(reservation.Owner, out var owned)) _byOwner[reservation.Owner] = owned = new();
        owned[reservation.Port] = reservation;
        _index.Add(reservation);
    }

    private IEnumerable<Reservation> ReserveOne(string ownerId, ContainerPort containerPort, PortBindingRequest request, bool ipv6,
        ReservationIndex pending, ILookup<(int, PortProtocol), Firewall.CniPortClaim> claims)
    {
        var addresses = string.IsNullOrEmpty(request.HostIp)
            ? (ipv6 && Socket.OSSupportsIPv6 ? new[] { IPAddress.Any, IPAddress.IPv6Any } : [IPAddress.Any])
            : [IPAddress.Parse(request.HostIp)];
        var protocol = containerPort.Protocol;
        IEnumerable<int> candidates;
        bool explicitSingle = false;
        if (PortSpecParser.IsEphemeral(request.HostPort)) candidates = EphemeralCandidates();
        else
        {
            var (start, end) = PortSpecParser.ParseRange(request.HostPort, "hostPort");
            candidates = Enumerable.Range(start, end - start + 1);
            explicitSingle = start == end;
        }
        string? lastError = null;
        foreach (int port in candidates)
        {
            var conflict = addresses.Select(a => Conflict(a, port, protocol, pending)).FirstOrDefault(c => c is not null);
            if (conflict is not null)
            {
                lastError = $"Bind for {Format(conflict.Port.HostIp)}:{port} failed: port is already allocated";
                if (explicitSingle) break;
                continue;
            }
            // berth-cni maps IPv4 only: a claim on every address, or on the address asked for, or any under a wildcard.
            if (claims[(port, protocol)].FirstOrDefault(c => addresses.Any(a => a.AddressFamily == AddressFamily.InterNetwork
                && (c.HostIp is null || IsAny(a) || c.HostIp.Equals(a)))) is { } claim)
            {
                lastError = $"Bind for {claim.HostIp?.ToString() ?? "0.0.0.0"}:{port} failed: port is already allocated "
                    + $"(mapped by a berth-cni pod: nftables table {claim.Table})";
                if (explicitSingle) break;
                continue;
            }
            var sockets = new List<Socket?>();
            try
            {
                // Both wildcards: one dual-stack socket holds the port for both families (half the descriptors).
                if (addresses is [var v4, var v6] && IsAny(v4) && IsAny(v6)) sockets.Add(Bind(v6, port, protocol, dualStack: true));
                else foreach (var address in addresses) sockets.Add(Bind(address, port, protocol));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TooManyOpenSockets)
            {
                foreach (var s in sockets) s?.Dispose();
                throw new PortAllocationException(OpenFilesLimitMessage(port));
            }
            catch (SocketException e)
            {
                foreach (var s in sockets) s?.Dispose();
                lastError = $"failed to bind host port for {Format(addresses[Math.Min(sockets.Count, addresses.Length - 1)])}:{port}/{ContainerPort.Name(protocol)}: {Describe(e)}";
                if (explicitSingle) break;
                continue;
            }
            return addresses.Select((a, i) => new Reservation(ownerId, new PublishedPort(a, port, containerPort), sockets[Math.Min(i, sockets.Count - 1)])).ToList();
        }
        throw new PortAllocationException(lastError ?? $"no free host port for {containerPort}");
    }

    private Reservation? Conflict(IPAddress address, int port, PortProtocol protocol, ReservationIndex pending) =>
        _index.Conflict(address, port, protocol) ?? pending.Conflict(address, port, protocol);

    /// <summary>Reservations by (host port, protocol, address family): the few that can conflict with a new one.</summary>
    private sealed class ReservationIndex
    {
        private readonly Dictionary<(int, PortProtocol, AddressFamily), List<Reservation>> _byKey = new();

        private static (int, PortProtocol, AddressFamily) KeyOf(PublishedPort p) => (p.HostPort, p.ContainerPort.Protocol, p.HostIp.AddressFamily);

        public void Add(Reservation r)
        {
            if (!_byKey.TryGetValue(KeyOf(r.Port), out var list)) _byKey[KeyOf(r.Port)] = list = new(1);
            list.Add(r);
        }

        public void Remove(Reservation r)
        {
            if (_byKey.TryGetValue(KeyOf(r.Port), out var list) && list.Remove(r) && list.Count == 0) _byKey.Remove(KeyOf(r.Port));
        }

        public Reservation? Conflict(IPAddress address, int port, PortProtocol protocol) =>
            _byKey.GetValueOrDefault((port, protocol, address.AddressFamily))?
                .FirstOrDefault(r => r.Port.HostIp.Equals(address) || IsAny(r.Port.HostIp) || IsAny(address));
    }

    /// <summary>The engine ran out of descriptors: name the limit that has to grow.</summary>
    private static string OpenFilesLimitMessage(int port)
    {
        var (soft, hard) = Berth.Linux.Interop.GetOpenFilesLimit();
        return $"failed to bind host port {port}: too many open files: each published port holds one socket and the engine's "
            + $"open files limit (RLIMIT_NOFILE) is {soft} (hard limit {hard}); {RaiseLimitAdvice}";
    }

    private const string RaiseLimitAdvice = "publish fewer ports or raise the limit (LimitNOFILE= in the service, ulimit -n)";

    /// <summary>Descriptors the engine keeps for its own work (API connections, files, netlink) when it publishes.</summary>
    internal const int OwnDescriptors = 256;

    /// <summary>A request for many ports that would take the engine's last descriptors is refused before any is bound:
    /// binding until EMFILE would leave the engine (its API, its other containers) without descriptors meanwhile.
    /// Small requests skip the count (a directory listing of every descriptor) and rely on EMFILE.</summary>
    private static void RefuseOverOpenFilesLimit(int sockets)
    {
        if (sockets < 64) return;
        var (soft, hard) = Berth.Linux.Interop.GetOpenFilesLimit();
        if (soft > int.MaxValue) return;
        int open = Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        if (open + sockets + OwnDescriptors <= (long)soft) return;
        throw new PortAllocationException($"publishing {sockets} ports needs {sockets} sockets (one per port) and the engine has {open} "
            + $"descriptors open, {OwnDescriptors} kept for its own work: its open files limit (RLIMIT_NOFILE) is {soft} (hard limit {hard}); "
            + RaiseLimitAdvice);
    }

    private static Socket? Bind(IPAddress address, int port, PortProtocol protocol, bool dualStack = false)
    {
        var (type, proto) = protocol switch
        {
            PortProtocol.Tcp => (SocketType.Stream, ProtocolType.Tcp),
            PortProtocol.Udp => (SocketType.Dgram, ProtocolType.Udp),
            _ => (SocketType.Seqpacket, (ProtocolType)132),
        };
        Socket socket;
        try { socket = new Socket(address.AddressFamily, type, proto); }
        catch (SocketException) when (protocol == PortProtocol.Sctp) { return null; } // no SCTP module: NAT still works
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = dualStack;
            socket.ExclusiveAddressUse = true;
            socket.Bind(new IPEndPoint(address, port));
            if (protocol == PortProtocol.Tcp) socket.Listen();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static IEnumerable<int> EphemeralCandidates()
    {
        int low = 32768, high = 60999;
        try
        {
            var parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            (low, high) = (int.Parse(parts[0]), int.Parse(parts[1]));
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException) { }
        int start = Random.Shared.Next(low, high + 1);
        for (int i = 0; i <= high - low; i++) yield return low + (start - low + i) % (high - low + 1);
    }

    private static bool IsAny(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    private static string Format(IPAddress a) => a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();

    private static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "cannot assign requested address",
        _ => e.Message,
    };
}
