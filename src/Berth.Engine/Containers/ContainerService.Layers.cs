namespace Berth.Engine.Containers;

public sealed partial class ContainerService
{
    /// <summary>The overlay upper directory of a container: what it changed against its image.</summary>
    public string UpperDirectory(string id) => Path.Combine(BundleOf(id), "upper");

    /// <summary>Files the runtime creates in the upper directory only as targets for the engine's bind mounts
    /// (/etc/hosts, /etc/hostname, /etc/resolv.conf): not the container's changes.</summary>
    public static bool IsMountPlaceholder(string relative) => relative is "etc/hosts" or "etc/hostname" or "etc/resolv.conf";
}
