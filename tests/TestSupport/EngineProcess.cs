using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Berth.TestSupport;

/// <summary>A `berth daemon` of its own for a test class: own socket, data and exec roots, bridge and 10.x subnet.
/// Disposal removes its containers, stops it and then removes anything it may have left (bridge, nft tables,
/// namespaces, mounts, directories) even when the test failed.</summary>
public sealed class EngineProcess : IAsyncDisposable
{
    private Process _process;
    private readonly StringBuilder _log = new();
    private string[] _extraArgs = [];

    private EngineProcess(Process process, string root, string bridge, string gateway, string subnet)
    {
        _process = process;
        Root = root;
        Bridge = bridge;
        Gateway = gateway;
        Subnet = subnet;
    }

    public string Root { get; }
    /// <summary>The daemon's own process (the launcher execs it).</summary>
    public int Pid => _process.Id;
    public string Bridge { get; }
    public string Gateway { get; }
    public string Subnet { get; }
    public string FirewallTable => $"berth_{Bridge}";
    public string SocketPath => Path.Combine(Root, "berth.sock");
    public string DockerHost => "unix://" + SocketPath;
    public string Log { get { lock (_log) return _log.ToString(); } }

    public static string RepoRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Berth.slnx"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root (Berth.slnx) not found");
    }

    /// <param name="extraArgs">More `berth daemon` options, e.g. a second --host with its TLS files.</param>
    public static async Task<EngineProcess> StartAsync(params string[] extraArgs)
    {
        string root = Path.Combine("/tmp", TestNames.Unique("berth-e2e-", 20));
        Directory.CreateDirectory(root);
        string bridge = TestNames.Unique("bb", 12);
        var (a, b) = FreeSubnet();
        var engine = new EngineProcess(null!, root, bridge, $"10.{a}.{b}.1", $"10.{a}.{b}.0/24") { _extraArgs = extraArgs };
        engine._process = engine.Launch();
        await engine.WaitForPingAsync();
        return engine;
    }

    /// <summary>Stops the daemon as an admin would (SIGTERM) and starts it again on the same state: containers keep
    /// running under their conmon meanwhile.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartAgainAsync();
    }

    public string DataRoot => Path.Combine(Root, "data");
    public string ExecRoot => Path.Combine(Root, "exec");
    public bool HasExited => _process.HasExited;

    /// <summary>SIGTERM, as an admin stops the daemon; waits until it is gone.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited) Sh.Run("kill", ["-TERM", _process.Id.ToString()]);
        await WaitForExitAsync();
    }

    /// <summary>Waits for the daemon to be gone (stopped, or killed by a crash hook).</summary>
    public async Task WaitForExitAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Starts the daemon again on the same state, with extra environment (e.g. BERTH_TEST_CRASH_AT).</summary>
    public async Task StartAgainAsync(IDictionary<string, string>? environment = null)
    {
        _process.Dispose();
        _process = Launch(environment);
        await WaitForPingAsync();
    }

    private Process Launch(IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(Path.Combine(RepoRoot(), "berth"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (string arg in new[] { "daemon", "--host", DockerHost, "--data-root", Path.Combine(Root, "data"),
                     "--exec-root", Path.Combine(Root, "exec"), "--bridge", Bridge, "--bip", Gateway + "/24",
                     // Networks a test makes without a subnet stay in 10.x too (Docker's pools start at 172.17).
                     "--default-address-pool", $"base={Gateway[..Gateway.IndexOf('.', 3)]}.0.0/16,size=24" }.Concat(_extraArgs))
            info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitForPingAsync()
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (_process.HasExited) break;
            if (await PingAsync(SocketPath)) return;
            await Task.Delay(100);
        }
        string log = Log;
        await DisposeAsync();
        throw new InvalidOperationException($"berth daemon did not answer /_ping:\n{log}");
    }

    private static async Task<bool> PingAsync(string socketPath)
    {
        if (!File.Exists(socketPath)) return false;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
            var buffer = new byte[256];
            int n = await socket.ReceiveAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, n).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }
        catch (SocketException) { return false; }
    }

    /// <summary>A 10.a.b.0/24 that no route on the host touches.</summary>
    /// <summary>A 10.x /24 that no route of the host uses, for a test's own user network.</summary>
    public static string FreeTestSubnet()
    {
        var (a, b) = FreeSubnet();
        return $"10.{a}.{b}.0/24";
    }

    /// <summary>A unique local /64 no route on this host uses (fd00:XXXX:YYYY::/64; never the host's own fd00::/64).</summary>
    public static string FreeTestSubnetV6()
    {
        string routes = Sh.Run("ip", ["-6", "route"]).Stdout;
        for (int i = 0; ; i++)
        {
            string subnet = $"fd00:{Random.Shared.Next(0x100, 0xffff):x}:{Random.Shared.Next(1, 0xffff):x}::";
            if (!routes.Contains(subnet) || i > 100) return subnet + "/64";
        }
    }

    private static (int, int) FreeSubnet()
    {
        string routes = Sh.Run("ip", ["-4", "route"]).Stdout;
        for (int i = 0; i < 100; i++)
        {
            int a = Random.Shared.Next(100, 250), b = Random.Shared.Next(1, 250);
            if (!routes.Contains($"10.{a}.")) return (a, b);
        }
        throw new InvalidOperationException("no free 10.x subnet");
    }

    public ShResult Docker(params string[] args) => Sh.Docker(DockerHost, args);

    /// <summary>The same command through the docker CLI or through Berth's own CLI ("docker" or "berth").</summary>
    public ShResult Client(string cli, params string[] args) => cli == "berth"
        ? Sh.Run(Path.Combine(RepoRoot(), "berth"), args, TimeSpan.FromSeconds(180), new Dictionary<string, string> { ["BERTH_HOST"] = DockerHost })
        : Docker(args);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                var ids = Docker("ps", "-aq").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                if (ids.Length > 0) Docker(["rm", "-f", .. ids]);
                _process.Kill(); // SIGKILL would leave conmons; the daemon does not stop containers on exit anyway
                await _process.WaitForExitAsync();
            }
        }
        catch (Exception) { }
        // Safety net for whatever a failed test left. Separate commands: a `pkill -f` inside `bash -c` would match
        // (and kill) its own shell, whose command line holds the same pattern.
        // conmon does not exit on SIGTERM, and its container outlives it: delete what is left through the runtime,
        // then kill the monitors.
        foreach (string bundle in Directory.Exists(Path.Combine(Root, "data", "containers")) ? Directory.GetDirectories(Path.Combine(Root, "data", "containers")) : [])
            Sh.Run("runc", ["delete", "--force", Path.GetFileName(bundle)]);
        Sh.Run("pkill", ["-KILL", "-f", $"^conmon .*{Root}"]);
        Sh.Run("ip", ["link", "del", Bridge]);
        foreach (string userBridge in UserNetworkBridges()) Sh.Run("ip", ["link", "del", userBridge]);
        Sh.Run("nft", ["delete", "table", "ip", $"berth_{Bridge}"]);
        Sh.Run("nft", ["delete", "table", "ip", $"berth_{Bridge}_user"]);
        // Accept rules Berth put in dockerd's DOCKER-USER chain, when dockerd ran meanwhile (the benchmark starts it).
        Sh.Bash($"for t in iptables ip6tables; do for d in -i -o; do $t -w -D DOCKER-USER $d {Bridge} -j ACCEPT 2>/dev/null; done; done; true");
        foreach (string mount in File.ReadAllLines("/proc/mounts").Select(l => l.Split(' ')[1]).Where(m => m.StartsWith(Root, StringComparison.Ordinal)).OrderDescending())
            Sh.Run("umount", ["-l", mount]);
        try { Directory.Delete(Root, recursive: true); } catch (Exception) { }
        _process.Dispose();
    }

    /// <summary>Bridges of the user networks a test left (br-&lt;id&gt;), read from the engine's network records: the
    /// daemon is SIGKILLed above, so its own cleanup of them does not run.</summary>
    private IEnumerable<string> UserNetworkBridges()
    {
        string records = Path.Combine(Root, "data", "networks");
        if (!Directory.Exists(records)) yield break;
        foreach (string file in Directory.EnumerateFiles(records, "*.json"))
        {
            string? name = null;
            try
            {
                using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(file));
                if (json.RootElement.TryGetProperty("BridgeName", out var bridge)) name = bridge.GetString();
            }
            catch (Exception) { }
            if (!string.IsNullOrEmpty(name) && name != Bridge) yield return name;
        }
    }
}
