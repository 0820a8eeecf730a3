using Berth.Engine;
using Berth.Engine.Model;
using Berth.Engine.Networks;
using Microsoft.AspNetCore.Http;

namespace Berth.Api.Endpoints;

/// <summary>`GET /networks/{id}?verbose=&amp;scope=` as dockerd reads them: verbose adds only swarm details, so a local
/// network reads the same either way (a value that is not a boolean is refused); a scope other than "local" finds no
/// local network.</summary>
public static class NetworkInspectQuery
{
    public static NetworkRecord Find(NetworkService networks, string id, IQueryCollection query)
    {
        string verbose = query["verbose"].ToString();
        if (verbose.Length > 0 && BridgeOptions.ParseBool(verbose) is null)
            throw new BadRequestException($"invalid value for verbose: {DockerResults.Shorten(verbose)}: strconv.ParseBool: parsing \"{DockerResults.Shorten(verbose)}\": invalid syntax");
        string scope = query["scope"].ToString();
        if (scope.Length > 0 && scope != "local") throw new NotFoundException($"network {id} not found");
        return networks.GetListed(id);
    }
}
