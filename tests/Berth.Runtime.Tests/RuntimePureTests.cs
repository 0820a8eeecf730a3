using System.Text;
using System.Text.Json.Nodes;
using Berth.Runtime.Containers;
using Berth.Runtime.Images;
using Berth.Runtime.Oci;
using Xunit;

namespace Berth.Runtime.Tests;

public sealed class RuntimePureTests
{
    [Fact]
    public void Oci_spec_has_dockers_capabilities_and_no_rlimit_above_the_host()
    {
        var spec = new ContainerSpec { Id = new string('c', 64), BundleDirectory = "/b", Args = ["/bin/sh"], CapDrop = ["NET_RAW"], CapAdd = ["NET_ADMIN"], NetworkNamespacePath = "/run/x" };
        var json = JsonNode.Parse(OciSpecBuilder.Build(spec, "/b/rootfs", hostNofileHardLimit: 20000))!;
        var caps = json["process"]!["capabilities"]!["bounding"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        Assert.Contains("CAP_NET_ADMIN", caps);
        Assert.DoesNotContain("CAP_NET_RAW", caps);
        Assert.Contains("CAP_CHOWN", caps);
        Assert.Equal(20000UL, json["process"]!["rlimits"]![0]!["hard"]!.GetValue<ulong>());
        Assert.Contains(json["linux"]!["namespaces"]!.AsArray(), n => n!["path"]?.GetValue<string>() == "/run/x");
    }

    [Fact]
    public void Import_changes_set_the_image_config()
    {
        var config = new ImageConfig();
        ImageChanges.Apply(config, "CMD [\"/bin/httpd\",\"-f\"]");
        ImageChanges.Apply(config, "EXPOSE 80 7000-7001/udp");
        ImageChanges.Apply(config, "ENV A=1 B=\"two words\"");
        ImageChanges.Apply(config, "ENTRYPOINT echo hi");
        Assert.Equal(["/bin/httpd", "-f"], config.Cmd);
        Assert.Equal(["80/tcp", "7000/udp", "7001/udp"], config.ExposedPorts!.Keys);
        Assert.Equal(["A=1", "B=two words"], config.Env);
        Assert.Equal(["/bin/sh", "-c", "echo hi"], config.Entrypoint);
        Assert.Throws<ImageException>(() => ImageChanges.Apply(config, "RUN rm -rf /"));
        Assert.Throws<ImageException>(() => ImageChanges.Apply(config, "EXPOSE 80/xyz"));
    }

    [Theory]
    [InlineData("webapp", "webapp:latest")]
    [InlineData("docker.io/library/webapp:v1", "webapp:v1")]
    public void Tags_are_normalized(string given, string expected) => Assert.Equal(expected, ImageStore.NormalizeTag(given));

    [Fact]
    public void Invalid_references_are_refused() => Assert.Throws<ImageException>(() => ImageStore.NormalizeTag("Bad Name"));
}
