using System.Net;
using System.Numerics;
using Berth.Linux;

namespace Berth.Networking.Ipam;

public sealed class AddressPoolExhaustedException(string message) : Exception(message);
public sealed class AddressInUseException(string message) : Exception(message);

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
        if (baseText is null || !IPNetwork.TryParse(baseText, out var pool)
            || pool.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"invalid default address pool {spec}: base must be an IPv4 network such as 10.200.0.0/16");
        if (!int.TryParse(sizeText, out int size) || size < pool.PrefixLength || size > 30)
            throw new ArgumentException(
                $"invalid default address pool {spec}: size must be between the base's prefix /{pool.PrefixLength} and 30");
        return (pool, size);
    }

    /// <summary>The subnets of the pools, pool by pool, lowest first (lazily: a /8 cut into /24s is 65,536).</summary>
    public static IEnumerable<IPNetwork> Expand(IEnumerable<(IPNetwork Base, int Size)> pools)
    {
        foreach (var (pool, size) in pools)
        {
            uint first = ToUInt(pool.BaseAddress);
            ulong count = 1UL << (size - pool.PrefixLength), step = 1UL << (32 - size);
            for (ulong i = 0; i < count; i++)
                yield return new IPNetwork(FromUInt((uint)(first + i * step)), size);
        }
    }

    private static uint ToUInt(IPAddress address) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static IPAddress FromUInt(uint value)
    {
        var bytes = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
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
/// addresses are not reused at once.</summary>
public sealed class AddressAllocator
{
    private readonly string _directory;
    private readonly IPNetwork _subnet;
    private readonly IPAddress _gateway;
    private readonly IPNetwork? _range;
    private readonly HashSet<IPAddress> _reserved;
    private readonly (IPAddress First, IPAddress Last)? _bounds;

    /// <param name="range">`--ip-range`: addresses not asked for come from here only.</param>
    /// <param name="reserved">`--aux-address`: never handed out.</param>
    /// <param name="bounds">host-local's rangeStart..rangeEnd: addresses not asked for come from here only.</param>
    public AddressAllocator(string stateDirectory, IPNetwork subnet, IPAddress gateway, IPNetwork? range = null,
        IEnumerable<IPAddress>? reserved = null, (IPAddress First, IPAddress Last)? bounds = null)
    {
        _bounds = bounds;
        _directory = stateDirectory;
        _subnet = subnet;
        _gateway = gateway;
        _range = range;
        _reserved = reserved?.ToHashSet() ?? [];
        Directory.CreateDirectory(stateDirectory);
    }

    public IPAddress Allocate(string ownerId, IPAddress? requested = null)
    {
        // Usable: everything between the network and the broadcast address (none in a /31 or /32).
        ulong size = 1UL << (32 - _subnet.PrefixLength);
        uint first = ToUInt(_subnet.BaseAddress) + 1;
        uint last = ToUInt(_subnet.BaseAddress) + (uint)(size - 2);
        if (requested is not null)
        {
            if (!_subnet.Contains(requested) || requested.Equals(_gateway) || size < 4
                || ToUInt(requested) is var value && (value < first || value > last))
                throw new AddressInUseException($"requested address {requested} is not usable in {_subnet}");
            if (_reserved.Contains(requested)) throw new AddressInUseException($"Address already in use: {requested}");
            if (!TryClaim(requested, ownerId)) throw new AddressInUseException($"Address already in use: {requested}");
            return requested;
        }
        if (size < 4) throw new AddressPoolExhaustedException($"no available IPv4 addresses on network {_subnet}");
        if (_range is { } range)
        {
            first = Math.Max(first, ToUInt(range.BaseAddress));
            last = Math.Min(last, ToUInt(range.BaseAddress) + (uint)((1UL << (32 - range.PrefixLength)) - 1));
            if (first > last) throw new AddressPoolExhaustedException($"no available IPv4 addresses on network {_subnet} in range {range}");
        }
        if (_bounds is { } bounds)
        {
            (first, last) = (Math.Max(first, ToUInt(bounds.First)), Math.Min(last, ToUInt(bounds.Last)));
            if (first > last)
                throw new AddressPoolExhaustedException($"no available IPv4 addresses on network {_subnet} in range {bounds.First}-{bounds.Last}");
        }
        uint start = ReadLast() is { } previous && previous >= first && previous < last ? previous + 1 : first;
        for (uint i = 0, count = last - first + 1; i < count; i++)
        {
            uint candidate = first + (start - first + i) % count;
            var address = FromUInt(candidate);
            if (address.Equals(_gateway) || _reserved.Contains(address)) continue;
            if (TryClaim(address, ownerId))
            {
                File.WriteAllText(Path.Combine(_directory, LastReservedFile), address.ToString());
                return address;
            }
        }
        throw new AddressPoolExhaustedException($"no available IPv4 addresses on network {_subnet}");
    }

    public bool Release(IPAddress address)
    {
        string path = Path.Combine(_directory, address.ToString());
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }

    public int ReleaseOwner(string ownerId) => Allocations().Where(kv => kv.Value == ownerId).Count(kv => Release(kv.Key));

    public IReadOnlyDictionary<IPAddress, string> Allocations()
    {
        var result = new Dictionary<IPAddress, string>();
        foreach (string file in Directory.EnumerateFiles(_directory))
            if (IPAddress.TryParse(Path.GetFileName(file), out var address))
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

    /// <summary>host-local's name for its one range set's cursor, so host-local and Berth continue each other's order;
    /// state written before Berth used that name is still read.</summary>
    private const string LastReservedFile = "last_reserved_ip.0", OldLastReservedFile = "last_reserved_ip";

    private uint? ReadLast()
    {
        foreach (string name in new[] { LastReservedFile, OldLastReservedFile })
        {
            string path = Path.Combine(_directory, name);
            if (File.Exists(path) && IPAddress.TryParse(File.ReadAllText(path).Trim(), out var a)) return ToUInt(a);
        }
        return null;
    }

    private static uint ToUInt(IPAddress address) => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes());

    private static IPAddress FromUInt(uint value)
    {
        var bytes = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
