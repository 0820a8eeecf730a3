using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>One engine per test class, with the seeds' web app imported as webapp:noexpose and webapp:expose.</summary>
public class EngineFixture : IAsyncLifetime
{
    public EngineProcess Engine { get; private set; } = null!;

    /// <summary>More `berth daemon` options for a fixture that needs them.</summary>
    protected virtual string[] DaemonArgs => [];

    public async Task InitializeAsync()
    {
        Engine = await EngineProcess.StartAsync(DaemonArgs);
        string tar = Path.Combine(Engine.Root, "rootfs.tar");
        WebAppImage.WriteRootfsTar(tar);
        Check(Engine.Docker("import", "-c", WebAppImage.Cmd, tar, "webapp:noexpose"));
        Check(Engine.Docker("import", "-c", WebAppImage.Cmd, "-c", "EXPOSE 80", tar, "webapp:expose"));
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();

    public static ShResult Check(ShResult result) =>
        result.ExitCode == 0 ? result : throw new InvalidOperationException($"exit {result.ExitCode}: {result.Stderr}{result.Stdout}");
}
