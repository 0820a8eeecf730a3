using System.Net;
using Berth.Runtime.Security;

namespace Berth.Runtime.Containers;

public sealed record MountSpec(string Source, string Destination, bool ReadOnly);

/// <summary>Everything the runtime needs to run one container.</summary>
public sealed record ContainerSpec
{
    public required string Id { get; init; }
    public required string BundleDirectory { get; init; }
    public IReadOnlyList<string> LowerDirectories { get; init; } = [];
    public IReadOnlyList<string> Args { get; init; } = [];
    public IReadOnlyList<string> Env { get; init; } = [];
    public string WorkingDir { get; init; } = "";
    public string User { get; init; } = "";
    public string Hostname { get; init; } = "";
    public string Domainname { get; init; } = "";
    public bool Tty { get; init; }
    public bool OpenStdin { get; init; }
    public bool StdinOnce { get; init; }
    public string NetworkNamespacePath { get; init; } = "";
    /// <summary>`--network host`: no network namespace of its own.</summary>
    public bool HostNetwork { get; init; }
    public string HostsFile { get; init; } = "";
    public string HostnameFile { get; init; } = "";
    public string ResolvConfFile { get; init; } = "";
    public bool ReadonlyRootfs { get; init; }
    public bool Privileged { get; init; }
    public IReadOnlyList<string> CapAdd { get; init; } = [];
    public IReadOnlyList<string> CapDrop { get; init; } = [];
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
    public long ShmSize { get; init; } = 64L * 1024 * 1024;
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];
    /// <summary>Parsed HostConfig.SecurityOpt.</summary>
    public SecurityOptions Security { get; init; } = SecurityOptions.None;
    /// <summary>HostConfig.MaskedPaths/ReadonlyPaths: null means Docker's defaults (none when privileged).</summary>
    public IReadOnlyList<string>? MaskedPaths { get; init; }
    public IReadOnlyList<string>? ReadonlyPaths { get; init; }
    /// <summary>Log size cap and rotation (`--log-opt max-size/max-file`).</summary>
    public LogPolicy Log { get; init; } = LogPolicy.Unlimited;
}

public enum StdStream { Stdin = 0, Stdout = 1, Stderr = 2 }

public sealed record LogEntry(DateTimeOffset Time, StdStream Stream, byte[] Line);

/// <summary>ExitCode is 128+signal for a signalled process, as Docker reports it.</summary>
public sealed record ContainerExit(int ExitCode, DateTimeOffset FinishedAt, bool OomKilled);

public sealed record ExecSpec(IReadOnlyList<string> Args, IReadOnlyList<string> Env, string User, string WorkingDir,
    bool Tty, bool AttachStdin, bool Privileged);

/// <summary>/etc/hosts, /etc/hostname and /etc/resolv.conf for a container, written beside its state.</summary>
public static class ContainerFiles
{
    public static void WriteHostname(string path, string hostname) => Write(path, hostname + "\n");

    private static void Write(string path, string content)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, content);
        File.Move(temp, path, overwrite: true);
    }
}
