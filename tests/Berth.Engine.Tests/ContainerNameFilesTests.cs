using Berth.Engine.Containers;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class ContainerNameFilesTests
{
    private const string Host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n";

    [Fact]
    public void User_networks_get_the_embedded_resolver_with_ndots_0_and_the_hosts_search()
    {
        string text = ContainerNameFiles.ResolvConf(Host, embedded: true, [], [], []);
        Assert.Contains("nameserver 127.0.0.11\n", text);
        Assert.DoesNotContain("10.0.0.2", text);
        Assert.Contains("search corp.example\n", text);
        Assert.Contains("options ndots:0 edns0\n", text);
    }

    [Fact]
    public void The_default_bridge_gets_the_hosts_resolvers_without_loopback_or_dns_flags()
    {
        string host = ContainerNameFiles.ResolvConf(Host, embedded: false, [], [], []);
        Assert.Contains("nameserver 10.0.0.2\n", host);
        Assert.DoesNotContain("127.0.0.53", host);
        Assert.DoesNotContain("127.0.0.11", host);
        string flags = ContainerNameFiles.ResolvConf(Host, embedded: false, ["192.0.2.1"], ["a.test", "b.test"], ["rotate"]);
        Assert.Contains("nameserver 192.0.2.1\n", flags);
        Assert.DoesNotContain("10.0.0.2", flags);
        Assert.Contains("search a.test b.test\n", flags);
        Assert.Contains("options rotate\n", flags);
        Assert.DoesNotContain("search", ContainerNameFiles.ResolvConf(Host, false, [], ["."], []));
        Assert.Contains("nameserver 8.8.8.8\n", ContainerNameFiles.ResolvConf("nameserver 127.0.0.53\n", false, [], [], []));
    }

    [Fact]
    public void Add_host_takes_both_separators_and_host_gateway_and_hosts_lists_own_names()
    {
        var extra = ContainerNameFiles.ExtraHosts(["db:10.1.2.3", "gw:host-gateway", "v6=::1", "bad"], "10.5.0.1").ToList();
        Assert.Equal([("db", "10.1.2.3"), ("gw", "10.5.0.1"), ("v6", "::1")], extra);
        string hosts = ContainerNameFiles.Hosts("web", "example.test", ["10.5.0.2", "10.6.0.2"], extra, ["10.5.0.3\tpeer"]);
        Assert.Contains("127.0.0.1\tlocalhost\n", hosts);
        Assert.Contains("10.5.0.1\tgw\n", hosts);
        Assert.Contains("10.5.0.3\tpeer\n", hosts);
        Assert.Contains("10.5.0.2\tweb.example.test web\n10.6.0.2\tweb.example.test web\n", hosts);
    }
}
