using System.Collections.Concurrent;
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

    /// <summary>Completes once Running and ExitCode show the finished process, so a client that inspects the exec
    /// right after its stream closed reads the real exit code.</summary>
    public Task Finished { get; internal set; } = Task.CompletedTask;
}

/// <summary>Exec instances live in memory only, as in dockerd: they do not survive a daemon restart.</summary>
public sealed class ExecService(ContainerService containers)
{
    private readonly ConcurrentDictionary<string, ExecInstance> _execs = new();

    public ExecInstance Create(string idOrName, ExecCreateRequest request)
    {
        var record = containers.Get(idOrName);
        if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
        if (request.Cmd is not { Count: > 0 }) throw new BadRequestException("No exec command specified");
        var exec = new ExecInstance { Id = Networks.NetworkService.NewId(), ContainerId = record.Id, Request = request };
        _execs[exec.Id] = exec;
        return exec;
    }

    public ExecInstance Get(string id) =>
        _execs.TryGetValue(id, out var exec) ? exec : throw new NotFoundException($"No such exec instance: {id}");

    public IEnumerable<string> IdsOf(string containerId) => _execs.Values.Where(e => e.ContainerId == containerId).Select(e => e.Id);

    /// <summary>Starts the process; the caller pumps the session's output and awaits Exited.</summary>
    public async Task<ExecSession> StartAsync(string id, CancellationToken ct)
    {
        var exec = Get(id);
        lock (exec)
        {
            if (exec.Started) throw new ConflictException($"Error: Exec command {id} has already run");
            exec.Started = true;
        }
        var record = containers.Get(exec.ContainerId);
        if (!record.State.Running) throw new ConflictException($"Container {record.Id} is not running");
        var env = new List<string>(record.Config.Env ?? []);
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
        var session = await containers.Runtime.ExecAsync(record.Id, spec, ct);
        exec.Running = true;
        exec.Pid = session.Pid;
        exec.Finished = RecordExitAsync(exec, session);
        return session;
    }

    private static async Task RecordExitAsync(ExecInstance exec, ExecSession session)
    {
        try { exec.ExitCode = await session.Exited; }
        catch (Exception) { exec.ExitCode = 126; }
        exec.Running = false;
    }
}
