using System.Net.Http.Headers;
using Berth.Engine.Build;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>How a build reads URLs, as moby's remotecontext and urlutil do: which are git repositories, the ref and
/// subdirectory of `#ref:subdir`, the name of a downloaded file, and when a download is a Dockerfile.</summary>
public sealed class RemoteBuildSourceTests
{
    [Theory]
    [InlineData("git://127.0.0.1:9418/repo", true)]
    [InlineData("https://example.invalid/repo.git", true)]
    [InlineData("https://example.invalid/repo.git#main:sub", true)]
    [InlineData("github.com/owner/repo", true)]
    [InlineData("git@example.invalid:owner/repo", true)]
    [InlineData("https://example.invalid/ctx.tar.gz", false)]
    [InlineData("https://example.invalid/repo.gitx", false)]
    [InlineData("ftp://example.invalid/repo.git", false)]
    public void Git_urls_are_recognised_as_moby_does(string remote, bool git) => Assert.Equal(git, GitRemote.IsGitUrl(remote));

    [Theory]
    [InlineData("git://h/repo", "git://h/repo", "", "")]
    [InlineData("git://h/repo#v1.0", "git://h/repo", "v1.0", "")]
    [InlineData("https://h/repo.git#main:app/sub", "https://h/repo.git", "main", "app/sub")]
    [InlineData("https://h/repo.git#:docs", "https://h/repo.git", "", "docs")]
    [InlineData("github.com/o/r", "https://github.com/o/r", "", "")]
    [InlineData("git@h:o/r.git#dev", "git@h:o/r.git", "dev", "")]
    public void A_fragment_names_the_ref_and_the_subdirectory(string remote, string repository, string gitRef, string subdir) =>
        Assert.Equal((repository, gitRef, subdir), GitRemote.Parse(remote));

    [Fact]
    public void A_ref_that_would_be_an_option_is_refused() =>
        Assert.Contains("invalid refspec", Assert.Throws<BuildException>(() => GitRemote.Parse("git://h/repo#--upload-pack=x")).Message);

    [Theory]
    [InlineData("http://h/dir/file.txt", null, "file.txt")]
    [InlineData("http://h/dir/a%20b.txt", null, "a b.txt")]
    [InlineData("http://h/dir/", "attachment; filename=\"named.tar\"", "named.tar")]
    [InlineData("http://h/", "attachment; filename=\"../up/x.bin\"", "x.bin")]
    [InlineData("http://h/dir/", null, null)]
    [InlineData("http://h/dir/", "attachment; filename=\"..\"", null)]
    [InlineData("http://h/file?name=q", "attachment; filename=\"other\"", "file")]
    public void A_download_is_named_by_its_path_then_by_content_disposition(string url, string? disposition, string? name) =>
        Assert.Equal(name, RemoteDownload.FileName(new Uri(url), disposition is null ? null : ContentDispositionHeaderValue.Parse(disposition)));

    [Theory]
    [InlineData("text/plain", new byte[] { 0x1f, 0x8b }, true)]        // declared text is text
    [InlineData("application/x-tar", new byte[] { (byte)'F' }, false)]
    [InlineData(null, new byte[] { (byte)'F', (byte)'R', (byte)'O', (byte)'M', (byte)'\n' }, true)]
    [InlineData("application/octet-stream", new byte[] { (byte)'F', (byte)'R', 0 }, false)]
    [InlineData(null, new byte[] { 0x1f, 0x8b, 8, 0 }, false)]
    public void A_download_is_a_dockerfile_when_declared_or_sniffed_as_text(string? type, byte[] head, bool text)
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, head);
            Assert.Equal(text, ImageBuilder.IsText(type, file));
        }
        finally { File.Delete(file); }
    }
}
