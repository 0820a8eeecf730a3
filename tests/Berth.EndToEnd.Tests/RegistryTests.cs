using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine whose registry CA directory is a temp dir of the test (certs.d/HOST:PORT/ca.crt), with the
/// web app imported.</summary>
public sealed class RegistryEngineFixture : IAsyncLifetime
{
    public EngineProcess Engine { get; private set; } = null!;
    public string CertsDirectory { get; } = Path.Combine("/tmp", TestNames.Unique("berth-certs-", 24));
    /// <summary>The docker CLI's config dir (logins land here, never in root's ~/.docker).</summary>
    public string DockerConfig { get; } = Path.Combine("/tmp", TestNames.Unique("berth-dcfg-", 24));

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(CertsDirectory);
        Directory.CreateDirectory(DockerConfig);
        Engine = await EngineProcess.StartAsync("--registry-certs-dir", CertsDirectory);
        string tar = Path.Combine(Engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        EngineFixture.Check(Engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:noexpose"));
    }

    public async Task DisposeAsync()
    {
        await Engine.DisposeAsync();
        foreach (string dir in new[] { CertsDirectory, DockerConfig })
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>An image of its own under <paramref name="name"/>: the web app plus a layer no other image has (the
    /// web app's own layer is here already, so a pull of it would only say "Already exists").</summary>
    public void CommitUnique(string name)
    {
        string container = TestNames.Unique("uniq", 14);
        EngineFixture.Check(Docker("run", "--name", container, "webapp:noexpose", "sh", "-c", $"echo {container} > /unique"));
        try { EngineFixture.Check(Docker("commit", container, name)); }
        finally { Docker("rm", "-f", container); }
    }

    public ShResult Docker(params string[] args) =>
        Sh.Run("/usr/local/bin/docker", args, TimeSpan.FromSeconds(120),
            new Dictionary<string, string> { ["DOCKER_HOST"] = Engine.DockerHost, ["DOCKER_CONFIG"] = DockerConfig });
}

/// <summary>Pull, push and login against Debian's docker-registry on loopback, with the docker CLI and docker-py.</summary>
public sealed partial class RegistryTests(RegistryEngineFixture fixture) : IClassFixture<RegistryEngineFixture>
{
    private ShResult Docker(params string[] args) => fixture.Docker(args);

    private static ShResult Ok(ShResult result) => EngineFixture.Check(result);

    [Fact]
    public async Task Pushed_image_is_pulled_back_by_tag_and_by_digest_and_runs()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("app", 10)}";
        fixture.CommitUnique(name + ":v1");
        var push = Ok(Docker("push", name + ":v1"));
        Assert.Contains($"The push refers to repository [{name}]", push.Stdout);
        Assert.Contains("Pushed", push.Stdout);
        Assert.Matches("v1: digest: sha256:[0-9a-f]{64} size: [0-9]+", push.Stdout);
        Ok(Docker("rmi", name + ":v1"));

        var pull = Ok(Docker("pull", name + ":v1"));
        Assert.Contains("v1: Pulling from ", pull.Stdout);
        Assert.Contains("Pull complete", pull.Stdout);
        Assert.Contains($"Status: Downloaded newer image for {name}:v1", pull.Stdout);
        string digest = Ok(Docker("image", "inspect", "-f", "{{index .RepoDigests 0}}", name + ":v1")).Stdout.Trim();
        Assert.StartsWith(name + "@sha256:", digest);
        Assert.Contains(digest[(digest.IndexOf('@') + 1)..], Ok(Docker("images", "--digests", name)).Stdout);

        var again = Ok(Docker("pull", name + ":v1"));
        Assert.Contains("Already exists", again.Stdout);
        Assert.Contains($"Status: Image is up to date for {name}:v1", again.Stdout);

        string output = Ok(Docker("run", "--rm", name + ":v1", "cat", "/etc/group")).Stdout;
        Assert.Contains("root:x:0:", output);

        Ok(Docker("rmi", name + ":v1"));
        Ok(Docker("pull", digest));
        Assert.Contains(digest, Ok(Docker("image", "inspect", "-f", "{{json .RepoDigests}}", digest)).Stdout);
        var removed = Ok(Docker("rmi", digest));
        Assert.Contains("Deleted: sha256:", removed.Stdout);
    }

    [Fact]
    public async Task Run_of_a_missing_image_pulls_it_first()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("run", 10)}:latest";
        fixture.CommitUnique(name);
        Ok(Docker("push", name));
        Ok(Docker("rmi", name));
        var run = Docker("run", "--rm", name, "echo", "pulled-and-ran");
        Assert.True(run.ExitCode == 0, run.Stderr + run.Stdout);
        Assert.Contains($"Unable to find image '{name}' locally", run.Stderr);
        Assert.Contains("pulled-and-ran", run.Stdout);
        var never = Docker("run", "--rm", "--pull", "never", $"{registry.Host}/nothing-here:latest", "true");
        Assert.NotEqual(0, never.ExitCode);
        Ok(Docker("rmi", name));
    }

    [Fact]
    public async Task Missing_tag_and_unreachable_registry_are_clear_errors()
    {
        await using var registry = await RegistryProcess.StartAsync();
        var missing = Docker("pull", $"{registry.Host}/nothing-here:nope");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains($"manifest for {registry.Host}/nothing-here:nope not found", missing.Stderr);
        var unreachable = Docker("pull", $"127.0.0.1:{Ports.Free()}/x:y");
        Assert.NotEqual(0, unreachable.ExitCode);
        Assert.Contains("connection refused", unreachable.Stderr, StringComparison.OrdinalIgnoreCase);
        var bad = Docker("pull", "UPPER/case");
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task A_corrupted_blob_is_refused_and_nothing_is_kept()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("bad", 10)}:v1";
        fixture.CommitUnique(name);
        Ok(Docker("push", name));
        string manifest = await GetAsync(registry, $"/v2/{name[(registry.Host.Length + 1)..^3]}/manifests/v1");
        string layer = JsonNode.Parse(manifest)!["layers"]!.AsArray().Last()!["digest"]!.GetValue<string>(); // the unique one
        Ok(Docker("rmi", name));
        using (var blob = new FileStream(registry.BlobFile(layer), FileMode.Open, FileAccess.ReadWrite))
        {
            blob.Position = blob.Length / 2;
            int b = blob.ReadByte();
            blob.Position = blob.Length / 2;
            blob.WriteByte((byte)(b ^ 0xff));
        }
        var pull = Docker("pull", name);
        Assert.NotEqual(0, pull.ExitCode);
        Assert.Contains(layer, pull.Stderr);
        Assert.NotEqual(0, Docker("image", "inspect", name).ExitCode);
    }

    [Fact]
    public async Task An_index_with_two_platforms_gives_the_linux_amd64_image()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string repo = TestNames.Unique("multi", 12);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{registry.Host}") };
        byte[] layer = GzipTar("hello", "from-registry\n");
        string layerDigest = await UploadAsync(http, repo, layer);
        string diffId = Sha(UngzipTar(layer));
        var manifests = new JsonArray();
        foreach (string arch in new[] { "arm64", "amd64" })
        {
            byte[] config = Encoding.UTF8.GetBytes($$$"""{"architecture":"{{{arch}}}","os":"linux","config":{"Cmd":["/hello"],"Labels":{"arch":"{{{arch}}}"}},"rootfs":{"type":"layers","diff_ids":["{{{diffId}}}"]}}""");
            string configDigest = await UploadAsync(http, repo, config);
            byte[] manifest = Encoding.UTF8.GetBytes($$$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{{configDigest}}}","size":{{{config.Length}}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{{{layerDigest}}}","size":{{{layer.Length}}}}]}""");
            string manifestDigest = Sha(manifest);
            await PutManifestAsync(http, repo, manifestDigest, manifest, "application/vnd.oci.image.manifest.v1+json");
            manifests.Add(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = manifestDigest, ["size"] = manifest.Length,
                ["platform"] = new JsonObject { ["architecture"] = arch, ["os"] = "linux" },
            });
        }
        byte[] index = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2, ["mediaType"] = "application/vnd.oci.image.index.v1+json", ["manifests"] = manifests,
        }.ToJsonString());
        await PutManifestAsync(http, repo, "v1", index, "application/vnd.oci.image.index.v1+json");

        string name = $"{registry.Host}/{repo}:v1";
        var pull = Ok(Docker("pull", name));
        Assert.Contains($"Digest: {Sha(index)}", pull.Stdout);
        Assert.Equal("amd64 amd64", Ok(Docker("image", "inspect", "-f", "{{.Architecture}} {{.Config.Labels.arch}}", name)).Stdout.Trim());
        Assert.Contains("no matching manifest for linux/s390x", Docker("pull", "--platform", "linux/s390x", name).Stderr);
        Ok(Docker("rmi", name));
    }

    [Fact]
    public async Task Tls_registry_needs_its_CA_in_certs_d()
    {
        await using var registry = await RegistryProcess.StartAsync(tls: true);
        string name = $"{registry.Host}/{TestNames.Unique("tls", 10)}:v1";
        fixture.CommitUnique(name);
        var refused = Docker("push", name);
        Assert.NotEqual(0, refused.ExitCode);
        string dir = Path.Combine(fixture.CertsDirectory, registry.Host);
        Directory.CreateDirectory(dir);
        try
        {
            File.Copy(registry.CaFile!, Path.Combine(dir, "ca.crt"));
            Ok(Docker("push", name));
            Ok(Docker("rmi", name));
            Assert.Contains("Pull complete", Ok(Docker("pull", name)).Stdout);
            Ok(Docker("rmi", name));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Basic_auth_needs_docker_login()
    {
        await using var registry = await RegistryProcess.StartAsync(basicAuth: ("berth", "s3cret-pw"));
        string name = $"{registry.Host}/{TestNames.Unique("auth", 10)}:v1";
        fixture.CommitUnique(name);
        Assert.NotEqual(0, Docker("push", name).ExitCode);
        var wrong = Docker("login", "-u", "berth", "-p", "wrong", registry.Host);
        Assert.NotEqual(0, wrong.ExitCode);
        var login = Docker("login", "-u", "berth", "--password-stdin", registry.Host);
        Assert.NotEqual(0, login.ExitCode); // nothing on stdin
        Assert.Contains("Login Succeeded", Ok(Docker("login", "-u", "berth", "-p", "s3cret-pw", registry.Host)).Stdout);
        Ok(Docker("push", name));
        Ok(Docker("rmi", name));
        Ok(Docker("pull", name));
        Ok(Docker("logout", registry.Host));
        Ok(Docker("rmi", name));
        var denied = Docker("pull", name);
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("no basic auth credentials", denied.Stderr);
    }

    [Fact]
    public async Task Docker_py_pushes_and_pulls()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string repo = $"{registry.Host}/{TestNames.Unique("py", 10)}";
        fixture.CommitUnique(repo + ":py");
        string script = $$"""
            import docker, sys
            c = docker.DockerClient(base_url=sys.argv[1], version="auto")
            out = c.images.push(sys.argv[2], tag="py")
            assert "digest: sha256:" in out, out
            data = c.images.get_registry_data(sys.argv[2] + ":py")
            assert data.has_platform("linux/amd64"), data.attrs
            assert data.attrs["Descriptor"]["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json", data.attrs
            print("registry data", data.id)
            c.images.get(sys.argv[2] + ":py").tag(sys.argv[2], "second")
            # No tag: every tag of the repository, as dockerd
            pushed = [m for m in c.api.push(sys.argv[2], stream=True, decode=True) if "aux" in m]
            assert sorted(m["aux"]["Tag"] for m in pushed) == ["py", "second"], pushed
            c.images.remove(sys.argv[2] + ":py")
            c.images.remove(sys.argv[2] + ":second")
            image = c.images.pull(sys.argv[2], tag="py")
            print("pulled", image.id, image.attrs["RepoDigests"])
            try:
                c.images.get_registry_data(sys.argv[2] + ":missing")
                raise SystemExit("a missing tag was found")
            except docker.errors.NotFound as e:
                print("missing:", e.explanation)
            """;
        var result = Sh.Run("python3", ["-c", script, fixture.Engine.DockerHost, repo], TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Contains("pulled sha256:", result.Stdout);
        Assert.Contains(repo + "@sha256:", result.Stdout);
        Assert.Contains($"missing: manifest for {repo}:missing not found", result.Stdout);
        string registryDigest = result.Stdout.Split('\n').First(l => l.StartsWith("registry data ")).Split(' ')[2];
        Assert.Contains(registryDigest, result.Stdout.Split('\n').First(l => l.StartsWith("pulled ")));
        Ok(Docker("rmi", repo + ":py"));
    }

    /// <summary>A layer imported from a tar another tool wrote (GNU tar's headers, not Berth's) goes out byte for
    /// byte as it came in: pushed and pulled back, or saved and loaded, the image keeps its id, as with dockerd.</summary>
    [Fact]
    public async Task An_imported_image_keeps_its_id_through_push_pull_and_save_load()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("gnu", 10)}:v1";
        string dir = Path.Combine(fixture.Engine.Root, TestNames.Unique("gnutree", 12));
        Directory.CreateDirectory(Path.Combine(dir, "etc", "deep"));
        File.WriteAllText(Path.Combine(dir, "etc", "group"), "root:x:0:\n" + name + "\n");
        File.WriteAllBytes(Path.Combine(dir, "etc", "deep", "blob"), RandomNumberGenerator.GetBytes(70_000));
        File.CreateSymbolicLink(Path.Combine(dir, "link"), "etc/group");
        string tar = dir + ".tar";
        Ok(Sh.Run("tar", ["-C", dir, "--format=gnu", "-cf", tar, "."], TimeSpan.FromSeconds(60)));
        string id = Ok(Docker("import", tar, name)).Stdout.Trim();

        Ok(Docker("push", name));
        Ok(Docker("rmi", name));
        Ok(Docker("pull", name));
        Assert.Equal(id, Ok(Docker("image", "inspect", "-f", "{{.Id}}", name)).Stdout.Trim());

        string saved = dir + "-saved.tar";
        Ok(Docker("save", "-o", saved, name));
        Ok(Docker("rmi", name));
        Ok(Docker("load", "-i", saved));
        Assert.Equal(id, Ok(Docker("image", "inspect", "-f", "{{.Id}}", name)).Stdout.Trim());
        Ok(Docker("rmi", name));
    }

    [Fact]
    public async Task Berth_cli_pushes_and_pulls_with_the_docker_clis_output()
    {
        await using var registry = await RegistryProcess.StartAsync();
        string name = $"{registry.Host}/{TestNames.Unique("cli", 10)}:v1";
        fixture.CommitUnique(name);
        var env = new Dictionary<string, string> { ["BERTH_HOST"] = fixture.Engine.DockerHost, ["DOCKER_CONFIG"] = fixture.DockerConfig };
        ShResult Berth(params string[] args) => Sh.Run(Path.Combine(EngineProcess.RepoRoot(), "berth"), args, TimeSpan.FromSeconds(180), env);
        var push = Ok(Berth("push", name));
        Assert.Contains($"The push refers to repository [{name[..^3]}]", push.Stdout);
        Ok(Docker("tag", name, name[..^3] + ":v2"));
        var all = Ok(Berth("push", "--all-tags", name[..^3]));
        Assert.Single(all.Stdout.Split('\n'), l => l.StartsWith("The push refers to repository"));
        Assert.Contains("v1: digest: sha256:", all.Stdout);
        Assert.Contains("v2: digest: sha256:", all.Stdout);
        Assert.Contains("tag can't be used with --all-tags/-a", Berth("push", "-a", name).Stderr);
        Ok(Berth("rmi", name[..^3] + ":v2"));
        Ok(Berth("rmi", name));
        var pull = Ok(Berth("pull", name));
        Assert.Contains("Pull complete", pull.Stdout);
        Assert.EndsWith(name + "\n", pull.Stdout);
        Assert.DoesNotContain("Downloading", pull.Stdout); // counts are for terminals only
        Ok(Docker("rmi", name));
    }

    // ------------------------------------------------------------------ registry HTTP helpers

    private static async Task<string> GetAsync(RegistryProcess registry, string path)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"http://{registry.Host}{path}");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.docker.distribution.manifest.v2+json"));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<string> UploadAsync(HttpClient http, string repo, byte[] bytes)
    {
        string digest = Sha(bytes);
        using var start = await http.PostAsync($"/v2/{repo}/blobs/uploads/", null);
        start.EnsureSuccessStatusCode();
        string location = start.Headers.Location!.ToString();
        using var put = await http.PutAsync(location + (location.Contains('?') ? "&" : "?") + "digest=" + digest, new ByteArrayContent(bytes));
        put.EnsureSuccessStatusCode();
        return digest;
    }

    private static async Task PutManifestAsync(HttpClient http, string repo, string reference, byte[] bytes, string mediaType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var response = await http.PutAsync($"/v2/{repo}/manifests/{reference}", content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    private static string Sha(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static byte[] GzipTar(string name, string content)
    {
        var tar = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(tar, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true))
            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name)
            {
                Mode = (UnixFileMode)0x1ed, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
            });
        var gz = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(tar.ToArray());
        return gz.ToArray();
    }

    private static byte[] UngzipTar(byte[] gz)
    {
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress);
        var plain = new MemoryStream();
        gzip.CopyTo(plain);
        return plain.ToArray();
    }
}
