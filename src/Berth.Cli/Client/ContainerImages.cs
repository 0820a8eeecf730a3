using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Berth.Cli.Client;

/// <summary>From containers to images and files, and an image's past: commit, diff, export, save, history, with the
/// docker CLI's flags and output.</summary>
public static class ContainerImages
{
    public static IEnumerable<Command> Create() => [CommitCommand(), DiffCommand(), ExportCommand(), SaveCommand(), HistoryCommand()];

    private static Command CommitCommand()
    {
        var author = new Option<string?>("--author", "-a") { Description = "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")" };
        var change = new Option<string[]>("--change", "-c") { Description = "Apply Dockerfile instruction to the created image (repeatable)" };
        var message = new Option<string?>("--message", "-m") { Description = "Commit message" };
        var pause = new Option<bool>("--pause", "-p") { Description = "Pause container during commit", DefaultValueFactory = _ => true };
        var container = new Argument<string>("CONTAINER");
        var reference = new Argument<string?>("REPOSITORY[:TAG]") { Arity = ArgumentArity.ZeroOrOne };
        var commit = new Command("commit", "Create a new image from a container's changes") { author, change, message, pause, container, reference };
        return commit.Action(async (parse, api, ct) =>
        {
            string path = "/commit?" + CommitQuery(parse.GetValue(container)!, parse.GetValue(reference), parse.GetValue(message),
                parse.GetValue(author), parse.GetValue(change) ?? [], parse.GetValue(pause));
            var reply = await api.PostJsonAsync(path, null, ct);
            Console.Out.WriteLine(reply.Str("Id"));
            return 0;
        });
    }

    /// <summary>POST /commit's query as the docker CLI writes it; the reference is checked first, as it does.</summary>
    public static string CommitQuery(string container, string? reference, string? comment, string? author,
        IReadOnlyList<string> changes, bool pause)
    {
        var query = new List<string> { "container=" + EngineApi.Q(container) };
        if (!string.IsNullOrEmpty(reference))
        {
            if (reference.Contains('@')) throw new CliException("refusing to create a tag with a digest reference");
            var (repo, tag) = Formatting.SplitReference(reference);
            if (repo.Length == 0 || repo.Any(char.IsAsciiLetterUpper))
                throw new CliException($"invalid reference format: repository name ({repo}) must be lowercase");
            query.Add("repo=" + EngineApi.Q(Formatting.NormalizeRepo(repo)));
            query.Add("tag=" + EngineApi.Q(tag));
        }
        if (!string.IsNullOrEmpty(comment)) query.Add("comment=" + EngineApi.Q(comment));
        if (!string.IsNullOrEmpty(author)) query.Add("author=" + EngineApi.Q(author));
        foreach (string change in changes) query.Add("changes=" + EngineApi.Q(change));
        if (!pause) query.Add("pause=0");
        return string.Join('&', query);
    }

    private static Command DiffCommand()
    {
        var container = new Argument<string>("CONTAINER");
        var diff = new Command("diff", "Inspect changes to files or directories on a container's filesystem") { container };
        return diff.Action(async (parse, api, ct) =>
        {
            var changes = await api.GetJsonAsync($"/containers/{EngineApi.Q(parse.GetValue(container)!)}/changes", ct) as JsonArray ?? [];
            foreach (var change in changes) Console.Out.WriteLine(DiffLine(change));
            return 0;
        });
    }

    /// <summary>"C /etc", "A /new", "D /gone" from {"Kind": 0|1|2, "Path"}.</summary>
    public static string DiffLine(JsonNode? change)
    {
        int kind = change?["Kind"]?.GetValue<int>() ?? 0;
        return (kind switch { 1 => "A", 2 => "D", _ => "C" }) + " " + change.Str("Path");
    }

    private static Command ExportCommand()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write to a file, instead of STDOUT" };
        var container = new Argument<string>("CONTAINER");
        var export = new Command("export", "Export a container's filesystem as a tar archive") { output, container };
        return export.Action(async (parse, api, ct) =>
        {
            await using var destination = OpenOutput(parse.GetValue(output));
            await destination.DownloadAsync(api, $"/containers/{EngineApi.Q(parse.GetValue(container)!)}/export", ct);
            return 0;
        });
    }

    private static Command SaveCommand()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write to a file, instead of STDOUT" };
        var images = Containers.Names("IMAGE");
        var save = new Command("save", "Save one or more images to a tar archive (streamed to STDOUT by default)") { output, images };
        return save.Action(async (parse, api, ct) =>
        {
            string names = string.Join('&', parse.GetValue(images)!.Select(n => "names=" + EngineApi.Q(n)));
            await using var destination = OpenOutput(parse.GetValue(output));
            await destination.DownloadAsync(api, "/images/get?" + names, ct);
            return 0;
        });
    }

    /// <summary>Stdout (refused when it is a terminal), or a file written beside and renamed over its name when the
    /// download is whole, as the docker CLI's atomic writer does.</summary>
    private static TarOutput OpenOutput(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            if (Terminal.IsTerminal(1)) throw new CliException("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            return new TarOutput(null);
        }
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new CliException($"failed to save image: invalid output path: \"{path}\" is a directory");
        if (!Directory.Exists(Path.GetDirectoryName(full)))
            throw new CliException($"failed to save image: invalid output path: directory \"{Path.GetDirectoryName(full)}\" does not exist");
        return new TarOutput(full);
    }

    private sealed class TarOutput(string? path) : IAsyncDisposable
    {
        private string? _temp;
        private bool _done;

        public async Task DownloadAsync(EngineApi api, string apiPath, CancellationToken ct)
        {
            using var response = await api.SendAsync(HttpMethod.Get, apiPath, ct, headersOnly: true);
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            if (path is null)
            {
                await body.CopyToAsync(Cli.Stdout, ct);
                await Cli.Stdout.FlushAsync(ct);
                _done = true;
                return;
            }
            _temp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + ".tmp" + Environment.ProcessId);
            await using (var file = new FileStream(_temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
            {
                File.SetUnixFileMode(_temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                await body.CopyToAsync(file, ct);
            }
            File.Move(_temp, path, overwrite: true);
            _done = true;
        }

        public ValueTask DisposeAsync()
        {
            if (!_done && _temp is not null) File.Delete(_temp);
            return ValueTask.CompletedTask;
        }
    }

    public const string HistoryFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
    private const string NonHumanHistoryFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

    public static readonly Dictionary<string, object?> HistoryHeader = new()
    {
        ["ID"] = "IMAGE", ["CreatedSince"] = "CREATED", ["CreatedAt"] = "CREATED AT", ["CreatedBy"] = "CREATED BY",
        ["Size"] = "SIZE", ["Comment"] = "COMMENT",
    };

    private static Command HistoryCommand()
    {
        var human = new Option<bool>("--human", "-H") { Description = "Print sizes and dates in human readable format", DefaultValueFactory = _ => true };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only show image IDs" };
        var noTrunc = new Option<bool>("--no-trunc") { Description = "Don't truncate output" };
        var format = new Option<string?>("--format") { Description = "\"table TEMPLATE\" or a TEMPLATE. Fields: .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment. " + Containers.TemplateHelp };
        var image = new Argument<string>("IMAGE");
        var history = new Command("history", "Show the history of an image") { human, quiet, noTrunc, format, image };
        return history.Action(async (parse, api, ct) =>
        {
            var items = await api.GetJsonAsync($"/images/{parse.GetValue(image)}/history", ct) as JsonArray ?? [];
            bool isHuman = parse.GetValue(human);
            string? fmt = parse.GetValue(format);
            if (string.IsNullOrEmpty(fmt) || fmt == "table")
                fmt = parse.GetValue(quiet) ? "{{.ID}}" : isHuman ? HistoryFormat : NonHumanHistoryFormat;
            Console.Out.Write(Cli.Render(fmt, HistoryRows(items, !parse.GetValue(noTrunc), isHuman, DateTimeOffset.UtcNow), HistoryHeader));
            return 0;
        });
    }

    /// <summary>The rows of `history`: IDs cut to 12 ("&lt;missing&gt;" as it is), CreatedBy tabs as spaces and cut to
    /// 45 characters, sizes human (3 digits) or in bytes, dates before 2000 as N/A.</summary>
    public static List<Dictionary<string, object?>> HistoryRows(JsonArray items, bool trunc, bool human, DateTimeOffset now)
    {
        long epoch = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        var rows = new List<Dictionary<string, object?>>();
        foreach (var item in items)
        {
            string id = item.Str("Id") ?? "";
            long created = item?["Created"]?.GetValue<long>() ?? 0;
            long size = item?["Size"]?.GetValue<long>() ?? 0;
            string createdBy = (item.Str("CreatedBy") ?? "").Replace('\t', ' ');
            string createdAt = DateTimeOffset.FromUnixTimeSeconds(created).ToLocalTime() is var local && local.Offset == TimeSpan.Zero
                ? local.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)
                : local.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);
            rows.Add(new Dictionary<string, object?>
            {
                ["ID"] = trunc ? Formatting.ShortId(id) : id,
                ["CreatedAt"] = createdAt,
                ["CreatedSince"] = !human ? createdAt : created <= epoch ? "N/A" : Formatting.Ago(created, now),
                ["CreatedBy"] = trunc ? Formatting.Ellipsis(createdBy, 45) : createdBy,
                ["Size"] = human ? Formatting.HumanSize(size) : size.ToString(CultureInfo.InvariantCulture),
                ["Comment"] = item.Str("Comment") ?? "",
            });
        }
        return rows;
    }
}
