namespace Berth.TestSupport;

public static class TestNames
{
    /// <summary>prefix + random hex, at most <paramref name="maxLength"/> characters (interface names: 15).</summary>
    public static string Unique(string prefix, int maxLength = 15) =>
        (prefix + Guid.NewGuid().ToString("N"))[..maxLength];
}
