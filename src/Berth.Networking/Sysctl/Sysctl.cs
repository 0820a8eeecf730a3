namespace Berth.Networking.Sysctl;

/// <summary>/proc/sys writes: "net.ipv4.ip_forward" → /proc/sys/net/ipv4/ip_forward. Writes only on change.</summary>
public static class Sysctl
{
    public static string Get(string key) => File.ReadAllText(PathOf(key)).Trim();

    public static void Set(string key, string value)
    {
        string path = PathOf(key);
        if (File.Exists(path) && File.ReadAllText(path).Trim() == value) return;
        File.WriteAllText(path, value);
    }

    private static string PathOf(string key) => "/proc/sys/" + key.Replace('.', '/');
}
