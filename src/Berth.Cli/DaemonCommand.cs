using System.CommandLine;
using Berth.Api;
using Berth.Engine;
using Berth.Runtime.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Berth.Cli;

/// <summary>`berth daemon`: the engine in the foreground, serving the Docker API until SIGTERM/SIGINT.
/// Containers keep running across a daemon restart; their supervisors hold them.</summary>
public static class DaemonCommand
{
    public const string DefaultSocket = "/run/berth/berth.sock";

    public static Command Create()
    {
        var hosts = new Option<string[]>("--host", "-H") { Description = "Where to serve the API: unix:///path or tcp://ADDRESS:PORT (repeatable; tcp needs --tlsverify or --insecure-tcp)" };
        var dataRoot = new Option<string>("--data-root") { Description = "Persistent state: images, containers, networks", DefaultValueFactory = _ => "/var/lib/berth" };
        var execRoot = new Option<string>("--exec-root") { Description = "Runtime state: namespaces, supervisors, sockets", DefaultValueFactory = _ => "/run/berth" };
        var bridge = new Option<string>("--bridge", "-b") { Description = "Linux bridge of the default network", DefaultValueFactory = _ => "berth0" };
        var bip = new Option<string?>("--bip") { Description = "Gateway address and prefix of the default bridge, e.g. 10.88.0.1/24 (default: a free subnet from Docker's pools)" };
        var ipv6 = new Option<bool>("--ipv6") { Description = "Make the default bridge dual-stack (its IPv6 subnet: --fixed-cidr-v6, else a /64 from the pools)" };
        var fixedCidrV6 = new Option<string?>("--fixed-cidr-v6") { Description = "IPv6 subnet of the default bridge with --ipv6, e.g. fd00:88::/64" };
        var runtime = new Option<string?>("--runtime") { Description = "OCI runtime to use (crun or runc; default: the first that works here)" };
        var debug = new Option<bool>("--debug", "-D") { Description = "Verbose logging" };
        var logOpts = new Option<string[]>("--log-opt")
        {
            Description = "Default json-file log option, key=value (repeatable): max-size (default 20m), "
                + "max-file (default 5)",
        };
        var logDriver = new Option<string>("--log-driver")
        {
            Description = "Default log driver of containers: json-file, local or none", DefaultValueFactory = _ => "json-file",
        };
        var tlsVerify = new Option<bool>("--tlsverify") { Description = "Serve tcp:// hosts with TLS and require client certificates signed by --tlscacert" };
        var tlsCa = new Option<string?>("--tlscacert") { Description = "CA certificate(s) (PEM) that client certificates must chain to" };
        var tlsCert = new Option<string?>("--tlscert") { Description = "The server's TLS certificate (PEM)" };
        var tlsKey = new Option<string?>("--tlskey") { Description = "The server's TLS key (PEM)" };
        var insecureTcp = new Option<bool>("--insecure-tcp") { Description = "Allow tcp:// hosts without TLS, on loopback addresses only (anyone who can connect is root)" };
        var addressPools = new Option<string[]>("--default-address-pool")
        {
            Description = "Where networks without a subnet get theirs, base=CIDR,size=N (repeatable; default: Docker's pools)",
        };
        var insecureRegistries = new Option<string[]>("--insecure-registry") { Description = "Registry (host[:port] or CIDR) reached without TLS verification, plain HTTP allowed (repeatable)" };
        var registryMirrors = new Option<string[]>("--registry-mirror") { Description = "Mirror of Docker Hub tried first for pulls, http(s)://host[:port] (repeatable)" };
        var registryCerts = new Option<string>("--registry-certs-dir") { Description = "Per-registry CA and client certificates, DIR/HOST[:PORT]/ca.crt (Berth's own; dockerd: /etc/docker/certs.d)", DefaultValueFactory = _ => "/etc/docker/certs.d" };
        var mtu = new Option<int>("--mtu") { Description = "MTU of the default bridge and of containers' interfaces", DefaultValueFactory = _ => 1500 };
        var icc = new Option<bool>("--icc") { Description = "Containers on the default bridge may talk to each other (--icc=false: no)", DefaultValueFactory = _ => true };
        var ipMasq = new Option<bool>("--ip-masq") { Description = "Masquerade the default bridge's outbound traffic", DefaultValueFactory = _ => true };
        var iptables = new Option<bool>("--iptables") { Description = "Keep Berth's nftables table (--iptables=false: no rules at all; NAT, masquerade and filtering are the admin's)", DefaultValueFactory = _ => true };
        var ipForward = new Option<bool>("--ip-forward") { Description = "Turn on the host's IPv4 forwarding (net.ipv4.ip_forward)", DefaultValueFactory = _ => true };
        var userlandProxy = new Option<bool>("--userland-proxy") { Description = "Serve IPv6 host addresses of IPv4-only containers and [::1] with an in-process proxy (default: the kernel alone)" };
        var userlandProxyPath = new Option<string?>("--userland-proxy-path") { Description = "Accepted for dockerd compatibility and ignored (Berth's proxy is in-process)" };
        var allowDirectRouting = new Option<bool>("--allow-direct-routing") { Description = "Allow remote access to published ports on container IP addresses" };
        var ip = new Option<string?>("--ip") { Description = "Default host address for published ports (default: every address)" };
        var seccompProfile = new Option<string?>("--seccomp-profile") { Description = "Default seccomp profile of containers: a JSON file in Docker's format, or unconfined (default: Docker's)" };
        var group = new Option<string?>("--group", "-G") { Description = "Group owning the unix socket(s), mode 0660 (default: docker when that group exists, else root)" };
        // Read by DaemonConfigFile.Expand before parsing; declared here for --help.
        var configFile = new Option<string?>(DaemonConfigFile.Flag)
        {
            Description = "dockerd-style daemon.json: hosts, data-root, exec-root, bridge, bip, default-runtime, debug, "
                + "group, log-driver, log-opts, tlsverify, tlscacert, tlscert, tlskey, insecure-tcp, default-address-pools, mtu, icc, ip-masq, iptables, ip-forward, ip, seccomp-profile, "
                + "ipv6, fixed-cidr-v6, userland-proxy, userland-proxy-path, allow-direct-routing, "
                + "insecure-registries, registry-mirrors "
                + "(a key may not also be a flag)",
        };
        var command = new Command("daemon", "Run the engine in the foreground")
        {
            hosts, dataRoot, execRoot, bridge, bip, runtime, debug, logOpts, logDriver, tlsVerify, tlsCa, tlsCert, tlsKey, insecureTcp, group,
            addressPools, seccompProfile, configFile, mtu, icc, ipMasq, iptables, ipForward, ip, insecureRegistries, registryMirrors, registryCerts,
            ipv6, fixedCidrV6, userlandProxy, userlandProxyPath, allowDirectRouting,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new EngineOptions
            {
                DataRoot = Path.GetFullPath(parse.GetValue(dataRoot)!),
                ExecRoot = Path.GetFullPath(parse.GetValue(execRoot)!),
                BridgeName = parse.GetValue(bridge)!,
                BridgeIp = parse.GetValue(bip),
                Ipv6 = parse.GetValue(ipv6),
                FixedCidrV6 = parse.GetValue(fixedCidrV6),
                Runtime = parse.GetValue(runtime),
                Mtu = parse.GetValue(mtu),
                Icc = parse.GetValue(icc),
                IpMasquerade = parse.GetValue(ipMasq),
                Iptables = parse.GetValue(iptables),
                IpForward = parse.GetValue(ipForward),
                UserlandProxy = parse.GetValue(userlandProxy),
                AllowDirectRouting = parse.GetValue(allowDirectRouting),
                DefaultBindIp = parse.GetValue(ip),
                SeccompProfile = parse.GetValue(seccompProfile),
            };
            if (options.FixedCidrV6 is { } v6Cidr && !(System.Net.IPNetwork.TryParse(v6Cidr, out var v6Net)
                && v6Net.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && v6Net.PrefixLength <= 126))
            {
                Console.Error.WriteLine($"berth daemon: invalid --fixed-cidr-v6 {v6Cidr}: an IPv6 CIDR such as fd00:88::/64 is expected");
                return 2;
            }
            if (options.Mtu is < 68 or > 65535
                || options.DefaultBindIp is { } bindIp && !System.Net.IPAddress.TryParse(bindIp, out _))
            {
                Console.Error.WriteLine("berth daemon: invalid --mtu (68 to 65535) or --ip (an address)");
                return 2;
            }
            if (options.SeccompProfile is { } profile && profile is not (HostSecurity.BuiltinProfile or HostSecurity.UnconfinedProfile))
            {
                try { HostSecurity.ReadDaemonProfile(profile); }
                catch (SecurityOptionException e)
                {
                    Console.Error.WriteLine($"berth daemon: {e.Message}");
                    return 2;
                }
            }
            if (parse.GetValue(userlandProxyPath) is { } proxyPath)
                Console.Error.WriteLine($"berth daemon: --userland-proxy-path {proxyPath} is ignored: Berth's userland proxy runs in the engine");
            options.LogDriver = parse.GetValue(logDriver) ?? "json-file";
            if (!Engine.Containers.LogConfigs.IsKnownDriver(options.LogDriver))
            {
                Console.Error.WriteLine($"berth daemon: {Engine.Containers.LogConfigs.UnknownDriver(options.LogDriver)}");
                return 2;
            }
            try { options.LogOptions = DaemonLogOptions.Parse(parse.GetValue(logOpts) ?? []); }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"berth daemon: invalid --log-opt: {e.Message}");
                return 2;
            }
            try
            {
                options.DefaultAddressPools = (parse.GetValue(addressPools) ?? [])
                    .Select(Networking.Ipam.DefaultAddressPools.Parse).ToList();
                options.Registry = new Runtime.Registry.RegistryOptions
                {
                    InsecureRegistries = (parse.GetValue(insecureRegistries) ?? []).Select(Runtime.Registry.RegistryOptions.ValidateInsecure).ToList(),
                    Mirrors = (parse.GetValue(registryMirrors) ?? []).Select(Runtime.Registry.RegistryOptions.ValidateMirror).ToList(),
                    CertsDirectory = Path.GetFullPath(parse.GetValue(registryCerts)!),
                };
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"berth daemon: {e.Message}");
                return 2;
            }
            var hostList = parse.GetValue(hosts) is { Length: > 0 } given ? given : [$"unix://{DefaultSocket}"];
            string? ca = parse.GetValue(tlsCa), cert = parse.GetValue(tlsCert), key = parse.GetValue(tlsKey);
            if (!parse.GetValue(tlsVerify) && (ca ?? cert ?? key) is not null)
            {
                Console.Error.WriteLine("berth daemon: --tlscacert/--tlscert/--tlskey need --tlsverify (client certificates are always required)");
                return 2;
            }
            if (parse.GetValue(tlsVerify) && (ca is null || cert is null || key is null))
            {
                Console.Error.WriteLine("berth daemon: --tlsverify needs --tlscacert, --tlscert and --tlskey");
                return 2;
            }
            var listen = new ApiListenOptions(hostList, parse.GetValue(tlsVerify) ? new ApiTlsFiles(ca!, cert!, key!) : null,
                parse.GetValue(insecureTcp));
            return await RunAsync(options, listen, parse.GetValue(debug), parse.GetValue(group), ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(EngineOptions options, ApiListenOptions listen, bool debug, string? group, CancellationToken ct)
    {
        if (Environment.UserName != "root" && Linux.Interop.GetEUid() != 0)
        {
            Console.Error.WriteLine("berth daemon: must run as root (it creates namespaces, links and firewall rules)");
            return 1;
        }
        if (options.BridgeName.Length is 0 or > 15)
        {
            Console.Error.WriteLine($"berth daemon: invalid --bridge {options.BridgeName}: 1 to 15 characters");
            return 2;
        }
        int socketGid;
        IReadOnlyList<ApiListener> listeners;
        IReadOnlyList<string> listenWarnings;
        try
        {
            socketGid = SocketAccess.GroupId(group);
            listeners = ApiListeners.Resolve(listen, out listenWarnings);
            if (options.BridgeIp is not null) Engine.Networks.NetworkService.ParseGatewayCidr(options.BridgeIp);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"berth daemon: {e.Message}");
            return 2;
        }

        using var loggers = LoggerFactory.Create(b => b
            .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; })
            .SetMinimumLevel(debug ? LogLevel.Debug : LogLevel.Information)
            .AddFilter("Microsoft", debug ? LogLevel.Information : LogLevel.Warning));
        var logger = loggers.CreateLogger("Berth.Daemon");
        foreach (string warning in listenWarnings) logger.LogWarning("{Warning}", warning);

        Directory.CreateDirectory(options.ExecRoot);
        using var exclusive = DaemonLock.Acquire(Path.Combine(options.ExecRoot, "berth.lock"));
        if (exclusive is null)
        {
            logger.LogError("another berth daemon is running with exec root {ExecRoot}", options.ExecRoot);
            return 1;
        }

        BerthEngine engine;
        try { engine = await BerthEngine.StartAsync(options, loggers); }
        catch (Exception e)
        {
            logger.LogError(e, "the engine could not start");
            return 1;
        }
        await using (engine)
        {
            var app = ApiServer.Build(engine, listeners, loggers);
            await app.StartAsync(ct);
            ApiServer.RestrictSockets(listeners);
            SocketAccess.GrantGroup(listen.Hosts, socketGid, options.ExecRoot);
            File.WriteAllText(Path.Combine(options.ExecRoot, "berth.pid"), Environment.ProcessId.ToString());
            logger.LogInformation("API listening on {Hosts}", string.Join(", ", listen.Hosts));
            await app.WaitForShutdownAsync(ct);
            // Open streams (logs -f, attach, wait) would hold a graceful stop for the host's 30 s; containers keep
            // running without us, so give requests a moment and then drop them.
            using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2))) await app.StopAsync(grace.Token);
            await app.DisposeAsync();
        }
        logger.LogInformation("daemon stopped; containers keep running");
        return 0;
    }
}

/// <summary>`--log-opt key=value` as dockerd takes it: the given keys replace Berth's default cap as a whole
/// (max-size without max-file means one file, as in Docker), checked as a container's options are.</summary>
public static class DaemonLogOptions
{
    public static IReadOnlyDictionary<string, string> Parse(IEnumerable<string> values)
    {
        var options = new Dictionary<string, string>();
        foreach (string value in values)
        {
            int equals = value.IndexOf('=');
            if (equals <= 0) throw new ArgumentException($"\"{value}\": expected key=value");
            options[value[..equals]] = value[(equals + 1)..];
        }
        if (options.Count == 0) return Berth.Runtime.Containers.LogPolicy.DefaultOptions;
        Berth.Runtime.Containers.LogPolicy.Parse(options);
        return options;
    }
}

/// <summary>One daemon per exec root: an flock held for the daemon's lifetime.</summary>
internal static class DaemonLock
{
    public static FileStream? Acquire(string path)
    {
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) { return null; }
    }
}

/// <summary>Who may use the unix socket: root and one group (0660), as dockerd's `--group` (default "docker").</summary>
internal static class SocketAccess
{
    /// <summary>The gid of the group; without --group, docker's when it exists, else root's.</summary>
    public static int GroupId(string? name)
    {
        string wanted = string.IsNullOrEmpty(name) ? "docker" : name;
        foreach (string line in File.Exists("/etc/group") ? File.ReadLines("/etc/group") : [])
        {
            string[] fields = line.Split(':');
            if (fields.Length > 2 && fields[0] == wanted && int.TryParse(fields[2], out int gid)) return gid;
        }
        if (int.TryParse(wanted, out int numeric) && numeric >= 0) return numeric;
        return string.IsNullOrEmpty(name) ? 0 : throw new ArgumentException($"invalid --group {name}: no such group");
    }

    /// <summary>Hands each unix socket to the group. A socket inside the exec root (0700) needs the group to pass
    /// through it: the exec root becomes 0710 owned by that group, which lists nothing and opens nothing else.</summary>
    public static void GrantGroup(IEnumerable<string> hosts, int gid, string execRoot)
    {
        foreach (string host in hosts.Where(h => h.StartsWith("unix://", StringComparison.Ordinal)))
        {
            string path = host["unix://".Length..];
            Linux.Interop.ChownNoFollow(path, 0, gid);
            if (gid != 0 && Path.GetDirectoryName(Path.GetFullPath(path)) == Path.GetFullPath(execRoot))
            {
                Linux.Interop.ChownNoFollow(execRoot, 0, gid);
                File.SetUnixFileMode(execRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupExecute);
            }
        }
    }
}
