using System.Diagnostics;
using System.Text.Json.Nodes;
using Berth.TestSupport;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>Debian's containerd 1.6 running a container with `ctr run --cni` on a conflist that uses berth-cni, the
/// container's web app reached through a published host port from a neighbour namespace; once with berth-cni alone and
/// once after the reference `bridge` plugin. ctr reads its CNI setup only from /etc/cni/net.d and /opt/cni/bin, which
/// are the machine's: a lock file serializes the tests that use them, and everything put there is taken away again.
/// Each test has its own containerd (root, state, socket), stopped at the end.</summary>
public sealed class ContainerdTests
{
    [Fact]
    public void Ctr_run_with_berth_cni_alone_publishes_the_containers_port_to_a_neighbour()
    {
        using var scratch = new CniScratch();
        int hostPort = Ports.Free();
        var plugin = scratch.Config(runtimeConfig: new JsonObject { ["portMappings"] = CniScratch.Mappings((hostPort, 80)) });
        RunAndReach(scratch, hostPort, new JsonArray(plugin));
    }

    [Fact]
    public void Ctr_run_with_berth_cni_after_the_reference_bridge_plugin_publishes_the_containers_port()
    {
        using var scratch = new CniScratch();
        int hostPort = Ports.Free();
        var bridge = new JsonObject
        {
            ["type"] = "bridge", ["bridge"] = scratch.Bridge, ["isGateway"] = true, ["ipMasq"] = false,
            ["ipam"] = new JsonObject
            {
                ["type"] = "host-local", ["subnet"] = scratch.Subnet, ["dataDir"] = Path.Combine(scratch.Directory, "ipam"),
                ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
            },
        };
        var plugin = scratch.Config(runtimeConfig: new JsonObject { ["portMappings"] = CniScratch.Mappings((hostPort, 80)) });
        plugin.Remove("subnet");
        plugin.Remove("bridge");
        RunAndReach(scratch, hostPort, new JsonArray(bridge, plugin));
    }

    /// <summary>ctr sends no port mappings of its own, and libcni leaves a plugin's "runtimeConfig" alone when the
    /// runtime brings none: the conflist carries them as a kubelet would send them.</summary>
    private static void RunAndReach(CniScratch scratch, int hostPort, JsonArray plugins)
    {
        foreach (var p in plugins.OfType<JsonObject>())
        {
            p.Remove("cniVersion");
            p.Remove("name");
        }
        var conflist = new JsonObject { ["cniVersion"] = "1.0.0", ["name"] = scratch.Network, ["plugins"] = plugins };
        using var host = CniHost.Take(scratch, conflist);
        using var containerd = Containerd.Start(scratch.Directory);
        string rootfs = Path.Combine(scratch.Directory, "rootfs");
        Directory.CreateDirectory(rootfs);
        string tar = Path.Combine(scratch.Directory, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        CniScratch.Check(Sh.Run("tar", ["-xf", tar, "-C", rootfs]));
        string id = TestNames.Unique("bcnictr", 20);
        try
        {
            CniScratch.Check(containerd.Ctr("run", "-d", "--cni", "--rootfs", rootfs, id, "/bin/httpd", "-f", "-p", "80", "-h", "/www"));
            using var neighbour = Neighbour.Create();
            var answer = WaitForAnswer(neighbour, $"http://{Neighbour.HostAddress}:{hostPort}/");
            Assert.Contains("Hostname:", answer.Stdout);
            Assert.Contains($"Remote IP:</b> {Neighbour.Address}", answer.Stdout);
        }
        finally
        {
            containerd.Ctr("task", "kill", "-s", "KILL", id);
            for (int i = 0; i < 50 && containerd.Ctr("task", "delete", id).ExitCode != 0 && containerd.Ctr("task", "ls").Stdout.Contains(id); i++)
                Thread.Sleep(100);
            containerd.Ctr("container", "delete", id);
        }
    }

    private static ShResult WaitForAnswer(Neighbour neighbour, string url)
    {
        ShResult last = new(1, "", "");
        for (int i = 0; i < 40; i++)
        {
            last = neighbour.Curl(url);
            if (last.ExitCode == 0 && last.Stdout.Contains("Hostname:")) return last;
            Thread.Sleep(250);
        }
        throw new InvalidOperationException($"no answer from {url}: exit {last.ExitCode} {last.Stdout}{last.Stderr}");
    }

    /// <summary>A containerd of the test's own: root, state and socket in the test's directory, CRI off.</summary>
    private sealed class Containerd : IDisposable
    {
        private readonly Process _process;
        private readonly string _socket;

        private Containerd(Process process, string socket) => (_process, _socket) = (process, socket);

        public static Containerd Start(string directory)
        {
            string socket = Path.Combine(directory, "containerd.sock"), config = Path.Combine(directory, "containerd.toml");
            File.WriteAllText(config, $"""
                version = 2
                root = "{directory}/containerd-root"
                state = "{directory}/containerd-state"
                disabled_plugins = ["io.containerd.grpc.v1.cri"]
                [grpc]
                  address = "{socket}"
                """);
            var info = new ProcessStartInfo("containerd") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in (string[])["--config", config]) info.ArgumentList.Add(a);
            var process = Process.Start(info)!;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var containerd = new Containerd(process, socket);
            for (int i = 0; i < 200 && containerd.Ctr("version").ExitCode != 0; i++) Thread.Sleep(100);
            return containerd;
        }

        public ShResult Ctr(params string[] args) => Sh.Run("ctr", ["--address", _socket, .. args], TimeSpan.FromSeconds(60));

        public void Dispose()
        {
            try { _process.Kill(entireProcessTree: false); } catch (InvalidOperationException) { }
            _process.WaitForExit(10_000);
            _process.Dispose();
        }
    }

    /// <summary>The machine's CNI directories as ctr reads them, held under a lock: berth-cni (a wrapper that execs the
    /// binary under test) and the reference plugins in /opt/cni/bin, the test's conflist in /etc/cni/net.d; each file
    /// and directory that was not there before is removed on dispose.</summary>
    private sealed class CniHost : IDisposable
    {
        private const string LockPath = "/run/berth-test-cni-host.lock", BinDir = "/opt/cni/bin", ConfDir = "/etc/cni/net.d";
        private readonly FileStream _lock;
        private readonly List<string> _created = [];

        private CniHost(FileStream @lock) => _lock = @lock;

        public static CniHost Take(CniScratch scratch, JsonObject conflist)
        {
            var host = new CniHost(MachineLock.Acquire(LockPath, TimeSpan.FromMinutes(3)));
            try
            {
                host.Directory(BinDir);
                host.Directory(ConfDir);
                if (System.IO.Directory.EnumerateFileSystemEntries(ConfDir).Any())
                    throw new InvalidOperationException($"{ConfDir} is not empty: ctr would take the first conflist there, not the test's");
                host.File(Path.Combine(BinDir, "berth-cni"), $"#!/bin/sh\nexec {CniHarness.BerthCni} \"$@\"\n", executable: true);
                foreach (string reference in (string[])["bridge", "host-local", "loopback"])
                    host.File(Path.Combine(BinDir, reference), $"#!/bin/sh\nexec {CniHarness.ReferencePlugins}/{reference} \"$@\"\n", executable: true);
                host.File(Path.Combine(ConfDir, "10-" + scratch.Network + ".conflist"), conflist.ToJsonString(), executable: false);
                return host;
            }
            catch
            {
                host.Dispose();
                throw;
            }
        }

        private void Directory(string path)
        {
            if (System.IO.Directory.Exists(path)) return;
            // Parents first: /opt/cni may be new too.
            string? parent = Path.GetDirectoryName(path);
            if (parent is not null) Directory(parent);
            System.IO.Directory.CreateDirectory(path);
            _created.Add(path);
        }

        private void File(string path, string text, bool executable)
        {
            if (System.IO.File.Exists(path)) throw new InvalidOperationException($"{path} exists: not the test's to replace");
            _created.Add(path);
            System.IO.File.WriteAllText(path, text);
            if (executable) System.IO.File.SetUnixFileMode(path, (UnixFileMode)0x1ed);
        }

        public void Dispose()
        {
            foreach (string path in Enumerable.Reverse(_created))
                if (System.IO.File.Exists(path)) System.IO.File.Delete(path);
                else if (System.IO.Directory.Exists(path) && !System.IO.Directory.EnumerateFileSystemEntries(path).Any())
                    System.IO.Directory.Delete(path);
            _lock.Dispose();
        }
    }
}
