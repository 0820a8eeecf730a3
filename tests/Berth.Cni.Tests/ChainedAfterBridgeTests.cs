using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>berth-cni after the reference `bridge` plugin (Debian's containernetworking-plugins, with host-local
/// IPAM), as a `portmap` replacement: it takes prevResult, maps the ports and hands the result on.</summary>
public sealed class ChainedAfterBridgeTests
{
    [Fact]
    public void After_the_reference_bridge_plugin_it_maps_ports_and_passes_the_previous_result_on()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int hostPort = Ports.Free();
        var bridgeConfig = new JsonObject
        {
            ["cniVersion"] = "1.0.0", ["name"] = scratch.Network, ["type"] = "bridge", ["bridge"] = scratch.Bridge,
            ["isGateway"] = true, ["ipMasq"] = false, ["hairpinMode"] = true,
            ["ipam"] = new JsonObject
            {
                ["type"] = "host-local", ["subnet"] = scratch.Subnet, ["dataDir"] = Path.Combine(scratch.Directory, "ipam"),
                ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
            },
        };
        string bridgePlugin = Path.Combine(CniHarness.ReferencePlugins, "bridge");
        var previous = CniHarness.Ok(CniHarness.Run(bridgePlugin, "ADD", bridgeConfig, "ctr-chain", CniScratch.NetnsPath(ns)));
        try
        {
            var config = scratch.Config(version: "1.0.0", portMappings: CniScratch.Mappings((hostPort, 8080)), prevResult: previous);
            config.Remove("bridge");
            config.Remove("subnet");

            var result = CniHarness.Ok(CniHarness.Berth("ADD", config, "ctr-chain", CniScratch.NetnsPath(ns)));

            Assert.Equal(previous["ips"]!.ToJsonString(), result["ips"]!.ToJsonString());
            Assert.Equal(previous["interfaces"]!.ToJsonString(), result["interfaces"]!.ToJsonString());
            string table = Sh.Run("nft", ["list", "table", "ip", "berth_cni_" + scratch.Network]).Stdout;
            Assert.Contains($"tcp . {hostPort} : {((string)previous["ips"]![0]!["address"]!).Split('/')[0]} . 8080", table);
            using (var responder = new Responder(ns, 8080))
            using (var neighbour = Neighbour.Create())
                Assert.Equal(responder.Reply, neighbour.Exec($"socat -T3 - TCP:{Neighbour.HostAddress}:{hostPort}").Stdout.Trim());
            CniHarness.Ok(CniHarness.Berth("CHECK", config, "ctr-chain", CniScratch.NetnsPath(ns)));

            CniHarness.Ok(CniHarness.Berth("DEL", config, "ctr-chain", CniScratch.NetnsPath(ns)));
            Assert.NotEqual(0, Sh.Run("nft", ["list", "table", "ip", "berth_cni_" + scratch.Network]).ExitCode);
            // The reference plugin's bridge and veth are its own: a chained DEL leaves them.
            Assert.Equal(0, Sh.Run("ip", ["link", "show", scratch.Bridge]).ExitCode);
            CniHarness.Ok(CniHarness.Berth("DEL", config, "ctr-chain", CniScratch.NetnsPath(ns)));
        }
        finally
        {
            CniHarness.Run(bridgePlugin, "DEL", bridgeConfig, "ctr-chain", CniScratch.NetnsPath(ns));
        }
    }

    [Fact]
    public void Its_address_files_are_host_locals_so_both_share_one_subnet_without_clashing()
    {
        using var scratch = new CniScratch();
        string mine = scratch.Namespace(), theirs = scratch.Namespace();
        var ours = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(), "ctr-berth", CniScratch.NetnsPath(mine)));
        var hostLocal = new JsonObject
        {
            ["cniVersion"] = "1.0.0", ["name"] = scratch.Network,
            ["ipam"] = new JsonObject { ["type"] = "host-local", ["subnet"] = scratch.Subnet, ["dataDir"] = Path.Combine(scratch.Directory, "ipam") },
        };
        string plugin = Path.Combine(CniHarness.ReferencePlugins, "host-local");
        var theirsResult = CniHarness.Ok(CniHarness.Run(plugin, "ADD", hostLocal, "ctr-hostlocal", CniScratch.NetnsPath(theirs)));
        try
        {
            Assert.NotEqual((string?)ours["ips"]![0]!["address"], (string?)theirsResult["ips"]![0]!["address"]);
        }
        finally
        {
            CniHarness.Run(plugin, "DEL", hostLocal, "ctr-hostlocal", CniScratch.NetnsPath(theirs));
        }
    }
}
