using System.Net;

namespace Berth.Cni.Spec;

/// <summary>CNI_ARGS: "K=V;K=V" as runtimes send it (the kubelet adds IgnoreUnknown=1 and its K8S_POD_* keys). berth-cni
/// reads IP= (an address to hand out, host-local's convention; several may be given, comma-separated) and ignores the
/// rest, as host-local does under IgnoreUnknown.</summary>
public static class CniArgs
{
    public static IReadOnlyList<IPAddress> RequestedIps(string? args)
    {
        var result = new List<IPAddress>();
        foreach (string pair in (args ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw Invalid($"CNI_ARGS: \"{pair}\" is not KEY=VALUE");
            if (pair[..eq] != "IP") continue;
            foreach (string text in pair[(eq + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                result.Add(IPAddress.TryParse(text, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                    ? address : throw Invalid($"CNI_ARGS: IP={text} is not an IPv4 address"));
        }
        return result;
    }

    private static CniException Invalid(string message) => new(CniErrorCode.InvalidEnvironment, message);
}
