using Berth.Runtime.Registry;

namespace Berth.Engine;

public sealed partial class BerthEngine
{
    private RegistryHosts? _registries;
    private ImagePuller? _puller;
    private ImagePusher? _pusher;

    /// <summary>Registry connections and tokens, kept for the daemon's life.</summary>
    public RegistryHosts Registries => _registries ??= new RegistryHosts(Options.Registry, _logger);
    public ImagePuller Puller => _puller ??= new ImagePuller(Registries, Images, _logger);
    public ImagePusher Pusher => _pusher ??= new ImagePusher(Registries, Images, _logger);
}
