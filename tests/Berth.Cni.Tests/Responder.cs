using System.Diagnostics;

namespace Berth.Cni.Tests;

/// <summary>A TCP server inside a test's namespace that answers every connection with <see cref="Reply"/>
/// (socat, as the engine tests' webapp does over HTTP); killed on dispose.</summary>
public sealed class Responder : IDisposable
{
    private readonly Process _process;
    public string Reply { get; }

    public Responder(string netns, int port)
    {
        Reply = "hello-from-" + netns;
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["netns", "exec", netns, "socat", $"TCP-LISTEN:{port},fork,reuseaddr", $"SYSTEM:echo {Reply}"])
            info.ArgumentList.Add(a);
        _process = Process.Start(info)!;
        // Listening once `ss` inside the namespace shows the port.
        for (int i = 0; i < 100; i++)
        {
            var ss = Berth.TestSupport.Sh.Run("ip", ["netns", "exec", netns, "ss", "-ltnH", $"sport = :{port}"]);
            if (ss.Stdout.Contains($":{port}")) return;
            Thread.Sleep(50);
        }
        Dispose();
        throw new InvalidOperationException($"socat in {netns} did not listen on {port}");
    }

    public void Dispose()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
