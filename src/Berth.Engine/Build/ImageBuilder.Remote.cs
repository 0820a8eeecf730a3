using System.Diagnostics;
using System.Formats.Tar;
using System.Text.RegularExpressions;
using Berth.Linux;
using Berth.Runtime.Files;
using Berth.Runtime.Images;

namespace Berth.Engine.Build;

/// <summary>`POST /build?remote=`: the context fetched by the daemon, as moby's builder/remotecontext does it. A git
/// URL is cloned with the `git` program (shallow, `#ref:subdir`); an http(s) URL is a tar (plain or compressed) or,
/// served as text, the Dockerfile alone. Either way the result is a tar that takes the path of a context sent in the
/// body, with the same checks.</summary>
public sealed partial class ImageBuilder
{
    /// <summary>A tar stream of the remote context (a scratch file removed when the stream is closed). Failures are
    /// <see cref="BadRequestException"/>s: nothing has been said to the client yet.</summary>
    public async Task<Stream> OpenRemoteContextAsync(string remote, string dockerfile, CancellationToken ct)
    {
        Directory.CreateDirectory(ScratchRoot);
        string tar = Path.Combine(ScratchRoot, "remote-" + Guid.NewGuid().ToString("N")[..12] + ".tar");
        try
        {
            if (GitRemote.IsGitUrl(remote)) await GitRemote.CloneToTarAsync(remote, ScratchRoot, tar, ct);
            else if (RemoteDownload.IsUrl(remote)) await DownloadContextAsync(remote, dockerfile, tar, ct);
            else throw new BadRequestException($"remoteURL ({remote}) could not be recognized as URL");
            return new FileStream(tar, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.DeleteOnClose);
        }
        catch (BuildException e)
        {
            File.Delete(tar);
            throw new BadRequestException(e.Message);
        }
        catch
        {
            File.Delete(tar);
            throw;
        }
    }

    /// <summary>moby's newURLRemote: text/plain (declared, or sniffed when the server says nothing or
    /// application/octet-stream) is the Dockerfile; anything else the context archive.</summary>
    private async Task DownloadContextAsync(string url, string dockerfile, string tar, CancellationToken ct)
    {
        string body = tar + ".download";
        try
        {
            Download download;
            try { download = await RemoteDownload.GetAsync(url, body, ct); }
            catch (BuildException e) { throw new BuildException($"error downloading remote context {url}: {e.Message}"); }
            if (new FileInfo(body).Length == 0) throw new BuildException($"error downloading remote context {url}: empty response");
            if (IsText(download.ContentType, body))
            {
                await using var output = new FileStream(tar, FileMode.CreateNew, FileAccess.Write);
                await using var writer = new TarWriter(output, TarEntryFormat.Pax);
                await using var content = File.OpenRead(body);
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, dockerfile)
                {
                    DataStream = content, Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = DateTimeOffset.UtcNow,
                }, ct);
            }
            else File.Move(body, tar);
        }
        finally { File.Delete(body); }
    }

    /// <summary>Go's http.DetectContentType as moby leans on it: a gzip/bzip2/xz/zstd magic or a control byte
    /// in the first 512 bytes is binary; otherwise text.</summary>
    public static bool IsText(string? contentType, string file)
    {
        if (contentType is { Length: > 0 } && contentType != "application/octet-stream") return contentType == "text/plain";
        var head = new byte[512];
        int read;
        using (var stream = File.OpenRead(file)) read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var start = head.AsSpan(0, read);
        if (start.StartsWith((byte[])[0x1f, 0x8b]) || start.StartsWith("BZh"u8) || start.StartsWith((byte[])[0xfd, (byte)'7', (byte)'z', (byte)'X', (byte)'Z'])
            || start.StartsWith((byte[])[0x28, 0xb5, 0x2f, 0xfd]))
            return false;
        foreach (byte b in start)
            if (b is <= 0x08 or 0x0b or (>= 0x0e and <= 0x1a) or (>= 0x1c and <= 0x1f)) return false;
        return true;
    }
}

/// <summary>moby's builder/remotecontext/git: `URL#ref:subdir`, fetched shallow into a fresh repository with the
/// system's and the user's git configuration off and the file protocol refused (a hostile repository's submodules
/// cannot reach into the host), then checked out; the (sub)directory, .git included, is the context.</summary>
public static partial class GitRemote
{
    [GeneratedRegex(@"\.git(?:#.+)?$")]
    private static partial Regex GitSuffix();

    /// <summary>moby's urlutil.IsGitURL.</summary>
    public static bool IsGitUrl(string remote) =>
        RemoteDownload.IsUrl(remote) && GitSuffix().IsMatch(remote)
        || remote.StartsWith("git://", StringComparison.Ordinal) || remote.StartsWith("github.com/", StringComparison.Ordinal)
        || remote.StartsWith("git@", StringComparison.Ordinal);

    /// <summary>The repository to fetch, the ref ("" for none given) and the subdirectory of `URL#ref:subdir`.</summary>
    public static (string Repository, string Ref, string Subdir) Parse(string remote)
    {
        bool transport = remote.StartsWith("https://", StringComparison.Ordinal) || remote.StartsWith("http://", StringComparison.Ordinal)
            || remote.StartsWith("git://", StringComparison.Ordinal) || remote.StartsWith("git@", StringComparison.Ordinal);
        if (!transport) remote = "https://" + remote;
        int hash = remote.IndexOf('#');
        string repository = hash < 0 ? remote : remote[..hash], fragment = hash < 0 ? "" : remote[(hash + 1)..];
        int colon = fragment.IndexOf(':');
        string gitRef = colon < 0 ? fragment : fragment[..colon], subdir = colon < 0 ? "" : fragment[(colon + 1)..];
        if (gitRef.StartsWith('-')) throw new BuildException($"invalid refspec: {gitRef}");
        if (repository.StartsWith('-')) throw new BuildException($"invalid repository: {repository}");
        return (repository, gitRef, subdir);
    }

    public static async Task CloneToTarAsync(string remote, string scratchRoot, string tar, CancellationToken ct)
    {
        var (repository, gitRef, subdir) = Parse(remote);
        string clone = Path.Combine(scratchRoot, "git-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(clone);
        try
        {
            await GitAsync(clone, ct, "init", "-q");
            await GitAsync(clone, ct, "remote", "add", "origin", repository);
            // No ref: moby's "master"; when there is none, the remote's HEAD (what a clone would check out).
            string[] refs = gitRef.Length > 0 ? [gitRef] : ["master", "HEAD"];
            string fetched = "";
            (int Code, string Output) fetch = (1, "");
            foreach (string candidate in refs)
            {
                fetch = await RunAsync(clone, ct, "fetch", "-q", "--depth", "1", "origin", "--", candidate);
                // A dumb HTTP server cannot serve a shallow fetch: fetch it whole.
                if (fetch.Code != 0 && fetch.Output.Contains("shallow", StringComparison.OrdinalIgnoreCase))
                    fetch = await RunAsync(clone, ct, "fetch", "-q", "origin", "--", candidate);
                if (fetch.Code == 0) { fetched = candidate; break; }
            }
            if (fetch.Code != 0) throw new BuildException($"error fetching: {fetch.Output}");
            // A branch name checks out the branch; anything else (a tag, a commit, HEAD) what was fetched.
            var checkout = await RunAsync(clone, ct, "checkout", "-q", fetched);
            if (checkout.Code != 0 && (await RunAsync(clone, ct, "checkout", "-q", "FETCH_HEAD")).Code != 0)
                throw new BuildException($"error checking out {fetched}: {checkout.Output}");
            var submodules = await RunAsync(clone, ct, "submodule", "update", "--init", "--recursive", "--depth=1");
            if (submodules.Code != 0) throw new BuildException($"error initializing submodules: {submodules.Output}");

            using var root = RootedDirectory.Open(clone);
            Microsoft.Win32.SafeHandles.SafeFileHandle context;
            try { context = root.OpenInRoot(subdir.Length == 0 ? "." : subdir, Interop.O_RDONLY | Interop.O_DIRECTORY); }
            catch (LinuxException e) { throw new BuildException($"error setting git context, {subdir} is not a directory within the git root: {e.Message}"); }
            using (context)
            {
                await using var output = new FileStream(tar, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                await using var archive = new DirectoryArchive(output);
                await archive.AddTreeAsync(context, "", ct);
            }
        }
        finally { RootedDirectory.RemoveTree(clone); }
    }

    private static async Task GitAsync(string directory, CancellationToken ct, params string[] args)
    {
        var (code, output) = await RunAsync(directory, ct, args);
        if (code != 0) throw new BuildException($"git {args[0]} failed: {output}");
    }

    /// <summary>git with moby's isolation: no system or user configuration, no prompts, no file:// or ext:: from
    /// inside the repository.</summary>
    private static async Task<(int Code, string Output)> RunAsync(string directory, CancellationToken ct, params string[] args)
    {
        var info = new ProcessStartInfo("git")
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("protocol.file.allow=never");
        foreach (string arg in args) info.ArgumentList.Add(arg);
        info.Environment["GIT_PROTOCOL_FROM_USER"] = "0";
        info.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        info.Environment["HOME"] = "/dev/null";
        info.Environment["GIT_TERMINAL_PROMPT"] = "0";
        Process process;
        try { process = Process.Start(info)!; }
        catch (System.ComponentModel.Win32Exception) { throw new BuildException("unable to find 'git': install git to build from a git repository"); }
        using (process)
        {
            process.StandardInput.Close();
            try
            {
                var stdout = process.StandardOutput.ReadToEndAsync(ct);
                var stderr = process.StandardError.ReadToEndAsync(ct);
                await process.WaitForExitAsync(ct);
                return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }
    }
}
