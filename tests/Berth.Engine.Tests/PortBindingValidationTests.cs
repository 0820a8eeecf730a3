using Berth.Engine.Model;
using Berth.Engine.Networks;
using Xunit;

namespace Berth.Engine.Tests;

public sealed class PortBindingValidationTests
{
    [Fact]
    public void A_null_binding_item_is_an_empty_binding_not_a_crash()
    {
        var parsed = PortPublisher.ValidateAndParse(new() { ["80/tcp"] = [null!] }, null);
        var binding = Assert.Single(Assert.Single(parsed).Value);
        Assert.Equal(("", ""), (binding.HostIp, binding.HostPort));
    }

    [Theory]
    [InlineData("80/tcp", "99999")]
    [InlineData("80/tcp", "-1")]
    [InlineData("99999/tcp", "8080")]
    [InlineData("80/sctpx", "8080")]
    public void Out_of_range_ports_are_a_bad_request(string port, string hostPort) =>
        Assert.Throws<BadRequestException>(() =>
            PortPublisher.ValidateAndParse(new() { [port] = [new PortBinding { HostPort = hostPort }] }, null));
}
