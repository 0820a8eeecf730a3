namespace Berth.Cni.Spec;

/// <summary>The spec's well-known error codes (1-99 are reserved to it; 100+ are the plugin's own).</summary>
public static class CniErrorCode
{
    public const int IncompatibleVersion = 1, UnsupportedField = 2, UnknownContainer = 3, InvalidEnvironment = 4,
        IoFailure = 5, DecodeFailure = 6, InvalidNetworkConfig = 7, TryAgainLater = 11,
        PluginNotAvailable = 50, PluginNotAvailableLimitedConnectivity = 51;

    /// <summary>Berth's own: a host port another attachment already publishes.</summary>
    public const int PortAlreadyAllocated = 100;
    /// <summary>Berth's own: the subnet has no free address left.</summary>
    public const int AddressPoolExhausted = 101;
}

/// <summary>A failure reported to the runtime as the spec's error object on stdout, with a non-zero exit.</summary>
public sealed class CniException(int code, string message, string? details = null) : Exception(message)
{
    public int Code { get; } = code;
    public string? Details { get; } = details;
}
