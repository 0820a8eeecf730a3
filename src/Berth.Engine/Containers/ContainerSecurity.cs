using Berth.Engine.Model;
using Berth.Runtime.Oci;
using Berth.Runtime.Security;

namespace Berth.Engine.Containers;

/// <summary>A container's security settings between the API and the runtime: checked at create (a bad value is a
/// 400 then, not a failed start later) and parsed again at each start from the stored HostConfig.</summary>
internal static class ContainerSecurity
{
    /// <summary>Refuses unknown or unusable SecurityOpt values, capabilities and seccomp profiles, and records the
    /// masked and read-only paths in HostConfig as dockerd does (so inspect shows them).</summary>
    public static void Validate(HostConfig hostConfig, HostSecurity host)
    {
        var options = Parse(hostConfig);
        try { host.Validate(options, hostConfig.CapAdd, hostConfig.CapDrop); }
        catch (SecurityOptionException e) { throw new BadRequestException(e.Message, e); }
        if (options.SystemPathsUnconfined)
        {
            hostConfig.MaskedPaths = [];
            hostConfig.ReadonlyPaths = [];
        }
        else if (!hostConfig.Privileged)
        {
            hostConfig.MaskedPaths ??= [.. OciSpecBuilder.DefaultMaskedPaths];
            hostConfig.ReadonlyPaths ??= [.. OciSpecBuilder.ReadonlyPaths];
        }
    }

    public static SecurityOptions Parse(HostConfig hostConfig)
    {
        try { return SecurityOptions.Parse(hostConfig.SecurityOpt); }
        catch (SecurityOptionException e) { throw new BadRequestException(e.Message, e); }
    }
}
