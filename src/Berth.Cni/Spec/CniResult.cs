using System.Text.Json.Nodes;
using Berth.Cni.Attachments;

namespace Berth.Cni.Spec;

/// <summary>The spec's result and error objects, in the caller's cniVersion (0.3/0.4 add "version" to each IP).</summary>
public static class CniResult
{
    public static JsonObject Standalone(Attachment a, string netns, string version)
    {
        var ip = new JsonObject { ["address"] = $"{a.Address}/{a.Subnet.PrefixLength}", ["gateway"] = a.Gateway?.ToString(), ["interface"] = 2 };
        if (CniVersions.Before(version, "1.0.0")) ip.Insert(0, "version", "4");
        return new JsonObject
        {
            ["cniVersion"] = version,
            ["interfaces"] = new JsonArray(
                new JsonObject { ["name"] = a.Bridge },
                new JsonObject { ["name"] = a.HostVeth },
                new JsonObject { ["name"] = a.IfName, ["mac"] = a.Mac, ["sandbox"] = netns }),
            ["ips"] = new JsonArray(ip),
            ["routes"] = a.DefaultRoute ? new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0", ["gw"] = a.Gateway?.ToString() }) : new JsonArray(),
            ["dns"] = new JsonObject(),
        };
    }

    /// <summary>A chained plugin that changes no interface or address hands the previous result on.</summary>
    public static JsonObject PassThrough(JsonObject previous, string version)
    {
        var result = (JsonObject)previous.DeepClone();
        result["cniVersion"] = version;
        return result;
    }

    public static JsonObject Error(string version, CniException e)
    {
        var o = new JsonObject { ["cniVersion"] = version, ["code"] = e.Code, ["msg"] = e.Message };
        if (e.Details is not null) o["details"] = e.Details;
        return o;
    }

    public static JsonObject Version(string version) => new()
    {
        ["cniVersion"] = version,
        ["supportedVersions"] = new JsonArray(CniVersions.Supported.Select(v => (JsonNode)v).ToArray()),
    };
}
