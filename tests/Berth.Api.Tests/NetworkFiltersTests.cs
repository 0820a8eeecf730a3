using Berth.Api.Endpoints;
using Berth.Engine.Model;
using Xunit;

namespace Berth.Api.Tests;

/// <summary>`network ls` filters as dockerd's daemon/network/filter.go matches them.</summary>
public sealed class NetworkFiltersTests
{
    private static readonly NetworkRecord Bridge = new() { Id = "aaaa1111" + new string('0', 56), Name = "bridge", Driver = "bridge", IsDefault = true };
    private static readonly NetworkRecord Host = new() { Id = "bbbb2222" + new string('0', 56), Name = "host", Driver = "host" };
    private static readonly NetworkRecord Front = new()
    {
        Id = "cccc3333" + new string('0', 56), Name = "app_front", Driver = "bridge",
        Labels = new() { ["tier"] = "web", ["team"] = "" },
    };
    private static readonly NetworkRecord Mac = new() { Id = "dddd4444" + new string('0', 56), Name = "lan", Driver = "macvlan" };
    private static readonly NetworkRecord[] All = [Bridge, Host, Front, Mac];

    private static string[] Names(string json, params string[] inUse) =>
        All.Where(NetworkFilters.Parse(json, n => inUse.Contains(n.Name)).Matches).Select(n => n.Name).ToArray();

    [Fact]
    public void Name_and_id_match_exactly_or_as_a_pattern_found_anywhere()
    {
        Assert.Equal(["app_front"], Names("{\"name\":[\"front\"]}"));
        Assert.Equal(["bridge", "app_front"], Names("{\"name\":[\"^b\",\"_f\"]}"));
        Assert.Equal(["host"], Names("{\"id\":[\"bbbb\"]}"));
        Assert.Equal(["lan"], Names("{\"id\":[\"4444\"]}")); // not only a prefix: dockerd matches anywhere
        Assert.Empty(Names("{\"name\":[\"[\"]}")); // a pattern Go cannot compile matches exactly only
    }

    [Fact]
    public void Driver_scope_label_type_and_dangling_combine()
    {
        Assert.Equal(["lan"], Names("{\"driver\":[\"macvlan\"]}"));
        Assert.Empty(Names("{\"driver\":[\"bridg\"]}"));
        Assert.Equal(4, Names("{\"scope\":[\"local\"]}").Length);
        Assert.Empty(Names("{\"scope\":[\"swarm\"]}"));
        Assert.Equal(["app_front"], Names("{\"label\":[\"tier=web\",\"team\"]}"));
        Assert.Empty(Names("{\"label\":[\"tier=db\"]}"));
        Assert.Equal(["bridge", "host"], Names("{\"type\":{\"builtin\":true}}"));
        Assert.Equal(["app_front", "lan"], Names("{\"type\":[\"custom\"]}"));
        // Dangling: custom networks without containers; builtin ones are never dangling.
        Assert.Equal(["lan"], Names("{\"dangling\":[\"true\"]}", "app_front"));
        Assert.Equal(["bridge", "host", "app_front"], Names("{\"dangling\":[\"0\"]}", "app_front"));
        Assert.Equal(["app_front"], Names("{\"dangling\":[\"false\"],\"driver\":[\"bridge\"],\"type\":[\"custom\"]}", "app_front"));
    }
}
