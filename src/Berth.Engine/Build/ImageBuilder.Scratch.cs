using Berth.Linux;
using Microsoft.Extensions.Logging;

namespace Berth.Engine.Build;

public sealed partial class ImageBuilder
{
    /// <summary>What builds cut short by a killed daemon left in the scratch directory (received contexts, downloads,
    /// git clones, merged image views still mounted): no build runs at start, so all of it goes, mounts first.
    /// </summary>
    public static void SweepScratch(string dataRoot, ILogger logger)
    {
        string root = Path.Combine(dataRoot, "build");
        if (!Directory.Exists(root)) return;
        try
        {
            var mounts = File.ReadLines("/proc/self/mountinfo")
                .Select(line => line.Split(' ') is { Length: > 4 } fields ? fields[4] : null)
                .Where(point => point is not null && point.StartsWith(root + "/", StringComparison.Ordinal))
                .OrderByDescending(point => point!.Length);
            foreach (string? point in mounts) Interop.Unmount(point!);
            foreach (string entry in Directory.EnumerateFileSystemEntries(root))
            {
                if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
                    Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                logger.LogInformation("removed {Entry}, left by a build a previous daemon did not finish", entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            logger.LogWarning(e, "sweeping the build scratch directory {Root} failed", root);
        }
    }
}
