using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Berth.TestSupport;

/// <summary>One hostile layer: its tar bytes and whether extraction must refuse it (true) or may take it as long as
/// nothing outside the root changes (false).</summary>
public sealed record HostileArchive(string Name, byte[] Tar, bool Refused)
{
    public override string ToString() => Name;
}

/// <summary>A corpus of layer tars that try to reach a "victim" directory outside the extraction root: ".." and
/// absolute names, symlinks followed by entries through them, a directory's mode applied after a symlink replaced it,
/// hard links to outside names, device nodes, ".wh." names aimed outside, xattrs that would steer overlayfs.
/// The victim is a directory the test made itself (never a real host path).</summary>
public static class HostileArchives
{
    private const string Up = "../../../../../../../../../../../../../../..";

    /// <summary>victim/file (0644), victim/dir (0755) and victim/dir/inner (0600).</summary>
    public static void PopulateVictim(string victim)
    {
        Directory.CreateDirectory(Path.Combine(victim, "dir"));
        File.WriteAllText(Path.Combine(victim, "file"), "victim\n");
        File.WriteAllText(Path.Combine(victim, "dir", "inner"), "inner\n");
        File.SetUnixFileMode(victim, (UnixFileMode)0x1ed);
        File.SetUnixFileMode(Path.Combine(victim, "dir"), (UnixFileMode)0x1ed);
        File.SetUnixFileMode(Path.Combine(victim, "file"), (UnixFileMode)0x1a4);
        File.SetUnixFileMode(Path.Combine(victim, "dir", "inner"), (UnixFileMode)0x180);
    }

    /// <summary>Every node under the victim (itself included), one line each: type and mode, owner, size, mtime, link
    /// target, content hash and xattrs. Two equal snapshots mean nothing was changed, added or removed.</summary>
    public static string Snapshot(string victim)
    {
        var result = Sh.Run("python3", ["-c", SnapshotScript, victim]);
        if (result.ExitCode != 0) throw new InvalidOperationException(result.Stderr);
        return result.Stdout;
    }

    private const string SnapshotScript = """
        import hashlib, os, stat, sys
        def line(p):
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else ''
            digest = hashlib.sha256(open(p, 'rb').read()).hexdigest() if stat.S_ISREG(st.st_mode) else '-'
            xattrs = sorted((n, os.getxattr(p, n, follow_symlinks=False)) for n in os.listxattr(p, follow_symlinks=False))
            print(p, oct(st.st_mode), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, link, digest, xattrs)
        root = sys.argv[1]
        line(root)
        for d, dirs, files in os.walk(root):
            for n in sorted(dirs + files):
                line(os.path.join(d, n))
        """;

    /// <summary>The corpus, aimed at <paramref name="victim"/> (an absolute path outside the extraction root).</summary>
    public static IReadOnlyList<HostileArchive> All(string victim) =>
    [
        new("dotdot-file", Tar(Regular(Up + victim + "/evil", "evil")), true),
        new("absolute-file", Tar(Regular(victim + "/evil", "evil")), false),
        new("symlink-then-file-through-it", Tar(Symlink("esc", victim), Regular("esc/evil", "evil")), true),
        new("symlink-then-dir-through-it", Tar(Symlink("esc", victim), Dir("esc/sub", 0xfff)), true),
        new("dir-mode-then-symlink", Tar(Dir("x", 0xfff), Symlink("x", victim)), false),
        new("dir-mode-then-relative-symlink", Tar(Dir("x", 0xfff), Symlink("x", Up + victim)), false),
        new("nested-dir-mode-then-symlink", Tar(Dir("a", 0x1ed), Dir("a/dir", 0xfff), Symlink("a", victim)), false),
        new("symlink-then-dir-entry", Tar(Symlink("esc", victim), Dir("esc", 0xfff)), false),
        new("symlink-then-file-over-it", Tar(Symlink("f", victim + "/file"), Regular("f", "overwritten", 0xfff)), false),
        new("hardlink-outside", Tar(HardLink("h", Up + victim + "/file")), true),
        new("hardlink-absolute", Tar(HardLink("h", victim + "/file")), true),
        new("hardlink-through-symlink", Tar(Symlink("esc", victim), HardLink("h", "esc/file")), true),
        new("device-nodes-inside", Tar(Dir("dev", 0x1ed), Device("dev/null", TarEntryType.CharacterDevice, 1, 3),
            Device("dev/loopx", TarEntryType.BlockDevice, 7, 200), Device("dev/fifo", TarEntryType.Fifo, 0, 0)), false),
        new("device-node-outside", Tar(Device(Up + victim + "/null", TarEntryType.CharacterDevice, 1, 3)), true),
        new("device-node-through-symlink", Tar(Symlink("esc", victim), Device("esc/null", TarEntryType.CharacterDevice, 1, 3)), true),
        new("whiteout-dotdot", Tar(Whiteout(".wh...")), true),
        new("whiteout-dot", Tar(Whiteout(".wh..")), true),
        new("whiteout-in-parent", Tar(Whiteout("../.wh.file")), true),
        new("whiteout-through-symlink", Tar(Symlink("esc", victim), Whiteout("esc/.wh.file")), true),
        new("opaque-through-symlink", Tar(Symlink("esc", victim), Whiteout("esc/.wh..wh..opq")), true),
        new("overlay-xattrs-in-pax", Tar(Dir("d", 0x1ed, new()
        {
            ["SCHILY.xattr.trusted.overlay.opaque"] = "y", ["SCHILY.xattr.trusted.overlay.redirect"] = victim,
            ["SCHILY.xattr.security.evil"] = "1", ["SCHILY.xattr.user.kept"] = "1",
        })), false),
    ];

    public static byte[] Tar(params PaxTarEntry[] entries)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var entry in entries) writer.WriteEntry(entry);
        return buffer.ToArray();
    }

    public static PaxTarEntry Regular(string name, string content, int mode = 0x1a4)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
        return entry;
    }

    public static PaxTarEntry Dir(string name, int mode, Dictionary<string, string>? pax = null) =>
        new(TarEntryType.Directory, name + "/", pax ?? new()) { Mode = (UnixFileMode)mode };

    public static PaxTarEntry Symlink(string name, string target) =>
        new(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0x1ff };

    public static PaxTarEntry HardLink(string name, string target) =>
        new(TarEntryType.HardLink, name) { LinkName = target, Mode = (UnixFileMode)0x1a4 };

    public static PaxTarEntry Device(string name, TarEntryType type, int major, int minor) =>
        type == TarEntryType.Fifo ? new(type, name) { Mode = (UnixFileMode)0x1b6 }
            : new(type, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)0x1b6 };

    public static PaxTarEntry Whiteout(string name) => new(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4 };

    // ------------------------------------------------------------------ image archives

    public static string Sha256(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>An image config (JSON bytes) over the given layers' diff ids.</summary>
    public static byte[] Config(params string[] diffIds) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        architecture = "amd64", os = "linux", created = "2026-01-01T00:00:00Z",
        config = new { Cmd = new[] { "/bin/true" } },
        rootfs = new { type = "layers", diff_ids = diffIds },
    });

    /// <summary>A `docker save` archive of one image: the legacy layout (&lt;config hex&gt;.json, &lt;id&gt;/layer.tar,
    /// manifest.json) or, with <paramref name="blobs"/>, Docker 25's (blobs/sha256/&lt;digest&gt;, manifest.json).
    /// <paramref name="diffIds"/> defaults to the layers' true diff ids; <paramref name="stored"/> replaces the bytes
    /// written for the layers (named after <paramref name="layers"/>).</summary>
    public static byte[] DockerSave(string repoTag, byte[][] layers, string[]? diffIds = null, byte[]? config = null,
        bool blobs = false, byte[][]? stored = null)
    {
        diffIds ??= layers.Select(Sha256).ToArray();
        config ??= Config(diffIds);
        string configName = blobs ? "blobs/sha256/" + Sha256(config)[7..] : Sha256(config)[7..] + ".json";
        var entries = new List<PaxTarEntry> { Blob(configName, config) };
        var layerNames = new List<string>();
        for (int i = 0; i < layers.Length; i++)
        {
            string name = blobs ? "blobs/sha256/" + Sha256(layers[i])[7..] : $"{i:x2}{Sha256(layers[i])[9..]}/layer.tar";
            entries.Add(Blob(name, (stored ?? layers)[i]));
            layerNames.Add(name);
        }
        entries.Add(Blob("manifest.json", JsonSerializer.SerializeToUtf8Bytes(new[]
        {
            new { Config = configName, RepoTags = new[] { repoTag }, Layers = layerNames.ToArray() },
        })));
        return Tar(entries.ToArray());
    }

    /// <summary>An OCI image layout of one image; blobs named by their digests unless <paramref name="tamper"/>
    /// changes a blob's bytes after naming it.</summary>
    public static byte[] OciLayout(string name, byte[][] layers, Func<string, byte[], byte[]>? tamper = null)
    {
        tamper ??= (_, bytes) => bytes;
        var blobs = new List<PaxTarEntry>();
        string Add(string kind, byte[] bytes)
        {
            string digest = Sha256(bytes);
            blobs.Add(Blob("blobs/sha256/" + digest[7..], tamper(kind, bytes)));
            return digest;
        }
        var layerDescriptors = layers.Select(l => new
        {
            mediaType = "application/vnd.oci.image.layer.v1.tar", digest = Add("layer", l), size = l.Length,
        }).ToArray();
        byte[] config = Config(layers.Select(Sha256).ToArray());
        string configDigest = Add("config", config);
        byte[] manifest = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
            config = new { mediaType = "application/vnd.oci.image.config.v1+json", digest = configDigest, size = config.Length },
            layers = layerDescriptors,
        });
        string manifestDigest = Add("manifest", manifest);
        byte[] index = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2,
            manifests = new[]
            {
                new
                {
                    mediaType = "application/vnd.oci.image.manifest.v1+json", digest = manifestDigest, size = manifest.Length,
                    annotations = new Dictionary<string, string> { ["io.containerd.image.name"] = name },
                },
            },
        });
        blobs.Add(Blob("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()));
        blobs.Add(Blob("index.json", index));
        return Tar(blobs.ToArray());
    }

    private static PaxTarEntry Blob(string name, byte[] bytes) =>
        new(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1a4, DataStream = new MemoryStream(bytes) };

    /// <summary>The same bytes with one flipped in the middle (a tampered layer of the same length).</summary>
    public static byte[] Flip(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        copy[copy.Length / 2] ^= 0x20;
        return copy;
    }

    /// <summary>A small valid layer: etc/hello.</summary>
    public static byte[] SmallLayer(string text = "hello\n") => Tar(Dir("etc", 0x1ed), Regular("etc/hello", text));
}
