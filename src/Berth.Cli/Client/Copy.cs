using System.CommandLine;
using System.Formats.Tar;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Runtime.Files;
using Berth.Runtime.Images;

namespace Berth.Cli.Client;

/// <summary>`berth cp [-a] [-L] SRC DST` with one side CONTAINER:PATH, as the docker CLI does it: the destination is
/// stat'ed first (HEAD /archive) to decide between "into the directory" and "as this name"; archives are streamed
/// both ways and unpacked on the host by the same hardened extractor the engine uses (nothing lands outside the
/// destination, no symlink on the way is followed).</summary>
public static class Copy
{
    public static IEnumerable<Command> Create()
    {
        var archive = new Option<bool>("--archive", "-a") { Description = "Archive mode (copy all uid/gid information)" };
        var follow = new Option<bool>("--follow-link", "-L") { Description = "Always follow symbol link in SRC_PATH" };
        var source = new Argument<string>("SRC");
        var destination = new Argument<string>("DEST");
        var cp = new Command("cp", "Copy files/folders between a container and the local filesystem") { archive, follow, source, destination };
        cp.Action(async (parse, api, ct) =>
        {
            string src = parse.GetValue(source)!, dst = parse.GetValue(destination)!;
            var (srcContainer, srcPath) = Split(src);
            var (dstContainer, dstPath) = Split(dst);
            // docker/cli's messages for the two refused directions.
            if (srcContainer is not null && dstContainer is not null)
                throw new CliException("copying between containers is not supported");
            if (srcContainer is null && dstContainer is null)
                throw new CliException("must specify at least one container source");
            if (srcContainer is not null && dstPath == "-") return await ToStdoutAsync(api, srcContainer, srcPath, ct);
            if (srcPath == "-") return await FromStdinAsync(api, dstContainer!, dstPath, parse.GetValue(archive), ct);
            return srcContainer is not null
                ? await FromContainerAsync(api, srcContainer, srcPath, dstPath, parse.GetValue(follow), ct)
                : await ToContainerAsync(api, dstContainer!, dstPath, srcPath, parse.GetValue(archive), parse.GetValue(follow), ct);
        }, runStyleErrors: false);
        return [cp];
    }

    /// <summary>"name:path" names a container unless it is a local path (starts with / or . or has no colon).</summary>
    private static (string? Container, string Path) Split(string arg)
    {
        if (arg.StartsWith('/') || arg.StartsWith('.')) return (null, arg);
        int colon = arg.IndexOf(':');
        return colon <= 0 ? (null, arg) : (arg[..colon], arg[(colon + 1)..]);
    }

    private static async Task<JsonNode?> StatAsync(EngineApi api, string container, string path, CancellationToken ct)
    {
        try
        {
            using var head = await api.SendAsync(HttpMethod.Head,
                $"/containers/{EngineApi.Q(container)}/archive?path={EngineApi.Q(path)}", ct);
            return head.Headers.TryGetValues("X-Docker-Container-Path-Stat", out var values)
                ? JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(values.First()))) : null;
        }
        catch (ApiException e) when (e.Status == 404) { return null; }
    }

    private static bool IsDirectory(JsonNode? stat) => stat is not null && (stat["mode"]!.GetValue<uint>() & (1u << 31)) != 0;

    // ---------------------------------------------------------------- out of a container

    private static async Task<int> FromContainerAsync(EngineApi api, string container, string path, string local,
        bool follow, CancellationToken ct)
    {
        var stat = await StatAsync(api, container, path, ct)
            ?? throw new CliException($"Error response from daemon: Could not find the file {path} in container {container}");
        if (follow && stat.Str("linkTarget") is { Length: > 0 } target) path = target;
        bool contentOnly = path.EndsWith("/.", StringComparison.Ordinal);
        string sourceBase = contentOnly ? "." : Path.GetFileName(path.TrimEnd('/'));
        // Into an existing directory under the source's name; else as the destination's name.
        string parent, rebase;
        if (Directory.Exists(local) && !contentOnly) (parent, rebase) = (local, sourceBase);
        else if (contentOnly) { Directory.CreateDirectory(local); (parent, rebase) = (local, "."); }
        else (parent, rebase) = (Path.GetDirectoryName(Path.GetFullPath(local))!, Path.GetFileName(Path.GetFullPath(local)));
        if (!Directory.Exists(parent)) throw new CliException($"destination directory {parent} does not exist");

        using var response = await api.SendAsync(HttpMethod.Get,
            $"/containers/{EngineApi.Q(container)}/archive?path={EngineApi.Q(path)}", ct, headersOnly: true);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        long copied = 0;
        var pipe = new Pipe();
        var rename = Task.Run(async () =>
        {
            // Entries come as "<base>/..." (or "./..."); they go under the destination's name.
            await using var output = pipe.Writer.AsStream();
            await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
            var reader = new TarReader(body);
            while (await reader.GetNextEntryAsync(copyData: false, ct) is { } entry)
            {
                string name = entry.Name;
                string rest = name == sourceBase || name == sourceBase + "/" ? ""
                    : name.StartsWith(sourceBase + "/", StringComparison.Ordinal) ? name[(sourceBase.Length + 1)..] : name;
                string renamed = rest.Length == 0 ? rebase : rebase == "." ? rest : rebase + "/" + rest;
                var copy = new PaxTarEntry(entry.EntryType, renamed.Length == 0 ? "." : renamed)
                {
                    Mode = entry.Mode, ModificationTime = entry.ModificationTime, Uid = entry.Uid, Gid = entry.Gid,
                    DataStream = entry.DataStream,
                };
                if (entry.EntryType is TarEntryType.SymbolicLink) copy.LinkName = entry.LinkName;
                if (entry.EntryType is TarEntryType.HardLink)
                {
                    string linkRest = entry.LinkName.StartsWith(sourceBase + "/", StringComparison.Ordinal)
                        ? entry.LinkName[(sourceBase.Length + 1)..] : entry.LinkName;
                    copy.LinkName = rebase == "." ? linkRest : rebase + "/" + linkRest;
                }
                copied += entry.Length;
                await writer.WriteEntryAsync(copy, ct);
            }
        }, ct);
        using (var root = RootedDirectory.Open(parent))
        {
            await using var input = pipe.Reader.AsStream();
            var owner = ((int)Berth.Linux.Interop.GetEUid(), (int)Berth.Linux.Interop.GetEGid());
            await LayerExtractor.ExtractCopyAsync(input, root, new LayerExtractor.CopyOptions(owner, false), null, ct);
        }
        await rename;
        Console.Error.WriteLine($"Successfully copied {Formatting.HumanSize(copied)} to {local}");
        return 0;
    }

    // ---------------------------------------------------------------- "-": a tar on stdout or stdin, as docker cp

    private static async Task<int> ToStdoutAsync(EngineApi api, string container, string path, CancellationToken ct)
    {
        using var response = await api.SendAsync(HttpMethod.Get,
            $"/containers/{EngineApi.Q(container)}/archive?path={EngineApi.Q(path)}", ct, headersOnly: true);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        await using var stdout = Console.OpenStandardOutput();
        await body.CopyToAsync(stdout, ct);
        return 0;
    }

    /// <summary>The tar on stdin goes as it is (compressed too: the engine recognises it) into DEST, which must be a
    /// directory.</summary>
    private static async Task<int> FromStdinAsync(EngineApi api, string container, string path, bool keepOwners,
        CancellationToken ct)
    {
        var stat = await StatAsync(api, container, path, ct)
            ?? throw new CliException($"Error response from daemon: Could not find the file {path} in container {container}");
        if (!IsDirectory(stat)) throw new CliException($"destination \"{container}:{path}\" must be a directory");
        await using var stdin = Console.OpenStandardInput();
        var content = new StreamContent(stdin);
        content.Headers.ContentType = new("application/x-tar");
        string query = $"path={EngineApi.Q(path)}&noOverwriteDirNonDir=true" + (keepOwners ? "&copyUIDGID=true" : "");
        using var _ = await api.SendAsync(HttpMethod.Put, $"/containers/{EngineApi.Q(container)}/archive?{query}", ct,
            content, chunked: true);
        return 0;
    }

    // ---------------------------------------------------------------- into a container

    private static async Task<int> ToContainerAsync(EngineApi api, string container, string path, string local,
        bool keepOwners, bool follow, CancellationToken ct)
    {
        var info = new FileInfo(local);
        if (!info.Exists && !Directory.Exists(local)) throw new CliException($"stat {local}: no such file or directory");
        string full = Path.GetFullPath(local);
        if (follow && info.LinkTarget is not null) full = info.ResolveLinkTarget(true)!.FullName;
        bool contentOnly = local.EndsWith("/.", StringComparison.Ordinal);
        var stat = await StatAsync(api, container, path, ct);
        string directory, name;
        if (IsDirectory(stat)) (directory, name) = (path, contentOnly ? "." : Path.GetFileName(full.TrimEnd('/')));
        else
        {
            if (path.EndsWith('/')) throw new CliException($"Error response from daemon: Could not find the file {path} in container {container}");
            int slash = path.TrimEnd('/').LastIndexOf('/');
            (directory, name) = (slash <= 0 ? "/" : path[..slash], path[(slash + 1)..]);
        }
        long copied = 0;
        var pipe = new Pipe();
        var writing = Task.Run(async () =>
        {
            await using var output = pipe.Writer.AsStream();
            await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
            copied = await WriteTreeAsync(writer, contentOnly ? full.TrimEnd('.').TrimEnd('/') : full, name, keepOwners, ct);
        }, ct);
        await using (var input = pipe.Reader.AsStream())
        {
            var content = new StreamContent(input);
            content.Headers.ContentType = new("application/x-tar");
            string query = $"path={EngineApi.Q(directory)}&noOverwriteDirNonDir=true" + (keepOwners ? "&copyUIDGID=true" : "");
            using var _ = await api.SendAsync(HttpMethod.Put, $"/containers/{EngineApi.Q(container)}/archive?{query}", ct,
                content, chunked: true);
        }
        await writing;
        Console.Error.WriteLine($"Successfully copied {Formatting.HumanSize(copied)} to {container}:{path}");
        return 0;
    }

    /// <summary>The local tree as tar entries (symlinks as links, never followed); the bytes of regular files.</summary>
    private static async Task<long> WriteTreeAsync(TarWriter writer, string path, string name, bool keepOwners,
        CancellationToken ct)
    {
        long bytes = 0;
        if (name != ".") await writer.WriteEntryAsync(path, name, ct);
        var entry = new FileInfo(path);
        if (entry.Attributes.HasFlag(FileAttributes.Directory) && entry.LinkTarget is null)
        {
            foreach (string child in Directory.EnumerateFileSystemEntries(path).Order(StringComparer.Ordinal))
                bytes += await WriteTreeAsync(writer, child, name == "." ? Path.GetFileName(child)
                    : name + "/" + Path.GetFileName(child), keepOwners, ct);
        }
        else if (entry.LinkTarget is null) bytes += entry.Length;
        return bytes;
    }
}
