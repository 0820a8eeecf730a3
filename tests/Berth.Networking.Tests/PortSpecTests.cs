using Berth.Networking.Firewall;
using Berth.Networking.Netlink;
using Berth.Networking.Ports;
using System.Net;
using Xunit;

namespace Berth.Networking.Tests;

public sealed class PortSpecTests
{
    [Fact]
    public void Parses_the_forms_the_docker_cli_accepts()
    {
        var parsed = PortSpecParser.Parse(["8080:80", "127.0.0.1::9000/udp", "8000-8002:80-82", "[::1]:9090:90", "0:91"], ["7000-7001"]);
        Assert.Equal("8080", parsed.PortBindings[new ContainerPort(80, PortProtocol.Tcp)][0].HostPort);
        Assert.Equal(new PortBindingRequest("127.0.0.1", ""), parsed.PortBindings[new ContainerPort(9000, PortProtocol.Udp)][0]);
        Assert.Equal("8002", parsed.PortBindings[new ContainerPort(82, PortProtocol.Tcp)][0].HostPort);
        Assert.Equal("::1", parsed.PortBindings[new ContainerPort(90, PortProtocol.Tcp)][0].HostIp);
        Assert.Contains(new ContainerPort(7001, PortProtocol.Tcp), parsed.ExposedPorts);
        // Host port 0 is "any free port", as dockerd reads it (`docker run -p 0:80`).
        Assert.Equal("0", parsed.PortBindings[new ContainerPort(91, PortProtocol.Tcp)][0].HostPort);
        PortSpecParser.Validate(new Dictionary<string, IReadOnlyList<PortBindingRequest>?> { ["80/tcp"] = [new PortBindingRequest("", "0")] }, null);
        Assert.True(PortSpecParser.IsEphemeral("0") && PortSpecParser.IsEphemeral("") && !PortSpecParser.IsEphemeral("0-5"));
    }

    [Theory]
    [InlineData("-1:80", "invalid hostPort")]
    [InlineData("70000:80", "invalid hostPort: 70000")]
    [InlineData("8080:80/xyz", "invalid proto: xyz")]
    [InlineData("1.2.3:8080:80", "invalid ip address: 1.2.3")]
    [InlineData("8000-8002:80-90", "invalid ranges specified")]
    public void Refuses_bad_specs_with_a_clear_message(string spec, string message)
    {
        var error = Assert.Throws<PortSpecException>(() => PortSpecParser.Parse([spec], []));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Renders_publications_as_map_elements()
    {
        var pubs = new[]
        {
            new PortPublication("c1", null, PortProtocol.Tcp, 8080, IPAddress.Parse("10.1.0.2"), 80, "bb0"),
            new PortPublication("c1", IPAddress.Parse("127.0.0.1"), PortProtocol.Udp, 9000, IPAddress.Parse("10.1.0.2"), 9000, "bb0"),
        };
        Assert.Equal("add element ip t published_any { tcp . 8080 : 10.1.0.2 . 80 }\nadd element ip t published_addr { 127.0.0.1 . udp . 9000 : 10.1.0.2 . 9000 }\n"
            + "add element ip t published_direct { 10.1.0.2 . tcp . 80 }\n",
            RulesetRenderer.RenderAddPublications("t", pubs));
        string table = RulesetRenderer.RenderTable("t", [new NetworkFirewallSpec("bb0", IPNetwork.Parse("10.1.0.0/24"))], pubs);
        Assert.Contains("elements = { tcp . 8080 : 10.1.0.2 . 80 }", table);
        Assert.Contains("oifname \"bb0\" ip saddr 127.0.0.0/8 masquerade", table);
        Assert.Contains("iifname != \"lo\" ip daddr 127.0.0.0/8 drop", table);
    }

    [Fact]
    public void Netlink_attributes_are_padded_and_nested()
    {
        var bytes = new NetlinkMessageWriter(16, 5).BeginNested(18).Attribute(1, "veth").EndNested().ToArray(7);
        Assert.Equal(16 + 4 + 12, bytes.Length);
        Assert.Equal(32, BitConverter.ToInt32(bytes, 0));
        Assert.Equal(7u, BitConverter.ToUInt32(bytes, 8));
        Assert.Equal(16, BitConverter.ToUInt16(bytes, 16));
        Assert.Equal(18 | 0x8000, BitConverter.ToUInt16(bytes, 18));
        Assert.Equal("veth", NetlinkAttributes.String(NetlinkAttributes.Parse(bytes.AsSpan(20))[1]));
    }
}
