using Berth.Engine.Model;
using Berth.Linux;
using Berth.Runtime.Files;

namespace Berth.Engine.Containers;

/// <summary>A container's disk usage as dockerd reports it (`ps -s`, `inspect -s`, `system df`, prune's
/// SpaceReclaimed): SizeRw is what its writable layer holds, SizeRootFs that plus its image.</summary>
public sealed partial class ContainerService
{
    public (long SizeRw, long SizeRootFs) DiskUsage(ContainerRecord record)
    {
        long rw;
        try { rw = TreeSize.Of(UpperDirectory(record.Id)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException) { rw = -1; }
        long image = _images.Find(record.ImageId)?.Size ?? 0;
        return (rw, rw < 0 ? image : image + rw);
    }
}
