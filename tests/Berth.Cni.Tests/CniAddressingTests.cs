using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>Which address a pod gets (CNI_ARGS IP=, args.cni.ips, host-local's rangeStart/rangeEnd), a second
/// interface on another network in the same namespace, and host ports a host process holds.</summary>
public sealed class CniAddressingTests
{
    [Fact]
    public void Cni_args_ip_and_args_cni_ips_ask_for_an_address_and_the_range_bounds_what_is_handed_out()
    {
        using var scratch = new CniScratch();
        JsonObject Ranged()
        {
            var config = scratch.Config();
            config.Remove("subnet");
            config["ipam"] = new JsonObject
            {
                ["dataDir"] = Path.Combine(scratch.Directory, "ipam"),
                ["ranges"] = new JsonArray(new JsonArray(new JsonObject
                    { ["subnet"] = scratch.Subnet, ["rangeStart"] = scratch.Address(50), ["rangeEnd"] = scratch.Address(52) })),
            };
            return config;
        }
        // as the kubelet sends CNI_ARGS: its own keys, IgnoreUnknown, and host-local's IP=
        var asked = CniHarness.Ok(CniHarness.Berth("ADD", Ranged(), "ctr-ip", CniScratch.NetnsPath(scratch.Namespace()),
            args: $"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;IP={scratch.Address(52)}"));
        var byArgs = Ranged();
        byArgs["args"] = new JsonObject { ["cni"] = new JsonObject { ["ips"] = new JsonArray(scratch.Address(51)) } };
        var askedInConfig = CniHarness.Ok(CniHarness.Berth("ADD", byArgs, "ctr-args", CniScratch.NetnsPath(scratch.Namespace())));
        var given = CniHarness.Ok(CniHarness.Berth("ADD", Ranged(), "ctr-any", CniScratch.NetnsPath(scratch.Namespace())));
        var exhausted = CniHarness.Berth("ADD", Ranged(), "ctr-more", CniScratch.NetnsPath(scratch.Namespace()));
        var outside = CniHarness.Berth("ADD", Ranged(), "ctr-out", CniScratch.NetnsPath(scratch.Namespace()), args: $"IP={scratch.Address(60)}");
        var taken = CniHarness.Berth("ADD", scratch.Config(), "ctr-taken", CniScratch.NetnsPath(scratch.Namespace()), args: $"IP={scratch.Address(52)}");
        var garbled = CniHarness.Berth("ADD", Ranged(), "ctr-bad", CniScratch.NetnsPath(scratch.Namespace()), args: "IP=banana");

        Assert.Equal(scratch.Address(52) + "/24", (string?)asked["ips"]![0]!["address"]);
        Assert.Equal(scratch.Address(51) + "/24", (string?)askedInConfig["ips"]![0]!["address"]);
        Assert.Equal(scratch.Address(50) + "/24", (string?)given["ips"]![0]!["address"]);
        Assert.Equal(101, (int)exhausted.Json["code"]!);
        Assert.Equal(7, (int)outside.Json["code"]!);
        Assert.Contains("outside the range", (string?)outside.Json["msg"]);
        Assert.Equal(7, (int)taken.Json["code"]!);
        Assert.Equal(4, (int)garbled.Json["code"]!);
        Assert.All([exhausted, outside, taken, garbled], call => Assert.NotEqual(0, call.ExitCode));
    }

    [Fact]
    public void A_second_interface_on_another_network_keeps_the_first_default_route_and_takes_it_when_the_first_goes()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int firstPort = Ports.Free(), secondPort = Ports.Free();
        var first = scratch.Config(portMappings: CniScratch.Mappings((firstPort, 8080)));
        var second = scratch.OtherNetworkConfig(portMappings: CniScratch.Mappings((secondPort, 8081)));
        string secondGateway = ((string)second["subnet"]!)[..((string)second["subnet"]!).LastIndexOf('.')] + ".1";

        var a = CniHarness.Ok(CniHarness.Berth("ADD", first, "ctr-two", CniScratch.NetnsPath(ns), "eth0"));
        var b = CniHarness.Ok(CniHarness.Berth("ADD", second, "ctr-two", CniScratch.NetnsPath(ns), "net1"));

        Assert.NotEqual((string?)a["ips"]![0]!["address"], (string?)b["ips"]![0]!["address"]);
        Assert.Single(a["routes"]!.AsArray());
        Assert.Empty(b["routes"]!.AsArray()); // the result says what was done: no second default route
        Assert.Contains($"default via {scratch.Address(1)} dev eth0", Sh.Run("ip", ["-n", ns, "route"]).Stdout);
        using (var web = new Responder(ns, 8080))
        using (var other = new Responder(ns, 8081))
        {
            Assert.Equal(web.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{firstPort}"]).Stdout.Trim());
            Assert.Equal(other.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{secondPort}"]).Stdout.Trim());
        }

        CniHarness.Ok(CniHarness.Berth("DEL", first, "ctr-two", CniScratch.NetnsPath(ns), "eth0"));

        Assert.Contains($"default via {secondGateway} dev net1", Sh.Run("ip", ["-n", ns, "route"]).Stdout);
        CniHarness.Ok(CniHarness.Berth("CHECK", second, "ctr-two", CniScratch.NetnsPath(ns), "net1"));
        using (var other = new Responder(ns, 8081))
            Assert.Equal(other.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{secondPort}"]).Stdout.Trim());
    }

    [Fact]
    public void A_host_port_a_host_process_holds_is_refused_as_the_engine_holds_its_published_ports()
    {
        using var scratch = new CniScratch();
        string ns = scratch.Namespace();
        int port = Ports.Free();
        // The Berth engine (as dockerd) holds each published port with a listening socket bound to it.
        using var engine = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        engine.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        engine.Listen();

        var refused = CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((port, 80))), "ctr-held", CniScratch.NetnsPath(ns));

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal(100, (int)refused.Json["code"]!);
        Assert.Equal($"Bind for 0.0.0.0:{port} failed: port is already allocated", (string?)refused.Json["msg"]);
        Assert.NotEqual(0, Sh.Run("ip", ["-n", ns, "link", "show", "eth0"]).ExitCode);
        engine.Close();
        CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((port, 80))), "ctr-held", CniScratch.NetnsPath(ns)));
    }
}
