using System.Net;
using System.Numerics;
using Berth.Linux;

namespace Berth.Networking.Ipam;

public sealed class AddressPoolExhaustedException(string message) : Exception(message);
public sealed class AddressInUseException(string message) : Exception(message);
public sealed class AddressOutsidePoolsException(string message) : Exception(message);

/// <summary>A network's address pools of one family in order (several `--subnet`), each with its allocator.</summary>
public static class AddressPools
{
    /// <summary>The requested address from the pool that contains it, else the next free address of the first pool that
    /// has one; returns the pool's index with the address.</summary>
    public static (int Pool, IPAddress Address) Allocate(IReadOnlyList<(IPNetwork Subnet, AddressAllocator Allocator)> pools,
        string ownerId, IPAddress? requested)
    {
        for (int i = 0; i < pools.Count; i++)
        {
            if (requested is not null)
            {
                if (pools[i].Subnet.Contains(requested)) return (i, pools[i].Allocator.Allocate(ownerId, requested));
                continue;
            }
            try { return (i, pools[i].Allocator.Allocate(ownerId)); }
            catch (AddressPoolExhaustedException) when (i + 1 < pools.Count) { }
        }
        throw requested is null
            ? new AddressPoolExhaustedException("no address pools")
            : new AddressOutsidePoolsException($"no configured subnet contains IP address {requested}");
    }
}

/// <summary>Docker's default pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20 steps; or the daemon's own, given
/// as dockerd's `--default-address-pool base=CIDR,size=N` (the base cut into subnets of prefix N, in order).</summary>
public static class DefaultAddressPools
{
    public static IReadOnlyList<IPNetwork> Candidates { get; } =
        Enumerable.Range(17, 15).Select(b => IPNetwork.Parse($"172.{b}.0.0/16"))
            .Concat(Enumerable.Range(0, 16).Select(i => IPNetwork.Parse($"192.168.{i * 16}.0/20")))
            .ToList();

    /// <summary>"base=10.200.0.0/16,size=24" → its base and size; ArgumentException with dockerd's sense otherwise.</summary>
    public static (IPNetwork Base, int Size) Parse(string spec)
    {
        string? baseText = null, sizeText = null;
        foreach (string field in spec.Split(',', StringSplitOptions.TrimEntries))
        {
            int eq = field.IndexOf('=');
            string key = eq < 0 ? field : field[..eq], value = eq < 0 ? "" : field[(eq + 1)..];
            switch (key)
            {
                case "base": baseText = value; break;
                case "size": sizeText = value; break;
                default: throw new ArgumentException($"invalid default address pool {spec}: unknown field {key} (base=CIDR,size=N)");
            }
        }
        if (baseText is null || !IPNetwork.TryParse(baseText, out var pool))
            throw new ArgumentException($"invalid default address pool {spec}: base must be a network such as 10.200.0.0/16 or fd00:1::/48");
        int maxSize = pool.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 126 : 30;
        if (!int.TryParse(sizeText, out int size) || size < pool.PrefixLength || size > maxSize)
            throw new ArgumentException(
                $"invalid default address pool {spec}: size must be between the base's prefix /{pool.PrefixLength} and {maxSize}");
        return (pool, size);
    }

    /// <summary>The subnets of the pools, pool by pool, lowest first (lazily: a /8 cut into /24s is 65,536).</summary>
    public static IEnumerable<IPNetwork> Expand(IEnumerable<(IPNetwork Base, int Size)> pools)
    {
        foreach (var (pool, size) in pools)
        {
            bool ipv6 = pool.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            UInt128 first = AddressAllocator.ToNumber(pool.BaseAddress);
            UInt128 count = UInt128.One << (size - pool.PrefixLength), step = UInt128.One << ((ipv6 ? 128 : 32) - size);
            for (UInt128 i = 0; i < count; i++)
                yield return new IPNetwork(AddressAllocator.FromNumber(first + i * step, ipv6), size);
        }
    }

    /// <summary>dockerd 27+'s IPv6 default when no v6 pool is configured: a unique local /48, fdXX:XXXX:XXXX::/48 with
    /// a global ID derived from the host (here the engine's identity), cut into /64s.</summary>
    public static (IPNetwork Base, int Size) UniqueLocalPool(string hostIdentity)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(hostIdentity));
        var bytes = new byte[16];
        bytes[0] = 0xfd;
        hash.AsSpan(0, 5).CopyTo(bytes.AsSpan(1));
        return (new IPNetwork(new IPAddress(bytes), 48), 64);
    }
}

public static class SubnetChooser
{
    /// <summary>The first candidate that overlaps none of the subnets in use (host routes, other networks).</summary>
    public static IPNetwork? ChooseFree(IEnumerable<IPNetwork> candidates, IEnumerable<IPNetwork> inUse)
    {
        var used = inUse.ToList();
        foreach (var candidate in candidates)
            if (!used.Any(u => u.Contains(candidate.BaseAddress) || candidate.Contains(u.BaseAddress)))
                return candidate;
        return null;
    }
}

/// <summary>Host-local IPAM as the CNI plugin does it: one file per allocated address, created with O_EXCL, so an
/// allocation is atomic across threads and processes without a lock; the last address handed out is remembered so
/// addresses are not reused at once. IPv4 and IPv6 alike (addresses as 128-bit numbers); a dual-stack network keeps
/// both families' files in one directory with one cursor per range set, as host-local does.</summary>
public sealed class AddressAllocator
{
    private readonly string _directory;
    private readonly IPNetwork _subnet;
    private readonly IPAddress? _gateway;
    private readonly IPNetwork? _range;
    private readonly HashSet<IPAddress> _reserved;
    private readonly (IPAddress First, IPAddress Last)? _bounds;
    private readonly string _cursorFile;
    private readonly bool _ipv6;

    /// <param name="gateway">Never handed out; null for a subnet without one (a macvlan network's with no way out).</param>
    /// <param name="range">`--ip-range`: addresses not asked for come from here only.</param>
    /// <param name="reserved">`--aux-address`: never handed out.</param>
    /// <param name="bounds">host-local's rangeStart..rangeEnd: addresses not asked for come from here only.</param>
    /// <param name="rangeSet">host-local's range set index: names the cursor file (last_reserved_ip.N).</param>
    public AddressAllocator(string stateDirectory, IPNetwork subnet, IPAddress? gateway, IPNetwork? range = null,
        IEnumerable<IPAddress>? reserved = null, (IPAddress First, IPAddress Last)? bounds = null, int rangeSet = 0)
    {
        _bounds = bounds;
        _directory = stateDirectory;
        _subnet = subnet;
        _gateway = gateway;
        _range = range;
        _reserved = reserved?.ToHashSet() ?? [];
        _ipv6 = subnet.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        _cursorFile = CursorPrefix + rangeSet.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Directory.CreateDirectory(stateDirectory);
    }

    private string Family => _ipv6 ? "IPv6" : "IPv4";

    public IPAddress Allocate(string ownerId, IPAddress? requested = null)
    {
        // Usable: everything after the network address, up to the broadcast address for IPv4 (none in a /31 or /32)
        // and up to the last address for IPv6 (it has no broadcast).
        int hostBits = (_ipv6 ? 128 : 32) - _subnet.PrefixLength;
        UInt128 size = UInt128.One << hostBits;
        bool tooSmall = hostBits < 2;
        UInt128 first = ToNumber(_subnet.BaseAddress) + 1;
        UInt128 last = ToNumber(_subnet.BaseAddress) + size - (_ipv6 ? 1u : 2u);
        if (requested is not null)
        {
            if (!_subnet.Contains(requested) || requested.Equals(_gateway) || tooSmall
                || ToNumber(requested) is var value && (value < first || value > last))
                throw new AddressInUseException($"requested address {requested} is not usable in {_subnet}");
            if (_reserved.Contains(requested)) throw new AddressInUseException($"Address already in use: {requested}");
            if (!TryClaim(requested, ownerId)) throw new AddressInUseException($"Address already in use: {requested}");
            return requested;
        }
        if (tooSmall) throw new AddressPoolExhaustedException($"no available {Family} addresses on network {_subnet}");
        if (_range is { } range)
        {
            int rangeBits = (_ipv6 ? 128 : 32) - range.PrefixLength;
            first = UInt128.Max(first, ToNumber(range.BaseAddress));
            last = UInt128.Min(last, ToNumber(range.BaseAddress) + ((UInt128.One << rangeBits) - 1));
            if (first > last) throw new AddressPoolExhaustedException($"no available {Family} addresses on network {_subnet} in range {range}");
        }
        if (_bounds is { } bounds)
        {
            (first, last) = (UInt128.Max(first, ToNumber(bounds.First)), UInt128.Min(last, ToNumber(bounds.Last)));
            if (first > last)
                throw new AddressPoolExhaustedException($"no available {Family} addresses on network {_subnet} in range {bounds.First}-{bounds.Last}");
        }
        UInt128 start = ReadLast() is { } previous && previous >= first && previous < last ? previous + 1 : first;
        UInt128 count = last - first + 1;
        for (UInt128 i = 0; i < count; i++)
        {
            var address = FromNumber(first + (start - first + i) % count);
            if (address.Equals(_gateway) || _reserved.Contains(address)) continue;
            if (TryClaim(address, ownerId))
            {
                File.WriteAllText(Path.Combine(_directory, _cursorFile), address.ToString());
                return address;
            }
        }
        throw new AddressPoolExhaustedException($"no available {Family} addresses on network {_subnet}");
    }

    public bool Release(IPAddress address)
    {
        string path = Path.Combine(_directory, address.ToString());
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }

    public int ReleaseOwner(string ownerId) => Allocations().Where(kv => kv.Value == ownerId).Count(kv => Release(kv.Key));

    /// <summary>This allocator's family's addresses and their owners.</summary>
    public IReadOnlyDictionary<IPAddress, string> Allocations()
    {
        var result = new Dictionary<IPAddress, string>();
        foreach (string file in Directory.EnumerateFiles(_directory))
            if (IPAddress.TryParse(Path.GetFileName(file), out var address) && address.AddressFamily == _subnet.BaseAddress.AddressFamily)
                result[address] = File.ReadAllText(file).Trim();
        return result;
    }

    private bool TryClaim(IPAddress address, string ownerId)
    {
        try
        {
            using var fd = Interop.Open(Path.Combine(_directory, address.ToString()), Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL, 0x1a4);
            using var stream = new FileStream(fd, FileAccess.Write);
            stream.Write(System.Text.Encoding.UTF8.GetBytes(ownerId));
            return true;
        }
        catch (LinuxException e) when (e.Errno == Errno.EEXIST) { return false; }
    }

    /// <summary>host-local's name for a range set's cursor, so host-local and Berth continue each other's order;
    /// state written before Berth used that name is still read.</summary>
    private const string CursorPrefix = "last_reserved_ip.", OldLastReservedFile = "last_reserved_ip";

    private UInt128? ReadLast()
    {
        foreach (string name in new[] { _cursorFile, OldLastReservedFile })
        {
            string path = Path.Combine(_directory, name);
            if (File.Exists(path) && IPAddress.TryParse(File.ReadAllText(path).Trim(), out var a)
                && a.AddressFamily == _subnet.BaseAddress.AddressFamily) return ToNumber(a);
        }
        return null;
    }

    /// <summary>An address as a number: IPv4 in the low 32 bits.</summary>
    public static UInt128 ToNumber(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        UInt128 value = 0;
        foreach (byte b in bytes) value = (value << 8) | b;
        return value;
    }

    private IPAddress FromNumber(UInt128 value) => FromNumber(value, _ipv6);

    public static IPAddress FromNumber(UInt128 value, bool ipv6)
    {
        var bytes = new byte[ipv6 ? 16 : 4];
        for (int i = bytes.Length - 1; i >= 0; i--, value >>= 8) bytes[i] = (byte)value;
        return new IPAddress(bytes);
    }
}
