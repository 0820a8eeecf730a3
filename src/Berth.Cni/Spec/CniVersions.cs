namespace Berth.Cni.Spec;

public static class CniVersions
{
    public const string Current = "1.1.0";

    /// <summary>What VERSION reports. 0.4.0 is the oldest with CHECK; 0.3.x results have the same shape.</summary>
    public static readonly string[] Supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    public static void Require(string version)
    {
        if (!Supported.Contains(version))
            throw new CniException(CniErrorCode.IncompatibleVersion, $"incompatible CNI versions: config is {version}, "
                + $"plugin supports [{string.Join(' ', Supported)}]");
    }

    /// <summary>Results before 1.0.0 carry "version" on each IP; CHECK exists from 0.4.0, GC and STATUS from 1.1.0.</summary>
    public static bool Before(string version, string other) => Parse(version) < Parse(other);

    private static Version Parse(string v) => Version.TryParse(v, out var parsed) ? parsed : new Version(0, 0);
}
