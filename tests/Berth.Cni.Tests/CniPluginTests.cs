using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>berth-cni called as a runtime calls it, on the real kernel: namespaces, bridges, nft tables and state
/// directories are the test's own (<see cref="CniScratch"/>) and go even when a test fails.</summary>
public sealed class CniPluginTests
{
    [Fact]
    public void Version_lists_the_spec_versions_it_speaks()
    {
        var result = CniHarness.Ok(CniHarness.Berth("VERSION", new JsonObject { ["cniVersion"] = "1.0.0" }));
        Assert.Equal("1.0.0", (string?)result["cniVersion"]);
        var versions = result["supportedVersions"]!.AsArray().Select(v => (string?)v).ToList();
        Assert.Contains("0.4.0", versions);
        Assert.Contains("1.0.0", versions);
        Assert.Contains("1.1.0", versions);
    }

    [Theory]
    [InlineData("{not json", 6)]
    [InlineData("""{"cniVersion":"9.9.9","name":"n","type":"berth-cni"}""", 1)]
    [InlineData("""{"cniVersion":"1.1.0","type":"berth-cni"}""", 7)]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"berth-cni","subnet":"10.1.0.0/24","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}}""", 7)]
    public void Bad_configs_get_the_spec_error_object_with_its_code_and_a_non_zero_exit(string config, int code)
    {
        var info = new System.Diagnostics.ProcessStartInfo(CniHarness.BerthCni) { RedirectStandardInput = true, RedirectStandardOutput = true };
        info.Environment["CNI_COMMAND"] = "ADD";
        info.Environment["CNI_CONTAINERID"] = "c";
        info.Environment["CNI_NETNS"] = "/run/netns/does-not-exist";
        info.Environment["CNI_IFNAME"] = "eth0";
        using var process = System.Diagnostics.Process.Start(info)!;
        process.StandardInput.Write(config);
        process.StandardInput.Close();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();

        Assert.NotEqual(0, process.ExitCode);
        var error = JsonNode.Parse(stdout)!.AsObject();
        Assert.Equal(code, (int)error["code"]!);
        Assert.False(string.IsNullOrEmpty((string?)error["msg"]));
        Assert.NotNull(error["cniVersion"]);
    }

    [Fact]
    public void Add_without_the_container_id_is_an_invalid_environment_and_an_unknown_namespace_is_an_unknown_container()
    {
        using var scratch = new CniScratch();
        var noId = CniHarness.Berth("ADD", scratch.Config(), containerId: null, netns: "/run/netns/x");
        Assert.Equal(4, (int)noId.Json["code"]!);
        var noNetns = CniHarness.Berth("ADD", scratch.Config(), containerId: "c1", netns: "/run/netns/" + TestNames.Unique("none"));
        Assert.Equal(3, (int)noNetns.Json["code"]!);
        Assert.NotEqual(0, noNetns.ExitCode);
    }

    [Fact]
    public void Add_plugs_the_namespace_into_the_bridge_and_its_published_port_answers_a_neighbour_and_loopback()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int hostPort = Ports.Free();
        var result = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((hostPort, 8080))),
            "ctr-a", CniScratch.NetnsPath(ns)));

        string address = (string)result["ips"]![0]!["address"]!;
        Assert.StartsWith(scratch.Address(2) + "/24", address);
        Assert.Equal(scratch.Address(1), (string?)result["ips"]![0]!["gateway"]);
        Assert.Equal(CniScratch.NetnsPath(ns), (string?)result["interfaces"]![2]!["sandbox"]);
        Assert.Contains($"inet {address}", Sh.Run("ip", ["-n", ns, "-4", "addr", "show", "eth0"]).Stdout);
        Assert.Contains($"default via {scratch.Address(1)}", Sh.Run("ip", ["-n", ns, "route"]).Stdout);
        Assert.Equal("ctr-a\r\neth0", File.ReadAllText(Path.Combine(scratch.IpamDirectory, scratch.Address(2))));

        using var responder = new Responder(ns, 8080);
        using var unpublished = new Responder(ns, 9090);
        using (var neighbour = Neighbour.Create())
        {
            var answer = neighbour.Exec($"socat -T3 - TCP:{Neighbour.HostAddress}:{hostPort}");
            Assert.Equal(responder.Reply, answer.Stdout.Trim());
            // The direct-routing guard: a neighbour routing to the container's address reaches only published ports.
            neighbour.RouteViaHost(scratch.Subnet);
            Assert.Equal(responder.Reply, neighbour.Exec($"socat -T3 - TCP:{scratch.Address(2)}:8080").Stdout.Trim());
            Assert.Equal("", neighbour.Exec($"socat -T2 - TCP:{scratch.Address(2)}:9090,connect-timeout=2").Stdout.Trim());
        }
        Assert.Equal(responder.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{hostPort}"]).Stdout.Trim());

        CniHarness.Ok(CniHarness.Berth("CHECK", scratch.Config(portMappings: CniScratch.Mappings((hostPort, 8080))), "ctr-a", CniScratch.NetnsPath(ns)));
    }

    [Fact]
    public void Del_undoes_everything_and_may_be_repeated_or_come_for_something_never_added()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int hostPort = Ports.Free();
        var config = scratch.Config(portMappings: CniScratch.Mappings((hostPort, 80)));
        var result = CniHarness.Ok(CniHarness.Berth("ADD", config, "ctr-d", CniScratch.NetnsPath(ns)));
        string hostVeth = (string)result["interfaces"]![1]!["name"]!;
        Assert.Equal(0, Sh.Run("ip", ["link", "show", hostVeth]).ExitCode);

        CniHarness.Ok(CniHarness.Berth("DEL", config, "ctr-d", CniScratch.NetnsPath(ns)));

        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", hostVeth]).ExitCode);
        Assert.NotEqual(0, Sh.Run("ip", ["-n", ns, "link", "show", "eth0"]).ExitCode);
        Assert.False(File.Exists(Path.Combine(scratch.IpamDirectory, scratch.Address(2))));
        Assert.NotEqual(0, Sh.Run("nft", ["list", "table", "ip", "berth_cni_" + scratch.Network]).ExitCode);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", scratch.Bridge]).ExitCode);
        CniHarness.Ok(CniHarness.Berth("DEL", config, "ctr-d", CniScratch.NetnsPath(ns)));
        CniHarness.Ok(CniHarness.Berth("DEL", config, "ctr-d", netns: null));
        CniHarness.Ok(CniHarness.Berth("DEL", config, "never-added", netns: null));
    }

    [Fact]
    public void A_retried_add_after_a_crash_halfway_repairs_and_keeps_the_address()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int hostPort = Ports.Free();
        var config = scratch.Config(portMappings: CniScratch.Mappings((hostPort, 8080)));
        var first = CniHarness.Ok(CniHarness.Berth("ADD", config, "ctr-r", CniScratch.NetnsPath(ns)));
        string hostVeth = (string)first["interfaces"]![1]!["name"]!;
        // Half of it gone, as after a crash or an admin's cleanup: the veth pair and the whole nft table.
        CniScratch.Check(Sh.Run("ip", ["link", "del", hostVeth]));
        CniScratch.Check(Sh.Run("nft", ["delete", "table", "ip", "berth_cni_" + scratch.Network]));
        Assert.NotEqual(0, CniHarness.Berth("CHECK", config, "ctr-r", CniScratch.NetnsPath(ns)).ExitCode);

        var second = CniHarness.Ok(CniHarness.Berth("ADD", config, "ctr-r", CniScratch.NetnsPath(ns)));

        Assert.Equal((string?)first["ips"]![0]!["address"], (string?)second["ips"]![0]!["address"]);
        CniHarness.Ok(CniHarness.Berth("CHECK", config, "ctr-r", CniScratch.NetnsPath(ns)));
        using var responder = new Responder(ns, 8080);
        Assert.Equal(responder.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{hostPort}"]).Stdout.Trim());
        Assert.Single(Directory.GetFiles(scratch.IpamDirectory), f => Path.GetFileName(f).StartsWith("10."));
    }

    [Fact]
    public void A_host_port_another_attachment_maps_is_refused_and_the_first_keeps_it()
    {
        using var scratch = new CniScratch();
        string first = scratch.Namespace(), second = scratch.Namespace();
        int hostPort = Ports.Free();
        CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((hostPort, 8080))), "ctr-1", CniScratch.NetnsPath(first)));

        var refused = CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((hostPort, 9090))), "ctr-2", CniScratch.NetnsPath(second));

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal(100, (int)refused.Json["code"]!);
        Assert.Contains("port is already allocated", (string?)refused.Json["msg"]);
        Assert.NotEqual(0, Sh.Run("ip", ["-n", second, "link", "show", "eth0"]).ExitCode);
        using var responder = new Responder(first, 8080);
        Assert.Equal(responder.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{hostPort}"]).Stdout.Trim());
    }

    [Fact]
    public void Concurrent_adds_get_distinct_addresses()
    {
        using var scratch = new CniScratch();
        var namespaces = Enumerable.Range(0, 8).Select(_ => scratch.Namespace()).ToList();
        var results = namespaces.AsParallel().WithDegreeOfParallelism(8)
            .Select((ns, i) => CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(), $"ctr-{i}", CniScratch.NetnsPath(ns))))
            .ToList();

        var addresses = results.Select(r => (string)r["ips"]![0]!["address"]!).ToList();
        Assert.Equal(8, addresses.Distinct().Count());
        Assert.Equal(8, Directory.GetFiles(scratch.IpamDirectory).Count(f => Path.GetFileName(f).StartsWith("10.")));
    }

    [Fact]
    public void Gc_removes_what_belongs_to_no_valid_attachment_and_keeps_the_rest()
    {
        using var scratch = new CniScratch();
        string keep = scratch.Namespace(), stale = scratch.Namespace();
        int keepPort = Ports.Free(), stalePort = Ports.Free();
        var kept = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((keepPort, 80))), "ctr-keep", CniScratch.NetnsPath(keep)));
        var gone = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((stalePort, 80))), "ctr-stale", CniScratch.NetnsPath(stale)));
        // An address a crashed ADD left behind, owned by nobody the runtime knows.
        File.WriteAllText(Path.Combine(scratch.IpamDirectory, scratch.Address(200)), "ctr-lost\r\neth0");

        var gc = scratch.Config();
        gc["cni.dev/valid-attachments"] = new JsonArray(new JsonObject { ["containerID"] = "ctr-keep", ["ifname"] = "eth0" });
        CniHarness.Ok(CniHarness.Berth("GC", gc));

        string table = Sh.Run("nft", ["list", "table", "ip", "berth_cni_" + scratch.Network]).Stdout;
        Assert.Contains($"tcp . {keepPort} :", table);
        Assert.DoesNotContain($"tcp . {stalePort} :", table);
        Assert.Equal(0, Sh.Run("ip", ["link", "show", (string)kept["interfaces"]![1]!["name"]!]).ExitCode);
        Assert.NotEqual(0, Sh.Run("ip", ["link", "show", (string)gone["interfaces"]![1]!["name"]!]).ExitCode);
        var files = Directory.GetFiles(scratch.IpamDirectory).Select(Path.GetFileName).ToList();
        Assert.Contains(((string)kept["ips"]![0]!["address"]!).Split('/')[0], files);
        Assert.DoesNotContain(((string)gone["ips"]![0]!["address"]!).Split('/')[0], files);
        Assert.DoesNotContain(scratch.Address(200), files);
    }

    [Fact]
    public void Status_reports_ready()
    {
        using var scratch = new CniScratch();
        var status = CniHarness.Berth("STATUS", scratch.Config());
        Assert.Equal(0, status.ExitCode);
        Assert.Equal("", status.Stdout);
    }

    [Fact]
    public void Runtime_config_ips_and_mac_are_honoured()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        var runtime = new JsonObject { ["ips"] = new JsonArray(scratch.Address(77) + "/24"), ["mac"] = "0a:58:0a:00:00:4d" };
        var result = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(runtimeConfig: runtime), "ctr-ip", CniScratch.NetnsPath(ns)));

        Assert.Equal(scratch.Address(77) + "/24", (string?)result["ips"]![0]!["address"]);
        Assert.Contains("link/ether 0a:58:0a:00:00:4d", Sh.Run("ip", ["-n", ns, "link", "show", "eth0"]).Stdout);
    }

    [Fact]
    public void Version_0_4_results_carry_the_ip_version()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        var result = CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(version: "0.4.0"), "ctr-04", CniScratch.NetnsPath(ns)));
        Assert.Equal("0.4.0", (string?)result["cniVersion"]);
        Assert.Equal("4", (string?)result["ips"]![0]!["version"]);
    }
}
