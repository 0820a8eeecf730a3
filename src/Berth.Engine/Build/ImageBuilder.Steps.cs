using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Linux;
using Berth.Runtime.Build;
using Berth.Runtime.Containers;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Berth.Engine.Build;

public sealed partial class ImageBuilder
{
    private sealed partial class BuildRun
    {
        // ------------------------------------------------------------------ RUN

        /// <summary>RUN: a container of the current image (same create/start/wait/remove as `docker run`), its upper
        /// directory the new layer.</summary>
        private async Task RunAsync(DockerfileInstruction instruction)
        {
            if (_image is null) throw new BuildException("Please provide a source image with `from` prior to run");
            var command = instruction.Json?.ToList() ?? [.. _shell, instruction.Arguments];
            var argEnv = ArgEnvironment();
            string createdBy = (argEnv.Count > 0 ? $"|{argEnv.Count} {string.Join(' ', argEnv)} " : "") + string.Join(' ', command);
            string key = "RUN " + JsonSerializer.Serialize(command) + ArgsKey();
            if (await TryCacheAsync(key)) return;

            var env = new List<string>(argEnv.Where(a => !(_config.Env ?? []).Any(e => e.Split('=', 2)[0] == a.Split('=', 2)[0])));
            var container = builder._containers.Create(new ContainerCreateRequest
            {
                Image = _image.Id, Cmd = command, Entrypoint = [""], Env = env, User = _config.User,
                WorkingDir = _config.WorkingDir,
                HostConfig = new HostConfig { NetworkMode = request.NetworkMode is "" or "default" ? "default" : request.NetworkMode },
                Labels = new() { ["org.berth.build"] = "run" },
            }, null);
            string shortId = container.Id[..12];
            await Say($" ---> Running in {shortId}\n");
            // The legacy builder keeps a failed step's container for inspection unless --force-rm, and every step's
            // container with --rm=false.
            bool keep = false;
            try
            {
                await builder._containers.StartAsync(container.Id, ct);
                await foreach (var entry in builder._containers.ReadLogsAsync(container.Id, follow: true, null, null, ct))
                    await Say(Encoding.UTF8.GetString(entry.Line));
                int exit = await builder._containers.WaitAsync(container.Id, null, ct);
                if (exit != 0)
                    throw new BuildException($"The command '{string.Join(' ', command)}' returned a non-zero code: {exit}", exit);
                string upper = builder._containers.UpperDirectory(container.Id);
                var image = await CreateAsync(ImageStore.CopyConfig(_config), async (stream, token) =>
                {
                    using var root = RootedDirectory.Open(upper);
                    await using var archive = new DirectoryArchive(stream, new ArchiveOptions { OverlayWhiteouts = true, Skip = ContainerService.IsMountPlaceholder });
                    await archive.AddTreeAsync(root.Handle, "", token);
                }, createdBy, key);
                keep = !request.RemoveIntermediate;
                if (!keep)
                {
                    await RemoveContainerAsync(container.Id);
                    await Say($"Removing intermediate container {shortId}\n");
                }
                await Advance(image);
            }
            catch (Exception) when (!request.ForceRemove)
            {
                keep = true;
                throw;
            }
            finally
            {
                if (!keep) await RemoveContainerAsync(container.Id);
            }
        }

        private async Task RemoveContainerAsync(string id)
        {
            if (builder._containers.Find(id) is null) return;
            try { await builder._containers.RemoveAsync(id, force: true); }
            catch (Exception e) { builder._logger.LogWarning(e, "removing build container {Id} failed", id[..12]); }
        }

        // ------------------------------------------------------------------ WORKDIR

        /// <summary>WORKDIR sets the directory and, as the legacy builder does, creates it in the image when it is not
        /// there yet (a layer holding the new directories; no layer when it exists).</summary>
        private async Task WorkdirAsync(DockerfileInstruction instruction)
        {
            var config = ImageStore.CopyConfig(_config);
            try { ImageChanges.ApplyBuildInstruction(config, instruction.Original, ArgEnvironment(), instruction.Escape); }
            catch (ImageException e) { throw new BuildException(e.Message); }
            string createdBy = "/bin/sh -c #(nop)  " + instruction.Original, key = instruction.Original + ArgsKey();
            string relative = Clean(config.WorkingDir ?? "");
            if (await TryCacheAsync(key)) return;
            var view = new MergedView(_image is null ? [] : Images.LayerDirectories(_image), builder.ScratchRoot);
            var root = RootedDirectory.Open(view.Path);
            try
            {
                Func<Stream, CancellationToken, Task>? layer = IsDirectory(root, relative) ? null : async (stream, token) =>
                {
                    await using var archive = new DirectoryArchive(stream);
                    await archive.AddDirectoriesAsync(root, relative, token);
                };
                await SayProbeContainerAsync();
                await Advance(await CreateAsync(config, layer, createdBy, key));
            }
            finally
            {
                root.Dispose();
                view.Dispose();
            }
        }

        // ------------------------------------------------------------------ COPY and ADD

        private async Task CopyAsync(DockerfileInstruction instruction)
        {
            string name = instruction.Keyword;
            foreach (string flag in instruction.Flags.Keys)
                if (flag is not ("from" or "chown" or "chmod" or "checksum") || flag == "from" && name == "ADD" || flag == "checksum" && name == "COPY")
                    throw new BuildException($"Unknown flag: {flag}");
            var env = new List<string>([.. ArgEnvironment(), .. _config.Env ?? []]);
            var words = instruction.Json?.Select(w => w).ToList() ?? BuildWords.Split(instruction.Arguments, env, instruction.Escape);
            if (words.Count < 2)
                throw new BuildException($"{name} requires at least two arguments, but only one was provided. Destination could not be determined.");
            string dest = BuildWords.Expand(words[^1], env, instruction.Escape);
            var sources = words.Take(words.Count - 1).ToList();
            int urls = name == "ADD" ? sources.Count(RemoteDownload.IsUrl) : 0;
            if (urls > 0 && urls < sources.Count)
                throw new BuildException("ADD with both URL and build context sources is not supported by Berth: split it into two ADD instructions");
            if (urls == 0 && instruction.Flag("checksum") is not null) throw new BuildException("checksum can't be specified for non-HTTP(S) sources");
            string? from = instruction.Flag("from");
            uint? mode = instruction.Flag("chmod") is { } chmod
                ? uint.TryParse(chmod, NumberStyles.None, CultureInfo.InvariantCulture, out _) && chmod.All(c => c is >= '0' and <= '7')
                    ? Convert.ToUInt32(chmod, 8) : throw new BuildException($"invalid chmod parameter: {chmod}")
                : null;
            string workdir = string.IsNullOrEmpty(_config.WorkingDir) ? "/" : _config.WorkingDir;
            string destPath = dest.StartsWith('/') ? dest : workdir.TrimEnd('/') + "/" + dest;
            bool destIsDirectory = dest.EndsWith('/') || dest is "." or "..";

            ImageRecord? fromImage = null;
            if (from is not null)
            {
                fromImage = _stages.TryGetValue(from, out var stage) ? stage
                    : int.TryParse(from, out int index) && index >= 0 && index < _stageList.Count ? _stageList[index]
                    : Images.Find(from) ?? throw new BuildException($"invalid from flag value {from}: no stage or image of that name");
            }

            // The current image, read-only, for what the destination is and for --chown names.
            var current = _image;
            using var image = new LazyImageView(() => current is null ? [] : Images.LayerDirectories(current), builder.ScratchRoot);
            string destRelative = string.Join('/', destPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));

            using var sourceView = fromImage is null ? null : new MergedView(Images.LayerDirectories(fromImage), builder.ScratchRoot);
            using var sourceRoot = sourceView is null ? null : RootedDirectory.Open(sourceView.Path);
            var patterns = sources.Select(s => BuildWords.Expand(s, env, instruction.Escape)).ToList();
            // ADD of URLs: the downloads are the sources (never extracted), their content the key.
            using var downloads = urls > 0
                ? await DownloadedSources.GetAsync(patterns, dest, instruction.Flag("checksum"), builder.ScratchRoot, ct) : null;
            var ignored = sourceRoot is null && downloads is null ? ignore : null;

            // The sources and their hash from the context's index; from the files themselves for --from, or when a
            // symlink is on the way (the index does not follow links).
            string? hash = downloads?.Hash;
            var matches = downloads?.Paths ?? (sourceRoot is null ? FindSources(name, patterns, p => context.Index.Glob(p, ignore)) : null);
            if (matches is not null && downloads is null) hash = context.Index.Hash(matches, ignore);
            var root = downloads?.Root ?? sourceRoot ?? (matches is null ? await context.FilesAsync(ct) : null);
            matches ??= FindSources(name, patterns, p => Glob(root!, p, ignored))!;
            if (matches.Count > 1) destIsDirectory = true;
            if (!destIsDirectory && IsDirectory(image.Root, destRelative)) destIsDirectory = true;

            // The copied files are archived once to a scratch file: the layer's bytes and, without the index, its
            // cache key.
            string layerFile = Path.Combine(builder.ScratchRoot, "copy-" + Guid.NewGuid().ToString("N")[..12] + ".tar");
            try
            {
                // One COPY source found by the index in a plain context is read straight from the context's tar.
                bool fromTar = root is null && name == "COPY" && matches.Count == 1 && context.Index.Plain;
                async Task ArchiveSourcesAsync()
                {
                    if (!fromTar) root ??= await context.FilesAsync(ct);
                    await using var file = new FileStream(layerFile, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
                    await using var archive = new DirectoryArchive(file, new ArchiveOptions
                    {
                        Owner = instruction.Flag("chown") is { } chown ? Owner(image.Path, chown) : (0, 0), Mode = mode,
                        Skip = ignored is null ? null : path => ignored.Ignores(path),
                    });
                    if (fromTar) await AddSourceFromContextAsync(archive, matches[0], destRelative, destIsDirectory, ignored);
                    else foreach (string match in matches)
                        await AddSourceAsync(archive, root!, match, destRelative, destIsDirectory, name == "ADD" && downloads is null);
                }
                if (hash is null)
                {
                    await ArchiveSourcesAsync();
                    await using var read = File.OpenRead(layerFile);
                    hash = Convert.ToHexString(await SHA256.HashDataAsync(read, ct)).ToLowerInvariant();
                }
                string kind = matches.Count > 1 ? "multi" : root is null ? (context.Index.IsDirectory(matches[0]) ? "dir" : "file")
                    : IsDirectory(root, matches[0]) ? "dir" : "file";
                string createdBy = $"/bin/sh -c #(nop) {name} {kind}:{hash} in {dest} ";
                string key = $"{name} {from} {instruction.Flag("chown")} {instruction.Flag("chmod")} {hash} {destPath} {destIsDirectory}"
                    + (downloads is null ? "" : " " + downloads.Names);
                if (await TryCacheAsync(key)) return;
                if (!File.Exists(layerFile)) await ArchiveSourcesAsync();
                // The layer: the destination's directories as the image has them, then what was copied.
                string parents = destIsDirectory ? destRelative : destRelative.Contains('/') ? destRelative[..destRelative.LastIndexOf('/')] : "";
                await Advance(await CreateAsync(ImageStore.CopyConfig(_config), async (stream, token) =>
                {
                    await using var layer = new DirectoryArchive(stream);
                    await layer.AddDirectoriesAsync(image.Root, parents, token);
                    await using var read = File.OpenRead(layerFile);
                    await layer.AddArchiveAsync(read, "", token);
                }, createdBy, key));
            }
            finally { File.Delete(layerFile); }
        }

        /// <summary>What the sources of a COPY match, in order; null when <paramref name="glob"/> cannot tell. No match
        /// is Docker's error.</summary>
        private static List<string>? FindSources(string name, List<string> patterns, Func<string, List<string>?> glob)
        {
            var matches = new List<string>();
            foreach (string pattern in patterns)
            {
                var found = glob(Clean(pattern));
                if (found is null) return null;
                if (found.Count == 0)
                    throw new BuildException(pattern.IndexOfAny(['*', '?', '[']) >= 0
                        ? $"{name} failed: no source files were specified"
                        : $"{name} failed: file not found in build context or excluded by .dockerignore: stat {pattern}: file does not exist");
                matches.AddRange(found);
            }
            return matches;
        }

        private async Task AddSourceAsync(DirectoryArchive archive, RootedDirectory root, string source, string dest,
            bool destIsDirectory, bool add)
        {
            int slash = source.LastIndexOf('/');
            string parentPath = slash < 0 ? "" : source[..slash], leaf = slash < 0 ? source : source[(slash + 1)..];
            if (source.Length == 0)
            {
                await archive.AddTreeAsync(root.Handle, dest, ct);
                return;
            }
            using var parent = root.OpenInRoot(parentPath.Length == 0 ? "." : parentPath, Interop.O_RDONLY | Interop.O_DIRECTORY);
            var info = Interop.StatAt(parent, leaf) ?? throw new BuildException($"file not found in build context: {source}");
            if (info.IsDirectory)
            {
                using var directory = Interop.OpenAt(parent, leaf, Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW);
                await archive.AddTreeAsync(directory, dest, ct, source);
                return;
            }
            if (add && info.IsRegular && IsArchive(parent, leaf, out var stream))
            {
                await using (stream) await archive.AddArchiveAsync(stream!, dest, ct);
                return;
            }
            string target = destIsDirectory ? (dest.Length == 0 ? leaf : dest + "/" + leaf) : dest;
            if (target.Length == 0) throw new BuildException("cannot copy a file onto /");
            await archive.AddNodeAsync(parent, leaf, target, ct, source);
        }

        /// <summary>What <see cref="AddSourceAsync"/> writes for one COPY source, taken from the context's tar in order
        /// instead of from its extracted tree: the same names (a directory's content below the destination, a file
        /// as the destination or in it) and the same ignore rule (a path is left out when it, or a directory on its
        /// way below the source, is ignored).</summary>
        private async Task AddSourceFromContextAsync(DirectoryArchive archive, string source, string dest,
            bool destIsDirectory, IgnoreRules? ignored)
        {
            bool directory = context.Index.IsDirectory(source);
            string leaf = source[(source.LastIndexOf('/') + 1)..];
            string fileTarget = destIsDirectory ? (dest.Length == 0 ? leaf : dest + "/" + leaf) : dest;
            if (!directory && fileTarget.Length == 0) throw new BuildException("cannot copy a file onto /");
            int below = source.Length == 0 ? 0 : source.Length + 1;
            await context.ReadEntriesAsync(async (entry, path) =>
            {
                string target;
                if (!directory)
                {
                    if (path != source || ignored?.Ignores(path) == true) return;
                    target = fileTarget;
                }
                else
                {
                    if (below > 0 && !(path.Length > below && path.StartsWith(source, StringComparison.Ordinal) && path[below - 1] == '/')) return;
                    for (int slash = path.IndexOf('/', below); ignored is not null; slash = path.IndexOf('/', slash + 1))
                    {
                        if (ignored.Ignores(slash < 0 ? path : path[..slash])) return;
                        if (slash < 0) break;
                    }
                    target = dest.Length == 0 ? path[below..] : dest + "/" + path[below..];
                }
                await archive.AddEntryAsync(entry, target, ct);
            }, ct);
        }

        /// <summary>ADD extracts a local tar (plain or gzip); anything else is copied as it is.</summary>
        private static bool IsArchive(SafeFileHandle parent, string name, out Stream? archive)
        {
            archive = null;
            var handle = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_NOFOLLOW | Interop.O_NONBLOCK);
            var file = new FileStream(handle, FileAccess.Read, 1 << 16);
            var head = new byte[512];
            int read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            file.Position = 0;
            if (read >= 2 && head[0] == 0x1f && head[1] == 0x8b)
            {
                archive = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress);
                return true;
            }
            if (read >= 262 && Encoding.ASCII.GetString(head, 257, 5) == "ustar")
            {
                archive = file;
                return true;
            }
            file.Dispose();
            return false;
        }

        private static bool IsDirectory(RootedDirectory root, string path)
        {
            if (path.Length == 0) return true;
            try
            {
                using var handle = root.OpenInRoot(path, Interop.O_RDONLY | Interop.O_DIRECTORY);
                return true;
            }
            catch (LinuxException) { return false; }
        }

        private static (int, int) Owner(string rootfs, string chown)
        {
            var parts = chown.Split(':', 2);
            if (parts.All(p => p.All(char.IsAsciiDigit) && p.Length > 0))
            {
                int uid = int.Parse(parts[0], CultureInfo.InvariantCulture);
                return (uid, parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : uid);
            }
            try
            {
                var (u, g, _) = UserResolver.Resolve(rootfs, chown);
                return ((int)u, (int)g);
            }
            catch (RuntimeException e) { throw new BuildException($"unable to convert uid/gid chown string to host mapping: {e.Message}"); }
        }

        private static string Clean(string path) =>
            string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".")
                .Aggregate(new List<string>(), (parts, p) => { if (p == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); } else parts.Add(p); return parts; }));

        /// <summary>The paths a COPY source names: itself when it exists, or what its glob matches component by
        /// component (Go's filepath.Match), ignored paths left out.</summary>
        private static List<string> Glob(RootedDirectory root, string pattern, IgnoreRules? ignore)
        {
            if (pattern.IndexOfAny(['*', '?', '[']) < 0)
            {
                if (pattern.Length > 0 && ignore?.Ignores(pattern) == true) return [];
                try { root.OpenInRoot(pattern.Length == 0 ? "." : pattern, Interop.O_PATH).Dispose(); return [pattern]; }
                catch (LinuxException) { return []; }
            }
            var results = new List<string> { "" };
            foreach (string part in pattern.Split('/'))
            {
                var next = new List<string>();
                var regex = ContextIndex.ComponentPattern(part);
                foreach (string dir in results)
                {
                    SafeFileHandle handle;
                    try { handle = root.OpenInRoot(dir.Length == 0 ? "." : dir, Interop.O_RDONLY | Interop.O_DIRECTORY); }
                    catch (LinuxException) { continue; }
                    using (handle)
                        foreach (string entry in RootedDirectory.ListNames(handle).Order(StringComparer.Ordinal))
                            if (regex.IsMatch(entry)) next.Add(dir.Length == 0 ? entry : dir + "/" + entry);
                }
                results = next;
            }
            return results.Where(r => ignore?.Ignores(r) != true).ToList();
        }
    }
}
