using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Berth.Engine.Resources;
using Berth.Engine.Store;
using Berth.Networking.Namespaces;
using Berth.Runtime.Containers;
using Berth.Runtime.Images;
using Berth.Runtime.Resources;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Containers;

/// <summary>The container lifecycle: create (resolve image, validate, merge config) → start (namespace, endpoint,
/// ports, runtime) → exit (teardown in reverse) → remove. Every state change is persisted before it is announced.</summary>
public sealed partial class ContainerService
{
    private readonly EngineOptions _options;
    private readonly ImageStore _images;
    private readonly NetworkService _networks;
    private readonly PortPublisher _ports;
    private readonly ContainerRuntime _runtime;
    private readonly string _runtimeName;
    private readonly ILogger _logger;
    private readonly RecordStore<ContainerRecord> _store;
    private readonly ConcurrentDictionary<string, ContainerHandle> _handles = new();
    private readonly Lock _nameLock = new();

    public ContainerService(EngineOptions options, ImageStore images, NetworkService networks, PortPublisher ports,
        ContainerRuntime runtime, string runtimeName, ILogger logger)
    {
        _runtimeName = runtimeName;
        _options = options;
        _images = images;
        _networks = networks;
        _ports = ports;
        _runtime = runtime;
        _logger = logger;
        _store = new RecordStore<ContainerRecord>(options.ContainersDirectory, c => c.Id, "state.json", logger,
            ContainerRecordCodec.Instance);
    }

    public ContainerRuntime Runtime => _runtime;

    /// <summary>Raised with the container's id once it has been removed (its exec instances go with it).</summary>
    public event Action<string>? Removed;

    /// <summary>A consistent copy of every record (the store hands out copies; see RecordStore).</summary>
    public IReadOnlyCollection<ContainerRecord> All => _store.All;

    // ---------------------------------------------------------------- lookup

    public ContainerRecord? Find(string idOrName)
    {
        if (string.IsNullOrEmpty(idOrName)) return null;
        string name = idOrName.TrimStart('/');
        return _store.FirstOrDefault(c => c.Id == idOrName)
            ?? _store.FirstOrDefault(c => c.Name == name)
            ?? (_store.Where(c => c.Id.StartsWith(idOrName, StringComparison.Ordinal), 2) is [var single] ? single : null);
    }

    public ContainerRecord Get(string idOrName) =>
        Find(idOrName) ?? throw new NotFoundException($"No such container: {idOrName}");

    private string BundleOf(string id) => Path.Combine(_options.ContainersDirectory, id);

    private ContainerHandle Handle(string id) => _handles.GetOrAdd(id, _ => new ContainerHandle());

    // ---------------------------------------------------------------- create

    public ContainerRecord Create(ContainerCreateRequest request, string? name)
    {
        if (string.IsNullOrEmpty(request.Image))
            throw new BadRequestException("No image was specified: a container needs an image (\"Image\" in the create request)");
        if (name is not null)
        {
            name = name.TrimStart('/');
            if (!NamePattern().IsMatch(name))
                throw new BadRequestException($"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        }
        var image = _images.Find(request.Image) ?? throw new NotFoundException($"No such image: {NormalizeReference(request.Image)}");
        using var lease = LeaseImage(image, request.Image);
        var hostConfig = request.HostConfig ?? new HostConfig();
        NormalizeHostConfig(hostConfig);
        ContainerSecurity.Validate(hostConfig, _runtime.Security);
        ContainerResources.Validate(hostConfig, CgroupHost.Host, Environment.ProcessorCount);
        hostConfig.LogConfig = LogConfigs.Merge(hostConfig.LogConfig, _options.LogOptions, _options.LogDriver);
        hostConfig.Runtime = _runtimeName;

        var config = MergeConfig(request, image);
        var (mounts, volumes) = ResolveMounts(hostConfig, config);
        var bindings = PortPublisher.ValidateAndParse(hostConfig.PortBindings, config.ExposedPorts);
        // As Docker 28 does: a published port is also an exposed one.
        foreach (var port in bindings.Keys)
            (config.ExposedPorts ??= new())[port.ToString()] = new JsonObject();

        var requestedNetworks = ResolveRequestedNetworks(hostConfig, request.NetworkingConfig, request);
        string path = (config.Entrypoint?.Count > 0 ? config.Entrypoint : config.Cmd)?.FirstOrDefault() ?? "";
        if (path.Length == 0)
            throw new BadRequestException("no command specified: the image has no CMD or ENTRYPOINT and none was given");
        var args = (config.Entrypoint ?? []).Concat(config.Cmd ?? []).Skip(1).ToList();

        string id = NetworkService.NewId();
        config.Hostname = !string.IsNullOrEmpty(request.Hostname) ? request.Hostname
            : hostConfig.NetworkMode == HostMode ? Environment.MachineName : id[..12];
        var record = new ContainerRecord
        {
            Id = id, Created = DateTimeOffset.UtcNow, Path = path, Args = args, ImageId = image.Id, Config = config,
            HostConfig = hostConfig, RequestedNetworks = requestedNetworks, Runtime = _runtimeName, Mounts = mounts,
        };
        CrashPoints.Hit("create.before-record");
        lock (_nameLock)
        {
            name ??= GenerateName();
            if (Find(name) is { Name: var taken } existing && taken == name)
                throw new ConflictException($"Conflict. The container name \"/{name}\" is already in use by container \"{existing.Id}\". You have to remove (or rename) that container to be able to reuse that name.");
            record.Name = name;
            CreateVolumes(volumes);
            _store.Save(record);
        }
        FillVolumesFromImage(record, image);
        CrashPoints.Hit("create.after-record");
        Handle(id);
        _runtime.Recover(id, BundleOf(id));
        _logger.LogInformation("created container {Id} ({Name}) from {Image}", record.ShortId, name, request.Image);
        Publish(record, "create");
        return record;
    }

    private static ContainerConfig MergeConfig(ContainerCreateRequest request, ImageRecord image)
    {
        var imageConfig = image.Config;
        var command = ImageCommandMerge.Merge(request.Entrypoint, request.Cmd, imageConfig.Entrypoint, imageConfig.Cmd);
        var env = new List<string>(imageConfig.Env ?? []);
        foreach (string entry in request.Env ?? [])
        {
            string key = entry.Split('=', 2)[0];
            env.RemoveAll(e => e.Split('=', 2)[0] == key);
            env.Add(entry);
        }
        Dictionary<string, JsonObject>? exposed = null;
        foreach (string port in (imageConfig.ExposedPorts?.Keys ?? Enumerable.Empty<string>()).Concat(request.ExposedPorts?.Keys ?? Enumerable.Empty<string>()))
            (exposed ??= new())[port.Contains('/') ? port : port + "/tcp"] = new JsonObject();
        var labels = new Dictionary<string, string>(imageConfig.Labels ?? new());
        foreach (var (key, value) in request.Labels ?? new()) labels[key] = value;
        Dictionary<string, JsonObject>? volumes = null;
        foreach (string volume in (imageConfig.Volumes?.Keys ?? Enumerable.Empty<string>()).Concat(request.Volumes?.Keys ?? Enumerable.Empty<string>()))
            (volumes ??= new())[volume] = new JsonObject();

        return new ContainerConfig
        {
            Domainname = request.Domainname,
            User = string.IsNullOrEmpty(request.User) ? imageConfig.User ?? "" : request.User,
            AttachStdin = request.AttachStdin, AttachStdout = request.AttachStdout, AttachStderr = request.AttachStderr,
            ExposedPorts = exposed, Tty = request.Tty, OpenStdin = request.OpenStdin, StdinOnce = request.StdinOnce,
            Env = env.Count > 0 ? env : null,
            Entrypoint = command.Entrypoint, Cmd = command.Cmd,
            Healthcheck = Health.HealthSettings.Merge(request.Healthcheck, imageConfig.Healthcheck),
            Image = request.Image!, Volumes = volumes,
            WorkingDir = string.IsNullOrEmpty(request.WorkingDir) ? imageConfig.WorkingDir ?? "" : request.WorkingDir,
            MacAddress = request.MacAddress, OnBuild = null, Labels = labels,
            StopSignal = request.StopSignal ?? imageConfig.StopSignal, StopTimeout = request.StopTimeout,
        };
    }

    private static void NormalizeHostConfig(HostConfig hostConfig)
    {
        if (string.IsNullOrEmpty(hostConfig.NetworkMode)) hostConfig.NetworkMode = "default";
        if (hostConfig.ShmSize <= 0) hostConfig.ShmSize = 64L * 1024 * 1024;
        if (string.IsNullOrEmpty(hostConfig.IpcMode)) hostConfig.IpcMode = "private";
        if (string.IsNullOrEmpty(hostConfig.CgroupnsMode)) hostConfig.CgroupnsMode = "host";
        if (string.IsNullOrEmpty(hostConfig.RestartPolicy.Name)) hostConfig.RestartPolicy.Name = "no";
        hostConfig.PortBindings ??= new();
        hostConfig.Dns ??= new();
        hostConfig.DnsOptions ??= new();
        hostConfig.DnsSearch ??= new();
        if (hostConfig.RestartPolicy.Name is not ("no" or "always" or "unless-stopped" or "on-failure"))
            throw new BadRequestException($"invalid restart policy '{hostConfig.RestartPolicy.Name}'");
        if (hostConfig.AutoRemove && hostConfig.RestartPolicy.Name != "no")
            throw new BadRequestException("can't create 'AutoRemove' container with restart policy");
    }

    // ---------------------------------------------------------------- start

    public Task StartAsync(string idOrName, CancellationToken ct = default) => StartAsync(idOrName, byPolicy: false, ct);

    private async Task StartAsync(string idOrName, bool byPolicy, CancellationToken ct)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync(ct);
        bool locked = true;
        try
        {
            // Re-read under the lock: the copy from Get may predate a change another request saved meanwhile.
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            if (record.State.Running) throw new NotModifiedException();
            if (!byPolicy) ResetRestartPolicy(record);
            await StartLockedAsync(record, handle, ct);
        }
        catch (Exception e) when (e is not NotModifiedException && record.HostConfig.AutoRemove)
        {
            locked = false;
            // As dockerd: a --rm container that cannot start is removed, so `docker run --rm` waiting on
            // condition=removed gets its answer instead of hanging.
            handle.Lock.Release();
            try { await RemoveAsync(record.Id, force: true); }
            catch (Exception removeError) { _logger.LogWarning(removeError, "auto-removing {Id} after a failed start failed", record.ShortId); }
            throw;
        }
        finally { if (locked) handle.Lock.Release(); }
    }

    private async Task StartLockedAsync(ContainerRecord record, ContainerHandle handle, CancellationToken ct)
    {
        var image = _images.Find(record.ImageId)
            ?? throw new ConflictException($"the image {record.Config.Image} ({record.ImageId}) of container {record.ShortId} is gone");
        string bundle = BundleOf(record.Id);
        string netns = "";
        var undo = new Stack<Action>();
        try
        {
            // Network first: the namespace exists before the runtime starts the container (as CNI and netavark).
            string mode = record.HostConfig.NetworkMode;
            var owner = IsContainerMode(mode) ? NamespaceOwner(record) : null;
            // `none` gets a namespace of Berth's too (loopback only): a network connected after `disconnect none`
            // needs one to attach to, as with dockerd.
            if (mode is not HostMode && owner is null)
            {
                netns = Path.Combine(_options.NetnsDirectory, record.ShortId);
                NetworkNamespace.Create(netns);
                string created = netns;
                undo.Push(() => NetworkNamespace.Remove(created));
                CrashPoints.Hit("start.after-netns");
                int index = 0;
                foreach (var (networkName, settings) in record.RequestedNetworks)
                {
                    var network = _networks.Find(networkName) ?? throw new NotFoundException($"network {networkName} not found");
                    var endpoint = _networks.Attach(record.Id, network, netns, $"eth{index}", RequestedAddress(settings), settings?.Aliases,
                        RequestedMac(settings, index++ == 0 ? record.Config.MacAddress : null), RequestedIpv6(settings),
                        LinkLocalAddresses(settings));
                    undo.Push(() => _networks.Detach(endpoint));
                    record.Endpoints.Add(endpoint);
                }
                CrashPoints.Hit("start.after-endpoints");
                undo.Push(() => _ports.Unpublish(record.Id));
                ProgramGateways(record, netns);
                CrashPoints.Hit("start.after-ports");
            }
            record.SandboxKey = netns;

            var (hostname, namesOf) = NameSourceFor(record, owner);
            WriteNameFiles(record, bundle, hostname);
            ContainerFiles.WriteHostname(Path.Combine(bundle, "hostname"), hostname);
            string files = namesOf ?? bundle;
            OpenResolver(record);
            undo.Push(() => CloseResolver(record.Id));
            undo.Push(() => ReleaseSubpaths(record.Id));

            var (args, mounts) = ContainerResources.WithInit(record.HostConfig, [record.Path, .. record.Args],
                MountSpecsOf(record));
            var spec = new ContainerSpec
            {
                Id = record.Id,
                BundleDirectory = bundle,
                LowerDirectories = _images.LayerDirectories(image),
                Args = args,
                Env = ProcessEnvironment(record),
                WorkingDir = record.Config.WorkingDir,
                User = record.Config.User,
                Hostname = hostname,
                Domainname = record.Config.Domainname,
                Tty = record.Config.Tty,
                OpenStdin = record.Config.OpenStdin,
                StdinOnce = record.Config.StdinOnce,
                NetworkNamespacePath = owner is not null ? NamespacePathOf(owner) : netns,
                HostNetwork = mode == HostMode,
                HostsFile = Path.Combine(files, "hosts"),
                HostnameFile = Path.Combine(files, "hostname"),
                ResolvConfFile = Path.Combine(files, "resolv.conf"),
                ReadonlyRootfs = record.HostConfig.ReadonlyRootfs,
                Privileged = record.HostConfig.Privileged,
                CapAdd = record.HostConfig.CapAdd ?? [],
                CapDrop = record.HostConfig.CapDrop ?? [],
                Annotations = record.Config.Labels ?? new(),
                ShmSize = record.HostConfig.ShmSize,
                Mounts = mounts,
                Security = ContainerSecurity.Parse(record.HostConfig),
                MaskedPaths = record.HostConfig.MaskedPaths,
                ReadonlyPaths = record.HostConfig.ReadonlyPaths,
                Log = LogConfigs.PolicyOf(record.HostConfig.LogConfig),
                Resources = ContainerResources.ToLimits(record.HostConfig),
                DeviceNodes = ContainerResources.DeviceNodes(record.HostConfig),
            };
            int pid = await _runtime.CreateAsync(spec, ct);
            // Read while runc's init waits to exec the command: exec keeps pid and start time.
            var process = ProcessIdentity.Read(pid);
            undo.Push(() => _runtime.DeleteAsync(record.Id).GetAwaiter().GetResult());
            FillVolumes(record, ContainerRuntime.Rootfs(bundle));
            CrashPoints.Hit("start.after-runtime-create");

            // Attaches that came before start are connected now, between create and start: no output is lost.
            foreach (var pending in handle.TakePendingAttaches())
            {
                try { pending.Session.TrySetResult(await _runtime.AttachAsync(record.Id, ct)); }
                catch (Exception e) { pending.Session.TrySetException(e); }
            }
            await _runtime.StartAsync(record.Id, ct);
            CrashPoints.Hit("start.after-runtime-start");

            record.State = new ContainerState
            {
                Status = "running", Running = true, Pid = pid, StartedAt = DateTimeOffset.UtcNow,
                FinishedAt = record.State.FinishedAt,
                ProcessBootId = process?.BootId ?? ProcessIdentity.CurrentBoot(),
                ProcessStartTime = process?.StartTime ?? 0,
            };
            _store.Save(record);
            CrashPoints.Hit("start.after-record");
            WatchExit(record, handle);
            Publish(record, "start");
            _logger.LogInformation("started container {Id} pid {Pid}", record.ShortId, pid);
        }
        catch (Exception e)
        {
            while (undo.TryPop(out var step))
            {
                try { step(); }
                catch (Exception undoError) { _logger.LogWarning(undoError, "undoing a failed start of {Id}", record.ShortId); }
            }
            record.Endpoints.Clear();
            record.Ports.Clear();
            record.SandboxKey = "";
            record.State.Error = e.Message;
            _store.Save(record);
            foreach (var pending in handle.TakePendingAttaches()) pending.Session.TrySetException(e);
            if (e is EngineException) throw;
            throw new EngineException(StartFailureStatus(e.Message), e.Message, e);
        }
    }

    /// <summary>As dockerd: a command that does not exist or may not run is the client's mistake (400), the rest 500.</summary>
    private static int StartFailureStatus(string message) =>
        message.Contains("executable file not found", StringComparison.Ordinal) || message.Contains("no such file or directory", StringComparison.Ordinal)
        || message.Contains("permission denied", StringComparison.Ordinal) ? 400 : 500;

    private List<string> ProcessEnvironment(ContainerRecord record)
    {
        var env = new List<string>(record.Config.Env ?? []);
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
            env.Insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        env.Insert(1, "HOSTNAME=" + record.Config.Hostname);
        env.InsertRange(2, LinkEnvironment(record));
        if (record.Config.Tty && !env.Any(e => e.StartsWith("TERM=", StringComparison.Ordinal))) env.Add("TERM=xterm");
        return env;
    }

    // ---------------------------------------------------------------- exit

    private void WatchExit(ContainerRecord record, ContainerHandle handle)
    {
        var cts = new CancellationTokenSource();
        handle.Watcher = cts;
        StartHealthChecks(record);
        // The watch lives as long as the container: it keeps the id, not the record (10,000 published ports are MBs).
        string id = record.Id;
        var identity = IdentityOf(record);
        _ = Task.Run(async () =>
        {
            ContainerExit exit;
            try { exit = await _runtime.WaitForExitAsync(id, cts.Token, identity); }
            catch (OperationCanceledException) { return; }
            catch (Exception e)
            {
                _logger.LogError(e, "waiting for container {Id} failed", id[..12]);
                exit = new ContainerExit(255, DateTimeOffset.UtcNow, false);
            }
            await OnExitedAsync(id, exit);
        });
    }

    private async Task OnExitedAsync(string id, ContainerExit exit)
    {
        if (_store.Get(id) is null) return;
        long noticed = System.Diagnostics.Stopwatch.GetTimestamp();
        var handle = Handle(id);
        await handle.Lock.WaitAsync();
        ContainerRecord? record;
        TimeSpan? restartDelay;
        try
        {
            record = _store.Get(id);
            if (record is null || !record.State.Running) return;
            StopHealthChecks(id);
            await TeardownAsync(record);
            record.State.Status = "exited";
            record.State.Running = false;
            record.State.Paused = false;
            record.State.Pid = 0;
            record.State.ExitCode = exit.ExitCode;
            record.State.OOMKilled = exit.OomKilled;
            record.State.FinishedAt = exit.FinishedAt;
            restartDelay = DecideRestartLocked(record, exit);
            _store.Save(record);
            CrashPoints.Hit("exit.after-record");
            _logger.LogInformation("container {Id} exited with {Code}", record.ShortId, exit.ExitCode);
        }
        finally { handle.Lock.Release(); }
        if (exit.OomKilled) Publish(record, "oom");
        Publish(record, "die", new Dictionary<string, string> { ["exitCode"] = exit.ExitCode.ToString() });
        handle.SignalExit(exit);
        if (restartDelay is { } delay) ScheduleRestart(id, delay - System.Diagnostics.Stopwatch.GetElapsedTime(noticed));
        if (record.HostConfig.AutoRemove)
        {
            try { await RemoveAsync(id, force: true); }
            catch (Exception e) { _logger.LogWarning(e, "auto-removing {Id} failed", record.ShortId); }
        }
    }

    /// <summary>Undoes start in reverse order. Each step tolerates "already gone" so it can finish a crashed teardown.</summary>
    private async Task TeardownAsync(ContainerRecord record)
    {
        handleWatcherCancel(record);
        try { await _runtime.DeleteAsync(record.Id); }
        catch (Exception e) { _logger.LogWarning(e, "runtime delete of {Id} failed", record.ShortId); }
        CrashPoints.Hit("teardown.after-runtime-delete");
        _ports.Unpublish(record.Id);
        CrashPoints.Hit("teardown.after-unpublish");
        CloseResolver(record.Id);
        foreach (var endpoint in record.Endpoints)
        {
            _networks.Detach(endpoint);
            _networks.PublishDisconnect(endpoint, record.Id);
        }
        CrashPoints.Hit("teardown.after-detach");
        if (!string.IsNullOrEmpty(record.SandboxKey))
        {
            try { NetworkNamespace.Remove(record.SandboxKey); }
            catch (Exception e) { _logger.LogWarning(e, "removing netns {Path} failed", record.SandboxKey); }
        }
        CrashPoints.Hit("teardown.after-netns");
        ReleaseVolumes(record);
        record.Endpoints.Clear();
        record.Ports.Clear();
        record.SandboxKey = "";

        void handleWatcherCancel(ContainerRecord r)
        {
            if (_handles.TryGetValue(r.Id, out var h)) h.Watcher = null;
        }
    }

    // ---------------------------------------------------------------- stop, kill, restart, wait

    /// <summary>The process recorded at start; null for records written before Berth recorded it.</summary>
    private static ProcessIdentity? IdentityOf(ContainerRecord record) => record.State.ProcessBootId.Length > 0
        ? new ProcessIdentity(record.State.Pid, record.State.ProcessBootId, record.State.ProcessStartTime)
        : null;

    /// <summary>A container whose process is no longer the one started (it died with its supervisor; the pid may name
    /// a stranger now) is recorded as exited at once: nothing to signal, nothing to wait for.</summary>
    private async Task<bool> RecordLostExitAsync(ContainerRecord record)
    {
        if (IdentityOf(record) is not { } process || _runtime.LostExit(record.Id, process) is not { } lost) return false;
        _logger.LogWarning("container {Id}: pid {Pid} is not the process Berth started; recording it as exited",
            record.ShortId, process.Pid);
        await OnExitedAsync(record.Id, lost);
        return true;
    }

    public async Task StopAsync(string idOrName, int? timeoutSeconds, string? signal = null)
    {
        var record = Get(idOrName);
        if (await StopRestartingAsync(record))
        {
            Publish(record, "stop");
            return;
        }
        if (!record.State.Running) throw new NotModifiedException();
        MarkManuallyStopped(record.Id);
        var handle = Handle(record.Id);
        var exited = handle.NextExit;
        int stopSignal = Signals.Parse(signal ?? record.Config.StopSignal ?? "SIGTERM");
        int timeout = timeoutSeconds ?? record.Config.StopTimeout ?? 10;
        if (await RecordLostExitAsync(record))
        {
            Publish(record, "stop");
            return;
        }
        PublishKill(record, stopSignal);
        await _runtime.KillAsync(record.Id, stopSignal, IdentityOf(record));
        if (timeout >= 0 && await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(timeout))) != exited)
        {
            _logger.LogInformation("container {Id} did not stop within {Timeout}s; killing it", record.ShortId, timeout);
            PublishKill(record, Signals.SIGKILL);
            await _runtime.KillAsync(record.Id, Signals.SIGKILL, IdentityOf(record));
        }
        await exited;
        Publish(record, "stop");
    }

    public async Task KillAsync(string idOrName, string? signal)
    {
        var record = Get(idOrName);
        int number = Signals.Parse(string.IsNullOrEmpty(signal) ? "SIGKILL" : signal);
        if (!record.State.Running)
            throw new ConflictException($"Cannot kill container: {idOrName}: Container {record.Id} is not running");
        if (await RecordLostExitAsync(record))
            throw new ConflictException($"Cannot kill container: {idOrName}: Container {record.Id} is not running");
        MarkManuallyStopped(record.Id);
        PublishKill(record, number);
        await _runtime.KillAsync(record.Id, number, IdentityOf(record));
        if (number == Signals.SIGKILL) await Handle(record.Id).NextExit;
    }

    public async Task RestartAsync(string idOrName, int? timeoutSeconds)
    {
        var record = Get(idOrName);
        if (record.State.Running || record.State.Restarting) await StopAsync(idOrName, timeoutSeconds);
        try { await StartAsync(record.Id); }
        catch (NotModifiedException) { }
        Publish(record.Id, "restart");
    }

    /// <summary>Docker's wait conditions: not-running (default), next-exit, removed.</summary>
    public async Task<int> WaitAsync(string idOrName, string? condition, CancellationToken ct)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        switch (condition)
        {
            case null or "" or "not-running":
                if (!record.State.Running) return record.State.ExitCode;
                return (await handle.NextExit.WaitAsync(ct)).ExitCode;
            case "next-exit":
                return (await handle.NextExit.WaitAsync(ct)).ExitCode;
            case "removed":
                return await handle.Removed.WaitAsync(ct);
            default:
                throw new BadRequestException($"invalid condition: \"{condition}\": expected not-running, next-exit or removed");
        }
    }

    // ---------------------------------------------------------------- remove, rename

    public async Task RemoveAsync(string idOrName, bool force, bool removeVolumes = false)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        if (record.State.Restarting && !force)
            throw new ConflictException(RunningRefusal(idOrName, "restarting"));
        if (force) MarkManuallyStopped(record.Id);
        if (record.State.Running)
        {
            if (!force)
                throw new ConflictException(RunningRefusal(idOrName, record.State.Paused ? "paused" : "running"));
            var exited = handle.NextExit;
            if (!await RecordLostExitAsync(record))
            {
                PublishKill(record, Signals.SIGKILL);
                await _runtime.KillAsync(record.Id, Signals.SIGKILL, IdentityOf(record));
                await exited.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }
        await handle.Lock.WaitAsync();
        try
        {
            if (_store.Get(record.Id) is not { } current) return;
            record = current;
            if (record.State.Running)
                throw new ConflictException(RunningRefusal(idOrName, "running"));
            await TeardownAsync(record);
            CrashPoints.Hit("rm.after-teardown");
            _runtime.Forget(record.Id);
            CrashPoints.Hit("rm.after-forget");
            _store.Delete(record.Id);
            CrashPoints.Hit("rm.after-record");
            if (removeVolumes || record.HostConfig.AutoRemove) RemoveAnonymousVolumes(record);
        }
        finally { handle.Lock.Release(); }
        _handles.TryRemove(record.Id, out _);
        ForgetRestarts(record.Id);
        Publish(record, "destroy");
        Removed?.Invoke(record.Id);
        handle.SignalRemoved();
        _logger.LogInformation("removed container {Id}", record.ShortId);
    }

    /// <summary>dockerd 28's words, with the name as the client gave it.</summary>
    private static string RunningRefusal(string idOrName, string state) => $"cannot remove container \"{idOrName}\": " + (state == "paused"
        ? "container is paused and must be unpaused first"
        : $"container is {state}: stop the container before removing or force remove");

    public void Rename(string idOrName, string newName)
    {
        var record = Get(idOrName);
        newName = newName.TrimStart('/');
        if (!NamePattern().IsMatch(newName))
            throw new BadRequestException($"Invalid container name ({newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        var handle = Handle(record.Id);
        string oldName;
        handle.Lock.Wait();
        try
        {
            lock (_nameLock)
            {
                record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
                if (record.Name == newName)
                    throw new ConflictException($"Renaming a container with the same name as its current name");
                if (_store.FirstOrDefault(c => c.Name == newName) is { } other)
                    throw new ConflictException($"Conflict. The container name \"/{newName}\" is already in use by container \"{other.Id}\". You have to remove (or rename) that container to be able to reuse that name.");
                oldName = record.Name;
                record.Name = newName;
                _store.Save(record);
            }
        }
        finally { handle.Lock.Release(); }
        Publish(record, "rename", new Dictionary<string, string> { ["oldName"] = "/" + oldName });
    }

    // ---------------------------------------------------------------- network connect / disconnect

    /// <summary>`docker network connect`: a running container gets a new interface at once; a stopped one joins at
    /// its next start.</summary>
    public async Task ConnectAsync(string idOrName, string networkIdOrName, EndpointSettings? settings)
    {
        var record = Get(idOrName);
        var network = _networks.Get(networkIdOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync();
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            if (record.HostConfig.NetworkMode is HostMode || IsContainerMode(record.HostConfig.NetworkMode)
                || record.HostConfig.NetworkMode is NoneMode && !record.LeftNoneNetwork)
                throw new BadRequestException("container sharing network namespace with another container or host cannot be connected to any other network");
            if (record.State.Running && record.SandboxKey.Length == 0)
                throw new ConflictException($"container {record.Name.TrimStart('/')} was started before Berth gave `none` containers a namespace of their own: restart it to connect it");
            if (record.RequestedNetworks.ContainsKey(network.Name))
                throw new ConflictException($"endpoint with name {record.Name} already exists in network {network.Name}");
            NetworkService.ValidateStaticAddresses(network, settings, createKey: null);
            if (record.State.Running)
            {
                var used = record.Endpoints.Select(e => e.InterfaceName).ToHashSet();
                string name = Enumerable.Range(0, 64).Select(i => $"eth{i}").First(n => !used.Contains(n));
                var endpoint = _networks.Attach(record.Id, network, record.SandboxKey, name, RequestedAddress(settings), settings?.Aliases,
                    RequestedMac(settings, null), RequestedIpv6(settings), LinkLocalAddresses(settings));
                record.Endpoints.Add(endpoint);
                record.RequestedNetworks[network.Name] = settings;
                try { MoveGateways(record); }
                catch
                {
                    record.RequestedNetworks.Remove(network.Name);
                    record.Endpoints.Remove(endpoint);
                    _networks.Detach(endpoint);
                    _networks.PublishDisconnect(endpoint, record.Id);
                    throw;
                }
                RefreshNames(record);
            }
            record.RequestedNetworks[network.Name] = settings;
            _store.Save(record);
        }
        finally { handle.Lock.Release(); }
    }

    /// <summary>The address asked for in NetworkingConfig (`--ip`), if any.</summary>
    private static IPAddress? RequestedAddress(EndpointSettings? settings) =>
        settings?.IPAMConfig?["IPv4Address"]?.GetValue<string>() is { Length: > 0 } ip ? IPAddress.Parse(ip) : null;

    /// <summary>`docker network disconnect`: the interface goes, and with the first network the published ports.</summary>
    public async Task DisconnectAsync(string idOrName, string networkIdOrName)
    {
        var record = Get(idOrName);
        var network = _networks.Get(networkIdOrName);
        var handle = Handle(record.Id);
        await handle.Lock.WaitAsync();
        try
        {
            record = _store.Get(record.Id) ?? throw new NotFoundException($"No such container: {idOrName}");
            if (!record.RequestedNetworks.ContainsKey(network.Name))
                throw new EngineException(403, $"container {record.Id} is not connected to network {network.Name}");
            if (record.Endpoints.FindIndex(e => e.NetworkId == network.Id) is int index and >= 0)
            {
                // Before the interface goes: a failure leaves the container as it was.
                MoveGateways(record, leaving: record.Endpoints[index]);
                _networks.Detach(record.Endpoints[index]);
                _networks.PublishDisconnect(record.Endpoints[index], record.Id);
                record.Endpoints.RemoveAt(index);
                if (record.State.Running) RefreshNames(record);
            }
            record.RequestedNetworks.Remove(network.Name);
            _store.Save(record);
        }
        finally { handle.Lock.Release(); }
    }

    // ---------------------------------------------------------------- attach, logs

    /// <summary>Attach to a running container now, or to the next start of a created/exited one.</summary>
    public async Task<AttachSession?> AttachAsync(string idOrName, CancellationToken ct)
    {
        var record = Get(idOrName);
        var handle = Handle(record.Id);
        Publish(record, "attach");
        if (record.State.Running) return await _runtime.AttachAsync(record.Id, ct);
        var pending = handle.AddPendingAttach();
        using var registration = ct.Register(() => { handle.RemovePendingAttach(pending); pending.Session.TrySetCanceled(); });
        return await pending.Session.Task;
    }

    public IAsyncEnumerable<LogEntry> ReadLogsAsync(string idOrName, bool follow, int? tail, DateTimeOffset? since, CancellationToken ct)
    {
        var record = Get(idOrName);
        return _runtime.ReadLogsAsync(record.Id, follow && record.State.Running, tail, since, ct);
    }

    // ---------------------------------------------------------------- daemon start

    /// <summary>Brings memory, kernel and store into agreement after a daemon (re)start: containers that died
    /// while the daemon was away are marked exited and torn down; running ones get their watcher back.</summary>
    public async Task ReconcileAsync()
    {
        foreach (var record in _store.All.ToList())
        {
            _runtime.Recover(record.Id, BundleOf(record.Id));
            var handle = Handle(record.Id);
            if (!record.State.Running)
            {
                await RemoveLeftoversOfInterruptedStartAsync(record);
                continue;
            }
            bool alive = false;
            try
            {
                // Only the process Berth started counts: after a reboot or a pid reuse the pid names a stranger.
                alive = IdentityOf(record) is { } process
                    ? _runtime.TryGetExit(record.Id) is null && process.IsCurrent()
                    : _runtime.IsRunning(record.Id);
            }
            catch (Exception e) { _logger.LogWarning(e, "recovering container {Id} failed", record.ShortId); }
            if (alive)
            {
                _ports.Restore(record);
                WatchExit(record, handle);
                continue;
            }
            var exit = _runtime.TryGetExit(record.Id) ?? new ContainerExit(255, DateTimeOffset.UtcNow, false);
            await OnExitedAsync(record.Id, exit);
        }
        // Only a running container holds addresses: a start killed before its record was saved left one behind.
        _networks.ReleaseAllocationsNotOwnedBy(_store.Where(c => c.State.Running).Select(c => c.Id).ToHashSet());
        RemoveStaleNamespaces();
        await RemoveOrphanBundlesAsync();
        _runtime.RemoveStaleFiles(_store.All.Select(c => c.Id).ToHashSet());
        StartByPolicyAtEngineStart();
    }

    /// <summary>A daemon killed during start (before the record said running) or during teardown leaves a netns,
    /// a veth, a rootfs mount or a created/running runtime container: the start did not happen, so undo it.</summary>
    private async Task RemoveLeftoversOfInterruptedStartAsync(ContainerRecord record)
    {
        if (record.SandboxKey.Length == 0 && record.Endpoints.Count == 0 && record.Ports.Count == 0
            && !_runtime.HasLeftovers(record.Id)
            && !File.Exists(Path.Combine(_options.NetnsDirectory, record.ShortId)))
            return;
        _logger.LogWarning("container {Id}: removing what an interrupted start or stop left", record.ShortId);
        await TeardownAsync(record);
        // eth0's host end has a name derived from the id; the rest go with their namespace.
        _networks.RemoveHostVeth(record.Id);
        _store.Save(record);
    }

    /// <summary>Container directories without a record: a daemon killed in create (before the record landed) or in
    /// rm (after it went). A directory holding a record set aside (corrupt, or from a newer Berth) is kept for the admin.</summary>
    private async Task RemoveOrphanBundlesAsync()
    {
        foreach (string dir in Directory.EnumerateDirectories(_options.ContainersDirectory))
        {
            string id = Path.GetFileName(dir);
            if (_store.Any(c => c.Id == id) || RecordStore<ContainerRecord>.HasSetAside(dir, "state.json")) continue;
            _logger.LogWarning("removing {Directory}: a container directory without a record", dir);
            try
            {
                if (await _runtime.RemoveOrphanAsync(id, dir)) Directory.Delete(dir, recursive: true);
                else _logger.LogWarning("{Directory} keeps a mount; left in place", dir);
            }
            catch (Exception e) { _logger.LogWarning(e, "removing {Directory} failed", dir); }
        }
    }

    private void RemoveStaleNamespaces()
    {
        if (!Directory.Exists(_options.NetnsDirectory)) return;
        var inUse = _store.All.Select(c => c.SandboxKey).Where(k => k.Length > 0).ToHashSet();
        foreach (string path in Directory.EnumerateFiles(_options.NetnsDirectory))
        {
            if (inUse.Contains(path)) continue;
            try { NetworkNamespace.Remove(path); }
            catch (Exception e) { _logger.LogWarning(e, "removing stale netns {Path} failed", path); }
        }
    }

    /// <summary>At daemon shutdown containers keep running (their supervisors hold them); only watchers stop.</summary>
    public void StopWatching()
    {
        foreach (var handle in _handles.Values) handle.Watcher?.Cancel();
    }

    // ---------------------------------------------------------------- helpers

    public static string NormalizeReference(string reference)
    {
        string r = reference;
        foreach (string prefix in new[] { "docker.io/library/", "index.docker.io/library/", "docker.io/" })
            if (r.StartsWith(prefix, StringComparison.Ordinal)) { r = r[prefix.Length..]; break; }
        int lastSlash = r.LastIndexOf('/');
        return r.IndexOf(':', lastSlash + 1) >= 0 || r.Contains('@') || r.StartsWith("sha256:", StringComparison.Ordinal) ? r : r + ":latest";
    }

    private string GenerateName()
    {
        for (int attempt = 0; ; attempt++)
        {
            string name = NameGenerator.Next(attempt > 10);
            if (Find(name) is null) return name;
        }
    }

    [GeneratedRegex("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")]
    private static partial Regex NamePattern();
}
