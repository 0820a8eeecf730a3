using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.EndToEnd.Tests;

/// <summary>`docker cp` both ways with the real docker CLI: running and stopped containers, into a volume under the
/// target path, `-a` keeping owners; symlinks planted in the container and the hostile archive corpus sent to PUT
/// /archive never reach a victim directory on the host.</summary>
public sealed class CopyTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;

    private ShResult Ok(params string[] args) => EngineFixture.Check(Engine.Docker(args));

    private string Out(params string[] args) => Ok(args).Stdout.Trim();

    private string Scratch()
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("cp", 16));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Files_go_in_and_out_of_a_running_container()
    {
        string dir = Scratch();
        Directory.CreateDirectory(Path.Combine(dir, "tree", "sub"));
        File.WriteAllText(Path.Combine(dir, "tree", "sub", "a.txt"), "alpha\n");
        File.SetUnixFileMode(Path.Combine(dir, "tree", "sub", "a.txt"), (UnixFileMode)0x1e4); // 0744
        string name = TestNames.Unique("cpr", 12);
        Ok("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300");
        try
        {
            Ok("cp", Path.Combine(dir, "tree"), name + ":/tmp/");
            Assert.Equal("alpha", Out("exec", name, "cat", "/tmp/tree/sub/a.txt"));
            Assert.Equal("744 0:0", Out("exec", name, "sh", "-c", "stat -c '%a %u:%g' /tmp/tree/sub/a.txt"));

            Ok("exec", name, "sh", "-c", "mkdir -p /out/d && echo beta > /out/d/b.txt");
            Ok("cp", name + ":/out/d", Path.Combine(dir, "copied"));
            Assert.Equal("beta\n", File.ReadAllText(Path.Combine(dir, "copied", "b.txt")));
            // "dir/." copies the content only.
            Ok("cp", name + ":/out/d/.", Path.Combine(dir, "content"));
            Assert.True(File.Exists(Path.Combine(dir, "content", "b.txt")));

            var missing = Engine.Docker("cp", name + ":/no/such", dir);
            Assert.NotEqual(0, missing.ExitCode);
            Assert.Contains("Could not find the file /no/such", missing.Stderr);
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    [Fact]
    public void A_stopped_container_takes_files_into_its_volume_and_cp_a_keeps_owners()
    {
        string dir = Scratch();
        string file = Path.Combine(dir, "owned.txt");
        File.WriteAllText(file, "mine\n");
        Sh.Run("chown", ["4321:8765", file]);
        string volume = TestNames.Unique("cpv", 12);
        string name = TestNames.Unique("cps", 12);
        Ok("create", "--name", name, "-v", volume + ":/data", "webapp:noexpose", "sh", "-c",
            "cat /data/owned.txt; stat -c '%u:%g' /data/owned.txt /plain.txt");
        try
        {
            Ok("cp", "-a", file, name + ":/data/owned.txt");
            Ok("cp", file, name + ":/plain.txt");
            Ok("start", "-a", name);
            string logs = Out("logs", name);
            Assert.Contains("mine", logs);
            Assert.Contains("4321:8765", logs);
            Assert.Contains("0:0", logs);
            // The file went into the volume, not into the container's own layer.
            Assert.True(File.Exists(Path.Combine(Engine.DataRoot, "volumes", volume, "_data", "owned.txt")));
            // And out of a stopped container, from the volume.
            Ok("cp", name + ":/data/owned.txt", Path.Combine(dir, "back.txt"));
            Assert.Equal("mine\n", File.ReadAllText(Path.Combine(dir, "back.txt")));
        }
        finally
        {
            Engine.Docker("rm", "-f", name);
            Engine.Docker("volume", "rm", volume);
        }
    }

    [Fact]
    public void Symlinks_in_the_container_never_lead_cp_to_the_host()
    {
        string dir = Scratch();
        string victim = Path.Combine(dir, "victim");
        PopulateVictim(victim);
        string before = Snapshot(victim);
        // Links planted in the container (through cp itself: busybox here has no ln) aimed at the host's victim.
        string links = Path.Combine(dir, "links");
        Directory.CreateDirectory(links);
        File.CreateSymbolicLink(Path.Combine(links, "esc"), victim);
        File.CreateSymbolicLink(Path.Combine(links, "up"), "../../../../../../../.." + victim);
        File.WriteAllText(Path.Combine(dir, "evil"), "evil\n");
        string name = TestNames.Unique("cpl", 12);
        Ok("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300");
        try
        {
            Ok("cp", links + "/.", name + ":/");
            foreach (string link in new[] { "esc", "up" })
            {
                // Into the container through the link: it resolves inside the container's root (or fails).
                Engine.Docker("cp", Path.Combine(dir, "evil"), $"{name}:/{link}/file");
                Engine.Docker("cp", Path.Combine(dir, "evil"), $"{name}:/{link}/");
                // Out of the container through the link: the host's victim file is never read.
                string outDir = Path.Combine(dir, "out-" + link);
                Directory.CreateDirectory(outDir);
                Engine.Docker("cp", $"{name}:/{link}/file", outDir);
                Assert.False(File.Exists(Path.Combine(outDir, "file")) && File.ReadAllText(Path.Combine(outDir, "file")) == "victim\n");
                // Without -L the link itself comes out, as a link (the docker CLI itself refuses to write the
                // relative one, which would climb out of its destination).
                var linkOut = Engine.Docker("cp", $"{name}:/{link}", Path.Combine(outDir, "link"));
                if (link == "esc")
                {
                    EngineFixture.Check(linkOut);
                    Assert.NotNull(new FileInfo(Path.Combine(outDir, "link")).LinkTarget);
                }
            }
            Assert.Equal(before, Snapshot(victim));
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    [Fact]
    public void Put_archive_takes_gzip_bzip2_and_xz_bodies_and_refuses_corrupt_ones_with_a_400()
    {
        string dir = Scratch();
        Directory.CreateDirectory(Path.Combine(dir, "src", "sub"));
        File.WriteAllText(Path.Combine(dir, "src", "sub", "note.txt"), "packed\n");
        string name = TestNames.Unique("cpz", 12);
        Ok("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300");
        try
        {
            foreach (var (tool, flag) in new[] { ("gzip", "-z"), ("bzip2", "-j"), ("xz", "-J") })
            {
                string archive = Path.Combine(dir, "a." + tool);
                EngineFixture.Check(Sh.Run("tar", ["-C", Path.Combine(dir, "src"), flag, "-cf", archive, "sub"]));
                Ok("exec", name, "mkdir", "-p", "/tmp/" + tool);
                Assert.Equal(200, Put(name, "/tmp/" + tool, archive));
                Assert.Equal("packed", Out("exec", name, "cat", $"/tmp/{tool}/sub/note.txt"));
            }
            // Broken compressed data is the client's fault: a 400 with Docker's message body, the container unharmed.
            byte[] broken = File.ReadAllBytes(Path.Combine(dir, "a.xz"));
            for (int i = 24; i < broken.Length - 16; i++) broken[i] ^= 0x5a;
            File.WriteAllBytes(Path.Combine(dir, "broken.xz"), broken);
            Assert.Equal(400, Put(name, "/tmp", Path.Combine(dir, "broken.xz")));
            Assert.Equal("running", Out("inspect", "-f", "{{.State.Status}}", name));
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    private int Put(string container, string path, string archive)
    {
        var put = Sh.Run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", Engine.SocketPath,
            "-X", "PUT", "-H", "Content-Type: application/x-tar", "--data-binary", "@" + archive,
            $"http://docker/v1.47/containers/{container}/archive?path={path}"], TimeSpan.FromSeconds(120));
        return int.Parse(put.Stdout.Trim());
    }

    public static TheoryData<string> Cases() => new(All("/victim").Select(a => a.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_hostile_archive_put_into_a_container_never_reaches_outside(string caseName)
    {
        string dir = Scratch();
        string victim = Path.Combine(dir, "victim");
        PopulateVictim(victim);
        string before = Snapshot(victim);
        var archive = All(victim).Single(a => a.Name == caseName);
        string tar = Path.Combine(dir, "hostile.tar");
        File.WriteAllBytes(tar, archive.Tar);
        string name = TestNames.Unique("cph", 12);
        Ok("run", "-d", "--name", name, "webapp:noexpose", "sleep", "300");
        try
        {
            var put = Sh.Run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", Engine.SocketPath,
                "-X", "PUT", "-H", "Content-Type: application/x-tar", "--data-binary", "@" + tar,
                $"http://docker/v1.47/containers/{name}/archive?path=/tmp&noOverwriteDirNonDir=true"]);
            int status = int.Parse(put.Stdout.Trim());
            Assert.True(status < 500, $"{caseName}: status {status}");
            // ".wh.." and ".wh..." are plain names in a `docker cp` archive (whiteouts belong to layers only).
            if (archive.Refused && caseName is not ("whiteout-dot" or "whiteout-dotdot")) Assert.Equal(400, status);
            Assert.Equal(before, Snapshot(victim));
            Assert.Equal("running", Out("inspect", "-f", "{{.State.Status}}", name));
        }
        finally { Engine.Docker("rm", "-f", name); }
    }
}
