using Berth.Linux;
using Berth.Runtime.Containers;
using Berth.Runtime.Files;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>Host-side reads of /etc/passwd and /etc/group for `--user` on a rootfs the image chose: resolved inside it,
/// regular files only, size-capped. A hang would show as this test never ending; it is guarded by a wait.</summary>
public sealed class RootfsFileTests : IDisposable
{
    private readonly string _rootfs = Path.Combine("/tmp", TestNames.Unique("berth-rootfs-", 24));

    public RootfsFileTests()
    {
        Directory.CreateDirectory(Path.Combine(_rootfs, "etc"));
        Directory.CreateDirectory(Path.Combine(_rootfs, "dev"));
    }

    public void Dispose() => Directory.Delete(_rootfs, recursive: true);

    private string Etc(string name) => Path.Combine(_rootfs, "etc", name);

    [Fact]
    public void Passwd_and_group_symlinks_that_climb_out_resolve_inside_the_rootfs()
    {
        File.WriteAllText(Etc("passwd-inside"), "alice:x:4321:4322::/:/bin/sh\n");
        File.WriteAllText(Etc("group-inside"), "staff:x:4500:\n");
        File.CreateSymbolicLink(Etc("passwd"), "../../../../../../../../etc/passwd-inside");
        File.CreateSymbolicLink(Etc("group"), "/../../etc/group-inside");
        Assert.Equal((4321u, 4500u), Ids(UserResolver.Resolve(_rootfs, "alice:staff")));
    }

    [Fact]
    public void A_symlink_to_the_hosts_passwd_reads_the_rootfs_own_or_nothing()
    {
        File.CreateSymbolicLink(Etc("passwd"), "/etc/passwd"); // itself, inside the rootfs: a loop
        var error = Assert.Throws<RuntimeException>(() => UserResolver.Resolve(_rootfs, "root"));
        Assert.Contains("/etc/passwd", error.Message);
    }

    [Fact]
    public void A_symlink_to_dev_zero_is_a_clear_error_not_a_memory_blow_up()
    {
        Interop.MakeNode(Path.Combine(_rootfs, "dev/zero"), Interop.S_IFCHR | 0x1b6, 1, 5);
        File.CreateSymbolicLink(Etc("passwd"), "/dev/zero");
        var error = Assert.Throws<RuntimeException>(() => Guarded(() => UserResolver.Resolve(_rootfs, "alice")));
        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void A_symlink_to_dev_zero_missing_in_the_rootfs_never_reaches_the_hosts()
    {
        File.CreateSymbolicLink(Etc("passwd"), "/dev/zero");
        var error = Assert.Throws<RuntimeException>(() => Guarded(() => UserResolver.Resolve(_rootfs, "alice")));
        Assert.Contains("unable to find user alice", error.Message);
    }

    [Fact]
    public void A_fifo_is_a_clear_error_not_a_hang()
    {
        Assert.Equal(0, Sh.Run("mkfifo", [Etc("passwd")]).ExitCode);
        var error = Assert.Throws<RuntimeException>(() => Guarded(() => UserResolver.Resolve(_rootfs, "alice")));
        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void An_oversize_file_is_a_clear_error()
    {
        using (var file = File.Create(Etc("group"))) file.SetLength(RootfsFile.DefaultMaxBytes + 1);
        File.WriteAllText(Etc("passwd"), "alice:x:1:1::/:/bin/sh\n");
        var error = Assert.Throws<RuntimeException>(() => UserResolver.Resolve(_rootfs, "alice"));
        Assert.Contains("larger than", error.Message);
    }

    [Fact]
    public void A_missing_file_is_empty_and_a_plain_one_is_read()
    {
        Assert.Null(RootfsFile.ReadAllBytes(_rootfs, "/etc/nothing"));
        File.WriteAllText(Etc("passwd"), "# users\nbob:x:1000:1001::/home/bob:/bin/sh\n");
        Assert.Equal((1000u, 1001u), Ids(UserResolver.Resolve(_rootfs, "bob")));
    }

    [Fact]
    public void A_malformed_passwd_line_is_a_clear_error()
    {
        File.WriteAllText(Etc("passwd"), "alice:x:many:1::/:/bin/sh\n");
        var error = Assert.Throws<RuntimeException>(() => UserResolver.Resolve(_rootfs, "alice"));
        Assert.Contains("invalid entry for alice in /etc/passwd", error.Message);
    }

    private static (uint, uint) Ids((uint Uid, uint Gid, List<uint> Groups) user) => (user.Uid, user.Gid);

    /// <summary>Runs <paramref name="read"/> on its own thread so a hang fails the test instead of stalling the run.</summary>
    private static T Guarded<T>(Func<T> read)
    {
        var task = Task.Factory.StartNew(read, TaskCreationOptions.LongRunning);
        if (Task.WaitAny([task], TimeSpan.FromSeconds(60)) < 0) throw new TimeoutException("the read hung");
        return task.GetAwaiter().GetResult();
    }
}
