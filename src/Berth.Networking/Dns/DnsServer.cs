using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Networking.Dns;

/// <summary>The engine's embedded resolver: one listener per container on a user-defined network, all served by the
/// same async loop and the same <see cref="IDnsNames"/>. Open and Close are idempotent.</summary>
public sealed class DnsServer : IDisposable
{
    private readonly ConcurrentDictionary<string, ContainerDnsListener> _listeners = new();
    private readonly DnsAnswerer _answerer;
    private readonly Lazy<DnsUpstreamSocket> _hostUpstream = new(() => new DnsUpstreamSocket(DnsUpstreamSocket.CreateSocket()));
    private readonly ILogger _logger;
    private readonly Lock _lock = new();

    public DnsServer(IDnsNames names, ILogger? logger = null, HostResolvConf? hostResolvConf = null,
        DnsForwarder? forwarder = null)
    {
        _logger = logger ?? NullLogger.Instance;
        _answerer = new DnsAnswerer(names, forwarder ?? new DnsForwarder(), hostResolvConf ?? new HostResolvConf(logger: _logger));
    }

    public bool IsOpen(string containerId) => _listeners.ContainsKey(containerId);

    public void Open(string containerId, string netnsPath)
    {
        lock (_lock)
        {
            if (_listeners.ContainsKey(containerId)) return;
            _listeners[containerId] = ContainerDnsListener.Open(containerId, netnsPath, _answerer, _hostUpstream.Value, _logger);
        }
    }

    public void Close(string containerId)
    {
        if (_listeners.TryRemove(containerId, out var listener)) listener.Dispose();
    }

    public void Dispose()
    {
        foreach (string id in _listeners.Keys) Close(id);
        if (_hostUpstream.IsValueCreated) _hostUpstream.Value.Dispose();
    }
}
