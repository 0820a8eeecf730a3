using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.Cni.Attachments;
using Berth.Cni.Spec;
using Berth.Linux;
using Berth.Networking.Bridge;
using Berth.Networking.Firewall;
using Berth.Networking.Ipam;
using Berth.Networking.Namespaces;
using Berth.Networking.Netlink;
using Berth.Networking.Ports;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Cni.Plugin;

/// <summary>The CNI commands over Berth's network core. Standalone (no prevResult): a bridge, a veth into the
/// container's namespace, an address from host-local-compatible IPAM, published ports in the network's nftables maps.
/// Chained after the reference `bridge` plugin (a prevResult): only the port mappings, as a `portmap` replacement.
/// Every command holds the state directory's lock from start to end.</summary>
public sealed class CniPlugin(NetworkConfig config, CniEnvironment env, Func<INftables> nftables)
{
    private readonly AttachmentStore _store = new(config.StateDir);
    private INftables? _nft;
    private INftables Nft => _nft ??= nftables();

    private bool Chained => config.PrevResult is not null;

    public JsonObject Add()
    {
        string containerId = env.Require(env.ContainerId, "CNI_CONTAINERID");
        string ifName = env.Require(env.IfName, "CNI_IFNAME");
        string netns = env.Require(env.Netns, "CNI_NETNS");
        if (!File.Exists(netns)) throw new CniException(CniErrorCode.UnknownContainer, $"network namespace {netns} does not exist");
        var requested = config.RequestedIps.Select(r => r.Address).Concat(CniArgs.RequestedIps(env.Args)).ToList();
        using var _ = _store.Lock();
        var before = _store.Find(config.Name, containerId, ifName);
        var others = _store.All().Where(a => !(a.Network == config.Name && a.ContainerId == containerId && a.IfName == ifName)).ToList();
        RefuseConflicts(others);
        HostPortProbe.RefuseHeld(config.PortMappings);
        var after = Chained ? AttachChained(containerId, ifName) : AttachStandalone(containerId, ifName, netns, before, requested);
        _store.Save(after);
        try
        {
            var network = others.Where(a => a.Network == config.Name).Append(after).ToList();
            new NetworkTable(Nft, config.Name).Replace(before, after, network);
            new Conntrack(NullLogger.Instance).DeleteUdpFlows(after.Publications(after.Owner));
        }
        catch
        {
            Undo(after, others.Where(a => a.Network == config.Name).ToList(), keepTable: false);
            throw;
        }
        return Chained ? CniResult.PassThrough(config.PrevResult!, config.CniVersion) : CniResult.Standalone(after, netns, config.CniVersion);
    }

    public void Del()
    {
        string containerId = env.Require(env.ContainerId, "CNI_CONTAINERID");
        string ifName = env.Require(env.IfName, "CNI_IFNAME");
        using var _ = _store.Lock();
        var attachment = _store.Find(config.Name, containerId, ifName);
        if (attachment is null)
        {
            // Nothing recorded (never added, or a crash before the record): what a half-done ADD may have left.
            if (!Chained)
            {
                using var host = RouteNetlinkClient.Open();
                host.DeleteLink(Attachment.HostVethFor(containerId, ifName));
                ReleaseAddresses(Attachment.OwnerOf(containerId, ifName));
            }
            return;
        }
        var rest = _store.OfNetwork(config.Name).Where(a => a != attachment && a.Owner != attachment.Owner).ToList();
        Undo(attachment, rest, keepTable: false);
        HandOverDefaultRoute(attachment);
    }

    /// <summary>The namespace's default route went with <paramref name="gone"/>'s interface: another berth-cni
    /// attachment of the same container in the same namespace takes it, so the container still reaches out.</summary>
    private void HandOverDefaultRoute(Attachment gone)
    {
        if (gone.Chained || !gone.DefaultRoute || gone.Netns is not { } netns || !File.Exists(netns)) return;
        var heir = _store.All().FirstOrDefault(a => !a.Chained && a.Netns == netns && a.ContainerId == gone.ContainerId
            && a.Owner != gone.Owner && a.Gateway is not null);
        if (heir is null) return;
        using var inside = RouteNetlinkClient.OpenInNamespace(netns);
        if (inside.ListRoutes(AddressFamily.InterNetwork).Any(r => r.Destination.PrefixLength == 0)) return;
        if (inside.GetLinkIndex(heir.IfName) is not { } index) return;
        inside.AddRoute(new IPNetwork(IPAddress.Any, 0), heir.Gateway, index);
        _store.Save(heir with { DefaultRoute = true });
    }

    public void Check()
    {
        if (CniVersions.Before(config.CniVersion, "0.4.0"))
            throw new CniException(CniErrorCode.IncompatibleVersion, $"CHECK is not defined for cniVersion {config.CniVersion}");
        string containerId = env.Require(env.ContainerId, "CNI_CONTAINERID");
        string ifName = env.Require(env.IfName, "CNI_IFNAME");
        string netns = env.Require(env.Netns, "CNI_NETNS");
        using var _ = _store.Lock();
        var attachment = _store.Find(config.Name, containerId, ifName)
            ?? throw new CniException(CniErrorCode.UnknownContainer, $"no attachment of container {containerId} ({ifName}) on network {config.Name}");
        var table = new NetworkTable(Nft, config.Name);
        if (!table.Exists()) throw new CniException(CniErrorCode.IoFailure, $"nftables table {table.Name} is missing");
        foreach (var mapping in attachment.PortMappings.Take(1))
            if (!table.HasMapping(mapping, attachment.Address))
                throw new CniException(CniErrorCode.IoFailure, $"port mapping {mapping.HostPort}/{ContainerPort.Name(mapping.Protocol)} is missing from {table.Name}");
        if (attachment.Chained) return;
        if (!File.Exists(netns)) throw new CniException(CniErrorCode.UnknownContainer, $"network namespace {netns} does not exist");
        using (var host = RouteNetlinkClient.Open())
            if (attachment.HostVeth is null || host.GetLinkIndex(attachment.HostVeth) is null)
                throw new CniException(CniErrorCode.IoFailure, $"host veth {attachment.HostVeth} is missing");
        using var inside = RouteNetlinkClient.OpenInNamespace(netns);
        int index = inside.GetLinkIndex(ifName) ?? throw new CniException(CniErrorCode.IoFailure, $"interface {ifName} is missing in {netns}");
        if (!inside.ListAddresses(index).Any(a => a.Address.Equals(attachment.Address)))
            throw new CniException(CniErrorCode.IoFailure, $"interface {ifName} in {netns} lacks its address {attachment.Address}");
    }

    /// <summary>Removes every attachment of this network, and every address of its IPAM directory, that belongs to
    /// none of the runtime's valid attachments.</summary>
    public void Gc()
    {
        var valid = (config.ValidAttachments ?? []).Select(v => Attachment.OwnerOf(v.ContainerId, v.IfName)).ToHashSet();
        using var _ = _store.Lock();
        var all = _store.OfNetwork(config.Name).ToList();
        var keep = all.Where(a => valid.Contains(a.Owner)).ToList();
        foreach (var stale in all.Where(a => !valid.Contains(a.Owner)))
            Undo(stale, keep, keepTable: keep.Count > 0);
        if (!Chained && config.Subnet is not null)
            foreach (var (address, owner) in Allocator().Allocations())
                if (!valid.Contains(owner)) Allocator().Release(address);
    }

    /// <summary>Ready when nftables can be driven and the state directories can be written.</summary>
    public void Status()
    {
        try
        {
            _store.Lock().Dispose();
            if (!Chained && config.Subnet is not null) Directory.CreateDirectory(IpamDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            throw new CniException(CniErrorCode.PluginNotAvailable, $"state directory {config.StateDir} is not writable", e.Message);
        }
        if (Nft.List("tables") is null)
            throw new CniException(CniErrorCode.PluginNotAvailable, "nftables is not available (libnftables1 or the nft command)");
    }

    private Attachment AttachChained(string containerId, string ifName)
    {
        var previous = config.PreviousIpv4()
            ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "prevResult has no IPv4 address to map ports to");
        string bridge = config.Bridge ?? config.PreviousHostInterfaces().FirstOrDefault(n => Directory.Exists($"/sys/class/net/{n}/bridge"))
            ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "no bridge in prevResult.interfaces; name it with \"bridge\"");
        // Clients on 127.0.0.1 reach containers through DNAT out of the bridge (the guard chain keeps it closed).
        Networking.Sysctl.Sysctl.Set("net.ipv4.ip_forward", "1");
        Networking.Sysctl.Sysctl.Set($"net.ipv4.conf.{bridge}.route_localnet", "1");
        if (config.HairpinMode)
            foreach (string port in config.PreviousHostInterfaces().Where(n => File.Exists($"/sys/class/net/{n}/brport/hairpin_mode")))
                File.WriteAllText($"/sys/class/net/{port}/brport/hairpin_mode", "1");
        var subnet = IPNetwork.Parse(Canonical(previous.Address, previous.PrefixLength));
        return new Attachment(config.Name, containerId, ifName, true, bridge, subnet, previous.Address, previous.Gateway,
            null, null, config.PortMappings);
    }

    private Attachment AttachStandalone(string containerId, string ifName, string netns, Attachment? before,
        IReadOnlyList<IPAddress> requested)
    {
        var subnet = config.Subnet ?? throw new CniException(CniErrorCode.InvalidNetworkConfig,
            "berth-cni needs \"subnet\" (or ipam.subnet / ipam.ranges) when it is not chained after another plugin");
        var gateway = config.Gateway ?? FirstHost(subnet);
        string bridge = config.Bridge ?? NetworkConfig.DefaultBridge;
        string owner = Attachment.OwnerOf(containerId, ifName);
        string hostVeth = Attachment.HostVethFor(containerId, ifName);
        var driver = new BridgeDriver();
        // A retried ADD (the runtime timed out, or this process died halfway) starts from a clean slate, keeping the address.
        var keep = before?.Address;
        using (var host = RouteNetlinkClient.Open()) host.DeleteLink(hostVeth);
        ReleaseAddresses(owner);
        var address = Allocate(owner, subnet, gateway, keep, requested);
        try
        {
            // One default route per namespace: a second attachment (another network, another interface) reaches its
            // own subnet only, as the engine's second network does; DEL of the first hands the route over.
            bool defaultRoute;
            using (var inside = RouteNetlinkClient.OpenInNamespace(netns))
                defaultRoute = !inside.ListRoutes(AddressFamily.InterNetwork).Any(r => r.Destination.PrefixLength == 0);
            driver.EnsureBridge(bridge, gateway, subnet.PrefixLength, config.Mtu);
            var mac = config.RequestedMac ?? BridgeDriver.MacFor(address);
            driver.Attach(new EndpointRequest(netns, bridge, hostVeth, ifName, address, subnet.PrefixLength, gateway, mac,
                config.Mtu, config.HairpinMode, DefaultRoute: defaultRoute));
            return new Attachment(config.Name, containerId, ifName, false, bridge, subnet, address, gateway, hostVeth,
                FormatMac(mac), config.PortMappings, netns, defaultRoute);
        }
        catch (LinuxException e)
        {
            ReleaseAddresses(owner);
            throw new CniException(e.Errno == Errno.EEXIST ? CniErrorCode.InvalidEnvironment : CniErrorCode.IoFailure,
                $"attaching {ifName} of {containerId} to {bridge}: {e.Message}");
        }
    }

    /// <param name="requested">runtimeConfig.ips, args.cni.ips and CNI_ARGS IP=: the one in this subnet is taken, as
    /// host-local takes it (inside rangeStart..rangeEnd, not the gateway, not held by another container).</param>
    private IPAddress Allocate(string owner, IPNetwork subnet, IPAddress gateway, IPAddress? previous, IReadOnlyList<IPAddress> requested)
    {
        var allocator = Allocator();
        using var ipamLock = LockIpam();
        try
        {
            if (requested.FirstOrDefault(subnet.Contains) is { } wanted)
            {
                if (!config.InRange(wanted))
                    throw new CniException(CniErrorCode.InvalidNetworkConfig,
                        $"requested address {wanted} is outside the range {config.RangeStart ?? subnet.BaseAddress}-{config.RangeEnd?.ToString() ?? "end"} of {subnet}");
                return allocator.Allocate(owner, wanted);
            }
            if (requested.Count > 0)
                throw new CniException(CniErrorCode.InvalidNetworkConfig,
                    $"no requested address ({string.Join(", ", requested)}; runtimeConfig.ips, args.cni.ips or CNI_ARGS IP=) is in {subnet}");
            if (previous is not null)
                try { return allocator.Allocate(owner, previous); }
                catch (AddressInUseException) { }
            return allocator.Allocate(owner);
        }
        catch (AddressInUseException e) { throw new CniException(CniErrorCode.InvalidNetworkConfig, e.Message); }
        catch (AddressPoolExhaustedException e) { throw new CniException(CniErrorCode.AddressPoolExhausted, e.Message); }
    }

    /// <summary>Undoes an attachment: its map elements (the table too with the network's last one), its veth and
    /// address, then its record. Parts already gone are skipped, so DEL can be repeated.</summary>
    private void Undo(Attachment attachment, IReadOnlyList<Attachment> rest, bool keepTable)
    {
        new NetworkTable(Nft, config.Name).Replace(attachment, null, rest);
        if (!attachment.Chained)
        {
            using (var host = RouteNetlinkClient.Open())
                if (attachment.HostVeth is not null) host.DeleteLink(attachment.HostVeth);
            ReleaseAddresses(attachment.Owner);
            // netavark's way: the bridge goes with the network's last attachment.
            if (rest.Count == 0 && !keepTable && !_store.OfNetwork(config.Name).Any(a => a.Owner != attachment.Owner))
                new BridgeDriver().RemoveBridge(attachment.Bridge);
        }
        _store.Delete(attachment);
    }

    private void RefuseConflicts(IEnumerable<Attachment> others)
    {
        var taken = new Dictionary<(PortProtocol, int), List<(IPAddress? HostIp, Attachment Owner)>>();
        foreach (var other in others)
            foreach (var m in other.PortMappings)
            {
                if (!taken.TryGetValue((m.Protocol, m.HostPort), out var list)) taken[(m.Protocol, m.HostPort)] = list = [];
                list.Add((m.HostIp, other));
            }
        var seen = new HashSet<(PortProtocol, int, IPAddress?)>();
        foreach (var m in config.PortMappings)
        {
            if (!seen.Add((m.Protocol, m.HostPort, m.HostIp)))
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"host port {m.HostPort}/{ContainerPort.Name(m.Protocol)} is mapped twice");
            if (taken.TryGetValue((m.Protocol, m.HostPort), out var list)
                && list.FirstOrDefault(t => t.HostIp is null || m.HostIp is null || t.HostIp.Equals(m.HostIp)) is { Owner: not null } clash)
                throw new CniException(CniErrorCode.PortAlreadyAllocated,
                    $"Bind for {m.HostIp?.ToString() ?? "0.0.0.0"}:{m.HostPort} failed: port is already allocated",
                    $"host port {m.HostPort}/{ContainerPort.Name(m.Protocol)} is mapped by container {clash.Owner.ContainerId} on network {clash.Owner.Network}");
        }
    }

    private void ReleaseAddresses(string owner)
    {
        if (config.Subnet is null || !Directory.Exists(IpamDirectory)) return;
        using var ipamLock = LockIpam();
        Allocator().ReleaseOwner(owner);
    }

    private string IpamDirectory => Path.Combine(config.IpamDataDir, config.Name);

    private AddressAllocator Allocator() =>
        new(IpamDirectory, config.Subnet!.Value, config.Gateway ?? FirstHost(config.Subnet!.Value),
            bounds: config.RangeStart is null && config.RangeEnd is null ? null
                : (config.RangeStart ?? config.Subnet!.Value.BaseAddress, config.RangeEnd ?? IPAddress.Broadcast));

    /// <summary>host-local's lock file in the network's directory, so both plugins can share one.</summary>
    private Microsoft.Win32.SafeHandles.SafeFileHandle LockIpam()
    {
        Directory.CreateDirectory(IpamDirectory);
        return AttachmentStore.LockFile(Path.Combine(IpamDirectory, "lock"));
    }

    private static IPAddress FirstHost(IPNetwork subnet)
    {
        var bytes = subnet.BaseAddress.GetAddressBytes();
        bytes[3]++;
        return new IPAddress(bytes);
    }

    private static string Canonical(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        uint mask = prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value & mask);
        return $"{new IPAddress(bytes)}/{prefix}";
    }

    private static string FormatMac(PhysicalAddress mac) => string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2")));
}
