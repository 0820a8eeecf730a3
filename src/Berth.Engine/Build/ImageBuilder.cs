using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Runtime.Build;
using Berth.Runtime.Files;
using Berth.Runtime.Images;
using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Build;

/// <summary>Docker's legacy builder: every instruction after FROM makes an image (an empty layer for config
/// instructions, a container's upper directory for RUN, the copied files for COPY/ADD), each found again in the layer
/// cache by its parent and the step (instruction, build args, content hash of what is copied).</summary>
public sealed partial class ImageBuilder(EngineOptions options, ImageStore images, ContainerService containers, ILogger logger)
{
    private readonly ImageStore _images = images;
    private readonly ContainerService _containers = containers;
    private readonly ILogger _logger = logger;

    private static readonly string[] DefaultShell = ["/bin/sh", "-c"];
    private static readonly HashSet<string> ProxyArgs =
        ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

    /// <summary>Where a missing FROM image would be pulled (the registry client's hook); null: a missing base is an
    /// error.</summary>
    public Func<string, CancellationToken, Task<ImageRecord?>>? PullMissing { get; set; }

    private string ScratchRoot => Path.Combine(options.DataRoot, "build");

    /// <summary>Runs a build from a context tar; returns the final image. Nothing is tagged unless every step
    /// succeeded.</summary>
    public async Task<ImageRecord> BuildAsync(Stream context, BuildRequest request, IBuildOutput output, CancellationToken ct)
    {
        Directory.CreateDirectory(ScratchRoot);
        string dockerfileName = string.IsNullOrEmpty(request.Dockerfile) ? "Dockerfile" : request.Dockerfile;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var files = await BuildContext.ReceiveAsync(context, ScratchRoot, [dockerfileName, ".dockerignore"], ct);
        _logger.LogDebug("build: context received and indexed in {Ms:F1} ms", clock.Elapsed.TotalMilliseconds);
        try
        {
            byte[] dockerfile = await ReadContextFileAsync(files, dockerfileName, ct)
                ?? throw new BadRequestException($"Cannot locate specified Dockerfile: {dockerfileName}");
            var ignore = new IgnoreRules(Encoding.UTF8.GetString(await ReadContextFileAsync(files, ".dockerignore", ct) ?? []));
            IReadOnlyList<DockerfileInstruction> instructions;
            try { instructions = DockerfileParser.Parse(Encoding.UTF8.GetString(dockerfile)); }
            catch (DockerfileException e) { throw new BadRequestException(e.Message); }
            var run = new BuildRun(this, request, output, files, ignore, ct);
            return await run.ExecuteAsync(instructions);
        }
        finally
        {
            // Removing an extracted context (a thousand unlinks) is no part of the answer: the client hears the
            // result first.
            _ = Task.Run(() =>
            {
                try { files.Dispose(); }
                catch (Exception e) { _logger.LogWarning(e, "removing a build context failed"); }
            }, CancellationToken.None);
        }
    }

    /// <summary>A file the builder reads itself: from the index, or from the extracted context when the index cannot
    /// tell (a symlink).</summary>
    private static async Task<byte[]?> ReadContextFileAsync(BuildContext context, string name, CancellationToken ct)
    {
        if (context.Index.TryReadFile(name, out var content)) return content;
        RootedDirectory root;
        try { root = await context.FilesAsync(ct); }
        catch (ImageException e) { throw new BadRequestException($"invalid build context: {e.Message}"); }
        try
        {
            using var handle = root.OpenInRoot(name, Interop.O_RDONLY | Interop.O_NONBLOCK);
            using var file = new FileStream(handle, FileAccess.Read, 0);
            if (file.Length > ContextIndex.KeptFileLimit) throw new BadRequestException($"{name} is larger than 16 MiB");
            using var copy = new MemoryStream();
            file.CopyTo(copy);
            return copy.ToArray();
        }
        catch (LinuxException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.EISDIR) { return null; }
        catch (IOException) { return null; }
    }

    /// <summary>One build: stages, the current image and config, the build args in scope.</summary>
    private sealed partial class BuildRun(ImageBuilder builder, BuildRequest request, IBuildOutput output,
        BuildContext context, IgnoreRules ignore, CancellationToken ct)
    {
        private readonly Dictionary<string, ImageRecord?> _stages = new(StringComparer.OrdinalIgnoreCase);
        private readonly List<ImageRecord?> _stageList = new();
        private readonly HashSet<string> _usedArgs = new();
        private readonly Dictionary<string, string?> _metaArgs = new();
        private Dictionary<string, string?> _args = new();
        private ImageRecord? _image;
        private ImageConfig _config = new();
        private List<string> _shell = [.. DefaultShell];
        private int _step, _total;

        private ImageStore Images => builder._images;

        public async Task<ImageRecord> ExecuteAsync(IReadOnlyList<DockerfileInstruction> instructions)
        {
            var plan = Plan(instructions);
            // --label: one LABEL step per label, in key order, at the end of the last stage (as dockerd adds them).
            var labels = request.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
            _total = plan.Count + labels.Count;
            bool inStage = false;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var instruction in plan)
            {
                if (_step > 0) builder._logger.LogDebug("build: step {Step} took {Ms:F1} ms", _step, clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                _step++;
                await Say($"Step {_step}/{_total} : {instruction.Original}\n");
                if (instruction.Keyword == "FROM")
                {
                    if (inStage) EndStage();
                    await FromAsync(instruction);
                    inStage = true;
                    continue;
                }
                if (!inStage)
                {
                    if (instruction.Keyword != "ARG") throw new BuildException("Please provide a source image with `from` prior to commit");
                    DeclareArg(instruction, _metaArgs, meta: true);
                    continue;
                }
                await DispatchAsync(instruction);
            }
            if (!inStage) throw new BuildException("No image was generated. Is your Dockerfile empty?");
            foreach (var (key, value) in labels)
            {
                string line = $"LABEL {key}={value}";
                await Say($"Step {++_step}/{_total} : {line}\n");
                var config = ImageStore.CopyConfig(_config);
                (config.Labels ??= new())[key] = value; // taken as given: no expansion, no quote removal
                await CommitConfigAsync(new DockerfileInstruction("LABEL", line, new Dictionary<string, string?>(), line[6..], null, 0), config);
            }
            builder._logger.LogDebug("build: step {Step} took {Ms:F1} ms", _step, clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            var final = _image ?? throw new BuildException("No image was generated. Is your Dockerfile empty?");
            var unused = request.BuildArgs.Keys.Where(k => !_usedArgs.Contains(k) && !ProxyArgs.Contains(k)).Order().ToList();
            if (unused.Count > 0)
                await Say($"[Warning] One or more build-args [{string.Join(' ', unused)}] were not consumed\n");
            await output.AuxAsync(final.Id);
            await Say($"Successfully built {final.Id[7..19]}\n");
            if (request.Tags.Count > 0)
            {
                Images.AddTags(final.Id, request.Tags);
                foreach (string tag in request.Tags) await Say($"Successfully tagged {ImageStore.NormalizeTag(tag)}\n");
            }
            builder._logger.LogDebug("build: tagged in {Ms:F1} ms", clock.Elapsed.TotalMilliseconds);
            return Images.Find(final.Id) ?? final;
        }

        /// <summary>The instructions up to the end of the --target stage (all of them without one).</summary>
        private List<DockerfileInstruction> Plan(IReadOnlyList<DockerfileInstruction> instructions)
        {
            if (string.IsNullOrEmpty(request.Target)) return instructions.ToList();
            for (int i = 0; i < instructions.Count; i++)
            {
                if (instructions[i].Keyword != "FROM") continue;
                var words = instructions[i].Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)
                    && words[2].Equals(request.Target, StringComparison.OrdinalIgnoreCase))
                {
                    int end = i + 1;
                    while (end < instructions.Count && instructions[end].Keyword != "FROM") end++;
                    return instructions.Take(end).ToList();
                }
            }
            throw new BadRequestException($"failed to reach build target {request.Target} in Dockerfile");
        }

        private Task Say(string text) => request.Quiet ? Task.CompletedTask : output.WriteAsync(text);

        private string? _stageName;

        private void EndStage()
        {
            _stageList.Add(_image);
            if (_stageName is not null) _stages[_stageName] = _image;
        }

        // ------------------------------------------------------------------ FROM

        private async Task FromAsync(DockerfileInstruction instruction)
        {
            var words = instruction.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length is not (1 or 3) || words.Length == 3 && !words[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
                throw new BuildException("FROM requires either one or three arguments");
            _stageName = words.Length == 3 ? words[2].ToLowerInvariant() : null;
            if (instruction.Flag("platform") is { Length: > 0 } platform && platform is not ("linux/amd64" or "linux"))
                throw new BuildException($"platform {platform} is not supported: Berth builds linux/amd64 images");
            string name = BuildWords.Expand(words[0], MetaArgEnvironment(), instruction.Escape);
            if (name.Length == 0) throw new BuildException("base name (" + words[0] + ") should not be blank");
            _args = new();
            _shell = [.. DefaultShell];
            if (name.Equals("scratch", StringComparison.OrdinalIgnoreCase))
            {
                _image = null;
                _config = new ImageConfig();
                return;
            }
            ImageRecord? base_;
            if (_stages.TryGetValue(name, out var stage)) base_ = stage;
            else if (int.TryParse(name, out int index) && index >= 0 && index < _stageList.Count) base_ = _stageList[index];
            else
            {
                base_ = Images.Find(name);
                // The one place a missing base image is pulled, once the registry client is in.
                if ((base_ is null || request.Pull) && builder.PullMissing is { } pull) base_ = await pull(name, ct) ?? base_;
                if (base_ is null)
                    throw new BuildException($"pull access denied for {name.Split(':')[0]}, repository does not exist or may require 'docker login': Berth has no registry access; load the base image first");
            }
            _image = base_;
            _config = base_ is null ? new ImageConfig() : ImageStore.CopyConfig(base_.Config);
            if (base_ is not null) await Say($" ---> {base_.Id[7..19]}\n");
            if (_config.OnBuild is { Count: > 0 } triggers)
            {
                _config.OnBuild = null;
                await Say($"# Executing {triggers.Count} build trigger{(triggers.Count == 1 ? "" : "s")}\n");
                foreach (string trigger in triggers)
                    await DispatchAsync(DockerfileParser.ParseInstruction(trigger, '\\', 0));
            }
        }

        private List<string> MetaArgEnvironment() =>
            _metaArgs.Where(a => a.Value is not null).Select(a => $"{a.Key}={a.Value}").ToList();

        // ------------------------------------------------------------------ the other instructions

        private async Task DispatchAsync(DockerfileInstruction instruction)
        {
            switch (instruction.Keyword)
            {
                case "ARG":
                    DeclareArg(instruction, _args, meta: false);
                    await CommitConfigAsync(instruction, ImageStore.CopyConfig(_config));
                    return;
                case "RUN":
                    await RunAsync(instruction);
                    return;
                case "COPY" or "ADD":
                    await CopyAsync(instruction);
                    return;
                case "SHELL":
                    var shell = instruction.Json ?? throw new BuildException("SHELL requires the arguments to be in JSON form");
                    if (shell.Count == 0) throw new BuildException("SHELL requires at least one argument");
                    _shell = shell.ToList();
                    var withShell = ImageStore.CopyConfig(_config);
                    (withShell.OtherFields ??= new())["Shell"] = JsonSerializer.SerializeToElement(_shell);
                    await CommitConfigAsync(instruction, withShell);
                    return;
                case "WORKDIR":
                    await WorkdirAsync(instruction);
                    return;
                case "MAINTAINER":
                    await CommitConfigAsync(instruction, ImageStore.CopyConfig(_config));
                    return;
                case "CMD" or "ENTRYPOINT" when instruction.Json is null && !_shell.SequenceEqual(DefaultShell):
                    var custom = ImageStore.CopyConfig(_config);
                    var command = new List<string>(_shell) { instruction.Arguments };
                    if (instruction.Keyword == "CMD") custom.Cmd = command;
                    else { custom.Entrypoint = command; custom.Cmd = null; }
                    await CommitConfigAsync(instruction, custom);
                    return;
                default:
                    var config = ImageStore.CopyConfig(_config);
                    try { ImageChanges.ApplyBuildInstruction(config, instruction.Original, ArgEnvironment(), instruction.Escape); }
                    catch (ImageException e) { throw new BuildException(e.Message); }
                    await CommitConfigAsync(instruction, config);
                    return;
            }
        }

        private void DeclareArg(DockerfileInstruction instruction, Dictionary<string, string?> scope, bool meta)
        {
            if (instruction.Arguments.Trim().Length == 0) throw new BuildException("ARG requires exactly one argument");
            foreach (string word in instruction.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = word.IndexOf('=');
                string name = eq < 0 ? word : word[..eq];
                string? fallback = eq < 0 ? null : BuildWords.Expand(word[(eq + 1)..], meta ? MetaArgEnvironment() : ArgEnvironment(), instruction.Escape);
                if (!meta && fallback is null && _metaArgs.TryGetValue(name, out var global)) fallback = global;
                _usedArgs.Add(name);
                scope[name] = request.BuildArgs.TryGetValue(name, out var given) && given is not null ? given : fallback;
            }
        }

        /// <summary>Build args in scope as NAME=value (declared ones, and the predefined proxy args when given).</summary>
        private List<string> ArgEnvironment()
        {
            var env = _args.Where(a => a.Value is not null).Select(a => $"{a.Key}={a.Value}").ToList();
            foreach (var (key, value) in request.BuildArgs)
                if (ProxyArgs.Contains(key) && value is not null && !_args.ContainsKey(key)) env.Add($"{key}={value}");
            return env;
        }

        private Task CommitConfigAsync(DockerfileInstruction instruction, ImageConfig config) =>
            CommitAsync(config, null, "/bin/sh -c #(nop)  " + instruction.Original, instruction.Original + ArgsKey(), showContainer: true);

        /// <summary>Build args that change what a step does are part of its cache key, as `|N a=b` in Docker's.</summary>
        private string ArgsKey()
        {
            var env = ArgEnvironment();
            return env.Count == 0 ? "" : $" |{env.Count} " + string.Join(' ', env.Order(StringComparer.Ordinal));
        }

        /// <summary>The step's image: from the cache when allowed and present, otherwise made now.</summary>
        private async Task CommitAsync(ImageConfig config, Func<Stream, CancellationToken, Task>? writeLayer,
            string createdBy, string cacheKey, bool showContainer = false)
        {
            if (await TryCacheAsync(cacheKey)) return;
            if (showContainer) await SayProbeContainerAsync();
            await Advance(await CreateAsync(config, writeLayer, createdBy, cacheKey));
        }

        /// <summary>The legacy builder commits config steps through a container that never starts.</summary>
        private async Task SayProbeContainerAsync()
        {
            string id = Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant();
            await Say($" ---> Running in {id}\n");
            if (request.RemoveIntermediate) await Say($"Removing intermediate container {id}\n");
        }

        private async Task<bool> TryCacheAsync(string cacheKey)
        {
            if (request.NoCache || Images.FindCached(_image?.Id ?? "scratch", cacheKey) is not { } cached) return false;
            await Say(" ---> Using cache\n");
            await Advance(cached);
            return true;
        }

        private async Task<ImageRecord> CreateAsync(ImageConfig config, Func<Stream, CancellationToken, Task>? writeLayer,
            string createdBy, string cacheKey)
        {
            config.Image = _image?.Id ?? "";
            var image = await Images.CreateChildAsync(_image, new ImageChild { Config = config, WriteLayer = writeLayer, CreatedBy = createdBy }, ct);
            Images.RememberCached(_image?.Id ?? "scratch", cacheKey, image.Id);
            return image;
        }

        private async Task Advance(ImageRecord image)
        {
            _image = image;
            _config = ImageStore.CopyConfig(image.Config);
            await Say($" ---> {image.Id[7..19]}\n");
        }
    }
}
