using System.Text.Json.Nodes;
using Berth.Cli.Client;
using Xunit;
using static Berth.Cli.Client.Formatting;

namespace Berth.Cli.Tests;

public sealed class FormattingTests
{
    private static PortItem P(string ip, int priv, int pub, string type = "tcp") => new(ip, priv, pub, type);

    [Fact]
    public void A_default_binding_shows_both_families()
    {
        Assert.Equal("0.0.0.0:8080->80/tcp, [::]:8080->80/tcp", DisplayablePorts([P("::", 80, 8080), P("0.0.0.0", 80, 8080)]));
    }

    [Fact]
    public void Exposed_only_ports_show_without_address_and_ranges_collapse()
    {
        Assert.Equal("80/tcp", DisplayablePorts([P("", 80, 0)]));
        Assert.Equal("7000-7002/tcp", DisplayablePorts([P("", 7002, 0), P("", 7000, 0), P("", 7001, 0)]));
        Assert.Equal("7000/tcp, 7002/tcp", DisplayablePorts([P("", 7002, 0), P("", 7000, 0)]));
    }

    [Fact]
    public void Same_public_and_private_ports_collapse_into_ranges_per_address()
    {
        Assert.Equal("0.0.0.0:8000-8002->8000-8002/tcp, [::]:8000-8002->8000-8002/tcp",
            DisplayablePorts([P("0.0.0.0", 8000, 8000), P("::", 8000, 8000), P("0.0.0.0", 8001, 8001), P("::", 8001, 8001), P("0.0.0.0", 8002, 8002), P("::", 8002, 8002)]));
    }

    [Fact]
    public void Mappings_to_other_ports_are_listed_one_by_one_after_the_groups()
    {
        // As docker 28 prints `-p 18200-18202:80-82/udp --expose 7000-7002` with EXPOSE 80 (checked against the docker CLI).
        var ports = new List<PortItem> { P("", 80, 0), P("", 7000, 0), P("", 7001, 0), P("", 7002, 0), P("127.0.0.1", 9000, 53721) };
        foreach (int i in new[] { 0, 1, 2 })
        {
            ports.Add(P("0.0.0.0", 80 + i, 18200 + i, "udp"));
            ports.Add(P("::", 80 + i, 18200 + i, "udp"));
            ports.Add(P("0.0.0.0", 18100 + i, 18100 + i));
            ports.Add(P("::", 18100 + i, 18100 + i));
        }
        Assert.Equal("80/tcp, 7000-7002/tcp, 0.0.0.0:18100-18102->18100-18102/tcp, [::]:18100-18102->18100-18102/tcp, " +
                     "0.0.0.0:18200->80/udp, [::]:18200->80/udp, 0.0.0.0:18201->81/udp, [::]:18201->81/udp, 0.0.0.0:18202->82/udp, " +
                     "[::]:18202->82/udp, 127.0.0.1:53721->9000/tcp", DisplayablePorts(ports));
    }

    [Fact]
    public void Port_items_are_read_from_the_list_reply()
    {
        var json = JsonNode.Parse("""[{"IP":"::1","PrivatePort":80,"PublicPort":9090,"Type":"tcp"},{"PrivatePort":53,"Type":"udp"}]""");
        Assert.Equal("53/udp, [::1]:9090->80/tcp", DisplayablePorts(PortItems(json)));
    }

    [Fact]
    public void Port_lines_are_natural_sorted_and_v6_bracketed()
    {
        var ports = JsonNode.Parse("""
            {"80/udp":[{"HostIp":"0.0.0.0","HostPort":"18200"}],"18100/tcp":[{"HostIp":"0.0.0.0","HostPort":"18100"},{"HostIp":"::","HostPort":"18100"}],
             "9000/tcp":[{"HostIp":"127.0.0.1","HostPort":"53721"}],"7000/tcp":null}
            """);
        Assert.Equal(["80/udp -> 0.0.0.0:18200", "9000/tcp -> 127.0.0.1:53721", "18100/tcp -> 0.0.0.0:18100", "18100/tcp -> [::]:18100"], PortLines(ports, null)!);
        Assert.Equal(["0.0.0.0:18100", "[::]:18100"], PortLines(ports, "18100")!);
        Assert.Equal(["0.0.0.0:18200"], PortLines(ports, "80/udp")!);
        Assert.Null(PortLines(ports, "7000"));
        Assert.Null(PortLines(ports, "80"));
    }

    [Theory]
    [InlineData(0.4, "Less than a second")]
    [InlineData(1, "1 second")]
    [InlineData(3, "3 seconds")]
    [InlineData(59, "59 seconds")]
    [InlineData(60, "About a minute")]
    [InlineData(119, "About a minute")]
    [InlineData(120, "2 minutes")]
    [InlineData(3599, "59 minutes")]
    [InlineData(3600, "About an hour")]
    [InlineData(5400, "2 hours")]
    [InlineData(47 * 3600, "47 hours")]
    [InlineData(48 * 3600, "2 days")]
    [InlineData(14 * 86400, "2 weeks")]
    [InlineData(60 * 86400, "2 months")]
    [InlineData(800 * 86400, "2 years")]
    public void Durations_read_like_go_units(double seconds, string expected) =>
        Assert.Equal(expected, HumanDuration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Ago_and_zero_times()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
        Assert.Equal("5 seconds ago", Ago(1_000_000 - 5, now));
        Assert.Equal("N/A", Ago(0, now));
    }

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(999, "999B")]
    [InlineData(1000, "1kB")]
    [InlineData(1_980_000, "1.98MB")]
    [InlineData(1_234_567_890, "1.23GB")]
    [InlineData(7_800_000, "7.8MB")]
    public void Sizes_use_three_significant_digits(long size, string expected) => Assert.Equal(expected, HumanSize(size));

    [Fact]
    public void Memory_sizes_are_binary() => Assert.Equal("23.54GiB", BytesSize(25_275_000_000));

    [Fact]
    public void Ids_commands_and_images_are_shortened_like_ps()
    {
        Assert.Equal("2265a0187bab", ShortId("2265a0187bab01093d0220d6d969422d6ba055686636b40c09e63846b0ce488c"));
        Assert.Equal("5123a6e66010", ShortId("sha256:5123a6e66010dc40a2d936f04e7b25398de25de3100de6c801932acfc5a8fd80"));
        Assert.Equal("\"/bin/httpd -f -p 80…\"", GoQuote(Ellipsis("/bin/httpd -f -p 80 -h /www", 20)));
        Assert.Equal("\"sh -c \\\"echo\\\"\\n\"", GoQuote("sh -c \"echo\"\n"));
        Assert.Equal("webapp", PsImage("docker.io/library/webapp", "sha256:1", true));
        Assert.Equal("5123a6e66010", PsImage("sha256:5123a6e66010dc40a2d9", "sha256:5123a6e66010dc40a2d9", true));
        Assert.Equal("webapp:noexpose", PsImage("webapp:noexpose", "sha256:1", true));
    }

    [Fact]
    public void Tables_align_like_go_tabwriter()
    {
        string text = "CONTAINER ID\tNAMES\tPORTS\nabc\tweb\t\nabcdef\tv\t80/tcp\n";
        Assert.Equal("CONTAINER ID   NAMES     PORTS\nabc            web       \nabcdef         v         80/tcp\n", TabWrite(text));
    }

    [Fact]
    public void Inspect_json_is_indented_like_go_json_indent()
    {
        string json = """{"Id":"x","Args":[],"Labels":{},"Ports":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"S":"a,b:{c}\"d"}""";
        Assert.Equal("""
            {
                "Id": "x",
                "Args": [],
                "Labels": {},
                "Ports": {
                    "80/tcp": [
                        {
                            "HostIp": "",
                            "HostPort": "8080"
                        }
                    ]
                },
                "S": "a,b:{c}\"d"
            }
            """.ReplaceLineEndings("\n"), IndentJson(json));
    }

    [Fact]
    public void Natural_order_compares_numbers_by_value()
    {
        Assert.True(NaturalCompare("80/tcp", "9000/tcp") < 0);
        Assert.True(NaturalCompare("9000/tcp", "18100/tcp") < 0);
        Assert.True(NaturalCompare("a2", "a10") < 0);
        Assert.Equal(0, NaturalCompare("x1", "x1"));
    }

    [Fact]
    public void References_split_into_repository_and_tag()
    {
        Assert.Equal(("webapp", "v2"), SplitReference("webapp:v2"));
        Assert.Equal(("localhost:5000/team/app", "1.0"), SplitReference("localhost:5000/team/app:1.0"));
        Assert.Equal(("localhost:5000/app", ""), SplitReference("localhost:5000/app"));
        Assert.Equal("docker.io/library/webapp", NormalizeRepo("webapp"));
        Assert.Equal("docker.io/me/app", NormalizeRepo("me/app"));
        Assert.Equal("localhost:5000/team/app", NormalizeRepo("localhost:5000/team/app"));
    }

    [Fact]
    public void Ps_rows_are_computed_from_the_list_reply()
    {
        var item = JsonNode.Parse("""
            {"Id":"e182514e3367ec2cc92aa7a9c8ae5ad1c2b03750b2a3ea61805c16158e74b83b","Names":["/web"],"Image":"webapp:expose",
             "ImageID":"sha256:854c","Command":"/bin/httpd -f -p 80 -h /www","Created":1000,"Labels":{"b":"2","a":"1"},
             "Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":32769,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":32769,"Type":"tcp"}],
             "State":"running","Status":"Up 1 second","NetworkSettings":{"Networks":{"bridge":{},"mynet":{}}},"Mounts":[]}
            """)!;
        var row = Containers.PsRow(item, trunc: true, DateTimeOffset.FromUnixTimeSeconds(1003));
        Assert.Equal("e182514e3367", row["ID"]);
        Assert.Equal("web", row["Names"]);
        Assert.Equal("\"/bin/httpd -f -p 80…\"", row["Command"]);
        Assert.Equal("3 seconds ago", row["RunningFor"]);
        Assert.Equal("0.0.0.0:32769->80/tcp, [::]:32769->80/tcp", row["Ports"]);
        Assert.Equal("a=1,b=2", row["Labels"]);
        Assert.Equal("bridge,mynet", row["Networks"]);
        Assert.Equal("running", row["State"]);
        string table = Berth.Cli.Client.Cli.Render(Containers.DefaultPsFormat, [row], Containers.PsHeader);
        Assert.Equal(
            "CONTAINER ID   IMAGE           COMMAND                  CREATED         STATUS        PORTS                                       NAMES\n" +
            "e182514e3367   webapp:expose   \"/bin/httpd -f -p 80…\"   3 seconds ago   Up 1 second   0.0.0.0:32769->80/tcp, [::]:32769->80/tcp   web\n",
            table);
        Assert.Equal("web 1\n", Berth.Cli.Client.Cli.Render("{{.Names}} {{.Label \"a\"}}", [row], Containers.PsHeader));
        Assert.Equal("NAMES     LABEL\nweb       1\n", Berth.Cli.Client.Cli.Render("table {{.Names}}\\t{{.Label \"a\"}}", [row], Containers.PsHeader));
    }
}
