using System.Text.Json.Nodes;
using Berth.Cli.Client;
using Xunit;

namespace Berth.Cli.Tests;

public sealed class TemplateTests
{
    private static readonly JsonNode Container = JsonNode.Parse("""
        {"Id":"abc","Name":"/web","Args":["-f","-p"],"State":{"Status":"running","Running":true,"Pid":42,"ExitCode":0},
         "Config":{"Cmd":["/bin/httpd","-f"],"Env":null,"Labels":{"b":"2","a":"1"},"ExposedPorts":{"80/tcp":{}}},
         "HostConfig":{"Binds":null,"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}},
         "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"81/tcp":null},
           "Networks":{"mynet":{"IPAddress":"10.1.0.2","Aliases":["web"]},"bridge":{"IPAddress":"10.0.0.2","Aliases":null}}}}
        """)!;

    private static string Run(string template, JsonNode? data = null, bool missingKeyError = false) =>
        GoTemplate.Parse(template).Execute(data ?? Container, missingKeyError: missingKeyError);

    [Theory]
    [InlineData("{{.Id}}", "abc")]
    [InlineData("{{.Name}} {{.State.Pid}}", "/web 42")]
    [InlineData("{{.State.Running}}", "true")]
    [InlineData("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "10.0.0.2 10.1.0.2 ")]
    [InlineData("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}", "bridge=10.0.0.2;mynet=10.1.0.2;")]
    [InlineData("{{range $i, $a := .Args}}{{$i}}{{$a}}{{end}}", "0-f1-p")]
    [InlineData("{{json .Config.Cmd}}", "[\"/bin/httpd\",\"-f\"]")]
    [InlineData("{{json .Config.Labels}}", "{\"b\":\"2\",\"a\":\"1\"}")]
    [InlineData("{{.Config.Labels}}", "map[a:1 b:2]")]
    [InlineData("{{.HostConfig.PortBindings}}", "map[80/tcp:[{ 8080}]]")]
    [InlineData("{{.NetworkSettings.Ports}}", "map[80/tcp:[{0.0.0.0 8080} {:: 8080}] 81/tcp:[]]")]
    [InlineData("{{.Config.ExposedPorts}}", "map[80/tcp:{}]")]
    [InlineData("{{.Config.Env}} {{.HostConfig.Binds}}", "[] []")]
    [InlineData("{{.Config.Cmd}}", "[/bin/httpd -f]")]
    [InlineData("{{join .Config.Cmd \" \"}}", "/bin/httpd -f")]
    [InlineData("{{index .Config.Labels \"a\"}}{{index .Config.Labels \"zz\"}}", "1")]
    [InlineData("{{if .State.Running}}up{{else}}down{{end}}", "up")]
    [InlineData("{{if eq .State.Status \"exited\"}}x{{else if eq .State.Status \"running\"}}r{{else}}?{{end}}", "r")]
    [InlineData("{{with .State}}{{.Status}}{{end}}", "running")]
    [InlineData("{{.State.Status | upper}}", "RUNNING")]
    [InlineData("{{printf \"%s:%d\" .Name .State.Pid}}", "/web:42")]
    [InlineData("{{len .Args}} {{lower \"AB\"}} {{title \"ab cd\"}}", "2 ab Ab Cd")]
    [InlineData("{{range .Nothing}}x{{else}}empty{{end}}", "empty")]
    [InlineData("{{$n := .Name}}{{$n}}", "/web")]
    [InlineData("a {{- \" b \" -}} c", "a b c")]
    [InlineData("{{/* comment */}}x", "x")]
    [InlineData("{{.Nope}}", "<no value>")]
    [InlineData("{{(index .Args 1)}}", "-p")]
    public void Evaluates_the_go_template_subset(string template, string expected) => Assert.Equal(expected, Run(template));

    [Fact]
    public void Inspect_mode_reports_missing_keys_as_go_does()
    {
        var e = Assert.Throws<TemplateException>(() => Run("{{.Id}} {{.A.B}}", missingKeyError: true));
        Assert.Equal("template: :1:12: executing \"\" at <.A.B>: map has no entry for key \"A\"", e.Message);
        e = Assert.Throws<TemplateException>(() => Run("{{.Nope}}", missingKeyError: true));
        Assert.Equal("template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"", e.Message);
    }

    [Theory]
    [InlineData("{{.Id")]
    [InlineData("{{if .X}}no end")]
    [InlineData("{{nosuchfunc .X}}")]
    public void Bad_templates_fail(string template) =>
        Assert.Throws<TemplateException>(() => GoTemplate.Parse(template).Execute(Container));

    [Fact]
    public void Header_mode_renders_field_names_and_passes_through_functions()
    {
        var header = new Dictionary<string, object?> { ["Names"] = "NAMES", ["Ports"] = "PORTS" };
        Assert.Equal("NAMES PORTS", GoTemplate.Parse("{{upper .Names}} {{json .Ports}}").Execute(header, header: true));
    }

    [Fact]
    public void Dictionaries_reject_unknown_fields_like_typed_contexts()
    {
        var row = new Dictionary<string, object?> { ["ID"] = "x" };
        Assert.Throws<TemplateException>(() => GoTemplate.Parse("{{.Nope}}").Execute(row));
        Assert.Equal("x", GoTemplate.Parse("{{.ID}}").Execute(row));
    }
}
