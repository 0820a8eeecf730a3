using System.CommandLine;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text;
using Berth.Runtime.Files;

namespace Berth.Cli.Client;

/// <summary>`berth build` as the docker CLI's legacy builder client: the context streamed as a tar to POST /build,
/// "Sending build context to Docker daemon" once it is sent, then the engine's {"stream"} lines; a failed step's
/// message on stderr and its code as the exit code; with -q only the image ID.</summary>
public static class Builds
{
    public static IEnumerable<Command> Create()
    {
        var tags = new Option<string[]>("--tag", "-t") { Description = "Name and optionally a tag in the \"name:tag\" format (repeatable)" };
        var file = new Option<string?>("--file", "-f") { Description = "Name of the Dockerfile (Default is \"PATH/Dockerfile\")" };
        var buildArgs = new Option<string[]>("--build-arg") { Description = "Set build-time variables (repeatable)" };
        var target = new Option<string?>("--target") { Description = "Set the target build stage to build." };
        var noCache = new Option<bool>("--no-cache") { Description = "Do not use cache when building the image" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Suppress the build output and print image ID on success" };
        var labels = new Option<string[]>("--label") { Description = "Set metadata for an image (repeatable)" };
        var network = new Option<string?>("--network") { Description = "Set the networking mode for the RUN instructions during build" };
        var pull = new Option<bool>("--pull") { Description = "Always attempt to pull a newer version of the image" };
        var platform = new Option<string?>("--platform") { Description = "Set platform if server is multi-platform capable" };
        var rm = new Option<bool>("--rm") { Description = "Remove intermediate containers after a successful build", DefaultValueFactory = _ => true };
        var forceRm = new Option<bool>("--force-rm") { Description = "Always remove intermediate containers" };
        var iidFile = new Option<string?>("--iidfile") { Description = "Write the image ID to the file" };
        var context = new Argument<string>("PATH | -") { Description = "The build context: a directory, or - for a tar or a Dockerfile on stdin" };
        var build = new Command("build", "Build an image from a Dockerfile")
        {
            tags, file, buildArgs, target, noCache, quiet, labels, network, pull, platform, rm, forceRm, iidFile, context,
        };
        build.Action(async (parse, api, ct) =>
        {
            var options = new BuildOptions
            {
                Tags = parse.GetValue(tags) ?? [],
                BuildArgs = parse.GetValue(buildArgs) ?? [],
                Labels = parse.GetValue(labels) ?? [],
                Target = parse.GetValue(target),
                NoCache = parse.GetValue(noCache),
                Quiet = parse.GetValue(quiet),
                Network = parse.GetValue(network),
                Pull = parse.GetValue(pull),
                Platform = parse.GetValue(platform),
                Remove = parse.GetValue(rm),
                ForceRemove = parse.GetValue(forceRm),
            };
            string source = parse.GetValue(context)!;
            var stdin = Console.OpenStandardInput();
            var (code, imageId) = IsRemote(source)
                ? await RunRemoteAsync(api, source, parse.GetValue(file), options, ct)
                : await RunAsync(api, source == "-"
                    ? await BuildContext.FromStdinAsync(stdin, parse.GetValue(file), ct)
                    : BuildContext.FromDirectory(source, parse.GetValue(file), stdin), options, ct);
            if (code == 0 && parse.GetValue(iidFile) is { Length: > 0 } iid)
            {
                if (imageId is null) throw new CliException($"server did not provide an image ID. Cannot write {iid}");
                await File.WriteAllTextAsync(iid, imageId, ct);
            }
            return code;
        });
        return [build];
    }

    /// <summary>The flags of `build` that become query parameters.</summary>
    public sealed record BuildOptions
    {
        public IReadOnlyList<string> Tags { get; init; } = [];
        public IReadOnlyList<string> BuildArgs { get; init; } = [];
        public IReadOnlyList<string> Labels { get; init; } = [];
        public string? Target { get; init; }
        public bool NoCache { get; init; }
        public bool Quiet { get; init; }
        public string? Network { get; init; }
        public bool Pull { get; init; }
        public string? Platform { get; init; }
        public bool Remove { get; init; } = true;
        public bool ForceRemove { get; init; }
    }

    /// <summary>POST /build's query as the docker CLI writes it: build args KEY=VALUE (KEY alone takes the client's
    /// environment, or stays null), labels KEY=VALUE (KEY alone is empty).</summary>
    public static string Query(BuildOptions options, string dockerfile, Func<string, string?> environment)
    {
        var query = new List<string>();
        foreach (string tag in options.Tags) query.Add("t=" + EngineApi.Q(tag));
        query.Add("dockerfile=" + EngineApi.Q(dockerfile));
        if (options.Quiet) query.Add("q=1");
        if (options.NoCache) query.Add("nocache=1");
        query.Add("rm=" + (options.Remove ? "1" : "0"));
        if (options.ForceRemove) query.Add("forcerm=1");
        if (options.Pull) query.Add("pull=1");
        if (!string.IsNullOrEmpty(options.Target)) query.Add("target=" + EngineApi.Q(options.Target));
        if (!string.IsNullOrEmpty(options.Network)) query.Add("networkmode=" + EngineApi.Q(options.Network));
        if (!string.IsNullOrEmpty(options.Platform)) query.Add("platform=" + EngineApi.Q(options.Platform));
        if (options.BuildArgs.Count > 0)
        {
            var args = new JsonObject();
            foreach (string arg in options.BuildArgs)
            {
                int eq = arg.IndexOf('=');
                if (eq == 0) throw new CliException($"invalid argument \"{arg}\" for \"--build-arg\" flag: invalid environment variable: {arg}");
                args[eq < 0 ? arg : arg[..eq]] = eq < 0 ? environment(arg) : arg[(eq + 1)..];
            }
            query.Add("buildargs=" + EngineApi.Q(args.ToJsonString()));
        }
        if (options.Labels.Count > 0)
        {
            var labels = new JsonObject();
            foreach (string label in options.Labels)
            {
                int eq = label.IndexOf('=');
                if (eq == 0) throw new CliException($"invalid argument \"{label}\" for \"--label\" flag: invalid label '{label}': empty name");
                labels[eq < 0 ? label : label[..eq]] = eq < 0 ? "" : label[(eq + 1)..];
            }
            query.Add("labels=" + EngineApi.Q(labels.ToJsonString()));
        }
        return string.Join('&', query);
    }

    /// <summary>"Sending build context to Docker daemon  2.048kB": the docker CLI's last progress update of the upload
    /// (units.HumanSize right-aligned in 8 columns), then the "\r" and "\r\n" its raw progress formatter ends with.</summary>
    public static string SentLine(long bytes) => $"Sending build context to Docker daemon {Formatting.HumanSize(bytes, 4),8}\r\r\n";

    private static async Task<(int Code, string? ImageId)> RunAsync(EngineApi api, BuildContext context, BuildOptions options, CancellationToken ct)
    {
        string query = Query(options, context.Dockerfile, Environment.GetEnvironmentVariable);
        var pipe = new Pipe();
        long sent = 0;
        var writing = Task.Run(async () =>
        {
            await using var output = new ObservingWriteStream(pipe.Writer.AsStream(), written => sent += written.Length);
            try { await context.WriteAsync(output, ct); }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e);
                throw;
            }
        }, ct);
        var content = new StreamContent(pipe.Reader.AsStream());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        HttpResponseMessage response;
        try { response = await api.SendAsync(HttpMethod.Post, "/build?" + query, ct, content, headersOnly: true, chunked: true); }
        catch
        {
            // Refused before the context was read: stop writing it.
            await pipe.Reader.CompleteAsync();
            try { await writing; }
            catch (Exception) { }
            throw;
        }
        using (response)
        {
            try { await writing; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliException("checking context: " + e.Message);
            }
            string progress = SentLine(sent);
            if (!options.Quiet) Console.Out.Write(progress);
            return await ShowAsync(response, options.Quiet, progress, ct);
        }
    }

    /// <summary>A URL or git repository as the context (docker's urlutil: http(s)://, git://, github.com/, git@):
    /// the engine fetches it (remote=), so nothing is sent.</summary>
    private static bool IsRemote(string source) =>
        source.StartsWith("http://", StringComparison.Ordinal) || source.StartsWith("https://", StringComparison.Ordinal)
        || source.StartsWith("git://", StringComparison.Ordinal) || source.StartsWith("github.com/", StringComparison.Ordinal)
        || source.StartsWith("git@", StringComparison.Ordinal);

    private static async Task<(int Code, string? ImageId)> RunRemoteAsync(EngineApi api, string remote, string? dockerfile,
        BuildOptions options, CancellationToken ct)
    {
        string query = Query(options, string.IsNullOrEmpty(dockerfile) ? "Dockerfile" : dockerfile, Environment.GetEnvironmentVariable)
            + "&remote=" + EngineApi.Q(remote);
        using var response = await api.SendAsync(HttpMethod.Post, "/build?" + query, ct, new ByteArrayContent([]), headersOnly: true);
        return await ShowAsync(response, options.Quiet, "", ct);
    }

    /// <summary>The legacy builder's message stream: text as it comes (held back with -q, where the engine's last
    /// line is the image ID), the image ID from {"aux"}, an error's message on stderr with its code.</summary>
    private static async Task<(int Code, string? ImageId)> ShowAsync(HttpResponseMessage response, bool quiet, string progress,
        CancellationToken ct)
    {
        var held = new StringBuilder();
        string? imageId = null;
        await foreach (var message in Images.JsonMessagesAsync(response, ct))
        {
            if ((message["errorDetail"]?["message"] ?? message["error"]) is JsonValue error)
            {
                await Console.Out.FlushAsync(ct);
                if (quiet) Console.Error.Write(progress + held);
                Console.Error.WriteLine(error.ToString());
                int code = message["errorDetail"]?["code"] is JsonValue c && c.TryGetValue(out int n) && n != 0 ? n : 1;
                return (code, imageId);
            }
            if (message["aux"]?["ID"] is JsonValue id) imageId = id.ToString();
            if (message.Str("stream") is { } text)
            {
                if (quiet) held.Append(text);
                else Console.Out.Write(text);
            }
        }
        if (quiet)
        {
            Console.Out.Write(held.ToString());
            imageId = held.ToString().Trim() is { Length: > 0 } printed ? printed : imageId;
        }
        return (0, imageId);
    }
}
