using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Runtime.Images;
using Berth.Runtime.Registry;

namespace Berth.Cli.Client;

/// <summary>pull, push, login, logout with the docker CLI's syntax, output and credential file (DOCKER_CONFIG or
/// ~/.docker/config.json, "auths" entries), so a login by either CLI serves both.</summary>
public static class Registry
{
    private const string DockerHubServer = "https://index.docker.io/v1/";

    public static IEnumerable<Command> Create() => [PullCommand(), PushCommand(), LoginCommand(), LogoutCommand()];

    private static Command PullCommand()
    {
        var all = new Option<bool>("--all-tags", "-a") { Description = "Download all tagged images in the repository" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Suppress verbose output" };
        var platform = new Option<string?>("--platform") { Description = "Set platform if server is multi-platform capable" };
        var name = new Argument<string>("NAME[:TAG|@DIGEST]");
        var pull = new Command("pull", "Download an image from a registry") { all, quiet, platform, name };
        return pull.Action(async (parse, api, ct) =>
        {
            string text = parse.GetValue(name)!;
            var reference = Parse(text);
            bool allTags = parse.GetValue(all);
            bool nameOnly = ImageReference.IsNameOnly(text);
            if (allTags && !nameOnly) throw new CliException("tag can't be used with --all-tags/-a");
            if (!allTags && nameOnly && !parse.GetValue(quiet))
                Console.Out.WriteLine("Using default tag: latest");
            string? error = await PullAsync(api, allTags ? reference with { Tag = null } : reference, parse.GetValue(platform),
                Console.Out, Terminal.IsTerminal(1), parse.GetValue(quiet), ct);
            if (error is not null)
            {
                Console.Error.WriteLine(error);
                return 1;
            }
            Console.Out.WriteLine(allTags ? reference.FullName
                : reference.Digest is null ? $"{reference.FullName}:{reference.Tag}" : $"{reference.FullName}@{reference.Digest}");
            return 0;
        });
    }

    /// <summary>POST /images/create?fromImage=&amp;tag= with the saved login (no tag: every tag, as `pull -a`), its
    /// progress drawn on <paramref name="output"/>; also used by run/create. Returns the stream's error, if any.</summary>
    public static async Task<string?> PullAsync(EngineApi api, RemoteReference reference, string? platform, TextWriter output,
        bool terminal, bool quiet, CancellationToken ct)
    {
        string query = $"fromImage={EngineApi.Q(reference.FullName)}";
        if (reference.Digest is not null || reference.Tag is not null) query += $"&tag={EngineApi.Q(reference.TagOrDigest)}";
        if (!string.IsNullOrEmpty(platform)) query += "&platform=" + EngineApi.Q(platform);
        using var response = await api.SendAsync(HttpMethod.Post, "/images/create?" + query, ct, headersOnly: true,
            registryAuth: AuthHeader(reference.Domain));
        return await RenderProgressAsync(response, output, terminal, quiet, ct);
    }

    private static Command PushCommand()
    {
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Suppress verbose output" };
        var allTags = new Option<bool>("--all-tags", "-a") { Description = "Push all tags of an image to the repository" };
        var name = new Argument<string>("NAME[:TAG]");
        var push = new Command("push", "Upload an image to a registry") { allTags, quiet, name };
        return push.Action(async (parse, api, ct) =>
        {
            var reference = Parse(parse.GetValue(name)!);
            bool all = parse.GetValue(allTags);
            if (all && !ImageReference.IsNameOnly(parse.GetValue(name)!))
                throw new CliException("tag can't be used with --all-tags/-a");
            // No tag in the request: the engine pushes every tag of the repository.
            string path = $"/images/{reference.FamiliarName}/push" + (all ? "" : $"?tag={EngineApi.Q(reference.Tag ?? "latest")}");
            using var response = await api.SendAsync(HttpMethod.Post, path, ct, headersOnly: true, registryAuth: AuthHeader(reference.Domain));
            return await ShowProgressAsync(response, parse.GetValue(quiet), ct);
        });
    }

    private static Command LoginCommand()
    {
        var user = new Option<string?>("--username", "-u") { Description = "Username" };
        var password = new Option<string?>("--password", "-p") { Description = "Password or Personal Access Token (PAT)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Take the Password or Personal Access Token (PAT) from stdin" };
        var server = new Argument<string?>("SERVER") { Arity = ArgumentArity.ZeroOrOne };
        var login = new Command("login", "Authenticate to a registry") { user, password, passwordStdin, server };
        return login.Action(async (parse, api, ct) =>
        {
            string? username = parse.GetValue(user), secret = parse.GetValue(password);
            if (parse.GetValue(passwordStdin))
            {
                if (secret is not null) throw new CliException("--password and --password-stdin are mutually exclusive");
                if (username is null) throw new CliException("Must provide --username with --password-stdin");
                secret = (await Console.In.ReadToEndAsync(ct)).TrimEnd('\n', '\r');
            }
            else if (secret is not null) Console.Error.WriteLine("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            if (string.IsNullOrEmpty(username) || string.IsNullOrEmpty(secret))
                throw new CliException("Error: Cannot perform an interactive login from a non TTY device");
            string address = ServerKey(parse.GetValue(server));
            var body = new JsonObject { ["username"] = username, ["password"] = secret, ["serveraddress"] = address };
            await api.PostJsonAsync("/auth", body, ct);
            var config = ReadConfig();
            var auths = config["auths"] as JsonObject ?? new JsonObject();
            config["auths"] = auths;
            auths[address] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{secret}")) };
            WriteConfig(config);
            Console.Out.WriteLine("Login Succeeded");
            return 0;
        });
    }

    private static Command LogoutCommand()
    {
        var server = new Argument<string?>("SERVER") { Arity = ArgumentArity.ZeroOrOne };
        var logout = new Command("logout", "Log out from a registry") { server };
        return logout.Action((parse, api, ct) =>
        {
            string address = ServerKey(parse.GetValue(server));
            var config = ReadConfig();
            if (config["auths"] is JsonObject auths && auths.Remove(address)) WriteConfig(config);
            else Console.Out.WriteLine($"Not logged in to {address}");
            Console.Out.WriteLine($"Removing login credentials for {address}");
            return Task.FromResult(0);
        });
    }

    private static RemoteReference Parse(string text)
    {
        try { return ImageReference.ParseRemote(text); }
        catch (ImageException e) { throw new CliException(e.Message); }
    }

    /// <summary>config.json's key for a registry: Docker Hub's v1 URL, else host[:port].</summary>
    private static string ServerKey(string? server)
    {
        if (string.IsNullOrEmpty(server)) return DockerHubServer;
        string host = server;
        int scheme = host.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) host = host[(scheme + 3)..];
        host = host.Split('/')[0];
        return host is "docker.io" or "index.docker.io" or "registry-1.docker.io" ? DockerHubServer : host;
    }

    private static string? AuthHeader(string domain)
    {
        string key = domain == "docker.io" ? DockerHubServer : domain;
        var entry = ReadConfig()["auths"]?[key];
        string? auth = entry?["auth"]?.GetValue<string>();
        return new RegistryCredentials { Auth = auth, ServerAddress = key }.ToHeader();
    }

    private static string ConfigPath => Path.Combine(
        Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } dir ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker"), "config.json");

    private static JsonObject ReadConfig()
    {
        try { return File.Exists(ConfigPath) ? JsonNode.Parse(File.ReadAllText(ConfigPath)) as JsonObject ?? new() : new(); }
        catch (JsonException e) { throw new CliException($"loading config file {ConfigPath}: {e.Message}"); }
    }

    /// <summary>Written beside and renamed over, mode 0600 (it holds credentials).</summary>
    private static void WriteConfig(JsonObject config)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ConfigPath)!);
        string temp = ConfigPath + ".tmp";
        File.WriteAllText(temp, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, ConfigPath, overwrite: true);
    }

    /// <summary>The docker CLI's rendering of a progress stream: on a terminal one line per layer id, redrawn in place
    /// with its bar; otherwise one line per state change, counts left out.</summary>
    public static async Task<int> ShowProgressAsync(HttpResponseMessage response, bool quiet, CancellationToken ct)
    {
        string? error = await RenderProgressAsync(response, Console.Out, Terminal.IsTerminal(1), quiet, ct);
        if (error is null) return 0;
        Console.Error.WriteLine(error);
        return 1;
    }

    /// <summary>Draws a progress stream on <paramref name="output"/>; returns the error message that ended it, if any.</summary>
    private static async Task<string?> RenderProgressAsync(HttpResponseMessage response, TextWriter output, bool terminal, bool quiet,
        CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        using var reader = new StreamReader(stream);
        terminal = terminal && !quiet;
        var lines = new Dictionary<string, int>();
        int printed = 0;
        string? line;
        while ((line = await reader.ReadLineAsync(ct)) is not null)
        {
            JsonNode? message;
            try { message = JsonNode.Parse(line); }
            catch (JsonException) { continue; }
            if (message is null) continue;
            if ((message["errorDetail"]?["message"] ?? message["error"]) is JsonValue error) return error.ToString();
            if (quiet) continue;
            string? status = message.Str("status");
            if (status is null) continue;
            string? id = message.Str("id");
            var detail = message["progressDetail"];
            long current = detail?["current"]?.GetValue<long>() ?? 0, total = detail?["total"]?.GetValue<long>() ?? 0;
            bool counted = current > 0 || total > 0;
            if (!terminal)
            {
                if (!counted) output.WriteLine(id is null ? status : $"{id}: {status}");
                continue;
            }
            string text = (id is null ? "" : id + ": ") + status + (counted ? " " + ProgressStream.Bar(current, total) : "");
            if (id is null || !lines.TryGetValue(id, out int index))
            {
                if (id is not null) lines[id] = printed;
                printed++;
                output.Write("\x1b[2K\r" + text + "\n");
                continue;
            }
            int up = printed - index;
            output.Write($"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r");
        }
        return null;
    }
}
