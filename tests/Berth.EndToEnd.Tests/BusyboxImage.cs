using System.Formats.Tar;
using Berth.TestSupport;

namespace Berth.EndToEnd.Tests;

/// <summary>A small image of the host's busybox with the applets a test class needs, imported into its engine.</summary>
public static class BusyboxImage
{
    public static void Import(EngineProcess engine, string image, IEnumerable<string> applets, string[] directories)
    {
        string tar = Path.Combine(engine.Root, image.Replace(':', '_') + ".tar");
        using (var file = File.Create(tar))
        using (var writer = new TarWriter(file, TarEntryFormat.Pax))
        {
            foreach (string dir in directories)
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = (UnixFileMode)0x1ed });
            using (var data = File.OpenRead("/usr/bin/busybox"))
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox")
                    { Mode = (UnixFileMode)0x1ed, DataStream = data });
            foreach (string applet in applets)
                writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet)
                    { LinkName = "busybox", Mode = (UnixFileMode)0x1ff });
        }
        EngineFixture.Check(engine.Docker("import", "-c", "CMD [\"/bin/sh\"]", tar, image));
    }
}
