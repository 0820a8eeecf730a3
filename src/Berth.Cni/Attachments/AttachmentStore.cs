using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Berth.Linux;
using Microsoft.Win32.SafeHandles;

namespace Berth.Cni.Attachments;

/// <summary>Attachment records as files under the state directory (/var/lib/cni/berth by default), one per
/// (network, container, interface), written by rename so a crash leaves the old record or the new one. Every command
/// runs under one flock on the directory's lock file: concurrent ADDs from many pods are serialized, and each sees
/// the ports the others publish before it refuses or takes one. No daemon is needed.</summary>
public sealed class AttachmentStore
{
    private readonly string _root;

    public AttachmentStore(string stateDirectory)
    {
        _root = stateDirectory;
        Directory.CreateDirectory(Path.Combine(_root, "attachments"));
    }

    /// <summary>Held until disposed; blocks while another berth-cni process holds it.</summary>
    public SafeFileHandle Lock() => LockFile(Path.Combine(_root, "lock"));

    /// <summary>An exclusive flock on <paramref name="path"/> (created when missing), held until the handle closes.</summary>
    public static SafeFileHandle LockFile(string path)
    {
        var fd = Interop.Open(path, Interop.O_RDWR | Interop.O_CREAT, 0x180);
        Interop.Flock(fd, Interop.LOCK_EX, path);
        return fd;
    }

    public Attachment? Find(string network, string containerId, string ifName)
    {
        string path = PathOf(network, containerId, ifName);
        return File.Exists(path) ? Read(path) : null;
    }

    public IReadOnlyList<Attachment> OfNetwork(string network)
    {
        string dir = NetworkDirectory(network);
        return Directory.Exists(dir) ? Directory.EnumerateFiles(dir, "*.json").Select(Read).OfType<Attachment>().ToList() : [];
    }

    /// <summary>Every network's attachments: host ports are one space for the whole host.</summary>
    public IEnumerable<Attachment> All() =>
        Directory.EnumerateDirectories(Path.Combine(_root, "attachments"))
            .SelectMany(d => Directory.EnumerateFiles(d, "*.json")).Select(Read).OfType<Attachment>();

    public void Save(Attachment attachment)
    {
        string path = PathOf(attachment.Network, attachment.ContainerId, attachment.IfName);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, attachment.ToJson());
        File.Move(temporary, path, overwrite: true);
    }

    public void Delete(Attachment attachment)
    {
        File.Delete(PathOf(attachment.Network, attachment.ContainerId, attachment.IfName));
        string dir = NetworkDirectory(attachment.Network);
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any()) Directory.Delete(dir);
    }

    private static Attachment? Read(string path)
    {
        try { return Attachment.FromJson(File.ReadAllText(path)); }
        catch (Exception e) when (e is JsonException or FormatException or IOException or InvalidOperationException)
        {
            return null; // a torn or foreign file: GC and a retried ADD replace it
        }
    }

    private string NetworkDirectory(string network) => Path.Combine(_root, "attachments", Hash(network));

    private string PathOf(string network, string containerId, string ifName) =>
        Path.Combine(NetworkDirectory(network), Hash(containerId + "/" + ifName) + ".json");

    /// <summary>Names and IDs come from the runtime: hashed, they cannot escape the directory.</summary>
    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..32];
}
