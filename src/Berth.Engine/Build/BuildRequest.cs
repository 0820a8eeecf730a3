namespace Berth.Engine.Build;

/// <summary>The parameters of `POST /build` the legacy builder honours.</summary>
public sealed record BuildRequest
{
    public string Dockerfile { get; init; } = "Dockerfile";
    public IReadOnlyList<string> Tags { get; init; } = [];
    public IReadOnlyDictionary<string, string?> BuildArgs { get; init; } = new Dictionary<string, string?>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Target { get; init; }
    public bool NoCache { get; init; }
    public bool Quiet { get; init; }
    public bool Pull { get; init; }
    /// <summary>"default", "bridge", "none" or a network name: where RUN containers run.</summary>
    public string NetworkMode { get; init; } = "default";
    public bool RemoveIntermediate { get; init; } = true;
    /// <summary>forcerm: remove a failed step's container too (kept otherwise, as the legacy builder does).</summary>
    public bool ForceRemove { get; init; }
}

/// <summary>What a build tells its client, in the legacy builder's order: text for {"stream"}, the id for
/// {"aux":{"ID"}}.</summary>
public interface IBuildOutput
{
    Task WriteAsync(string text);
    Task AuxAsync(string imageId);
}

/// <summary>A failed build step: shown as {"errorDetail":{"code","message"},"error"}; the docker CLI exits with the
/// code (a failing RUN's own exit code).</summary>
public sealed class BuildException(string message, int code = 1) : Exception(message)
{
    public int Code { get; } = code;
}
