using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.TestSupport;

namespace Berth.Cni.Tests;

public sealed record CniCall(int ExitCode, string Stdout, string Stderr)
{
    public JsonObject Json => JsonNode.Parse(Stdout) as JsonObject ?? throw new InvalidOperationException($"not a JSON object: {Stdout}");
}

/// <summary>Calls a CNI plugin as a runtime does: CNI_* variables, the configuration on stdin, the result on stdout.
/// berth-cni is the binary built beside the tests (or BERTH_CNI_PLUGIN, e.g. the NativeAOT one install-cni.sh makes).</summary>
public static class CniHarness
{
    public const string ReferencePlugins = "/usr/lib/cni";

    public static string BerthCni { get; } = Environment.GetEnvironmentVariable("BERTH_CNI_PLUGIN") is { Length: > 0 } p ? p : Built();

    public static CniCall Run(string plugin, string command, JsonObject config, string? containerId = null,
        string? netns = null, string ifName = "eth0", string? args = null)
    {
        var info = new ProcessStartInfo(plugin)
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        info.Environment["CNI_COMMAND"] = command;
        info.Environment["CNI_PATH"] = $"{Path.GetDirectoryName(BerthCni)}:{ReferencePlugins}";
        if (containerId is not null) info.Environment["CNI_CONTAINERID"] = containerId;
        if (netns is not null) info.Environment["CNI_NETNS"] = netns;
        info.Environment["CNI_IFNAME"] = ifName;
        if (args is not null) info.Environment["CNI_ARGS"] = args;
        using var process = Process.Start(info)!;
        process.StandardInput.Write(config.ToJsonString());
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{plugin} {command} did not finish");
        }
        return new CniCall(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static CniCall Berth(string command, JsonObject config, string? containerId = null, string? netns = null,
        string ifName = "eth0", string? args = null) => Run(BerthCni, command, config, containerId, netns, ifName, args);

    public static JsonObject Ok(CniCall call) =>
        call.ExitCode == 0 ? (call.Stdout.Length > 0 ? call.Json : new JsonObject())
            : throw new InvalidOperationException($"exit {call.ExitCode}: {call.Stdout} {call.Stderr}");

    private static string Built()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Berth.slnx"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("repository root not found");
        string configuration = AppContext.BaseDirectory.Contains("/Release/") ? "Release" : "Debug";
        return Path.Combine(dir.FullName, "src", "Berth.Cni", "bin", configuration, "net10.0", "berth-cni");
    }
}

/// <summary>What one test makes: network namespaces, state directories, a unique network, bridge, subnet; all removed
/// on dispose, also after a failure (attachments left behind are GC'd with an empty valid list first).</summary>
public sealed class CniScratch : IDisposable
{
    private readonly List<string> _namespaces = [];
    private readonly List<JsonObject> _configs = [];
    private readonly List<string> _links = [];
    private readonly List<string> _others = [];
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("berth-cni-test-").FullName;
    public string Network { get; } = TestNames.Unique("cnitest", 20);
    public string Bridge { get; } = TestNames.Unique("bbcni", 15);
    public string Subnet { get; } = EngineProcess.FreeTestSubnet();

    /// <summary>"10.a.b.N" in the test's subnet.</summary>
    public string Address(int host) => Subnet[..Subnet.LastIndexOf('.')] + "." + host;

    public string Namespace()
    {
        string name = TestNames.Unique("bcnins", 15);
        _namespaces.Add(name);
        Check(Sh.Run("ip", ["netns", "add", name]));
        Check(Sh.Run("ip", ["-n", name, "link", "set", "lo", "up"]));
        return name;
    }

    public static string NetnsPath(string name) => $"/run/netns/{name}";

    /// <summary>A berth-cni network config with its own state and IPAM directories.</summary>
    public JsonObject Config(string version = "1.1.0", JsonArray? portMappings = null, JsonObject? prevResult = null,
        JsonObject? runtimeConfig = null)
    {
        var config = new JsonObject
        {
            ["cniVersion"] = version, ["name"] = Network, ["type"] = "berth-cni", ["bridge"] = Bridge, ["subnet"] = Subnet,
            ["dataDir"] = Path.Combine(Directory, "berth"),
            ["ipam"] = new JsonObject { ["dataDir"] = Path.Combine(Directory, "ipam") },
        };
        runtimeConfig ??= new JsonObject();
        if (portMappings is not null) runtimeConfig["portMappings"] = portMappings;
        if (runtimeConfig.Count > 0) config["runtimeConfig"] = runtimeConfig;
        if (prevResult is not null) config["prevResult"] = prevResult;
        _configs.Add(config);
        return config;
    }

    public void Link(string name) => _links.Add(name);

    /// <summary>A second network with the same state directories (so, one host's berth-cni): its own name, bridge and
    /// subnet, cleaned up with the first.</summary>
    public JsonObject OtherNetworkConfig(JsonArray? portMappings = null)
    {
        var config = Config(portMappings: portMappings);
        string network = TestNames.Unique("cniother", 20), bridge = TestNames.Unique("bbcno", 15);
        config["name"] = network;
        config["bridge"] = bridge;
        config["subnet"] = EngineProcess.FreeTestSubnet();
        _others.Add(network);
        _links.Add(bridge);
        return config;
    }

    public static JsonArray Mappings(params (int HostPort, int ContainerPort)[] maps) =>
        new(maps.Select(m => (JsonNode)new JsonObject { ["hostPort"] = m.HostPort, ["containerPort"] = m.ContainerPort, ["protocol"] = "tcp" }).ToArray());

    public string IpamDirectory => Path.Combine(Directory, "ipam", Network);

    public void Dispose()
    {
        foreach (var config in _configs.Where(c => (string?)c["name"] == Network).Take(1)
                     .Concat(_configs.Where(c => _others.Contains((string?)c["name"] ?? ""))))
        {
            var gc = (JsonObject)config.DeepClone();
            gc["cniVersion"] = "1.1.0";
            gc.Remove("prevResult");
            gc["cni.dev/valid-attachments"] = new JsonArray();
            CniHarness.Berth("GC", gc);
        }
        foreach (string ns in _namespaces) Sh.Run("ip", ["netns", "del", ns]);
        foreach (string link in _links.Append(Bridge)) Sh.Run("ip", ["link", "del", link]);
        foreach (string network in _others.Prepend(Network))
        {
            Sh.Run("nft", ["delete", "table", "ip", "berth_cni_" + network.Replace('-', '_')]);
            Sh.Run("nft", ["delete", "table", "ip", "berth_cni_" + network.Replace('-', '_') + "_user"]);
        }
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    public static ShResult Check(ShResult result) =>
        result.ExitCode == 0 ? result : throw new InvalidOperationException($"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
}
