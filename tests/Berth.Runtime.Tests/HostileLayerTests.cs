using System.Text;
using Berth.Linux;
using Berth.Runtime.Images;
using Berth.TestSupport;
using Xunit;
using static Berth.TestSupport.HostileArchives;

namespace Berth.Runtime.Tests;

/// <summary>Every archive of the hostile corpus through the extractor on the real kernel: a victim directory beside
/// the extraction root must stay unchanged file by file, whether the archive is refused or taken.</summary>
public sealed class HostileLayerTests : IDisposable
{
    private readonly string _sandbox = Path.Combine("/tmp", TestNames.Unique("berth-hostile-", 26));
    private readonly string _root, _victim;

    public HostileLayerTests()
    {
        _root = Path.Combine(_sandbox, "root");
        _victim = Path.Combine(_sandbox, "victim");
        Directory.CreateDirectory(_root);
        PopulateVictim(_victim);
    }

    public void Dispose() => Directory.Delete(_sandbox, recursive: true);

    public static TheoryData<string> Cases() => new(All("/victim").Select(a => a.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_hostile_layer_never_reaches_outside_its_root(string name)
    {
        var archive = All(_victim).Single(a => a.Name == name);
        string before = Snapshot(_victim);
        var error = await Record.ExceptionAsync(() => Extract(archive.Tar));
        if (archive.Refused) Assert.IsType<ImageException>(error);
        else Assert.Null(error);
        Assert.Equal(before, Snapshot(_victim));
        Assert.Equal(["root", "victim"], Directory.EnumerateFileSystemEntries(_sandbox).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task A_directory_mode_is_never_applied_through_a_symlink_that_replaced_the_directory()
    {
        await Extract(Tar(Dir("x", 0xfff), Symlink("x", _victim)));
        Assert.Equal((UnixFileMode)0x1ed, File.GetUnixFileMode(_victim));
        Assert.Equal(_victim, new FileInfo(Path.Combine(_root, "x")).LinkTarget);
    }

    [Fact]
    public async Task An_absolute_name_lands_inside_the_root()
    {
        await Extract(Tar(Regular(_victim + "/evil", "evil")));
        Assert.Equal("evil", File.ReadAllText(_root + _victim + "/evil"));
        Assert.False(Path.Exists(Path.Combine(_victim, "evil")));
    }

    [Fact]
    public async Task Device_nodes_fifos_and_whiteouts_are_made_inside_the_root()
    {
        await Extract(Tar(Dir("dev", 0x1ed), Device("dev/null", System.Formats.Tar.TarEntryType.CharacterDevice, 1, 3),
            Device("dev/fifo", System.Formats.Tar.TarEntryType.Fifo, 0, 0), Dir("gone", 0x1ed),
            Whiteout("gone/.wh.file"), Whiteout("gone/.wh..wh..opq")));
        var nullDevice = new UnixFileInfo(Path.Combine(_root, "dev/null"));
        Assert.Equal("c 1 3", nullDevice.Describe());
        Assert.Equal("p", new UnixFileInfo(Path.Combine(_root, "dev/fifo")).Describe());
        Assert.Equal("c 0 0", new UnixFileInfo(Path.Combine(_root, "gone/file")).Describe());
        Assert.Equal("y"u8.ToArray(), Interop.GetXattr(Path.Combine(_root, "gone"), "trusted.overlay.opaque"));
    }

    /// <summary>A V7 header (no ustar magic) with a fifo's type flag has no device fields: the extractor made a 500 of
    /// it (a cast to a POSIX entry); it is a fifo, as Go's archive/tar reads it.</summary>
    [Fact]
    public async Task A_v7_header_of_a_fifo_is_a_fifo()
    {
        var buffer = new MemoryStream();
        using (var writer = new System.Formats.Tar.TarWriter(buffer, System.Formats.Tar.TarEntryFormat.Ustar, leaveOpen: true))
            writer.WriteEntry(new System.Formats.Tar.UstarTarEntry(System.Formats.Tar.TarEntryType.Fifo, "fifo") { Mode = (UnixFileMode)0x1a4 });
        byte[] tar = buffer.ToArray();
        tar.AsSpan(257, 8).Clear(); // magic and version: a V7 header
        tar.AsSpan(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in tar.AsSpan(0, 512)) sum += b;
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(tar, 148);
        await Extract(tar);
        Assert.Equal("p", new UnixFileInfo(Path.Combine(_root, "fifo")).Describe());
    }

    [Fact]
    public async Task Overlay_and_security_xattrs_are_not_taken_from_the_archive_but_capabilities_and_user_ones_are()
    {
        // A valid VFS_CAP_REVISION_2 value for cap_net_bind_service (bit 10), no root id.
        byte[] capability = [0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var withCap = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "bin/ping",
            new Dictionary<string, string> { ["SCHILY.xattr.security.capability"] = Encoding.Latin1.GetString(capability) })
        {
            Mode = (UnixFileMode)0x1ed, DataStream = new MemoryStream("#!/bin/sh\n"u8.ToArray()),
        };
        await Extract(Tar(Dir("d", 0x1ed, new()
        {
            ["SCHILY.xattr.trusted.overlay.opaque"] = "y", ["SCHILY.xattr.trusted.overlay.redirect"] = _victim,
            ["SCHILY.xattr.security.evil"] = "1", ["SCHILY.xattr.user.kept"] = "1",
        }), Dir("bin", 0x1ed), withCap));
        string d = Path.Combine(_root, "d");
        Assert.Null(Interop.GetXattr(d, "trusted.overlay.opaque"));
        Assert.Null(Interop.GetXattr(d, "trusted.overlay.redirect"));
        Assert.Null(Interop.GetXattr(d, "security.evil"));
        Assert.Equal("1"u8.ToArray(), Interop.GetXattr(d, "user.kept"));
        Assert.Equal(capability, Interop.GetXattr(Path.Combine(_root, "bin/ping"), "security.capability"));
        Assert.True(LayerExtractor.XattrAllowed("security.capability"));
        Assert.False(LayerExtractor.XattrAllowed("trusted.overlay.metacopy"));
        Assert.False(LayerExtractor.XattrAllowed("security.selinux"));
    }

    [Fact]
    public async Task A_hard_link_inside_the_root_shares_its_target()
    {
        await Extract(Tar(Dir("etc", 0x1ed), Regular("etc/a", "shared"), HardLink("etc/b", "etc/a"), Symlink("s", "etc/a"),
            HardLink("t", "s")));
        Assert.Equal("shared", File.ReadAllText(Path.Combine(_root, "etc/b")));
        Assert.Equal("etc/a", new FileInfo(Path.Combine(_root, "t")).LinkTarget); // the symlink itself, linked
    }

    [Fact]
    public async Task Directory_modes_and_times_are_kept_for_directories_that_stayed()
    {
        var dir = Dir("tmp", 0x3ff); // 01777
        dir.ModificationTime = new DateTimeOffset(2001, 2, 3, 4, 5, 6, TimeSpan.Zero);
        await Extract(Tar(dir, Regular("tmp/x", "x"), Dir("ro", 0x16d), Regular("ro/f", "f")));
        Assert.Equal((UnixFileMode)0x3ff, File.GetUnixFileMode(Path.Combine(_root, "tmp")));
        Assert.Equal(dir.ModificationTime.UtcDateTime, Directory.GetLastWriteTimeUtc(Path.Combine(_root, "tmp")));
        Assert.Equal((UnixFileMode)0x16d, File.GetUnixFileMode(Path.Combine(_root, "ro")));
    }

    [Fact]
    public async Task A_directory_named_twice_takes_its_last_entrys_mode()
    {
        await Extract(Tar(Dir("d", 0x1c0), Regular("d/f", "f"), Dir("d", 0x1ed)));
        Assert.Equal((UnixFileMode)0x1ed, File.GetUnixFileMode(Path.Combine(_root, "d")));
    }

    private async Task Extract(byte[] tar)
    {
        using var stream = new MemoryStream(tar);
        await LayerExtractor.ExtractAsync(stream, _root, null, CancellationToken.None);
    }

    /// <summary>stat(1)'s view of a node: "c MAJOR MINOR" for char devices, "p" for fifos.</summary>
    private sealed class UnixFileInfo(string path)
    {
        public string Describe()
        {
            var r = Sh.Run("stat", ["-c", "%F %t %T", path]);
            string[] f = r.Stdout.Trim().Split(' ');
            return f[0] == "fifo" ? "p" : f[0] == "character" ? $"c {Convert.ToInt32(f[^2], 16)} {Convert.ToInt32(f[^1], 16)}" : r.Stdout;
        }
    }
}
