using Berth.Runtime.Containers;

namespace Berth.Engine.Containers;

public sealed class ExecCreateRequest
{
    public bool AttachStdin { get; set; }
    public bool AttachStdout { get; set; }
    public bool AttachStderr { get; set; }
    public bool Tty { get; set; }
    public List<string>? Env { get; set; }
    public List<string>? Cmd { get; set; }
    public bool Privileged { get; set; }
    public string User { get; set; } = "";
    public string WorkingDir { get; set; } = "";
    public string? DetachKeys { get; set; }
}

/// <summary>An exec instance as `GET /exec/{id}/json` shows it.</summary>
public sealed class ExecInstance
{
    public required string Id { get; init; }
    public required string ContainerId { get; init; }
    public required ExecCreateRequest Request { get; init; }
    public bool Running { get; set; }
    public int? ExitCode { get; set; }
    public int Pid { get; set; }
    public bool Started { get; set; }
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>When the process ended; null while it has not run or still runs.</summary>
    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>Completes once Running and ExitCode show the finished process, so a client that inspects the exec
    /// right after its stream closed reads the real exit code.</summary>
    public Task Finished { get; internal set; } = Task.CompletedTask;

    /// <summary>The running process, for resizing its terminal.</summary>
    internal ExecSession? Session { get; set; }

    /// <summary>A size asked for before the process started, given to it at start.</summary>
    internal (int Rows, int Cols)? PendingSize { get; set; }
}

/// <summary>Exec instances live in memory only, as in dockerd: they do not survive a daemon restart, and they do not
/// pile up: see <see cref="ExecTable"/>.</summary>
public sealed class ExecService
{
    private readonly ContainerService _containers;
    private readonly ExecTable _table;

    public ExecService(ContainerService containers, TimeProvider? clock = null)
    {
        _containers = containers;
        _table = new ExecTable(clock ?? TimeProvider.System);
        containers.Removed += _table.RemoveContainer;
    }

    /// <summary>Exec instances held now (for tests and diagnostics).</summary>
    public int Count => _table.Count;

    public ExecInstance Create(string idOrName, ExecCreateRequest request)
    {
        var record = _containers.Get(idOrName);
        if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
        if (request.Cmd is not { Count: > 0 }) throw new BadRequestException("No exec command specified");
        if (!string.IsNullOrEmpty(request.DetachKeys) && DetachKeys.Parse(request.DetachKeys) is null)
            throw new BadRequestException($"Invalid escape keys ({request.DetachKeys}) provided");
        var exec = new ExecInstance
        {
            Id = Networks.NetworkService.NewId(), ContainerId = record.Id, Request = request, CreatedAt = _table.Now,
        };
        _table.Add(exec, id => _containers.Find(id) is not null);
        _containers.Publish(record, "exec_create: " + string.Join(' ', request.Cmd), ExecAttributes(exec));
        return exec;
    }

    public ExecInstance Get(string id) =>
        _table.Find(id) ?? throw new NotFoundException($"No such exec instance: {id}");

    /// <summary>`GET /exec/{id}/json`: once an ended exec's exit code has been read, the exec goes (Docker drops ended
    /// execs in its periodic clean-up; the last few read stay for a client that asks twice).</summary>
    public ExecInstance Inspect(string id)
    {
        var exec = Get(id);
        if (exec.EndedAt is not null) _table.MarkRead(exec);
        return exec;
    }

    public IEnumerable<string> IdsOf(string containerId) => _table.IdsOf(containerId);

    /// <summary>Starts the process; the caller pumps the session's output and awaits Exited.</summary>
    public async Task<ExecSession> StartAsync(string id, CancellationToken ct)
    {
        var exec = Get(id);
        lock (exec)
        {
            if (exec.Started) throw new ConflictException($"Error: Exec command {id} has already run");
            exec.Started = true;
        }
        var record = _containers.Get(exec.ContainerId);
        if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
        var env = new List<string>([.. _containers.LinkEnvironment(record), .. record.Config.Env ?? []]);
        foreach (string entry in exec.Request.Env ?? [])
        {
            string key = entry.Split('=', 2)[0];
            env.RemoveAll(e => e.Split('=', 2)[0] == key);
            env.Add(entry);
        }
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
            env.Insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        var spec = new ExecSpec(exec.Request.Cmd!, env,
            string.IsNullOrEmpty(exec.Request.User) ? record.Config.User : exec.Request.User,
            string.IsNullOrEmpty(exec.Request.WorkingDir) ? record.Config.WorkingDir : exec.Request.WorkingDir,
            exec.Request.Tty, exec.Request.AttachStdin, exec.Request.Privileged);
        ExecSession session;
        try { session = await _containers.Runtime.ExecAsync(record.Id, spec, ct); }
        catch
        {
            exec.EndedAt = _table.Now;
            throw;
        }
        exec.Running = true;
        exec.Pid = session.Pid;
        lock (exec)
        {
            exec.Session = session;
            if (exec.PendingSize is var (rows, cols)) session.Resize(rows, cols);
        }
        exec.Finished = RecordExitAsync(exec, session);
        _containers.Publish(record, "exec_start: " + string.Join(' ', exec.Request.Cmd!), ExecAttributes(exec));
        return session;
    }

    /// <summary>`POST /exec/{id}/resize`: the terminal of a running exec takes the size; one not started yet takes it
    /// when it starts (the client may ask before its start request is through); an exec without a terminal ignores it.
    /// </summary>
    public void Resize(string id, int rows, int cols)
    {
        var exec = Get(id);
        lock (exec)
        {
            if (exec.Session is { } session) session.Resize(rows, cols);
            else exec.PendingSize = (rows, cols);
        }
    }

    /// <summary>A client on a terminal left the exec with its detach keys: the process goes on without it.</summary>
    public void Detached(string id)
    {
        var exec = Get(id);
        if (_containers.Find(exec.ContainerId) is { } record)
            _containers.Publish(record, "exec_detach", ExecAttributes(exec));
    }

    private static Dictionary<string, string> ExecAttributes(ExecInstance exec) => new() { ["execID"] = exec.Id };

    private async Task RecordExitAsync(ExecInstance exec, ExecSession session)
    {
        try { exec.ExitCode = await session.Exited; }
        catch (Exception) { exec.ExitCode = 126; }
        exec.Running = false;
        exec.EndedAt = _table.Now;
        lock (exec) exec.Session = null;
        if (_containers.Find(exec.ContainerId) is { } record)
            _containers.Publish(record, "exec_die", new Dictionary<string, string>
            {
                ["execID"] = exec.Id, ["exitCode"] = exec.ExitCode.ToString()!,
            });
    }
}

/// <summary>The exec instances of the daemon, bounded: an ended exec goes once its exit code has been read (the
/// last <see cref="RecentlyRead"/> read stay, for a client that inspects twice) or <see cref="Grace"/> after it
/// ended; one never started goes <see cref="Grace"/> after its creation; all of a container's go with it. Each
/// addition sweeps, so the table holds the running execs plus what the last minutes left.</summary>
public sealed class ExecTable(TimeProvider clock)
{
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(5);
    public const int RecentlyRead = 16;

    private readonly Dictionary<string, ExecInstance> _execs = new();
    private readonly Queue<string> _read = new();
    private readonly Lock _lock = new();

    public DateTimeOffset Now => clock.GetUtcNow();

    public int Count
    {
        get { lock (_lock) return _execs.Count; }
    }

    public void Add(ExecInstance exec, Func<string, bool> containerExists)
    {
        lock (_lock)
        {
            Sweep(containerExists);
            _execs[exec.Id] = exec;
        }
    }

    public ExecInstance? Find(string id)
    {
        lock (_lock) return _execs.GetValueOrDefault(id);
    }

    public IEnumerable<string> IdsOf(string containerId)
    {
        lock (_lock) return _execs.Values.Where(e => e.ContainerId == containerId).Select(e => e.Id).ToList();
    }

    public void MarkRead(ExecInstance exec)
    {
        lock (_lock)
        {
            if (_read.Contains(exec.Id)) return;
            _read.Enqueue(exec.Id);
            while (_read.Count > RecentlyRead) _execs.Remove(_read.Dequeue());
        }
    }

    public void RemoveContainer(string containerId)
    {
        lock (_lock)
        {
            foreach (var exec in _execs.Values.Where(e => e.ContainerId == containerId).ToList()) _execs.Remove(exec.Id);
        }
    }

    private void Sweep(Func<string, bool> containerExists)
    {
        var now = Now;
        var gone = _execs.Values.Where(e => Expired(e, now)).Select(e => e.Id).ToList();
        foreach (string containerId in _execs.Values.Select(e => e.ContainerId).Distinct().ToList())
        {
            if (!containerExists(containerId))
                gone.AddRange(_execs.Values.Where(e => e.ContainerId == containerId).Select(e => e.Id));
        }
        foreach (string id in gone) _execs.Remove(id);
    }

    private static bool Expired(ExecInstance exec, DateTimeOffset now)
    {
        if (exec.EndedAt is { } ended) return now - ended > Grace;
        return !exec.Started && now - exec.CreatedAt > Grace;
    }
}
