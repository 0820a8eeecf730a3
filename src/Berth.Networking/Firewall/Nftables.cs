using System.Diagnostics;
using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Networking.Firewall;

public sealed class NftablesException(string message) : Exception(message);

/// <summary>Runs nft scripts; each call is one atomic transaction.</summary>
public interface INftables
{
    void Run(string commands);
    /// <summary>`list ...` output, or null when the object does not exist.</summary>
    string? List(string what);
}

/// <summary>In-process libnftables: no fork per change.</summary>
public sealed class LibNftables : INftables
{
    private readonly nint _ctx = NftablesLibrary.NewContext();
    private readonly Lock _lock = new();

    public void Run(string commands)
    {
        lock (_lock)
        {
            var (ok, _, error) = NftablesLibrary.Run(_ctx, commands);
            // Parsing thousands of elements leaves tens of MB of free native heap that glibc would keep for good.
            if (commands.Length >= LargeScript) Interop.TrimNativeHeap();
            if (!ok) throw new NftablesException($"nftables transaction failed: {error.Trim()}");
        }
    }

    /// <summary>About 1,000 map elements.</summary>
    private const int LargeScript = 64 * 1024;

    public string? List(string what)
    {
        lock (_lock)
        {
            var (ok, output, _) = NftablesLibrary.Run(_ctx, "list " + what);
            return ok ? output : null;
        }
    }
}

/// <summary>`nft -f -`, for machines without libnftables.</summary>
public sealed class NftProcess : INftables
{
    public void Run(string commands)
    {
        var (code, _, error) = Nft(["-f", "-"], commands);
        if (code != 0) throw new NftablesException($"nftables transaction failed: {error.Trim()}");
    }

    public string? List(string what)
    {
        var (code, output, _) = Nft(["list", .. what.Split(' ')], null);
        return code == 0 ? output : null;
    }

    private static (int, string, string) Nft(string[] args, string? input)
    {
        var info = new ProcessStartInfo("nft") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        if (input is not null) process.StandardInput.Write(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}

public static class NftablesFactory
{
    public static INftables Create(ILogger? logger)
    {
        if (NftablesLibrary.Available)
        {
            logger?.LogInformation("nftables through libnftables (in process)");
            return new LibNftables();
        }
        logger?.LogWarning("libnftables.so.1 not found: falling back to the nft command");
        return new NftProcess();
    }
}
