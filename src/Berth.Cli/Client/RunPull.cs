using System.CommandLine;
using Berth.Runtime.Images;

namespace Berth.Cli.Client;

/// <summary>`run`/`create`'s image pull as the docker CLI 28 does it: `--pull missing` (the default) pulls after the
/// engine answers "No such image", `always` pulls first, `never` leaves the engine's 404; progress goes to stderr
/// (stdout is the container's, or the id), `-q` silences it.</summary>
public sealed record RunPull(string Policy, bool Quiet, string? Platform)
{
    public const string Always = "always", Missing = "missing", Never = "never";

    public static RunPull Default { get; } = new(Missing, false, null);

    /// <summary>"Unable to find image 'x:latest' locally", then a pull with the saved login (policy "missing").</summary>
    public async Task PullMissingAsync(EngineApi api, string image, CancellationToken ct)
    {
        var reference = Parse(image);
        if (!Quiet) Console.Error.WriteLine($"Unable to find image '{reference}' locally");
        await PullAsync(api, reference, ct);
    }

    public Task PullFirstAsync(EngineApi api, string image, CancellationToken ct) =>
        Policy == Always ? PullAsync(api, Parse(image), ct) : Task.CompletedTask;

    private async Task PullAsync(EngineApi api, RemoteReference reference, CancellationToken ct)
    {
        string? error = await Registry.PullAsync(api, reference, Platform, Console.Error, Terminal.IsTerminal(2), Quiet, ct);
        if (error is not null) throw new CliException(error, 125);
    }

    private static RemoteReference Parse(string image)
    {
        try { return ImageReference.ParseRemote(image); }
        catch (ImageException e) { throw new CliException(e.Message, 125); }
    }
}

/// <summary>The options behind <see cref="RunPull"/>, added to run and create.</summary>
public sealed class RunPullOptions
{
    private readonly Option<string> _pull = new("--pull")
    {
        Description = "Pull image before running (\"always\", \"missing\", \"never\")", DefaultValueFactory = _ => RunPull.Missing,
    };
    private readonly Option<bool> _quiet = new("--quiet", "-q") { Description = "Suppress the pull output" };
    private readonly Option<string?> _platform = new("--platform") { Description = "Set platform if server is multi-platform capable" };

    public IEnumerable<Option> All => [_pull, _quiet, _platform];

    public RunPull Read(ParseResult parse)
    {
        string policy = parse.GetValue(_pull) ?? RunPull.Missing;
        if (policy is not (RunPull.Always or RunPull.Missing or RunPull.Never))
            throw new CliException($"invalid pull option: '{policy}': must be one of \"always\", \"missing\" or \"never\"", 125);
        return new RunPull(policy, parse.GetValue(_quiet), parse.GetValue(_platform));
    }
}
