using System.Formats.Tar;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Cli.Client;
using Xunit;

namespace Berth.Cli.Tests;

/// <summary>`berth build`'s context and query, and the output of commit/diff/history, against what the docker CLI
/// sends and prints.</summary>
public sealed class BuildClientTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("berth-ctx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private static async Task<Dictionary<string, (TarEntryType Type, int Uid, string Content)>> EntriesAsync(BuildContext context)
    {
        using var tar = new MemoryStream();
        await context.WriteAsync(tar, CancellationToken.None);
        tar.Position = 0;
        var entries = new Dictionary<string, (TarEntryType, int, string)>();
        var reader = new TarReader(tar);
        while (reader.GetNextEntry() is { } entry)
        {
            string content = entry.DataStream is { } data ? new StreamReader(data).ReadToEnd() : "";
            entries[entry.Name] = (entry.EntryType, entry.Uid, content);
        }
        return entries;
    }

    [Fact]
    public async Task A_directory_context_leaves_out_what_dockerignore_excludes_but_keeps_the_dockerfile()
    {
        Write("Dockerfile", "FROM scratch\n");
        Write(".dockerignore", "**/*.log\n!src/keep.log\nDockerfile\nnode_modules\n");
        Write("src/a.c", "a");
        Write("src/b.log", "b");
        Write("src/keep.log", "k");
        Write("node_modules/x/y.js", "y");
        var context = BuildContext.FromDirectory(_dir, null, Stream.Null);
        Assert.Equal("Dockerfile", context.Dockerfile);
        var entries = await EntriesAsync(context);
        Assert.Equal([".dockerignore", "Dockerfile", "src/", "src/a.c", "src/keep.log"], entries.Keys.Order(StringComparer.Ordinal));
        Assert.All(entries.Values, e => Assert.Equal(0, e.Uid));
        Assert.Equal(TarEntryType.Directory, entries["src/"].Type);
    }

    [Fact]
    public async Task A_dockerfile_outside_the_context_or_on_stdin_goes_in_under_a_random_name_that_dockerignore_names()
    {
        Write("ctx/app.txt", "app");
        Write("other/Build.df", "FROM scratch\nCOPY . /\n");
        var context = BuildContext.FromDirectory(Path.Combine(_dir, "ctx"), Path.Combine(_dir, "other/Build.df"), Stream.Null);
        Assert.Matches(@"^\.dockerfile\.[a-z0-9]{20}$", context.Dockerfile);
        var entries = await EntriesAsync(context);
        Assert.Equal("FROM scratch\nCOPY . /\n", entries[context.Dockerfile].Content);
        Assert.Equal($".dockerignore\n{context.Dockerfile}\n", entries[".dockerignore"].Content);

        var fromStdin = BuildContext.FromDirectory(Path.Combine(_dir, "ctx"), "-", new MemoryStream(Encoding.UTF8.GetBytes("FROM busybox\n")));
        Assert.Equal("FROM busybox\n", (await EntriesAsync(fromStdin))[fromStdin.Dockerfile].Content);
    }

    [Fact]
    public void Missing_contexts_and_dockerfiles_fail_with_the_docker_clis_messages()
    {
        var missing = Assert.Throws<CliException>(() => BuildContext.FromDirectory(Path.Combine(_dir, "nope"), null, Stream.Null));
        Assert.Equal($"unable to prepare context: path \"{Path.Combine(_dir, "nope")}\" not found", missing.Message);
        var noDockerfile = Assert.Throws<CliException>(() => BuildContext.FromDirectory(_dir, null, Stream.Null));
        Assert.StartsWith("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ", noDockerfile.Message);
    }

    [Fact]
    public async Task Stdin_is_the_context_when_it_is_an_archive_and_the_dockerfile_otherwise()
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, leaveOpen: true))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "Dockerfile") { DataStream = new MemoryStream("FROM x\n"u8.ToArray()) });
        byte[] archive = tar.ToArray();
        Assert.True(BuildContext.IsArchive(archive));
        Assert.True(BuildContext.IsArchive([0x1f, 0x8b, 8, 0]));
        Assert.False(BuildContext.IsArchive(Encoding.UTF8.GetBytes("FROM busybox\n" + new string('#', 600))));

        var asIs = await BuildContext.FromStdinAsync(new MemoryStream(archive), null, CancellationToken.None);
        using (var copy = new MemoryStream())
        {
            await asIs.WriteAsync(copy, CancellationToken.None);
            Assert.Equal(archive, copy.ToArray());
        }
        var wrapped = await BuildContext.FromStdinAsync(new MemoryStream("FROM busybox\n"u8.ToArray()), null, CancellationToken.None);
        Assert.Equal("FROM busybox\n", (await EntriesAsync(wrapped))["Dockerfile"].Content);
        var both = await Assert.ThrowsAsync<CliException>(() => BuildContext.FromStdinAsync(Stream.Null, "-", CancellationToken.None));
        Assert.Equal("invalid argument: can't use stdin for both build context and dockerfile", both.Message);
    }

    [Fact]
    public void The_build_query_carries_the_flags_as_the_docker_cli_sends_them()
    {
        var options = new Builds.BuildOptions
        {
            Tags = ["a:1", "b"], BuildArgs = ["X=1", "FROM_ENV", "UNSET"], Labels = ["k=v", "flag"], Target = "final",
            NoCache = true, Quiet = true, Network = "host", ForceRemove = true,
        };
        string query = Builds.Query(options, "sub/Dockerfile", name => name == "FROM_ENV" ? "env" : null);
        var parts = query.Split('&').Select(Uri.UnescapeDataString).ToList();
        Assert.Equal(["t=a:1", "t=b", "dockerfile=sub/Dockerfile", "q=1", "nocache=1", "rm=1", "forcerm=1", "target=final", "networkmode=host",
            "buildargs={\"X\":\"1\",\"FROM_ENV\":\"env\",\"UNSET\":null}", "labels={\"k\":\"v\",\"flag\":\"\"}"], parts);
    }

    [Fact]
    public void The_sent_line_is_the_raw_progress_formatters_last_update()
    {
        Assert.Equal("Sending build context to Docker daemon  2.048kB\r\r\n", Builds.SentLine(2048));
        Assert.Equal("Sending build context to Docker daemon  1.126MB\r\r\n", Builds.SentLine(1_126_400));
        Assert.Equal("Sending build context to Docker daemon     512B\r\r\n", Builds.SentLine(512));
    }

    [Fact]
    public void Commit_query_diff_lines_and_history_rows_are_dockers()
    {
        Assert.Equal("container=web&repo=docker.io%2Flibrary%2Fimg&tag=v1&comment=a%20b&changes=CMD%20x&pause=0",
            ContainerImages.CommitQuery("web", "img:v1", "a b", null, ["CMD x"], pause: false));
        Assert.Throws<CliException>(() => ContainerImages.CommitQuery("web", "Img", null, null, [], true));
        Assert.Equal("A /root/new", ContainerImages.DiffLine(JsonNode.Parse("{\"Kind\":1,\"Path\":\"/root/new\"}")));
        Assert.Equal("D /etc/group", ContainerImages.DiffLine(JsonNode.Parse("{\"Kind\":2,\"Path\":\"/etc/group\"}")));
        Assert.Equal("C /etc", ContainerImages.DiffLine(JsonNode.Parse("{\"Kind\":0,\"Path\":\"/etc\"}")));

        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var items = JsonNode.Parse("[{\"Id\":\"sha256:0123456789abcdef0123\",\"Created\":1799996400,\"CreatedBy\":\"/bin/sh -c #(nop)\\tCMD [\\\"cat\\\", \\\"/a-long-file-name-for-the-ellipsis\\\"]\",\"Size\":0,\"Comment\":\"\"}," +
            "{\"Id\":\"<missing>\",\"Created\":100,\"CreatedBy\":\"\",\"Size\":1980000,\"Comment\":\"Imported from -\"}]")!.AsArray();
        var rows = ContainerImages.HistoryRows(items, trunc: true, human: true, now);
        Assert.Equal("0123456789ab", rows[0]["ID"]);
        Assert.Equal("About an hour ago", rows[0]["CreatedSince"]);
        Assert.Equal("/bin/sh -c #(nop) CMD [\"cat\", \"/a-long-file-…", rows[0]["CreatedBy"]);
        Assert.Equal("0B", rows[0]["Size"]);
        Assert.Equal("<missing>", rows[1]["ID"]);
        Assert.Equal("N/A", rows[1]["CreatedSince"]);
        Assert.Equal("1.98MB", rows[1]["Size"]);
        Assert.Equal("1980000", ContainerImages.HistoryRows(items, true, human: false, now)[1]["Size"]);
    }
}
