using Berth.Engine;
using Berth.Engine.Containers;
using Berth.Engine.Model;
using Berth.Engine.Volumes;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>Docker's mount parsing (moby's Linux parser): `-v` forms, `--mount` validation, tmpfs options, order.</summary>
public sealed class MountResolverTests
{
    [Theory]
    [InlineData("/host:/ctr", "bind", "/host", "/ctr", "", true, "rprivate")]
    [InlineData("/host:/ctr:ro,rshared", "bind", "/host", "/ctr", "ro,rshared", false, "rshared")]
    [InlineData("data:/ctr", "volume", "", "/ctr", "z", true, "")]
    [InlineData("data:/ctr/../x:ro", "volume", "", "/x", "ro", false, "")]
    [InlineData("/anon", "volume", "", "/anon", "", true, "")]
    public void Dash_v_forms_parse_as_docker(string spec, string type, string source, string destination, string mode,
        bool rw, string propagation)
    {
        var (mount, volume) = MountResolver.ParseBind(spec);
        Assert.Equal(type, mount.Type);
        Assert.Equal(source, mount.Source);
        Assert.Equal(destination, mount.Destination);
        Assert.Equal(mode, mount.Mode);
        Assert.Equal(rw, mount.RW);
        Assert.Equal(propagation, mount.Propagation);
        Assert.Equal(type == "volume", volume is not null);
    }

    [Theory]
    [InlineData("/a:/b:bogus", "invalid mode: bogus")]
    [InlineData("/a:/b:ro,rw", "invalid mode: ro,rw")]
    [InlineData("/a:ro", "invalid volume specification: '/a:ro'")]
    [InlineData("/a:relative", "mount path must be absolute")]
    [InlineData("/a:/", "destination can't be '/'")]
    [InlineData("x:/a", "volume name is too short")]
    [InlineData("a/b:/a", "includes invalid characters")]
    [InlineData("data:/a:rshared", "invalid mode: rshared")]
    [InlineData("a:b:c:d:e", "invalid volume specification")]
    public void Bad_dash_v_specs_are_400s(string spec, string message)
    {
        var e = Assert.ThrowsAny<EngineException>(() => MountResolver.ParseBind(spec));
        Assert.Equal(400, e.Status);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Mount_options_become_docker_tmpfs_and_bind_settings()
    {
        var (tmpfs, _) = MountResolver.ParseMount(new MountRequest
        {
            Type = "tmpfs", Target = "/t", ReadOnly = true,
            TmpfsOptions = new MountTmpfsOptions { SizeBytes = 64 << 20, Mode = Convert.ToUInt32("1770", 8), Options = [["exec"]] },
        }, bindSourceMustExist: true);
        Assert.Equal("ro,mode=1770,size=64m,exec", tmpfs.TmpfsOptions);
        Assert.Equal(["nosuid", "nodev", "ro", "mode=1770", "size=64m", "exec"], ContainerService.TmpfsOptions(tmpfs.TmpfsOptions));

        var missing = Assert.Throws<BadRequestException>(() => MountResolver.ParseMount(
            new MountRequest { Type = "bind", Source = "/nonexistent-" + Guid.NewGuid(), Target = "/x" }, true));
        Assert.Contains("bind source path does not exist", missing.Message);
        var subpath = Assert.Throws<BadRequestException>(() => MountResolver.ParseMount(
            new MountRequest { Type = "volume", Target = "/x", VolumeOptions = new() { Subpath = "a" } }, true));
        Assert.Contains("must not set Subpath when using anonymous volumes", subpath.Message);
        var source = Assert.Throws<BadRequestException>(() => MountResolver.ParseMount(
            new MountRequest { Type = "tmpfs", Source = "x", Target = "/x" }, true));
        Assert.Contains("field Source must not be specified", source.Message);
    }

    [Fact]
    public void Resolution_orders_parents_first_skips_covered_image_volumes_and_refuses_duplicates()
    {
        var hostConfig = new HostConfig
        {
            Binds = ["/h/logs:/data/logs", "named:/data"],
            Tmpfs = new() { ["/run/t"] = "size=1m" },
        };
        var (mounts, volumes) = MountResolver.Resolve(hostConfig, ["/data", "/cache"], _ => null);
        Assert.Equal(["/cache", "/data", "/data/logs", "/run/t"], mounts.Select(m => m.Destination));
        Assert.True(mounts.Single(m => m.Destination == "/run/t").Hidden);
        Assert.Equal(2, volumes.Count); // "named" and the anonymous one for /cache; /data is covered by -v
        Assert.Null(volumes.Single(v => v.Mount.Destination == "/cache").Name);

        var duplicate = Assert.Throws<BadRequestException>(() => MountResolver.Resolve(
            new HostConfig { Binds = ["/a:/x"], Tmpfs = new() { ["/x"] = "" } }, [], _ => null));
        Assert.Contains("Duplicate mount point: /x", duplicate.Message);
    }

    [Theory]
    [InlineData("/dir/.", "/dir", true, ".")]
    [InlineData("/dir/", "/dir", true, "dir")]
    [InlineData("dir/file", "/dir/file", false, "file")]
    [InlineData("/", "/", true, "/")]
    [InlineData("/a/../../etc/passwd", "/etc/passwd", false, "passwd")]
    public void Archive_paths_are_split_as_dockerd_does(string path, string absolute, bool trailing, string baseName)
    {
        Assert.Equal((absolute, trailing, baseName), ContainerService.SplitArchivePath(path));
    }
}
