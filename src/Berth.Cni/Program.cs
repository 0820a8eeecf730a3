using System.Text.Json.Nodes;
using Berth.Cni.Plugin;
using Berth.Cni.Spec;
using Berth.Linux;
using Berth.Networking.Firewall;

namespace Berth.Cni;

/// <summary>berth-cni: exec'd by a container runtime once per call, with CNI_COMMAND and friends in the environment
/// and the network configuration on stdin; the result or the spec's error object goes to stdout.</summary>
public static class Program
{
    public static int Main()
    {
        var env = CniEnvironment.FromProcess();
        string version = CniVersions.Current;
        try
        {
            string input = env.Command is "VERSION" or "STATUS" or "GC" or "ADD" or "DEL" or "CHECK" ? Console.In.ReadToEnd() : "";
            if (env.Command == "VERSION")
            {
                version = TryVersion(input) ?? version;
                return Write(CniResult.Version(version));
            }
            var config = NetworkConfig.Parse(input);
            version = config.CniVersion;
            CniVersions.Require(version);
            var plugin = new CniPlugin(config, env, () => NftablesFactory.Create(null));
            switch (env.Command)
            {
                case "ADD": return Write(plugin.Add());
                case "DEL": plugin.Del(); return 0;
                case "CHECK": plugin.Check(); return 0;
                case "GC": plugin.Gc(); return 0;
                case "STATUS": plugin.Status(); return 0;
                case null or "": throw new CniException(CniErrorCode.InvalidEnvironment, "required env variable CNI_COMMAND is missing");
                default: throw new CniException(CniErrorCode.InvalidEnvironment, $"unknown CNI_COMMAND {env.Command}");
            }
        }
        catch (CniException e) { return Fail(version, e); }
        catch (LinuxException e) { return Fail(version, new CniException(CniErrorCode.IoFailure, e.Message)); }
        catch (NftablesException e) { return Fail(version, new CniException(CniErrorCode.IoFailure, e.Message)); }
        catch (IOException e) { return Fail(version, new CniException(CniErrorCode.IoFailure, e.Message)); }
        catch (UnauthorizedAccessException e) { return Fail(version, new CniException(CniErrorCode.IoFailure, e.Message)); }
    }

    private static string? TryVersion(string input)
    {
        try { return JsonNode.Parse(input)?["cniVersion"]?.GetValue<string>(); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { return null; }
    }

    private static int Write(JsonObject result)
    {
        Console.Out.Write(result.ToJsonString());
        Console.Out.Flush();
        return 0;
    }

    private static int Fail(string version, CniException e)
    {
        Write(CniResult.Error(version, e));
        return 1;
    }
}
