using Berth.TestSupport;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>berth-cni pods and a Berth engine on one host share one space of host ports: whichever publishes a port
/// first keeps it and the other refuses it with Docker's message. The engine holds its ports with bound sockets (as
/// dockerd), which berth-cni finds by binding; berth-cni holds none, so the engine reads its nftables maps.</summary>
public sealed class EngineAndCniPortsTests
{
    [Fact]
    public async Task A_port_the_engine_publishes_is_refused_by_berth_cni_and_one_a_pod_maps_is_refused_by_the_engine()
    {
        using var scratch = new CniScratch();
        await using var engine = await EngineProcess.StartAsync();
        string tar = Path.Combine(engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        CniScratch.Check(engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:cni"));
        int enginePort = Ports.Free(), podPort = Ports.Free();
        string ns = scratch.Namespace();
        CniScratch.Check(engine.Docker("run", "-d", "--name", TestNames.Unique("enginepub", 20), "-p", $"{enginePort}:80", "webapp:cni"));

        var refusedByCni = CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((enginePort, 80))), "ctr-late", CniScratch.NetnsPath(ns));
        CniHarness.Ok(CniHarness.Berth("ADD", scratch.Config(portMappings: CniScratch.Mappings((podPort, 8080))), "ctr-pod", CniScratch.NetnsPath(ns)));
        var refusedByEngine = engine.Docker("run", "-d", "--name", TestNames.Unique("enginelate", 20), "-p", $"{podPort}:80", "webapp:cni");

        Assert.NotEqual(0, refusedByCni.ExitCode);
        Assert.Equal(100, (int)refusedByCni.Json["code"]!);
        Assert.Equal($"Bind for 0.0.0.0:{enginePort} failed: port is already allocated", (string?)refusedByCni.Json["msg"]);
        Assert.NotEqual(0, refusedByEngine.ExitCode);
        Assert.Contains($"Bind for 0.0.0.0:{podPort} failed: port is already allocated", refusedByEngine.Stderr);
        Assert.Contains("berth_cni_", refusedByEngine.Stderr);
        // each keeps what it had: the engine's container and the pod answer on their ports
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
            Assert.Contains("Hostname:", await http.GetWhenUpAsync($"http://127.0.0.1:{enginePort}/"));
        using var pod = new Responder(ns, 8080);
        Assert.Equal(pod.Reply, Sh.Run("socat", ["-T3", "-", $"TCP:127.0.0.1:{podPort}"]).Stdout.Trim());
    }
}
