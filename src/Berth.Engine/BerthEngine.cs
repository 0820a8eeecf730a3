using Berth.Engine.Containers;
using Berth.Engine.Networks;
using Berth.Networking.Bridge;
using Berth.Networking.Firewall;
using Berth.Networking.Ports;
using Berth.Runtime.Containers;
using Berth.Runtime.Images;
using Berth.Runtime.Security;
using Microsoft.Extensions.Logging;

namespace Berth.Engine;

/// <summary>The composition root: builds every service once, reconciles the kernel with the store, and keeps
/// the firewall table in place while the daemon runs.</summary>
public sealed partial class BerthEngine : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _firewallWatch;

    private BerthEngine(EngineOptions options, ILogger logger, OciRuntimeInfo runtime, ImageStore images,
        NetworkService networks, ContainerService containers, ExecService execs)
    {
        Options = options;
        _logger = logger;
        Runtime = runtime;
        Images = images;
        Networks = networks;
        Containers = containers;
        Execs = execs;
    }

    public EngineOptions Options { get; }
    public OciRuntimeInfo Runtime { get; }
    public ImageStore Images { get; }
    public NetworkService Networks { get; }
    public ContainerService Containers { get; }
    public ExecService Execs { get; }
    /// <summary>The legacy builder (`POST /build`), made on first use.</summary>
    public Build.ImageBuilder Builder => _builder ??= new Build.ImageBuilder(Options, Images, Containers, _logger);
    private Build.ImageBuilder? _builder;
    public Volumes.VolumeService Volumes { get; private set; } = null!;
    /// <summary>The event bus every service publishes on (`GET /events`).</summary>
    public Events.EventBus Events => Containers.Events;
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public string EngineId { get; private set; } = "";

    public static async Task<BerthEngine> StartAsync(EngineOptions options, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Berth.Engine");
        CreateRoots(options);
        // Each published port holds a socket: 10,000 ports need 10,000 descriptors, above many soft limits.
        try
        {
            var (soft, hard) = Berth.Linux.Interop.RaiseOpenFilesLimit();
            logger.LogDebug("open files limit: soft {Soft}, hard {Hard}", soft, hard);
        }
        catch (Berth.Linux.LinuxException e) { logger.LogWarning("raising the open files limit failed: {Error}", e.Message); }

        var runtimeInfo = OciRuntimeInfo.Probe(options.Runtime, Path.Combine(options.ExecRoot, "probe"), loggers.CreateLogger<OciRuntimeInfo>());
        var security = HostSecurity.Detect(options.ExecRoot, loggers.CreateLogger<HostSecurity>(),
            daemonProfile: options.SeccompProfile);
        var runtime = new ContainerRuntime(runtimeInfo, options.ExecRoot, loggers.CreateLogger<ContainerRuntime>(), security);
        var images = new ImageStore(options.ImagesDirectory, loggers.CreateLogger<ImageStore>(),
            new ImageStoreHooks { Checkpoint = CrashPoints.Hit });
        var nft = NftablesFactory.Create(loggers.CreateLogger("Berth.Firewall"));
        var firewall = new FirewallManager(nft, options.FirewallTable, loggers.CreateLogger<FirewallManager>()) { Enabled = options.Iptables };
        var bridges = new BridgeDriver(loggers.CreateLogger<BridgeDriver>()) { IpForward = options.IpForward, RouteLocalnet = options.Iptables };
        var networks = new NetworkService(options, bridges, firewall,
            loggers.CreateLogger<NetworkService>());
        networks.Initialize();

        var ports = new PortPublisher(new PortAllocator(loggers.CreateLogger<PortAllocator>(), new CniPortClaims(nft).Read), firewall,
            new UserlandProxy(loggers.CreateLogger<UserlandProxy>()), new Conntrack(loggers.CreateLogger<Conntrack>()),
            loggers.CreateLogger<PortPublisher>()) { UserlandProxyEnabled = options.UserlandProxy };
        var containers = new ContainerService(options, images, networks, ports, runtime, runtimeInfo.Name,
            loggers.CreateLogger<ContainerService>());
        var events = new Events.EventBus();
        networks.Events = events;
        containers.Events = events;
        var engine = new BerthEngine(options, logger, runtimeInfo, images, networks, containers, new ExecService(containers));
        engine.EngineId = engine.LoadOrCreateEngineId();
        engine.Volumes = containers.Volumes = new Volumes.VolumeService(options.VolumesDirectory, () => containers.All,
            loggers.CreateLogger<Volumes.VolumeService>());
        engine.Volumes.Changed += (action, name, containerId) => events.Publish(Berth.Engine.Events.EventTypes.Volume, action, name,
            containerId is null ? new Dictionary<string, string> { ["driver"] = "local" }
                : new Dictionary<string, string> { ["driver"] = "local", ["container"] = containerId });

        engine.ApplyFirewall();
        containers.Dns = new Berth.Networking.Dns.DnsServer(new ContainerDnsNames(() => containers.All, () => containers.RecordsVersion, networks),
            loggers.CreateLogger("Berth.Dns"));
        await containers.ReconcileAsync();
        Build.ImageBuilder.SweepScratch(options.DataRoot, logger);
        containers.ReopenResolvers();
        engine._firewallWatch = engine.WatchFirewallAsync(engine._stopping.Token);
        logger.LogInformation("engine ready: runtime {Runtime}, bridge {Bridge} {Subnet}, firewall table {Table}",
            runtimeInfo.Name, networks.Default.BridgeName, networks.Default.Subnet, options.FirewallTable);
        return engine;
    }

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Modes as dockerd's or tighter: the data root 0710, everything below it that holds layers, container
    /// roots or records 0700 (so a container's Env and files are root's alone), the exec root 0700 (the daemon widens
    /// it to its socket's group when the socket lives there).</summary>
    private static void CreateRoots(EngineOptions options)
    {
        Store.AtomicFile.EnsureDirectory(options.DataRoot, OwnerOnly | UnixFileMode.GroupExecute);
        foreach (string dir in new[] { options.ContainersDirectory, options.ImagesDirectory, options.NetworksDirectory,
                     options.IpamDirectory, options.ExecRoot, options.NetnsDirectory, options.VolumesDirectory })
            Store.AtomicFile.EnsureDirectory(dir, OwnerOnly);
    }

    /// <summary>The whole desired firewall state from the store, applied as one transaction
    /// (daemon start, `berth firewall-reload`, and when the table vanished).</summary>
    public void ApplyFirewall()
    {
        var bridgeOf = Networks.All.ToDictionary(n => n.Id, n => n.BridgeName);
        var publications = Containers.All
            .Where(c => c.State.Running)
            .SelectMany(c => PortPublisher.PublicationsOf(c, bridgeOf, Options.UserlandProxy));
        Networks.Firewall.Initialize(Networks.FirewallSpecs(), publications);
    }

    /// <summary>An admin's `nft flush ruleset` removes our table, a dockerd started later blocks forwarding to our
    /// bridges: put things right as soon as the ruleset changes (iptables-legacy's DOCKER-USER, which sends no
    /// notification, within a minute).</summary>
    private async Task WatchFirewallAsync(CancellationToken ct)
    {
        // Ours, and iptables-nft's filter table that holds dockerd's DOCKER-USER chain.
        using var changes = RulesetChanges.TryOpen(
            [Options.FirewallTable, Networks.Firewall.UserTableName, "filter"], _logger);
        try
        {
            while (true)
            {
                if (changes is null) await Task.Delay(TimeSpan.FromSeconds(3), ct);
                else await changes.WaitAsync(TimeSpan.FromMinutes(1), ct);
                try
                {
                    if (!Networks.Firewall.TableExists())
                    {
                        _logger.LogWarning("firewall table {Table} is gone; restoring it", Options.FirewallTable);
                        ApplyFirewall();
                    }
                    Networks.Firewall.EnsureDockerUserRules();
                }
                catch (Exception e) { _logger.LogError(e, "checking the firewall table failed"); }
            }
        }
        catch (OperationCanceledException) { }
    }

    private string LoadOrCreateEngineId()
    {
        string path = Path.Combine(Options.DataRoot, "engine-id");
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        string id = string.Join(':', Enumerable.Range(0, 12).Select(_ => new string(Enumerable.Range(0, 4)
            .Select(_ => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[Random.Shared.Next(32)]).ToArray())));
        Store.AtomicFile.WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(id));
        return id;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (_firewallWatch is not null) await _firewallWatch;
        Containers.StopWatching();
        Containers.Dns?.Dispose();
        // Running containers keep their bridges and rules for the next start to adopt; with none, nothing of the
        // engine stays in the kernel.
        if (Containers.All.Any(c => c.State.Running)) return;
        _logger.LogInformation("no container running: removing bridges and firewall table {Table}", Options.FirewallTable);
        try { Networks.Firewall.RemoveTable(); }
        catch (Exception e) { _logger.LogWarning(e, "removing firewall table {Table} failed", Options.FirewallTable); }
        Networks.RemoveBridges();
    }
}
