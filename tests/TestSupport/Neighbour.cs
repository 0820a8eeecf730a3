namespace Berth.TestSupport;

/// <summary>A "neighbour host" as the seeds draw it: a network namespace at 192.168.33.3/24 (and fd00:33::3/64) linked
/// by a veth pair to the host at 192.168.33.2/24 (and fd00:33::2/64). The host address is one per machine, so neighbours are taken one at a time under
/// a lock file shared by every test process; the namespace and the link go on dispose, also after a failure.</summary>
public sealed class Neighbour : IDisposable
{
    public const string HostAddress = "192.168.33.2", Address = "192.168.33.3";
    public const string HostAddressV6 = "fd00:33::2", AddressV6 = "fd00:33::3";
    private const string LockPath = "/run/berth-test-neighbour.lock";

    private readonly FileStream _lock;
    public string Namespace { get; }
    public string HostLink { get; }

    private Neighbour(FileStream @lock, string ns, string hostLink)
    {
        _lock = @lock;
        Namespace = ns;
        HostLink = hostLink;
    }

    public static Neighbour Create()
    {
        var @lock = AcquireLock();
        string ns = TestNames.Unique("bnb", 12), host = TestNames.Unique("bnh", 12), peer = TestNames.Unique("bnp", 12);
        var neighbour = new Neighbour(@lock, ns, host);
        try
        {
            Check(Sh.Bash($"""
                set -e
                ip netns add {ns}
                ip link add {host} type veth peer name {peer} netns {ns}
                ip addr add {HostAddress}/24 dev {host}
                ip addr add {HostAddressV6}/64 dev {host} nodad
                ip link set {host} up
                ip -n {ns} link set lo up
                ip -n {ns} addr add {Address}/24 dev {peer}
                ip -n {ns} addr add {AddressV6}/64 dev {peer} nodad
                ip -n {ns} link set {peer} up
                """));
            return neighbour;
        }
        catch
        {
            neighbour.Dispose();
            throw;
        }
    }

    /// <summary>A route in the neighbour to <paramref name="cidr"/> through the host, as an attacker would add.</summary>
    public void RouteViaHost(string cidr) => Check(Exec($"ip route replace {cidr} via {HostAddress}"));

    public ShResult Exec(string command) => Sh.Bash($"ip netns exec {Namespace} {command}", TimeSpan.FromSeconds(20));

    /// <summary>GET from inside the neighbour: (curl exit code, body). Exit 0 means an answer came.</summary>
    public ShResult Curl(string url) => Exec($"curl -g -s -m 3 --noproxy '*' {url}");

    public void Dispose()
    {
        Sh.Bash($"ip netns del {Namespace} 2>/dev/null; ip link del {HostLink} 2>/dev/null; true");
        _lock.Dispose();
    }

    private static FileStream AcquireLock() => MachineLock.Acquire(LockPath, TimeSpan.FromMinutes(2));

    private static ShResult Check(ShResult result) =>
        result.ExitCode == 0 ? result : throw new InvalidOperationException($"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
}
