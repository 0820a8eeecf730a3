using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>Image commands: images, import, load, tag, rmi.</summary>
public static class Images
{
    public static IEnumerable<Command> Create() => [ImagesCommand(), ImportCommand(), LoadCommand(), TagCommand(), RmiCommand()];

    public const string DefaultFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

    public static readonly Dictionary<string, object?> Header = new()
    {
        ["Repository"] = "REPOSITORY", ["Tag"] = "TAG", ["ID"] = "IMAGE ID", ["Digest"] = "DIGEST", ["CreatedSince"] = "CREATED",
        ["CreatedAt"] = "CREATED AT", ["Size"] = "SIZE", ["Containers"] = "CONTAINERS", ["VirtualSize"] = "VIRTUAL SIZE",
        ["SharedSize"] = "SHARED SIZE", ["UniqueSize"] = "UNIQUE SIZE",
    };

    private static Command ImagesCommand()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only show image IDs" };
        var all = new Option<bool>("--all", "-a") { Description = "Show all images" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Don't truncate output" };
        var format = new Option<string?>("--format") { Description = "\"table TEMPLATE\" or a TEMPLATE. Fields: .Repository .Tag .ID .CreatedSince .CreatedAt .Size. " + Containers.TemplateHelp };
        var reference = new Argument<string?>("REPOSITORY[:TAG]") { Arity = ArgumentArity.ZeroOrOne };
        var images = new Command("images", "List images") { quiet, all, noTrunc, format, reference };
        return images.Action(async (parse, api, ct) =>
        {
            var list = await api.GetJsonAsync("/images/json" + (parse.GetValue(all) ? "?all=1" : ""), ct) as JsonArray ?? [];
            bool trunc = !parse.GetValue(noTrunc);
            string? filter = parse.GetValue(reference);
            var rows = Rows(list, trunc, DateTimeOffset.UtcNow)
                .Where(r => filter is null || Matches(filter, (string)r["Repository"]!, (string)r["Tag"]!)).ToList();
            string? fmt = parse.GetValue(format);
            if (parse.GetValue(quiet)) fmt = "{{.ID}}";
            else if (string.IsNullOrEmpty(fmt) || fmt == "table") fmt = DefaultFormat;
            Console.Out.Write(Cli.Render(fmt, rows, Header));
            return 0;
        });
    }

    private static bool Matches(string filter, string repo, string tag)
    {
        var (fRepo, fTag) = Formatting.SplitReference(filter);
        return repo == fRepo && (fTag.Length == 0 || fTag == tag);
    }

    /// <summary>One row per repository tag (an untagged image as &lt;none&gt;:&lt;none&gt;), as `docker images`.</summary>
    public static List<Dictionary<string, object?>> Rows(JsonArray images, bool trunc, DateTimeOffset now)
    {
        var rows = new List<Dictionary<string, object?>>();
        foreach (var image in images)
        {
            if (image is null) continue;
            string id = image.Str("Id") ?? "";
            long created = image["Created"]?.GetValue<long>() ?? 0;
            long size = image["Size"]?.GetValue<long>() ?? 0;
            var tags = (image["RepoTags"] as JsonArray ?? []).Select(t => t?.GetValue<string>() ?? "").Where(t => t.Length > 0 && t != "<none>:<none>").ToList();
            if (tags.Count == 0) tags.Add("<none>:<none>");
            foreach (string tag in tags)
            {
                var (repo, t) = tag == "<none>:<none>" ? ("<none>", "<none>") : Formatting.SplitReference(tag);
                rows.Add(new Dictionary<string, object?>
                {
                    ["Repository"] = repo,
                    ["Tag"] = t.Length == 0 ? "<none>" : t,
                    ["ID"] = trunc ? Formatting.ShortId(id) : id,
                    ["Digest"] = "<none>",
                    ["CreatedSince"] = Formatting.Ago(created, now),
                    ["CreatedAt"] = Formatting.GoTime(created),
                    ["Size"] = Formatting.HumanSize(size),
                    ["VirtualSize"] = Formatting.HumanSize(size),
                    ["Containers"] = image["Containers"]?.GetValue<long>() is { } n and >= 0 ? n.ToString() : "N/A",
                    ["SharedSize"] = "N/A",
                    ["UniqueSize"] = "N/A",
                });
            }
        }
        return rows;
    }

    private static Command ImportCommand()
    {
        var change = new Option<string[]>("--change", "-c") { Description = "Apply a Dockerfile instruction to the image (repeatable)" };
        var message = new Option<string?>("--message", "-m") { Description = "Commit message for the imported image" };
        var file = new Argument<string>("file|-") { Description = "A tar archive of the root filesystem, or - for stdin" };
        var reference = new Argument<string?>("REPOSITORY[:TAG]") { Arity = ArgumentArity.ZeroOrOne };
        var import = new Command("import", "Import the contents from a tarball to create a filesystem image") { change, message, file, reference };
        return import.Action(async (parse, api, ct) =>
        {
            var query = new List<string> { "fromSrc=-" };
            if (parse.GetValue(reference) is { Length: > 0 } r) query.Add("repo=" + EngineApi.Q(r));
            foreach (string c in parse.GetValue(change) ?? []) query.Add("changes=" + EngineApi.Q(c));
            if (parse.GetValue(message) is { Length: > 0 } m) query.Add("message=" + EngineApi.Q(m));
            await using var source = OpenInput(parse.GetValue(file)!);
            using var response = await api.SendAsync(HttpMethod.Post, "/images/create?" + string.Join('&', query), ct,
                Chunked(source, "text/plain"), headersOnly: true, chunked: true);
            return await ReadJsonMessagesAsync(response, quiet: false, ct);
        });
    }

    private static Command LoadCommand()
    {
        var input = new Option<string?>("--input", "-i") { Description = "Read from a tar archive file instead of STDIN" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Suppress the load output" };
        var load = new Command("load", "Load an image from a tar archive or STDIN") { input, quiet };
        return load.Action(async (parse, api, ct) =>
        {
            string path = parse.GetValue(input) ?? "-";
            if (path == "-" && !Console.IsInputRedirected)
                throw new CliException("requested load from stdin, but stdin is empty");
            await using var source = OpenInput(path);
            using var response = await api.SendAsync(HttpMethod.Post, "/images/load?quiet=1", ct, Chunked(source, "application/x-tar"), headersOnly: true, chunked: true);
            return await ReadJsonMessagesAsync(response, parse.GetValue(quiet), ct);
        });
    }

    private static Stream OpenInput(string path)
    {
        if (path == "-") return Console.OpenStandardInput();
        try { return File.OpenRead(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"open {path}: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file or directory" : e.Message)}");
        }
    }

    /// <summary>A request body sent with Transfer-Encoding: chunked, as the docker CLI sends archives.</summary>
    private static HttpContent Chunked(Stream source, string contentType)
    {
        var content = new StreamContent(source);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return content;
    }

    /// <summary>A JSON-message stream ({"status"}, {"stream"}, {"errorDetail"}): messages to stdout, an error to
    /// stderr with exit code 1.</summary>
    public static async Task<int> ReadJsonMessagesAsync(HttpResponseMessage response, bool quiet, CancellationToken ct)
    {
        await foreach (var message in JsonMessagesAsync(response, ct))
        {
            if ((message["errorDetail"]?["message"] ?? message["error"]) is JsonValue error)
            {
                Console.Error.WriteLine(error.ToString());
                return 1;
            }
            if (quiet) continue;
            if (message.Str("stream") is { } text) Console.Out.Write(text);
            else if (message.Str("status") is { } status)
                Console.Out.WriteLine(message.Str("id") is { Length: > 0 } id ? $"{id}: {status}" : status);
        }
        return 0;
    }

    /// <summary>The objects of a JSON-message stream, one a line; blank and unparsable lines skipped.</summary>
    public static async IAsyncEnumerable<JsonNode> JsonMessagesAsync(HttpResponseMessage response,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream);
        string? line;
        while ((line = await reader.ReadLineAsync(ct)) is not null)
        {
            if (line.Trim().Length == 0) continue;
            JsonNode? message;
            try { message = JsonNode.Parse(line); }
            catch (JsonException) { continue; }
            if (message is not null) yield return message;
        }
    }

    private static Command TagCommand()
    {
        var source = new Argument<string>("SOURCE_IMAGE[:TAG]");
        var target = new Argument<string>("TARGET_IMAGE[:TAG]");
        var tag = new Command("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE") { source, target };
        return tag.Action(async (parse, api, ct) =>
        {
            var (repo, t) = Formatting.SplitReference(parse.GetValue(target)!);
            if (repo.Length == 0 || repo.Any(char.IsAsciiLetterUpper))
                throw new CliException($"invalid reference format: repository name ({repo}) must be lowercase");
            string query = $"repo={EngineApi.Q(Formatting.NormalizeRepo(repo))}&tag={EngineApi.Q(t.Length == 0 ? "latest" : t)}";
            await api.PostAsync($"/images/{parse.GetValue(source)}/tag?{query}", ct);
            return 0;
        });
    }

    private static Command RmiCommand()
    {
        var force = new Option<bool>("--force", "-f") { Description = "Force removal of the image" };
        var names = Containers.Names("IMAGE");
        var rmi = new Command("rmi", "Remove one or more images") { force, names };
        return rmi.Action(async (parse, api, ct) =>
        {
            string q = parse.GetValue(force) ? "?force=1" : "";
            return await Cli.ForEachAsync(parse.GetValue(names)!, async name =>
            {
                using var response = await api.SendAsync(HttpMethod.Delete, $"/images/{name}{q}", ct);
                var items = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct)) as JsonArray ?? [];
                foreach (var item in items)
                {
                    if (item.Str("Untagged") is { } untagged) Console.WriteLine($"Untagged: {untagged}");
                    if (item.Str("Deleted") is { } deleted) Console.WriteLine($"Deleted: {deleted}");
                }
            });
        });
    }
}
