using System.Net;
using Berth.Cni.Attachments;
using Berth.Cni.Plugin;
using Berth.Cni.Spec;
using Berth.Networking.Ports;
using Xunit;

namespace Berth.Cni.Tests;

/// <summary>Pure parsing and naming: no kernel, no process.</summary>
public sealed class NetworkConfigTests
{
    [Fact]
    public void The_subnet_comes_from_the_top_level_ipam_subnet_or_hostlocal_ranges()
    {
        Assert.Equal(IPNetwork.Parse("10.1.0.0/24"), NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","subnet":"10.1.0.0/24"}""").Subnet);
        Assert.Equal(IPNetwork.Parse("10.2.0.0/16"), NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","ipam":{"subnet":"10.2.0.0/16"}}""").Subnet);
        var ranges = NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","ipam":{"ranges":[[{"subnet":"10.3.0.0/24","gateway":"10.3.0.254"}]]}}""");
        Assert.Equal(IPNetwork.Parse("10.3.0.0/24"), ranges.Subnet);
        Assert.Equal(IPAddress.Parse("10.3.0.254"), ranges.Gateway);
        Assert.Null(NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n"}""").Subnet);
    }

    [Theory]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","subnet":"fd00::/64"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","subnet":"banana"}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":70000,"containerPort":80}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"mac":"zz:zz"}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"ips":["10.0.0.300/24"]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"hostIP":"::1"}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"hostIP":"fd00::1"}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","ipam":{"ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.2.0.5"}]]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","ipam":{"subnet":"10.1.0.0/24","rangeStart":"10.1.0.9","rangeEnd":"10.1.0.5"}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","rangeEnd":"10.1.0.5"}""")]
    public void Invalid_values_are_invalid_network_config(string json)
    {
        var e = Assert.Throws<CniException>(() => NetworkConfig.Parse(json));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
    }

    [Fact]
    public void Port_mappings_as_the_kubelet_sends_them()
    {
        var config = NetworkConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","runtimeConfig":{"portMappings":[
              {"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""},
              {"hostPort":5353,"containerPort":53,"protocol":"UDP","hostIP":"0.0.0.0"},
              {"hostPort":9090,"containerPort":90,"hostIP":"127.0.0.1"}]}}
            """);
        Assert.Equal([
            new PortMapping(null, 8080, 80, PortProtocol.Tcp),
            new PortMapping(null, 5353, 53, PortProtocol.Udp),
            new PortMapping(IPAddress.Loopback, 9090, 90, PortProtocol.Tcp)], config.PortMappings);
    }

    [Fact]
    public void The_range_and_the_asked_for_addresses_come_from_ipam_args_and_cni_args()
    {
        var config = NetworkConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","args":{"cni":{"ips":["10.1.0.7"]}},"runtimeConfig":{"ips":["10.1.0.8/24"]},
             "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.1.0.5","rangeEnd":"10.1.0.9"}]]}}
            """);
        Assert.Equal([IPAddress.Parse("10.1.0.8"), IPAddress.Parse("10.1.0.7")], config.RequestedIps.Select(r => r.Address));
        Assert.Equal((IPAddress.Parse("10.1.0.5"), IPAddress.Parse("10.1.0.9")), (config.RangeStart, config.RangeEnd));
        Assert.True(config.InRange(IPAddress.Parse("10.1.0.9")));
        Assert.False(config.InRange(IPAddress.Parse("10.1.0.10")));
        Assert.Equal([IPAddress.Parse("10.1.0.3"), IPAddress.Parse("10.1.0.4")],
            CniArgs.RequestedIps("IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.1.0.3,10.1.0.4;K8S_POD_UID=x"));
        Assert.Empty(CniArgs.RequestedIps(null));
        Assert.Equal(CniErrorCode.InvalidEnvironment, Assert.Throws<CniException>(() => CniArgs.RequestedIps("IP=fd00::1")).Code);
        Assert.Equal(CniErrorCode.InvalidEnvironment, Assert.Throws<CniException>(() => CniArgs.RequestedIps("junk")).Code);
    }

    [Fact]
    public void The_previous_address_is_the_one_on_the_sandbox_interface()
    {
        var config = NetworkConfig.Parse("""
            {"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"1.0.0",
              "interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/run/netns/x"}],
              "ips":[{"address":"fd00::5/64","interface":2},{"address":"10.9.0.1/24","interface":0},
                     {"address":"10.9.0.7/24","gateway":"10.9.0.1","interface":2}]}}
            """);
        Assert.Equal(new PreviousAddress(IPAddress.Parse("10.9.0.7"), 24, IPAddress.Parse("10.9.0.1")), config.PreviousIpv4());
        Assert.Equal(["cni0", "veth1"], config.PreviousHostInterfaces());
    }

    [Fact]
    public void An_attachment_record_survives_a_round_trip()
    {
        var a = new Attachment("net", "ctr", "eth0", false, "br0", IPNetwork.Parse("10.1.0.0/24"), IPAddress.Parse("10.1.0.5"),
            IPAddress.Parse("10.1.0.1"), "bcni0123456789", "02:42:0a:01:00:05",
            [new PortMapping(null, 80, 8080, PortProtocol.Tcp), new PortMapping(IPAddress.Loopback, 53, 53, PortProtocol.Udp)]);
        var back = Attachment.FromJson(a.ToJson());
        Assert.Equal(a with { PortMappings = [] }, back with { PortMappings = [] });
        Assert.Equal(a.PortMappings, back.PortMappings);
        Assert.Equal("ctr\r\neth0", back.Owner);
    }

    [Fact]
    public void Names_stay_in_the_kernels_alphabets_and_lengths()
    {
        Assert.Equal("berth_cni_my_net_1", NetworkTable.TableName("My-Net.1"));
        Assert.True(NetworkTable.TableName(new string('x', 300)).Length <= 64);
        string veth = Attachment.HostVethFor("a-long-container-id", "eth0");
        Assert.Equal(14, veth.Length);
        Assert.NotEqual(veth, Attachment.HostVethFor("a-long-container-id", "eth1"));
    }

    [Fact]
    public void Only_the_spec_versions_it_speaks_are_accepted()
    {
        CniVersions.Require("0.4.0");
        CniVersions.Require("1.1.0");
        Assert.Equal(CniErrorCode.IncompatibleVersion, Assert.Throws<CniException>(() => CniVersions.Require("0.2.0")).Code);
        Assert.True(CniVersions.Before("0.4.0", "1.0.0"));
        Assert.False(CniVersions.Before("1.1.0", "1.0.0"));
    }
}
