using Berth.Engine.Containers;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>Legacy link variables as moby's daemon/links writes them (its links_test.go cases, restated).</summary>
public sealed class ContainerLinksTests
{
    [Fact]
    public void Links_parse_from_the_cli_form_and_dockerds_stored_form()
    {
        Assert.Equal([new("db", "database"), new("cache", "cache"), new("web", "front")],
            ContainerLinks.Parse(["db:database", "cache", "/web:/client/front"]).ToList());
    }

    [Fact]
    public void One_port_gives_the_url_address_port_and_protocol_then_the_name_and_the_targets_env()
    {
        var env = ContainerLinks.Environment("/client/my-db", "172.17.0.2", ["6379/tcp"],
            ["PASSWORD=gordon", "HOME=/root", "PATH=/bin", "EMPTY=", "NOEQUALS"]);
        Assert.Equal([
            "MY_DB_PORT=tcp://172.17.0.2:6379",
            "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
            "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_6379_TCP_PORT=6379",
            "MY_DB_PORT_6379_TCP_PROTO=tcp",
            "MY_DB_NAME=/client/my-db",
            "MY_DB_ENV_PASSWORD=gordon",
            "MY_DB_ENV_EMPTY=",
        ], env);
    }

    [Fact]
    public void Tcp_ports_come_first_and_consecutive_ones_also_get_a_range()
    {
        var env = ContainerLinks.Environment("/client/docker", "172.0.17.2", ["6381/tcp", "53/udp", "6379", "6380/tcp"], []);
        Assert.Equal("DOCKER_PORT=tcp://172.0.17.2:6379", env[0]);
        Assert.Contains("DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379", env);
        Assert.Contains("DOCKER_PORT_6379_TCP_PORT_START=6379", env);
        Assert.Contains("DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381", env);
        Assert.Contains("DOCKER_PORT_6379_TCP_PORT_END=6381", env);
        Assert.Contains("DOCKER_PORT_53_UDP=udp://172.0.17.2:53", env);
        Assert.Contains("DOCKER_PORT_53_UDP_PROTO=udp", env);
        Assert.DoesNotContain(env, e => e.StartsWith("DOCKER_PORT_53_UDP_START", StringComparison.Ordinal));
        Assert.True(env.IndexOf("DOCKER_PORT_6381_TCP_PROTO=tcp") < env.IndexOf("DOCKER_PORT_53_UDP=udp://172.0.17.2:53"));
        Assert.Equal("DOCKER_NAME=/client/docker", env[^1]);
    }
}
