using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Berth.Runtime.Build;

namespace Berth.Cli.Client;

/// <summary>The build context as the docker CLI sends it: a directory's tree as a tar (owners 0:0, what .dockerignore
/// excludes left out, but the Dockerfile and .dockerignore always in), or stdin as it is when it is an archive, or a
/// Dockerfile read from stdin wrapped as the only file of the context.</summary>
public sealed class BuildContext
{
    private const string DefaultDockerfile = "Dockerfile";

    private BuildContext(string dockerfile, Func<Stream, CancellationToken, Task> write)
    {
        Dockerfile = dockerfile;
        WriteAsync = write;
    }

    /// <summary>The Dockerfile's name inside the context, as the build's dockerfile= parameter.</summary>
    public string Dockerfile { get; }

    /// <summary>Writes the context tar to the stream (the request body).</summary>
    public Func<Stream, CancellationToken, Task> WriteAsync { get; }

    /// <summary>A context directory; <paramref name="dockerfileFlag"/> is -f as given (relative to the current
    /// directory), "-" for a Dockerfile on <paramref name="stdin"/>, or null for the context's own Dockerfile.</summary>
    public static BuildContext FromDirectory(string directory, string? dockerfileFlag, Stream stdin)
    {
        string root = Path.GetFullPath(directory);
        if (!Directory.Exists(root))
            throw new CliException(File.Exists(root) ? $"unable to prepare context: context must be a directory: {root}"
                : $"unable to prepare context: path \"{directory}\" not found");
        root = Path.GetFullPath(new DirectoryInfo(root).ResolveLinkTarget(true)?.FullName ?? root);
        byte[]? outside = null;
        string dockerfile;
        if (dockerfileFlag == "-")
        {
            using var copy = new MemoryStream();
            stdin.CopyTo(copy);
            outside = copy.ToArray();
            dockerfile = RandomDockerfileName();
        }
        else
        {
            string path = dockerfileFlag is { Length: > 0 } given ? Path.GetFullPath(given) : Path.Combine(root, DefaultDockerfile);
            if (dockerfileFlag is null or "" && !File.Exists(path) && File.Exists(Path.Combine(root, "dockerfile")))
                path = Path.Combine(root, "dockerfile");
            if (!File.Exists(path))
                throw new CliException($"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {path}: no such file or directory");
            string relative = Path.GetRelativePath(root, path);
            if (relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative))
            {
                // Outside the context: sent inside it under a random name, as the docker CLI does.
                outside = File.ReadAllBytes(path);
                dockerfile = RandomDockerfileName();
            }
            else dockerfile = relative.Replace('\\', '/');
        }
        string ignoreFile = Path.Combine(root, ".dockerignore");
        string ignoreText = File.Exists(ignoreFile) ? File.ReadAllText(ignoreFile) : "";
        // The engine leaves the Dockerfile and .dockerignore out of COPY itself; they must reach it all the same.
        var ignore = new IgnoreRules(ignoreText + (outside is null ? $"\n!{dockerfile}" : "") + "\n!.dockerignore\n");
        return new BuildContext(dockerfile, async (output, ct) =>
        {
            await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
            await WriteTreeAsync(writer, root, "", ignore, outside is null ? null : ignoreText, dockerfile, ct);
            if (outside is not null)
            {
                await writer.WriteEntryAsync(FileEntry(dockerfile, outside, UnixFileMode.UserRead | UnixFileMode.UserWrite), ct);
                if (!File.Exists(ignoreFile)) await writer.WriteEntryAsync(IgnoreEntry(".dockerignore", dockerfile), ct);
            }
        });
    }

    /// <summary>`build -`: stdin is the context when it starts as an archive (tar, gzip, bzip2, xz), else it is the
    /// Dockerfile of a context holding nothing else.</summary>
    public static async Task<BuildContext> FromStdinAsync(Stream stdin, string? dockerfileFlag, CancellationToken ct)
    {
        if (dockerfileFlag == "-")
            throw new CliException("invalid argument: can't use stdin for both build context and dockerfile");
        var head = new byte[1024];
        int read = 0;
        while (read < head.Length && await stdin.ReadAsync(head.AsMemory(read), ct) is var n and > 0) read += n;
        var prefix = head.AsMemory(0, read);
        if (IsArchive(prefix.Span))
        {
            return new BuildContext(string.IsNullOrEmpty(dockerfileFlag) ? DefaultDockerfile : dockerfileFlag, async (output, token) =>
            {
                await output.WriteAsync(prefix, token);
                await stdin.CopyToAsync(output, token);
            });
        }
        if (!string.IsNullOrEmpty(dockerfileFlag))
            throw new CliException("unable to prepare context from STDIN: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles");
        using var all = new MemoryStream();
        await all.WriteAsync(prefix, ct);
        await stdin.CopyToAsync(all, ct);
        byte[] dockerfile = all.ToArray();
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        return new BuildContext(DefaultDockerfile, async (output, token) =>
        {
            await using var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
            await writer.WriteEntryAsync(FileEntry(DefaultDockerfile, dockerfile, mode), token);
        });
    }

    /// <summary>Compression magic (gzip, bzip2, xz, zstd) or a tar header whose checksum holds.</summary>
    public static bool IsArchive(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((byte[])[0x1f, 0x8b]) || head.StartsWith("BZh"u8) || head.StartsWith((byte[])[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])
            || head.StartsWith((byte[])[0x28, 0xb5, 0x2f, 0xfd]))
            return true;
        if (head.Length < 512) return false;
        string field = Encoding.ASCII.GetString(head.Slice(148, 8)).Trim('\0', ' ');
        if (field.Length == 0 || field.Any(c => c is < '0' or > '7')) return false;
        long expected = Convert.ToInt64(field, 8), sum = 0;
        for (int i = 0; i < 512; i++) sum += i is >= 148 and < 156 ? ' ' : head[i];
        return sum == expected;
    }

    private static string RandomDockerfileName()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        return ".dockerfile." + new string(Enumerable.Range(0, 20).Select(_ => alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]).ToArray());
    }

    private static PaxTarEntry FileEntry(string name, byte[] content, UnixFileMode mode) =>
        new(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(content), Mode = mode, ModificationTime = DateTimeOffset.UtcNow, Uid = 0, Gid = 0,
        };

    /// <summary>.dockerignore with the random Dockerfile name added, so `COPY . /` does not take it.</summary>
    private static PaxTarEntry IgnoreEntry(string original, string dockerfile) =>
        FileEntry(".dockerignore", Encoding.UTF8.GetBytes(original + "\n" + dockerfile + "\n"), UnixFileMode.UserRead | UnixFileMode.UserWrite);

    /// <summary>The tree in name order; an ignored directory is still walked when an exception rule may take
    /// something inside it back.</summary>
    private static async Task WriteTreeAsync(TarWriter writer, string directory, string prefix, IgnoreRules ignore,
        string? rewriteIgnore, string dockerfile, CancellationToken ct)
    {
        foreach (string path in Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
        {
            string name = prefix + Path.GetFileName(path);
            if (Berth.Linux.Interop.StatNoFollow(path) is not { } node) continue; // gone meanwhile
            bool ignored = ignore.Ignores(name);
            if (ignored && !(node.IsDirectory && ignore.MayKeepInside(name))) continue;
            var mode = (UnixFileMode)node.Permissions;
            var modified = node.Modified;
            if (name == ".dockerignore" && rewriteIgnore is not null)
                await writer.WriteEntryAsync(IgnoreEntry(rewriteIgnore, dockerfile), ct);
            else if (node.IsSymlink)
            {
                var link = new PaxTarEntry(TarEntryType.SymbolicLink, name)
                {
                    LinkName = new FileInfo(path).LinkTarget ?? "", Mode = mode, ModificationTime = modified, Uid = 0, Gid = 0,
                };
                await writer.WriteEntryAsync(link, ct);
            }
            else if (node.IsDirectory)
            {
                if (!ignored)
                {
                    var entry = new PaxTarEntry(TarEntryType.Directory, name + "/") { Mode = mode, ModificationTime = modified, Uid = 0, Gid = 0 };
                    await writer.WriteEntryAsync(entry, ct);
                }
                await WriteTreeAsync(writer, path, name + "/", ignore, null, dockerfile, ct);
            }
            else if (node.IsRegular)
            {
                await using var content = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
                var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
                {
                    DataStream = content, Mode = mode, ModificationTime = modified, Uid = 0, Gid = 0,
                };
                await writer.WriteEntryAsync(entry, ct);
            }
            // Sockets, FIFOs and devices are not part of a context.
        }
    }
}
