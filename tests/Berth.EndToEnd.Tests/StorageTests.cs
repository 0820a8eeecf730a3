using System.Formats.Tar;
using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>Volumes, binds and tmpfs with the real docker CLI: named and anonymous volumes, a volume filled from the
/// image with owners and modes, `rm -v`, 409 for a volume in use, filters and prune, `-v` vs `--mount` bind sources,
/// `--read-only` with a writable volume, a tmpfs that leaves nothing on disk, inspect's Mounts as Docker shows them.</summary>
public sealed class StorageTests(EngineFixture fixture) : IClassFixture<EngineFixture>
{
    private EngineProcess Engine => fixture.Engine;

    private ShResult Ok(params string[] args) => EngineFixture.Check(Engine.Docker(args));

    private string Out(params string[] args) => Ok(args).Stdout.Trim();

    [Fact]
    public void A_named_volume_keeps_data_between_containers_and_cannot_be_removed_while_in_use()
    {
        string volume = TestNames.Unique("vol", 16);
        Assert.Equal(volume, Out("volume", "create", "--label", "suite=storage", volume));
        var inspect = JsonNode.Parse(Out("volume", "inspect", volume))!.AsArray()[0]!;
        Assert.Equal("local", (string?)inspect["Driver"]);
        Assert.Equal("storage", (string?)inspect["Labels"]!["suite"]);
        Assert.Equal("local", (string?)inspect["Scope"]);
        Assert.Equal(Path.Combine(Engine.DataRoot, "volumes", volume, "_data"), (string?)inspect["Mountpoint"]);
        Assert.Contains(volume, Out("volume", "ls", "-q", "--filter", "label=suite=storage").Split('\n'));
        Assert.DoesNotContain(volume, Out("volume", "ls", "-q", "--filter", "label=suite=other").Split('\n'));

        string writer = TestNames.Unique("w", 12);
        Ok("run", "--name", writer, "-v", volume + ":/data", "webapp:noexpose", "sh", "-c", "echo kept > /data/f");
        Assert.Equal("kept", Out("run", "--rm", "-v", volume + ":/data:ro", "webapp:noexpose", "cat", "/data/f"));
        Assert.Contains(volume, Out("volume", "ls", "-q", "--filter", "dangling=false").Split('\n'));

        var refused = Engine.Docker("volume", "rm", volume);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("volume is in use", refused.Stderr);
        Ok("rm", writer);
        Assert.Contains(volume, Out("volume", "ls", "-q", "--filter", "dangling=true").Split('\n'));
        Ok("volume", "rm", volume);
        Assert.DoesNotContain(volume, Out("volume", "ls", "-q"));
        Assert.False(Directory.Exists(Path.Combine(Engine.DataRoot, "volumes", volume)));
    }

    [Fact]
    public void Bad_volume_requests_are_docker_400s()
    {
        var shortName = Engine.Docker("volume", "create", "x");
        Assert.Contains("volume name is too short", shortName.Stderr);
        var badOption = Engine.Docker("volume", "create", "--opt", "nope=1", TestNames.Unique("vo", 12));
        Assert.Contains("invalid option", badOption.Stderr);
        var missing = Engine.Docker("volume", "inspect", TestNames.Unique("missing", 16));
        Assert.Contains("no such volume", missing.Stderr);
        var badMode = Engine.Docker("run", "--rm", "-v", "/tmp:/x:bogus", "webapp:noexpose", "true");
        Assert.Equal(125, badMode.ExitCode);
        Assert.Contains("invalid mode: bogus", badMode.Stderr);
    }

    [Fact]
    public void Anonymous_volumes_come_from_dash_v_and_image_VOLUME_and_go_with_rm_v()
    {
        string image = "volimg" + TestNames.Unique("", 8).ToLowerInvariant();
        string tar = Path.Combine(Engine.Root, image + ".tar");
        WriteImageWithOwnedData(tar);
        Ok("import", "-c", WebAppImage.Cmd, "-c", "VOLUME /data", tar, image);

        string name = TestNames.Unique("anon", 12);
        Ok("run", "--name", name, "-v", "/scratch", image, "sh", "-c", "ls -ln /data; stat -c '%a %u:%g' /data");
        var mounts = JsonNode.Parse(Out("inspect", "-f", "{{json .Mounts}}", name))!.AsArray();
        Assert.Equal(2, mounts.Count);
        var names = mounts.Select(m => (string)m!["Name"]!).ToList();
        foreach (var m in mounts)
        {
            Assert.Equal("volume", (string?)m!["Type"]);
            Assert.Equal("local", (string?)m["Driver"]);
            Assert.Equal("", (string?)m["Mode"]);
            Assert.Equal("", (string?)m["Propagation"]);
            Assert.True((bool)m["RW"]!);
        }
        // Filled from the image: owner, group and mode of the file and of the directory itself.
        string logs = Out("logs", name);
        Assert.Contains("-rw-r-----    1 1234     5678", logs);
        Assert.Contains("750 1234:5678", logs);
        var volume = JsonNode.Parse(Out("volume", "inspect", names[0]))!.AsArray()[0]!;
        Assert.Equal("", (string?)volume["Labels"]!["com.docker.volume.anonymous"]);

        Ok("rm", "-v", name);
        string left = Out("volume", "ls", "-q");
        foreach (string n in names) Assert.DoesNotContain(n, left);

        // --rm removes them too; prune takes only anonymous volumes unless --all.
        Ok("run", "--rm", image, "true");
        string named = TestNames.Unique("keep", 12);
        Ok("volume", "create", named);
        string holder = TestNames.Unique("h", 12);
        Ok("create", "--name", holder, "-v", "/anon", "webapp:noexpose", "true");
        string anon = (string)JsonNode.Parse(Out("inspect", "-f", "{{json .Mounts}}", holder))!.AsArray()[0]!["Name"]!;
        Ok("rm", holder);
        Ok("volume", "prune", "-f");
        left = Out("volume", "ls", "-q");
        Assert.DoesNotContain(anon, left);
        Assert.Contains(named, left);
        Ok("volume", "prune", "-f", "--all");
        Assert.DoesNotContain(named, Out("volume", "ls", "-q"));
    }

    [Fact]
    public void A_volume_subpath_is_the_directory_inside_the_volume_and_never_a_symlink_out_of_it()
    {
        string volume = TestNames.Unique("sp", 12);
        Ok("run", "--rm", "-v", volume + ":/d", "webapp:noexpose", "sh", "-c",
            "mkdir -p /d/sub/deep && echo inside > /d/sub/deep/f && ln -s / /d/escape && ln -s sub /d/alias");
        string mount = $"type=volume,src={volume},dst=/x,volume-subpath=";
        Assert.Equal("inside", Out("run", "--rm", "--mount", mount + "sub/deep", "webapp:noexpose", "cat", "/x/f"));
        foreach (string link in new[] { "escape", "alias/deep" })
        {
            var refused = Engine.Docker("run", "--rm", "--mount", mount + link, "webapp:noexpose", "ls", "/x/etc");
            Assert.Equal(125, refused.ExitCode);
            Assert.Contains($"cannot access path {link} in volume {volume}", refused.Stderr);
        }
        // A stopped container's files (docker cp) see the same directory.
        string stopped = TestNames.Unique("spc", 12);
        Ok("create", "--name", stopped, "--mount", mount + "sub", "webapp:noexpose", "true");
        Assert.Contains("inside", Engine.Docker("cp", stopped + ":/x/deep/f", "-").Stdout);
        Ok("rm", stopped);
        // The staging mounts that pinned the subpaths for runc are gone with the containers.
        string staging = Path.Combine(Engine.ExecRoot, "subpaths");
        Assert.True(!Directory.Exists(staging) || Directory.GetDirectories(staging).Length == 0);
        Assert.DoesNotContain(staging, File.ReadAllText("/proc/self/mountinfo"));
        Ok("volume", "rm", volume);
    }

    [Fact]
    public void Bind_sources_are_made_for_dash_v_and_refused_for_mount_and_inspect_shows_docker_mounts()
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("bind", 16));
        string name = TestNames.Unique("b", 12);
        string volume = TestNames.Unique("mv", 12);
        Ok("run", "--name", name, "-v", dir + ":/host:ro", "--mount", $"type=volume,source={volume},target=/vol",
            "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770", "webapp:noexpose",
            "sh", "-c", "touch /host/x 2>/dev/null && echo writable || echo readonly; grep ' /t ' /proc/mounts");
        Assert.True(Directory.Exists(dir));
        string logs = Out("logs", name);
        Assert.Contains("readonly", logs);
        Assert.Contains("size=1024k", logs);
        Assert.Contains("mode=1770", logs);
        var mounts = JsonNode.Parse(Out("inspect", "-f", "{{json .Mounts}}", name))!.AsArray();
        var bind = mounts.Single(m => (string?)m!["Type"] == "bind")!.AsObject();
        Assert.Equal(
            $"{{\"Type\":\"bind\",\"Source\":\"{dir}\",\"Destination\":\"/host\",\"Mode\":\"ro\",\"RW\":false,\"Propagation\":\"rprivate\"}}",
            bind.ToJsonString());
        var vol = mounts.Single(m => (string?)m!["Type"] == "volume")!.AsObject();
        Assert.Equal(
            $"{{\"Type\":\"volume\",\"Name\":\"{volume}\",\"Source\":\"{Engine.DataRoot}/volumes/{volume}/_data\",\"Destination\":\"/vol\",\"Driver\":\"local\",\"Mode\":\"z\",\"RW\":true,\"Propagation\":\"\"}}",
            vol.ToJsonString());
        var tmpfs = mounts.Single(m => (string?)m!["Type"] == "tmpfs")!.AsObject();
        Assert.Equal("{\"Type\":\"tmpfs\",\"Source\":\"\",\"Destination\":\"/t\",\"Mode\":\"\",\"RW\":true,\"Propagation\":\"\"}",
            tmpfs.ToJsonString());
        Ok("rm", name);
        Ok("volume", "rm", volume);

        string missing = Path.Combine(Engine.Root, TestNames.Unique("nosrc", 16));
        var refused = Engine.Docker("run", "--rm", "--mount", $"type=bind,source={missing},target=/x", "webapp:noexpose", "true");
        Assert.Equal(125, refused.ExitCode);
        Assert.Contains("bind source path does not exist", refused.Stderr);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public void Read_only_root_keeps_writable_volumes_and_a_tmpfs_leaves_nothing_on_disk()
    {
        string name = TestNames.Unique("ro", 12);
        string marker = TestNames.Unique("marker", 16);
        Ok("run", "--name", name, "--read-only", "-v", "/data", "--tmpfs", "/scratch:size=2m", "webapp:noexpose", "sh", "-c",
            $"touch /rootfile 2>/dev/null && echo root-writable; echo v > /data/v && echo volume-writable; " +
            $"echo secret > /scratch/{marker} && echo tmpfs-writable; grep ' /scratch ' /proc/mounts");
        string logs = Out("logs", name);
        Assert.DoesNotContain("root-writable", logs);
        Assert.Contains("volume-writable", logs);
        Assert.Contains("tmpfs-writable", logs);
        Assert.Contains("tmpfs /scratch tmpfs rw,nosuid,nodev,noexec", logs);
        // --tmpfs is not listed in Mounts (as in Docker), the anonymous volume is.
        Assert.Single(JsonNode.Parse(Out("inspect", "-f", "{{json .Mounts}}", name))!.AsArray());
        var found = Sh.Run("find", [Engine.DataRoot, "-name", marker]);
        Assert.Equal("", found.Stdout.Trim());
        Ok("rm", "-v", name);
    }

    [Fact]
    public void Volumes_from_shares_the_mounts_of_another_container()
    {
        string first = TestNames.Unique("vf", 12), second = TestNames.Unique("vf", 12);
        Ok("run", "--name", first, "-v", "/shared", "webapp:noexpose", "sh", "-c", "echo from-first > /shared/f");
        Assert.Equal("from-first", Out("run", "--name", second, "--volumes-from", first + ":ro", "webapp:noexpose", "cat", "/shared/f"));
        var mount = JsonNode.Parse(Out("inspect", "-f", "{{json .Mounts}}", second))!.AsArray()[0]!;
        Assert.False((bool)mount["RW"]!);
        Ok("rm", "-v", second);
        Ok("rm", "-v", first);
    }

    /// <summary>The web app's rootfs plus /data (0750, 1234:5678) holding a file 0640 of the same owner.</summary>
    [Fact]
    public void A_volume_is_filled_at_create_unless_nocopy_and_system_df_shows_volume_and_container_sizes()
    {
        string image = "volfill" + TestNames.Unique("", 8).ToLowerInvariant();
        string tar = Path.Combine(Engine.Root, image + ".tar");
        WriteImageWithOwnedData(tar);
        Ok("import", "-c", WebAppImage.Cmd, tar, image);
        string filled = TestNames.Unique("vfill", 12), empty = TestNames.Unique("vnocp", 12);
        string name = TestNames.Unique("fill", 12), other = TestNames.Unique("nocp", 12);
        try
        {
            // Filled by create itself, as dockerd does: the container never started.
            Ok("create", "--name", name, "-v", filled + ":/data", image, "sh", "-c", "head -c 5000 /dev/zero > /grown");
            string data = Out("volume", "inspect", "-f", "{{.Mountpoint}}", filled);
            Assert.Equal("owned\n", File.ReadAllText(Path.Combine(data, "owned")));
            Assert.Equal("750 1234:5678|640 1234:5678", Sh.Run("stat", ["-c", "%a %u:%g", data, Path.Combine(data, "owned")])
                .Stdout.Trim().Replace('\n', '|'));
            Ok("create", "--name", other, "-v", empty + ":/data:nocopy", image, "true");
            Assert.Empty(Directory.EnumerateFileSystemEntries(Out("volume", "inspect", "-f", "{{.Mountpoint}}", empty)));

            // system df -v: each volume's size (its 6 bytes) and the containers using it; SizeRw of what the container
            // wrote (5000 bytes, inspect -s and ps -s alike).
            Ok("start", "-a", name);
            var df = Out("system", "df", "-v", "--format", "{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}}\n{{end}}")
                .Split('\n');
            Assert.Contains($"{filled} 1 6B", df);
            Assert.Contains($"{empty} 1 0B", df);
            Assert.Equal("5000", Out("inspect", "-s", "-f", "{{.SizeRw}}", name));
            long rootfs = long.Parse(Out("inspect", "-s", "-f", "{{.SizeRootFs}}", name));
            Assert.Equal(5000 + long.Parse(Out("image", "inspect", "-f", "{{.Size}}", image)), rootfs);
            Assert.Contains("5kB (virtual", Out("ps", "-a", "-s", "--filter", "name=" + name, "--format", "{{.Size}}"));
        }
        finally
        {
            Engine.Docker("rm", "-f", name, other);
            Engine.Docker("volume", "rm", filled, empty);
            Engine.Docker("rmi", image);
        }
    }

    private static void WriteImageWithOwnedData(string path)
    {
        string basic = path + ".base";
        WebAppImage.WriteRootfsTar(basic);
        using var output = File.Create(path);
        using var writer = new TarWriter(output, TarEntryFormat.Pax);
        using (var input = File.OpenRead(basic))
        using (var reader = new TarReader(input))
            while (reader.GetNextEntry() is { } entry) writer.WriteEntry(entry);
        writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "data/") { Mode = (UnixFileMode)0x1e8, Uid = 1234, Gid = 5678 });
        writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "data/owned")
        {
            Mode = (UnixFileMode)0x1a0, Uid = 1234, Gid = 5678, DataStream = new MemoryStream("owned\n"u8.ToArray()),
        });
        File.Delete(basic);
    }
}
