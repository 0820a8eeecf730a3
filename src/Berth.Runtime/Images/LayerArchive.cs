using System.Formats.Tar;
using Berth.Linux;

namespace Berth.Runtime.Images;

/// <summary>A stored layer directory written back as a layer tar (for a push): overlay whiteouts (0:0 char devices)
/// become ".wh.NAME" entries and opaque directories a ".wh..wh..opq" entry, as the OCI layer format has them. The
/// directory is the store's own (never a container's), walked without following symlinks.</summary>
internal static class LayerArchive
{
    public static async Task WriteAsync(string directory, Stream output, CancellationToken ct)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true);
        await WriteChildrenAsync(tar, directory, "", ct);
    }

    private static async Task WriteChildrenAsync(TarWriter tar, string directory, string prefix, CancellationToken ct)
    {
        foreach (string path in Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal))
        {
            ct.ThrowIfCancellationRequested();
            string name = prefix + Path.GetFileName(path);
            var info = Interop.StatNoFollow(path);
            if (info is null) continue;
            var node = info.Value;
            if (node.Type == Interop.S_IFCHR && node.DeviceMajor == 0 && node.DeviceMinor == 0)
            {
                int slash = name.LastIndexOf('/');
                string whiteout = name[..(slash + 1)] + ".wh." + name[(slash + 1)..];
                await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, whiteout) { Mode = (UnixFileMode)0x1a4 }, ct);
                continue;
            }
            if (node.IsDirectory)
            {
                await tar.WriteEntryAsync(path, name + "/", ct);
                if (Interop.GetXattr(path, "trusted.overlay.opaque") is [(byte)'y'])
                    await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name + "/.wh..wh..opq") { Mode = (UnixFileMode)0x1a4 }, ct);
                await WriteChildrenAsync(tar, path, name + "/", ct);
            }
            else await tar.WriteEntryAsync(path, name, ct);
        }
    }
}
