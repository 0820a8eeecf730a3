namespace Berth.Cni.Spec;

/// <summary>The CNI_* variables a runtime sets for each call.</summary>
public sealed record CniEnvironment(string? Command, string? ContainerId, string? Netns, string? IfName, string? Args, string? Path)
{
    public static CniEnvironment FromProcess() => new(
        Environment.GetEnvironmentVariable("CNI_COMMAND"),
        Environment.GetEnvironmentVariable("CNI_CONTAINERID"),
        Environment.GetEnvironmentVariable("CNI_NETNS"),
        Environment.GetEnvironmentVariable("CNI_IFNAME"),
        Environment.GetEnvironmentVariable("CNI_ARGS"),
        Environment.GetEnvironmentVariable("CNI_PATH"));

    public string Require(string? value, string name) =>
        string.IsNullOrEmpty(value) ? throw new CniException(CniErrorCode.InvalidEnvironment, $"required env variable {name} is missing") : value;
}
