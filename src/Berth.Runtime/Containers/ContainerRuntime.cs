using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Berth.Linux;
using Berth.Runtime.Oci;
using Berth.Runtime.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Runtime.Containers;

/// <summary>Runs containers with an OCI runtime under conmon, the supervisor made for this: conmon holds the
/// container's stdio, writes the log spool (k8s-file, which Berth drains into Docker's json-file: LogDrain), serves an attach socket and
/// writes the exit code to a file, so containers and their exit codes outlive a daemon restart.</summary>
public sealed partial class ContainerRuntime
{
    private readonly OciRuntimeInfo _runtime;
    private readonly string _exitDirectory;
    private readonly string _socketDirectory;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _exitSignals = new();
    private readonly ConcurrentDictionary<string, LogDrain> _logDrains = new();
    private readonly FileSystemWatcher _exitWatcher;

    public ContainerRuntime(OciRuntimeInfo runtime, string runRoot, ILogger<ContainerRuntime>? logger = null,
        HostSecurity? security = null)
    {
        _runtime = runtime;
        _logger = logger ?? NullLogger<ContainerRuntime>.Instance;
        Security = security ?? HostSecurity.Detect(runRoot, _logger);
        _exitDirectory = Path.Combine(runRoot, "exits");
        _socketDirectory = Path.Combine(runRoot, "sock");
        Directory.CreateDirectory(_exitDirectory);
        Directory.CreateDirectory(_socketDirectory);
        // inotify on the exit directory: a waiter learns of an exit at once, without polling.
        _exitWatcher = new FileSystemWatcher(_exitDirectory) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite };
        _exitWatcher.Created += (_, e) => SignalExit(e.Name);
        _exitWatcher.Changed += (_, e) => SignalExit(e.Name);
        _exitWatcher.Renamed += (_, e) => SignalExit(e.Name);
        _exitWatcher.EnableRaisingEvents = true;
    }

    public string RuntimeName => _runtime.Name;

    /// <summary>Seccomp, AppArmor and devices as this host offers them (found once, at construction).</summary>
    public HostSecurity Security { get; }

    private static string Short(string id) => id[..12];
    /// <summary>Where a container's root filesystem is mounted while it runs.</summary>
    public static string Rootfs(string bundle) => Path.Combine(bundle, "rootfs");
    private string ExitFile(string id) => Path.Combine(_exitDirectory, id);
    private string AttachSocket(string id) => Path.Combine(_socketDirectory, Short(id), "attach");

    // ------------------------------------------------------------------ lifecycle

    public async Task<int> CreateAsync(ContainerSpec spec, CancellationToken ct)
    {
        string bundle = spec.BundleDirectory;
        _bundles[spec.Id] = bundle;
        string rootfs = Rootfs(bundle);
        // A leftover from a crash would make create fail; forking the runtime to find out costs ~10 ms, a stat nothing.
        if (Directory.Exists(StateDirectory(spec.Id))) await RunRuntimeAsync(["delete", "--force", spec.Id], ignoreErrors: true);
        File.Delete(ExitFile(spec.Id));
        File.Delete(Path.Combine(bundle, "pidfile"));
        MountRootfs(spec, bundle);
        try
        {
            var (uid, gid, groups) = UserResolver.Resolve(rootfs, spec.User);
            var isolation = Security.Resolve(spec, OciSpecBuilder.Capabilities(spec));
            File.WriteAllText(Path.Combine(bundle, "config.json"),
                OciSpecBuilder.Build(spec, rootfs, uid, gid, groups, isolation: isolation));
            _exitSignals.TryRemove(spec.Id, out _);
            FinishLogDrain(spec.Id, bundle);
            LogDrain.ResetSpool(bundle);
            LogFiles.SavePolicy(bundle, spec.Log);
            var conmon = new ProcessStartInfo("conmon") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string arg in new[]
            {
                "--api-version", "1", "-c", spec.Id, "-u", Short(spec.Id), "-n", spec.Id, "-r", _runtime.Path, "-b", bundle,
                "-p", Path.Combine(bundle, "pidfile"), "-P", Path.Combine(bundle, "conmon.pid"),
                "-l", spec.Log.Discard ? "none" : "k8s-file:" + Path.Combine(bundle, LogDrain.SpoolName), "--exit-dir", _exitDirectory,
                "--socket-dir-path", _socketDirectory, "--log-level", "error",
                "--runtime-arg", "--log", "--runtime-arg", Path.Combine(bundle, "runtime.log"),
                "--runtime-arg", "--log-format", "--runtime-arg", "json",
            }) conmon.ArgumentList.Add(arg);
            if (spec.OpenStdin) conmon.ArgumentList.Add("-i");
            // conmon closes the container's stdin when an attach ends unless told to leave it open; dockerd closes
            // it only for StdinOnce without a terminal, so a terminal stays usable for the next attach after a
            // detach (`run -it` sets StdinOnce).
            if (spec.OpenStdin && (!spec.StdinOnce || spec.Tty)) conmon.ArgumentList.Add("--leave-stdin-open");
            if (spec.Tty) conmon.ArgumentList.Add("-t");
            using (var process = Process.Start(conmon)!)
            {
                await process.WaitForExitAsync(ct);
                if (process.ExitCode != 0)
                    throw new RuntimeException($"conmon failed to start ({process.ExitCode}): {(await process.StandardError.ReadToEndAsync(ct)).Trim()}");
            }
            int pid = await WaitForPidAsync(spec.Id, bundle, ct);
            StartLogDrain(spec.Id, bundle, spec.Log);
            return pid;
        }
        catch
        {
            await RunRuntimeAsync(["delete", "--force", spec.Id], ignoreErrors: true);
            Interop.Unmount(rootfs);
            throw;
        }
    }

    private readonly ConcurrentDictionary<string, string> _bundles = new();

    /// <summary>The bundle of a container this runtime created or recovered.</summary>
    private string Bundle(string id) => _bundles.TryGetValue(id, out var b) ? b : throw new RuntimeException($"unknown container {id}");

    /// <summary>Adopts a container this daemon did not create (daemon restart): its log is drained from where the
    /// previous daemon stopped (what conmon wrote meanwhile is in the spool), and while it runs, drained on.</summary>
    public void Recover(string id, string bundle)
    {
        _bundles[id] = bundle;
        if (!_logDrains.ContainsKey(id)) StartLogDrain(id, bundle, LogFiles.LoadPolicy(bundle));
    }

    private void StartLogDrain(string id, string bundle, LogPolicy policy)
    {
        if (policy.Discard) return;
        try
        {
            var drain = new LogDrain(bundle, policy, _logger, () => ConmonGone(bundle),
                finished => _logDrains.TryRemove(new KeyValuePair<string, LogDrain>(id, finished)));
            if (drain.Finished || !_logDrains.TryAdd(id, drain)) drain.Dispose();
        }
        catch (Exception e) when (e is IOException or ArgumentException or LinuxException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "draining the log of {Id} failed: conmon keeps writing its spool, nothing is lost",
                Short(id));
        }
    }

    /// <summary>conmon wrote its last output before the exit file that led here: it goes to the json file now, not
    /// when a queued drain gets its turn (a loaded machine ran the teardown first, and `docker logs` right after the
    /// exit missed the container's last lines until its next start).</summary>
    private void StopLogDrain(string id)
    {
        if (!_logDrains.TryRemove(id, out var drain)) return;
        drain.DrainNow();
        drain.Dispose();
    }

    /// <summary>Before conmon starts again on a bundle: what the previous run left in the spool goes to the json file
    /// first.</summary>
    private void FinishLogDrain(string id, string bundle)
    {
        if (_logDrains.ContainsKey(id)) StopLogDrain(id);
        else if (File.Exists(Path.Combine(bundle, LogDrain.SpoolName)) || LogDrain.HasDrainingFile(bundle))
        {
            new LogDrain(bundle, LogFiles.LoadPolicy(bundle), _logger, () => true, watch: false).Dispose();
        }
    }

    /// <summary>The log as it is now: the spool drained into the json file.</summary>
    private T WithLogDrained<T>(string id, Func<T> action) =>
        _logDrains.TryGetValue(id, out var drain) ? drain.Drained(action) : action();

    private async Task<int> WaitForPidAsync(string id, string bundle, CancellationToken ct)
    {
        string pidfile = Path.Combine(bundle, "pidfile");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (File.Exists(pidfile) && int.TryParse(File.ReadAllText(pidfile).Trim(), out int pid) && pid > 0) return pid;
            if (File.Exists(ExitFile(id)) || ConmonGone(bundle))
            {
                // The pidfile may have landed just before conmon went: only a missing one is a failure.
                if (File.Exists(pidfile) && int.TryParse(File.ReadAllText(pidfile).Trim(), out pid) && pid > 0) return pid;
                throw new RuntimeException($"the runtime could not create the container: {RuntimeError(bundle)}");
            }
            await Task.Delay(deadline.ElapsedMilliseconds < 200 ? 1 : 10, ct);
        }
        throw new RuntimeException($"the runtime did not create container {id} within 20 s: {RuntimeError(bundle)}");
    }

    /// <summary>conmon wrote its pid and that process is gone: the runtime failed before the container existed.</summary>
    private static bool ConmonGone(string bundle)
    {
        string path = Path.Combine(bundle, "conmon.pid");
        if (!File.Exists(path) || !int.TryParse(File.ReadAllText(path).Trim(), out int pid) || pid <= 0) return false;
        return !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
    }

    /// <summary>The last error runc/crun logged (JSON lines with "msg").</summary>
    private static string RuntimeError(string bundle)
    {
        string log = Path.Combine(bundle, "runtime.log");
        if (!File.Exists(log)) return "no runtime log";
        var last = File.ReadLines(log).Where(l => l.Contains("\"error\"")).LastOrDefault() ?? File.ReadLines(log).LastOrDefault() ?? "";
        int msg = last.IndexOf("\"msg\":\"", StringComparison.Ordinal);
        if (msg < 0) return last;
        string rest = last[(msg + 7)..];
        int end = rest.IndexOf("\",\"", StringComparison.Ordinal);
        return (end < 0 ? rest.TrimEnd('}', '"') : rest[..end]).Replace("\\\"", "\"");
    }

    /// <summary>The runtime's own state directory for a container (runc: /run/runc/ID, crun: /run/crun/ID).</summary>
    private string StateDirectory(string id) => Path.Combine("/run", _runtime.Name, id);

    public async Task StartAsync(string id, CancellationToken ct)
    {
        if (await TryStartThroughExecFifoAsync(id)) return;
        var (code, error) = await RunRuntimeAsync(["start", id], ignoreErrors: false);
        if (code != 0) throw new RuntimeException($"starting container failed: {error}");
    }

    /// <summary>What `runc start` does, without forking it (~10 ms of the run → answer time): runc's init waits in
    /// open(2) on exec.fifo in the state directory; a reader lets it exec the container's process, and the fifo's
    /// removal marks the container running for later runc commands. Other runtimes, or no fifo: false.</summary>
    private async Task<bool> TryStartThroughExecFifoAsync(string id)
    {
        if (_runtime.Name != "runc") return false;
        string fifo = Path.Combine(StateDirectory(id), "exec.fifo");
        if (!File.Exists(fifo)) return false;
        int read = await Task.Run(() =>
        {
            using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
            var buffer = new byte[16];
            int total = 0, n;
            while ((n = stream.Read(buffer)) > 0) total += n;
            return total;
        });
        File.Delete(fifo);
        if (read == 0) throw new RuntimeException($"starting container failed: container {id} is not waiting to start");
        return true;
    }

    /// <summary>Signals the container's init directly (no runtime fork); nothing to do when it already exited.
    /// With <paramref name="expected"/> (the process recorded at start) a pid that names another process now (reused
    /// after a reboot or the init's death) is never signalled.</summary>
    public async Task KillAsync(string id, int signal, ProcessIdentity? expected = null)
    {
        if (GetPid(id) is not int pid || TryGetExit(id) is not null) return;
        if (expected is not null && (expected.Pid != pid || !expected.IsCurrent()))
        {
            _logger.LogWarning("not signalling pid {Pid} for container {Id}: it is not the process Berth started", pid, Short(id));
            return;
        }
        if (Interop.Kill(pid, signal) != 0)
            _logger.LogDebug("kill {Pid} {Signal} failed: the container already exited", pid, signal);
        // A paused container receives the signal once thawed, as dockerd resumes after signalling.
        if (IsFrozen(pid)) await ResumeAsync(id);
    }

    private static readonly TimeSpan ExitSafetyLook = TimeSpan.FromSeconds(30);

    /// <summary>The container's exit: conmon's exit file, or, with <paramref name="expected"/>, a lost process (see
    /// <see cref="LostExit"/>), which conmon will never report.</summary>

    public async Task<ContainerExit> WaitForExitAsync(string id, CancellationToken ct, ProcessIdentity? expected = null)
    {
        while (true)
        {
            var signal = _exitSignals.GetOrAdd(id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            if (TryGetExit(id) is { } exit) return exit;
            if (expected is not null && LostExit(id, expected) is { } lost) return lost;
            // The watcher signals at once; the timeout only guards against a missed inotify event and finds a
            // process lost with its conmon (stop, kill and a daemon start look for that themselves). Every running
            // container waits here, so an idle engine pays for each wake (bench/stats.sh).
            await Task.WhenAny(signal.Task, Task.Delay(ExitSafetyLook, ct));
            ct.ThrowIfCancellationRequested();
            _exitSignals.TryRemove(new KeyValuePair<string, TaskCompletionSource>(id, signal));
        }
    }

    private void SignalExit(string? id)
    {
        if (id is null) return;
        if (_exitSignals.TryRemove(id, out var signal)) signal.TrySetResult();
        if (_logDrains.TryGetValue(id, out var drain)) drain.ContainerExited();
    }

    public ContainerExit? TryGetExit(string id)
    {
        string file = ExitFile(id);
        // Asked every second per running container (exit watch, stats): no exception for the usual answer.
        if (!File.Exists(file)) return null;
        try
        {
            string text = File.ReadAllText(file).Trim();
            if (text.Length == 0) return null;
            int code = int.Parse(text, CultureInfo.InvariantCulture);
            bool oom = _bundles.TryGetValue(id, out var bundle)
                && (File.Exists(Path.Combine(bundle, "oom")) || CgroupSawOomKill(bundle));
            return new ContainerExit(code, File.GetLastWriteTimeUtc(file), oom);
        }
        catch (Exception e) when (e is IOException or FormatException) { return null; }
    }

    /// <summary>The container's process died behind Berth's back with its supervisor (so no exit code will ever come)
    /// and its pid is free or names another process: an exit with code 255, as a reconcile records it. Null while the
    /// process is still the one started, or while conmon lives (it writes the exit file right after reaping).</summary>
    public ContainerExit? LostExit(string id, ProcessIdentity expected)
    {
        if (expected.IsCurrent() || !_bundles.TryGetValue(id, out var bundle) || !ConmonGone(bundle)) return null;
        // conmon writes the exit file before it exits: read it once more now that conmon is known gone.
        return TryGetExit(id) is null ? new ContainerExit(255, DateTimeOffset.UtcNow, false) : null;
    }

    public int? GetPid(string id)
    {
        if (!_bundles.TryGetValue(id, out var bundle)) return null;
        string pidfile = Path.Combine(bundle, "pidfile");
        return File.Exists(pidfile) && int.TryParse(File.ReadAllText(pidfile).Trim(), out int pid) ? pid : null;
    }

    public bool IsRunning(string id) => TryGetExit(id) is null && GetPid(id) is int pid && Directory.Exists($"/proc/{pid}");

    public async Task DeleteAsync(string id)
    {
        StopLogDrain(id);
        await RunRuntimeAsync(["delete", "--force", id], ignoreErrors: true);
        if (_bundles.TryGetValue(id, out var bundle)) Interop.Unmount(Rootfs(bundle));
        string sockets = Path.Combine(_socketDirectory, Short(id));
        if (Directory.Exists(sockets) || File.Exists(sockets)) File.Delete(sockets);
    }

    public void Forget(string id)
    {
        StopLogDrain(id);
        _bundles.TryRemove(id, out _);
        File.Delete(ExitFile(id));
    }

    /// <summary>What a daemon killed in the middle of start or teardown leaves outside the record: the runtime's
    /// container or the rootfs mount.</summary>
    public bool HasLeftovers(string id) =>
        Directory.Exists(StateDirectory(id)) || (_bundles.TryGetValue(id, out var bundle) && IsMountPoint(Rootfs(bundle)));

    /// <summary>Removes the runtime side of a container whose record is gone (a daemon killed during create or rm).
    /// True when nothing is mounted on its rootfs any more, so the bundle can be deleted.</summary>
    public async Task<bool> RemoveOrphanAsync(string id, string bundle)
    {
        Recover(id, bundle);
        await DeleteAsync(id);
        Forget(id);
        return !IsMountPoint(Rootfs(bundle));
    }

    /// <summary>Exit files and attach-socket directories of containers this engine no longer knows.</summary>
    public void RemoveStaleFiles(IReadOnlySet<string> knownIds)
    {
        var shortIds = knownIds.Select(Short).ToHashSet();
        foreach (string file in Directory.EnumerateFiles(_exitDirectory))
            if (!knownIds.Contains(Path.GetFileName(file))) File.Delete(file);
        foreach (string dir in Directory.EnumerateFileSystemEntries(_socketDirectory))
            if (!shortIds.Contains(Path.GetFileName(dir)))
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                else File.Delete(dir);
            }
    }

    private static bool IsMountPoint(string path) =>
        File.ReadLines("/proc/self/mountinfo").Any(line => line.Split(' ') is { Length: > 4 } fields && fields[4] == path);

    public Task ResizeAsync(string id, int height, int width)
    {
        string ctl = Path.Combine(Bundle(id), "ctl");
        // conmon's control fifo: "1 <height> <width>" resizes the terminal.
        if (File.Exists(ctl)) File.AppendAllText(ctl, $"1 {height} {width}\n");
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ attach, logs, exec

    /// <summary>Connects to conmon's attach socket (SOCK_SEQPACKET; each packet: one byte naming the pipe, then data).</summary>
    public async Task<AttachSession> AttachAsync(string id, CancellationToken ct)
    {
        string path = AttachSocket(id);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                return new AttachSession(socket);
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(5) && TryGetExit(id) is null)
            {
                socket.Dispose();
                await Task.Delay(5, ct);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>The log across its rotated files, streamed: memory does not depend on the log's size. The files are
    /// opened with the spool drained and no rotation under way; with a tail they are first searched backwards for
    /// where the last lines start.</summary>
    public async IAsyncEnumerable<LogEntry> ReadLogsAsync(string id, bool follow, int? tail, DateTimeOffset? since,
        [EnumeratorCancellation] CancellationToken ct)
    {
        string bundle = Bundle(id);
        string path = JsonLogFile.PathOf(bundle, LogFiles.LoadPolicy(bundle));
        var files = WithLogDrained(id, () => JsonLogFile.ReadOrder(path)
            .Select(f => OpenedLogFile.TryOpen(f.Path, f.Compressed)).OfType<OpenedLogFile>().ToList());
        var plan = tail is int lines ? JsonLogTail.Plan(files, lines) : files;
        foreach (var unused in files.Except(plan)) unused.Dispose();
        JsonLogReader? reader = null;
        OpenedLogFile? current = null;
        Stream? text = null;
        try
        {
            foreach (var file in plan)
            {
                if (text is not null && text != current?.File) await text.DisposeAsync();
                current?.Dispose();
                current = file;
                if (file.Compressed) text = file.OpenFromStart();
                else
                {
                    text = file.File;
                    file.File.Seek(file.Offset, SeekOrigin.Begin);
                }
                if (reader is null) reader = new JsonLogReader(text);
                else reader.SwitchTo(text);
                reader.SkipLines(file.SkipLines);
                foreach (var entry in reader.ReadAvailable())
                    if (since is null || entry.Time >= since) yield return entry;
            }
            if (!follow) yield break;
            // The newest file is followed; when it is rotated, the old one is read to its end, then the new one.
            var followed = current is { Compressed: false } ? Interop.StatAt(current.File.SafeFileHandle, "") : null;
            while (!ct.IsCancellationRequested)
            {
                // Removed counts as exited: docker-py's run removes the container before it reads the followed logs.
                bool exited = TryGetExit(id) is not null || !_bundles.ContainsKey(id);
                if (exited) WithLogDrained(id, () => true);
                foreach (var entry in reader?.ReadAvailable() ?? [])
                    if (since is null || entry.Time >= since) yield return entry;
                if (Interop.StatNoFollow(path) is { } now && now.Inode != followed?.Inode
                    && OpenedLogFile.TryOpen(path, compressed: false) is { } next)
                {
                    foreach (var entry in reader?.ReadAvailable() ?? [])
                        if (since is null || entry.Time >= since) yield return entry;
                    if (text is not null && text != current?.File) await text.DisposeAsync();
                    current?.Dispose();
                    current = next;
                    text = next.File;
                    followed = now;
                    if (reader is null) reader = new JsonLogReader(text);
                    else reader.SwitchTo(text);
                    continue;
                }
                if (exited) yield break;
                try { await Task.Delay(100, ct); }
                catch (OperationCanceledException) { yield break; }
            }
        }
        finally
        {
            if (text is not null && text != current?.File) await text.DisposeAsync();
            current?.Dispose();
            foreach (var file in plan) file.Dispose();
        }
    }

    /// <summary>`runtime exec` run directly with pipes: an exec does not need to outlive the daemon.</summary>
    public Task<ExecSession> ExecAsync(string id, ExecSpec exec, CancellationToken ct)
    {
        var (uid, gid, _) = UserResolver.Resolve(Rootfs(Bundle(id)), exec.User);
        var info = new ProcessStartInfo(_runtime.Path)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        info.ArgumentList.Add("exec");
        info.ArgumentList.Add("--user");
        info.ArgumentList.Add($"{uid}:{gid}");
        if (!string.IsNullOrEmpty(exec.WorkingDir)) { info.ArgumentList.Add("--cwd"); info.ArgumentList.Add(exec.WorkingDir); }
        foreach (string e in exec.Env) { info.ArgumentList.Add("--env"); info.ArgumentList.Add(e); }
        if (exec.Privileged) foreach (string cap in OciSpecBuilder.Capabilities(new ContainerSpec { Id = id, BundleDirectory = "", Privileged = true }))
            { info.ArgumentList.Add("--cap"); info.ArgumentList.Add(cap); }
        if (exec.Tty) info.ArgumentList.Add("--tty");
        info.ArgumentList.Add(id);
        foreach (string a in exec.Args) info.ArgumentList.Add(a);
        if (!exec.Tty)
        {
            var process = Process.Start(info) ?? throw new RuntimeException("could not start the runtime for exec");
            if (!exec.AttachStdin) process.StandardInput.Close();
            return Task.FromResult(new ExecSession(process, exec.AttachStdin));
        }
        var terminal = ExecTerminal.Open();
        try
        {
            // The runtime's stdio becomes the terminal's slave: a shell opens it and execs the runtime in its place.
            info.ArgumentList.Insert(0, "exec \"$0\" \"$@\" <>\"$BERTH_EXEC_TTY\" >&0 2>&0");
            info.ArgumentList.Insert(0, "-c");
            info.ArgumentList.Insert(2, _runtime.Path);
            info.FileName = "/bin/sh";
            info.Environment["BERTH_EXEC_TTY"] = terminal.SlavePath;
            var process = Process.Start(info) ?? throw new RuntimeException("could not start the runtime for exec");
            return Task.FromResult(new ExecSession(process, terminal, exec.AttachStdin));
        }
        catch
        {
            terminal.Dispose();
            throw;
        }
    }

    private async Task<(int Code, string Error)> RunRuntimeAsync(string[] args, bool ignoreErrors)
    {
        var info = new ProcessStartInfo(_runtime.Path) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await stdout;
        if (process.ExitCode != 0 && !ignoreErrors) _logger.LogWarning("{Runtime} {Args} failed: {Error}", _runtime.Name, string.Join(' ', args), stderr.Trim());
        return (process.ExitCode, stderr.Trim());
    }

    private static void MountRootfs(ContainerSpec spec, string bundle) => MountRootfs(spec.LowerDirectories, bundle);

    /// <summary>Mounts the root filesystem of a container that is not running, for `docker cp` (the caller holds the
    /// container's lock, so no start can race it, and unmounts it with <see cref="Interop.Unmount"/>).</summary>
    public static string MountStoppedRootfs(IReadOnlyList<string> lowerDirectories, string bundle)
    {
        MountRootfs(lowerDirectories, bundle);
        return Rootfs(bundle);
    }

    private static void MountRootfs(IReadOnlyList<string> lowerDirectories, string bundle)
    {
        if (lowerDirectories.Count == 0) throw new RuntimeException("the image has no layers");
        string rootfs = Rootfs(bundle), upper = Path.Combine(bundle, "upper"), work = Path.Combine(bundle, "work");
        foreach (string dir in new[] { rootfs, upper, work }) Directory.CreateDirectory(dir);
        Interop.Unmount(rootfs);
        Interop.Mount("overlay", rootfs, "overlay", 0,
            $"lowerdir={string.Join(':', lowerDirectories)},upperdir={upper},workdir={work}");
    }
}

public sealed class RuntimeException(string message) : Exception(message);

/// <summary>A live attach: output packets from conmon, and stdin when the container keeps it open.</summary>
public sealed class AttachSession : IAsyncDisposable
{
    private readonly Socket _socket;

    public AttachSession(Socket socket)
    {
        _socket = socket;
        Stdin = new StdinStream(socket);
    }

    /// <summary>Stdin over the SEQPACKET socket (NetworkStream accepts stream sockets only): each write is one packet.
    /// Closing it shuts down the sending side, on which conmon closes the container's stdin.</summary>
    private sealed class StdinStream(Socket socket) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => socket.Send(buffer, offset, count, SocketFlags.None);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            while (!buffer.IsEmpty) buffer = buffer[await socket.SendAsync(buffer, SocketFlags.None, ct)..];
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try { socket.Shutdown(SocketShutdown.Send); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            }
            base.Dispose(disposing);
        }
    }

    public Stream? Stdin { get; }

    public async IAsyncEnumerable<(StdStream Stream, ReadOnlyMemory<byte> Data)> ReadOutputAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var buffer = new byte[65536 + 1];
        while (true)
        {
            int received;
            try { received = await _socket.ReceiveAsync(buffer, SocketFlags.None, ct); }
            catch (SocketException) { yield break; }
            if (received <= 0) yield break;
            // conmon: 2 = stdout, 3 = stderr.
            var stream = buffer[0] == 3 ? StdStream.Stderr : StdStream.Stdout;
            if (received > 1) yield return (stream, buffer.AsMemory(1, received - 1).ToArray());
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>An exec'd process: its output as (stream, bytes) in arrival order and its exit code. The output goes
/// through a small bounded channel: when the client reads slowly the pumps wait, the pipes fill and the process
/// blocks on write, so a process that writes endlessly costs the daemon a fixed amount of memory.</summary>
public sealed class ExecSession : IAsyncDisposable
{
    /// <summary>Chunks of at most 16 KiB: at most ~128 KiB waits in the daemon per exec.</summary>
    private const int ChannelCapacity = 8;
    private const int ChunkSize = 16384;

    private readonly Process _process;
    private readonly Channel<(StdStream, ReadOnlyMemory<byte>)> _output =
        Channel.CreateBounded<(StdStream, ReadOnlyMemory<byte>)>(new BoundedChannelOptions(ChannelCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, SingleReader = true,
        });
    private readonly CancellationTokenSource _abandoned = new();

    private readonly ExecTerminal? _terminal;

    /// <summary>An exec on pipes: stdout and stderr apart.</summary>
    public ExecSession(Process process, bool stdin)
    {
        _process = process;
        Stdin = stdin ? process.StandardInput.BaseStream : null;
        Exited = Begin(Pump(process.StandardOutput.BaseStream, StdStream.Stdout),
            Pump(process.StandardError.BaseStream, StdStream.Stderr));
    }

    /// <summary>An exec on a terminal: one stream of output (stdout, as Docker sends a TTY's), the keyboard in.</summary>
    public ExecSession(Process process, ExecTerminal terminal, bool stdin)
    {
        _process = process;
        _terminal = terminal;
        // The runtime's own pipes are replaced by the terminal before it runs: nothing comes on them.
        process.StandardInput.Close();
        Stdin = stdin ? terminal.Master : null;
        Exited = Begin(Pump(terminal.Master, StdStream.Stdout, isTerminal: true));
    }

    private Task<int> Begin(params Task[] pumps)
    {
        _ = Task.WhenAll(pumps).ContinueWith(_ => _output.Writer.TryComplete(), TaskScheduler.Default);
        return WaitAsync(pumps);
    }

    public int Pid => _process.Id;
    public Stream? Stdin { get; }
    public Task<int> Exited { get; }

    public bool HasTerminal => _terminal is not null;

    public IAsyncEnumerable<(StdStream, ReadOnlyMemory<byte>)> ReadOutputAsync(CancellationToken ct) => _output.Reader.ReadAllAsync(ct);

    /// <summary>A new window size for an exec on a terminal (nothing for one on pipes or one that ended).</summary>
    public void Resize(int rows, int cols)
    {
        if (_terminal is null || Exited.IsCompleted) return;
        _terminal.Resize(rows, cols, _process.HasExited ? null : _process.Id);
    }

    private async Task<int> WaitAsync(Task[] pumps)
    {
        await _process.WaitForExitAsync();
        _terminal?.CloseSlave();
        await Task.WhenAll(pumps);
        _terminal?.Dispose();
        return _process.ExitCode;
    }

    /// <param name="isTerminal">A terminal's master is read until the process ends, also when nobody wants the
    /// output any more: a terminal has no SIGPIPE, so an unread one would block the process on its next write.</param>
    private async Task Pump(Stream from, StdStream stream, bool isTerminal = false)
    {
        var buffer = new byte[ChunkSize];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, isTerminal ? CancellationToken.None : _abandoned.Token)) > 0)
            {
                if (_abandoned.IsCancellationRequested)
                {
                    if (isTerminal) continue;
                    break;
                }
                try { await _output.Writer.WriteAsync((stream, buffer.AsMemory(0, n).ToArray()), _abandoned.Token); }
                catch (OperationCanceledException) when (isTerminal) { }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { }
        finally
        {
            // Nobody reads any more: closing our end makes the process's next write fail (EPIPE/SIGPIPE), as with
            // a closed terminal, instead of blocking it forever. A terminal is closed once the process has ended.
            if (!isTerminal) from.Dispose();
        }
    }

    /// <summary>Ends the exec (a health probe past its timeout): the runtime process that holds it is killed.</summary>
    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }

    /// <summary>Stops reading (the client went away or the output is no longer wanted); the process object is
    /// released once the process has ended.</summary>
    public ValueTask DisposeAsync()
    {
        _abandoned.Cancel();
        _output.Writer.TryComplete();
        _ = Exited.ContinueWith(_ => { _process.Dispose(); _abandoned.Dispose(); }, TaskScheduler.Default);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Container users as Docker reads them: "", "root", "1000", "1000:1000", "name", "name:group", looked up
/// in the container's own /etc/passwd and /etc/group.</summary>
public static class UserResolver
{
    public static (uint Uid, uint Gid, List<uint> Groups) Resolve(string rootfs, string user)
    {
        if (string.IsNullOrEmpty(user)) return (0, 0, []);
        string[] parts = user.Split(':', 2);
        var passwd = ReadTable(rootfs, "/etc/passwd");
        var group = ReadTable(rootfs, "/etc/group");
        uint uid, gid = 0;
        if (uint.TryParse(parts[0], out uid))
        {
            var entry = passwd.FirstOrDefault(p => p.Length > 3 && p[2] == parts[0]);
            if (entry is not null) gid = Id(entry, 3, "/etc/passwd");
        }
        else
        {
            var entry = passwd.FirstOrDefault(p => p[0] == parts[0])
                ?? throw new RuntimeException($"unable to find user {parts[0]}: no matching entries in passwd file");
            uid = Id(entry, 2, "/etc/passwd");
            gid = Id(entry, 3, "/etc/passwd");
        }
        if (parts.Length == 2 && !uint.TryParse(parts[1], out gid))
        {
            var entry = group.FirstOrDefault(g => g[0] == parts[1])
                ?? throw new RuntimeException($"unable to find group {parts[1]}: no matching entries in group file");
            gid = Id(entry, 2, "/etc/group");
        }
        return (uid, gid, []);
    }

    /// <summary>A numeric field of a passwd/group line; a malformed line of the image's file is a clear error.</summary>
    private static uint Id(string[] entry, int field, string file) =>
        entry.Length > field && uint.TryParse(entry[field], out uint id) ? id
            : throw new RuntimeException($"invalid entry for {entry[0]} in {file}");

    /// <summary>Read inside the rootfs, regular files only, size-capped: the image chose what these paths are.</summary>
    private static List<string[]> ReadTable(string rootfs, string path)
    {
        try
        {
            return Files.RootfsFile.ReadLines(rootfs, path)
                .Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l.Split(':')).ToList();
        }
        catch (Files.RootfsFileException e) { throw new RuntimeException($"unable to read {path}: {e.Message}"); }
    }
}
