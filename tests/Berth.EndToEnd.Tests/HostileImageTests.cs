using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.EndToEnd.Tests;

/// <summary>The hostile layer corpus through the engine with the real docker CLI (`docker import` and `docker load`):
/// a victim directory the test made beside the engine's roots stays unchanged file by file; tampered `docker load`
/// archives are refused with nothing kept; `--user` reads of a hostile /etc/passwd fail clearly.</summary>
public sealed class HostileImageTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    // Everything but CREATED, whose "N seconds ago" changes between two listings.
    private const string ImageListing = "{{.ID}} {{.Repository}}:{{.Tag}} {{.Size}}";

    private EngineProcess Engine => fixture.Engine;
    private string ImageTemp => Path.Combine(Engine.Root, "data", "image", "tmp");

    public static TheoryData<string> Cases() => new(All("/victim").Select(a => a.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Docker_import_of_a_hostile_layer_never_reaches_outside(string name) =>
        WithVictim(name, (archive, file, repo) =>
        {
            System.IO.File.WriteAllBytes(file, archive.Tar);
            return Engine.Docker("import", file, repo);
        });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Docker_load_of_a_hostile_layer_never_reaches_outside(string name) =>
        WithVictim(name, (archive, file, repo) =>
        {
            System.IO.File.WriteAllBytes(file, DockerSave(repo + ":latest", [archive.Tar]));
            return Engine.Docker("load", "-i", file);
        });

    private void WithVictim(string name, Func<HostileArchive, string, string, ShResult> send)
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("hostile-", 20));
        string victim = Path.Combine(dir, "victim"), file = Path.Combine(dir, "archive.tar");
        string repo = TestNames.Unique("hostile", 16);
        PopulateVictim(victim);
        try
        {
            var archive = All(victim).Single(a => a.Name == name);
            string before = Snapshot(victim);
            var result = send(archive, file, repo);
            if (archive.Refused)
            {
                Assert.NotEqual(0, result.ExitCode);
                Assert.Contains("invalid layer", result.Stderr);
                Assert.DoesNotContain(repo, Engine.Docker("images", "--format", "{{.Repository}}").Stdout);
            }
            else Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Equal(before, Snapshot(victim));
            Assert.Equal(["archive.tar", "victim"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
            Assert.Empty(Directory.EnumerateFileSystemEntries(ImageTemp));
        }
        finally
        {
            Engine.Docker("rmi", "-f", repo);
            Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<string> Tampered() => new("docker-save-layer", "oci-layer", "oci-config");

    [Theory]
    [MemberData(nameof(Tampered))]
    public void A_tampered_load_archive_is_a_400_and_nothing_is_kept(string kind)
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("tampered-", 20));
        Directory.CreateDirectory(dir);
        string repo = TestNames.Unique("tampered", 16), file = Path.Combine(dir, "archive.tar");
        try
        {
            byte[] good = SmallLayer(), evil = SmallLayer("evil\n");
            System.IO.File.WriteAllBytes(file, kind switch
            {
                "docker-save-layer" => DockerSave(repo + ":1", [SmallLayer("first\n"), evil], [Sha256(SmallLayer("first\n")), Sha256(good)]),
                "oci-layer" => OciLayout(repo + ":1", [good], (k, b) => k == "layer" ? evil : b),
                _ => OciLayout(repo + ":1", [good], (k, b) => k == "config" ? Flip(b) : b),
            });
            string images = Engine.Docker("images", "-a", "--no-trunc", "--format", ImageListing).Stdout;
            string layers = Listing(Path.Combine(Engine.Root, "data", "image"));
            var result = Engine.Docker("load", "-i", file);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains("invalid archive", result.Stderr);
            Assert.Contains("sha256:", result.Stderr);
            Assert.Equal(images, Engine.Docker("images", "-a", "--no-trunc", "--format", ImageListing).Stdout);
            Assert.Equal(layers, Listing(Path.Combine(Engine.Root, "data", "image")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(ImageTemp));

            // The same request over the API answers 400 with Docker's {"message": ...}.
            var curl = Sh.Run("curl", ["-s", "-o", "/dev/stderr", "-w", "%{http_code}", "--unix-socket", Engine.SocketPath,
                "-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary", "@" + file, "http://berth/v1.44/images/load"]);
            Assert.Equal("400", curl.Stdout);
            Assert.Contains("\"message\":\"invalid archive", curl.Stderr);
        }
        finally
        {
            Engine.Docker("rmi", "-f", repo + ":1");
            Directory.Delete(dir, recursive: true);
        }
    }

    public static TheoryData<string> HostilePasswd() => new("fifo", "dev-zero", "climbing-symlink");

    [Theory]
    [MemberData(nameof(HostilePasswd))]
    public void Run_with_a_user_reads_passwd_inside_the_rootfs_and_refuses_what_is_not_a_file(string kind)
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("passwd-", 20));
        Directory.CreateDirectory(dir);
        string repo = TestNames.Unique("passwd", 16), rootfs = Path.Combine(dir, "rootfs.tar"), file = Path.Combine(dir, "image.tar");
        try
        {
            WebAppImage.WriteRootfsTar(rootfs);
            byte[] top = kind switch
            {
                "fifo" => Tar(Dir("etc", 0x1ed), Device("etc/passwd", System.Formats.Tar.TarEntryType.Fifo, 0, 0)),
                "dev-zero" => Tar(Dir("dev", 0x1ed), Device("dev/zero", System.Formats.Tar.TarEntryType.CharacterDevice, 1, 5),
                    Dir("etc", 0x1ed), Symlink("etc/passwd", "/dev/zero")),
                _ => Tar(Dir("etc", 0x1ed), Regular("etc/passwd-inside", "alice:x:4321:4322::/:/bin/sh\n"),
                    Symlink("etc/passwd", "../../../../../../../../../etc/passwd-inside")),
            };
            System.IO.File.WriteAllBytes(file, DockerSave(repo + ":1", [System.IO.File.ReadAllBytes(rootfs), top]));
            EngineFixture.Check(Engine.Docker("load", "-i", file));
            var result = Engine.Docker("run", "--rm", "--user", "alice", repo + ":1", "id", "-u");
            if (kind == "climbing-symlink") Assert.Equal("4321", EngineFixture.Check(result).Stdout.Trim());
            else
            {
                Assert.NotEqual(0, result.ExitCode);
                Assert.Contains("not a regular file", result.Stderr);
            }
        }
        finally
        {
            Engine.Docker("rmi", "-f", repo + ":1");
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Listing(string root)
    {
        var result = Sh.Run("find", [root, "(", "-type", "d", "-printf", "%p d\\n", ")", "-o", "-printf", "%p %y %s %T@\\n"]);
        return string.Join('\n', result.Stdout.Split('\n').Order(StringComparer.Ordinal));
    }
}
