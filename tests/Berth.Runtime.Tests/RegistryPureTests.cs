using System.Text;
using System.Text.Json.Nodes;
using Berth.Runtime.Images;
using Berth.Runtime.Registry;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>The registry client's pure parts: references as Docker normalises them, challenges, credentials, manifests
/// and platform choice, the progress rendering.</summary>
public sealed class RegistryPureTests
{
    [Theory]
    [InlineData("redis", "docker.io", "library/redis", "latest", null, "redis:latest", "docker.io/library/redis")]
    [InlineData("docker.io/library/redis:7", "docker.io", "library/redis", "7", null, "redis:7", "docker.io/library/redis")]
    [InlineData("index.docker.io/user/app", "docker.io", "user/app", "latest", null, "user/app:latest", "docker.io/user/app")]
    [InlineData("user/app:v2", "docker.io", "user/app", "v2", null, "user/app:v2", "docker.io/user/app")]
    [InlineData("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", null, "localhost:5000/a/b:c", "localhost:5000/a/b")]
    [InlineData("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", null, "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x")]
    [InlineData("localhost/x", "localhost", "x", "latest", null, "localhost/x:latest", "localhost/x")]
    public void References_normalise_as_dockers(string text, string domain, string path, string? tag, string? digest, string shown, string full)
    {
        var reference = ImageReference.ParseRemote(text);
        Assert.Equal(domain, reference.Domain);
        Assert.Equal(path, reference.Path);
        Assert.Equal(tag, reference.Tag);
        Assert.Equal(digest, reference.Digest);
        Assert.Equal(shown, reference.ToString());
        Assert.Equal(full, reference.FullName);
    }

    [Fact]
    public void A_digest_wins_over_the_tag_and_the_api_tag_may_be_a_digest()
    {
        string digest = "sha256:" + new string('a', 64);
        var byDigest = ImageReference.ParseRemote("busybox@" + digest);
        Assert.Equal(digest, byDigest.TagOrDigest);
        Assert.Equal("busybox@" + digest, byDigest.ToString());
        var api = ImageReference.ParseRemote("docker.io/library/busybox", digest);
        Assert.Equal(byDigest, api);
        Assert.Equal("1.36", ImageReference.ParseRemote("docker.io/library/busybox", "1.36").Tag);
        Assert.Throws<ImageException>(() => ImageReference.ParseRemote("busybox", "bad tag"));
        Assert.Throws<ImageException>(() => ImageReference.ParseRemote("busybox", "md5:abc"));
        Assert.Throws<ImageException>(() => ImageReference.ParseRemote("library/UPPER"));
    }

    [Fact]
    public void Challenges_parse_quoted_and_bare_parameters()
    {
        var bearer = AuthChallenge.Parse("Bearer realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\"")!;
        Assert.Equal("Bearer", bearer.Scheme);
        Assert.Equal("https://auth.example/token", bearer["realm"]);
        Assert.Equal("registry.example", bearer["service"]);
        Assert.Equal("repository:a/b:pull,push", bearer["scope"]);
        var basic = AuthChallenge.Parse("Basic realm=berth-test")!;
        Assert.Equal("Basic", basic.Scheme);
        Assert.Equal("berth-test", basic["realm"]);
        Assert.Null(AuthChallenge.Parse(""));
    }

    [Fact]
    public void Registry_auth_headers_decode_as_the_docker_cli_encodes_them()
    {
        Assert.Null(RegistryCredentials.FromHeader("e30="));   // {}
        Assert.Null(RegistryCredentials.FromHeader(""));
        Assert.Null(RegistryCredentials.FromHeader("%%%not base64"));
        string json = "{\"username\":\"u\",\"password\":\"p>?\",\"serveraddress\":\"h:5000\"}";
        string header = Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var credentials = RegistryCredentials.FromHeader(header)!;
        Assert.Equal("u", credentials.User);
        Assert.Equal("p>?", credentials.Secret);
        var fromAuth = RegistryCredentials.FromHeader(new RegistryCredentials { Auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("me:a:b")) }.ToHeader())!;
        Assert.Equal("me", fromAuth.User);
        Assert.Equal("a:b", fromAuth.Secret);
        Assert.DoesNotContain("a:b", fromAuth.ToString());
    }

    [Fact]
    public void Insecure_registries_by_name_or_cidr_and_loopback_allows_plain_http()
    {
        var options = new RegistryOptions { InsecureRegistries = ["reg.local:5000", "10.9.0.0/16"] };
        Assert.True(options.IsInsecure("reg.local:5000"));
        Assert.False(options.IsInsecure("reg.local:5001"));
        Assert.True(options.IsInsecure("10.9.3.4:443"));
        Assert.False(options.IsInsecure("10.8.3.4:443"));
        Assert.True(options.AllowsPlainHttp("127.0.0.1:5000"));
        Assert.True(options.AllowsPlainHttp("localhost:5000"));
        Assert.False(options.AllowsPlainHttp("example.com"));
        Assert.Throws<ArgumentException>(() => RegistryOptions.ValidateInsecure("http://x"));
        Assert.Throws<ArgumentException>(() => RegistryOptions.ValidateMirror("ftp://x"));
        Assert.Equal("http://127.0.0.1:5001/", RegistryOptions.ValidateMirror("http://127.0.0.1:5001/").ToString());
    }

    private static readonly string D1 = "sha256:" + new string('1', 64), D2 = "sha256:" + new string('2', 64), D3 = "sha256:" + new string('3', 64);

    [Fact]
    public void An_index_gives_the_wanted_platform_or_says_what_it_offers()
    {
        var index = JsonNode.Parse($$$"""
            {"schemaVersion":2,"manifests":[
              {"mediaType":"{{{MediaTypes.OciManifest}}}","digest":"{{{D1}}}","size":10,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"{{{MediaTypes.OciManifest}}}","digest":"{{{D2}}}","size":10,"platform":{"os":"linux","architecture":"amd64"}},
              {"mediaType":"{{{MediaTypes.OciManifest}}}","digest":"{{{D3}}}","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}
            """)!;
        Assert.Equal(MediaTypes.OciIndex, ManifestParser.MediaTypeOf(index, null));
        var entries = ManifestParser.IndexEntries(index);
        Assert.Equal(D2, ManifestParser.Select(entries, Platform.Default, "x").Digest);
        Assert.Equal(D1, ManifestParser.Select(entries, Platform.Parse("linux/arm64"), "x").Digest);
        Assert.Equal(D1, ManifestParser.Select(entries, Platform.Parse("linux/aarch64/v8"), "x").Digest);
        Assert.Equal(D3, ManifestParser.Select(entries, Platform.Parse("linux/arm/v7"), "x").Digest);
        var none = Assert.Throws<RegistryException>(() => ManifestParser.Select(entries, Platform.Parse("linux/s390x"), "x"));
        Assert.Contains("linux/amd64", none.Message);
    }

    [Fact]
    public void Manifests_with_unknown_layers_or_bad_digests_are_refused()
    {
        var good = JsonNode.Parse($$$"""{"schemaVersion":2,"config":{"mediaType":"{{{MediaTypes.OciConfig}}}","digest":"{{{D1}}}","size":5},"layers":[{"mediaType":"{{{MediaTypes.OciLayerZstd}}}","digest":"{{{D2}}}","size":7}]}""")!;
        var manifest = ManifestParser.Manifest(good, ManifestParser.MediaTypeOf(good, null));
        Assert.Equal(MediaTypes.OciManifest, manifest.MediaType);
        Assert.Equal(7, manifest.Layers[0].Size);
        var foreign = JsonNode.Parse($$$"""{"schemaVersion":2,"config":{"digest":"{{{D1}}}","size":5},"layers":[{"mediaType":"application/x-evil","digest":"{{{D2}}}","size":7}]}""")!;
        Assert.Equal(RegistryErrorKind.Unsupported, Assert.Throws<RegistryException>(() => ManifestParser.Manifest(foreign, MediaTypes.OciManifest)).Kind);
        var md5 = JsonNode.Parse("""{"schemaVersion":2,"config":{"digest":"md5:abc","size":5},"layers":[]}""")!;
        Assert.Throws<RegistryException>(() => ManifestParser.Manifest(md5, MediaTypes.OciManifest));
        var schema1 = JsonNode.Parse("""{"schemaVersion":1,"fsLayers":[]}""")!;
        Assert.Contains("schema 1", Assert.Throws<RegistryException>(() => ManifestParser.MediaTypeOf(schema1, "application/json")).Message);
    }

    [Fact]
    public void Progress_renders_as_dockerd()
    {
        Assert.Equal("[>" + new string(' ', 50) + "]  12.35kB/2.156MB", ProgressStream.Bar(12345, 2155893));
        Assert.Equal("[" + new string('=', 25) + ">" + new string(' ', 25) + "]  1.078MB/2.156MB", ProgressStream.Bar(1077947, 2155893));
        Assert.Equal("[" + new string('=', 50) + ">]  2.156MB/2.156MB", ProgressStream.Bar(2155893, 2155893));
        Assert.Equal("    512B", ProgressStream.Bar(512, 0));
    }

    [Fact]
    public async Task Progress_messages_have_dockerds_shape()
    {
        var output = new MemoryStream();
        var progress = new ProgressStream(output);
        await progress.MessageAsync("Pulling from library/busybox", "1.36");
        await progress.LayerAsync("0123456789ab", "Pull complete");
        await progress.ProgressAsync("0123456789ab", "Downloading", 1, 2);
        await progress.ErrorAsync("boom");
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("""{"status":"Pulling from library/busybox","id":"1.36"}""", lines[0]);
        Assert.Equal("""{"status":"Pull complete","progressDetail":{},"id":"0123456789ab"}""", lines[1]);
        Assert.StartsWith("""{"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[""", lines[2]);
        Assert.Equal("""{"errorDetail":{"message":"boom"},"error":"boom"}""", lines[3]);
    }
}
