using System.Formats.Tar;
using System.Text;

namespace Berth.TestSupport;

/// <summary>The seeds' web app from Debian's busybox-static: busybox httpd serving a CGI at / that prints the
/// container's hostname and the client's address (busybox runs /cgi-bin/index.cgi for "/" when there is no index.html).</summary>
public static class WebAppImage
{
    public const string Cmd = "CMD [\"/bin/httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"]";

    private static readonly string[] Applets =
        ["sh", "httpd", "ls", "cat", "echo", "hostname", "sleep", "env", "id", "ps", "nc", "wget", "true", "false", "printf",
         "ip", "mkdir", "rm", "touch", "grep", "head", "tail", "wc", "seq", "kill", "date", "uname"];

    private const string Cgi = "#!/bin/sh\n" +
        "# busybox httpd reports IPv4 peers of its dual-stack socket as [::ffff:a.b.c.d]; print the plain address.\n" +
        "addr=\"${REMOTE_ADDR#[}\"; addr=\"${addr%]}\"; addr=\"${addr#::ffff:}\"\n" +
        "printf 'Content-Type: text/html\\r\\n\\r\\n'\n" +
        "echo \"<b>Hostname:</b> $(hostname)<br/>\"\n" +
        "echo \"<b>Remote IP:</b> $addr\"\n";

    public static void WriteRootfsTar(string path)
    {
        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        foreach (string dir in new[] { "bin", "etc", "www", "www/cgi-bin", "tmp", "proc", "sys", "dev", "root" })
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = dir == "tmp" ? (UnixFileMode)0x3ff : (UnixFileMode)0x1ed });
        var busybox = new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox") { Mode = (UnixFileMode)0x1ed };
        using (var data = File.OpenRead("/usr/bin/busybox"))
        {
            busybox.DataStream = data;
            tar.WriteEntry(busybox);
        }
        foreach (string applet in Applets)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet) { LinkName = "busybox", Mode = (UnixFileMode)0x1ff });
        Text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0x1a4);
        Text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n", 0x1a4);
        Text(tar, "www/cgi-bin/index.cgi", Cgi, 0x1ed);
    }

    private static void Text(TarWriter tar, string name, string content, int mode)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)mode, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
        tar.WriteEntry(entry);
    }
}
