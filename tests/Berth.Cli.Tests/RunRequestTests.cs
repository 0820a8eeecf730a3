using System.Text.Json.Nodes;
using Berth.Cli.Client;
using Xunit;

namespace Berth.Cli.Tests;

public sealed class RunRequestTests
{
    private static string Bindings(params string[] specs)
    {
        var (exposed, bindings) = RunRequest.ParsePorts(specs, []);
        return string.Join(" ", exposed) + " | " + string.Join(" ", bindings.Select(kv => kv.Key + "=" + string.Join(",", kv.Value.Select(b => $"{b.HostIp}/{b.HostPort}"))));
    }

    [Theory]
    [InlineData("8080:80", "80/tcp | 80/tcp=/8080")]
    [InlineData("127.0.0.1:8080:80", "80/tcp | 80/tcp=127.0.0.1/8080")]
    [InlineData("127.0.0.1::80", "80/tcp | 80/tcp=127.0.0.1/")]
    [InlineData("80", "80/tcp | 80/tcp=/")]
    [InlineData("8000-8002:80-82", "80/tcp 81/tcp 82/tcp | 80/tcp=/8000 81/tcp=/8001 82/tcp=/8002")]
    [InlineData("8000-8010:80", "80/tcp | 80/tcp=/8000-8010")]
    [InlineData("53:53/udp", "53/udp | 53/udp=/53")]
    [InlineData("9000:9000/sctp", "9000/sctp | 9000/sctp=/9000")]
    [InlineData("[::1]:8080:80", "80/tcp | 80/tcp=::1/8080")]
    [InlineData("[::1]::80", "80/tcp | 80/tcp=::1/")]
    [InlineData("8000-8002:80-82/UDP", "80/udp 81/udp 82/udp | 80/udp=/8000 81/udp=/8001 82/udp=/8002")]
    public void Publish_specs_become_exposed_ports_and_bindings_like_docker(string spec, string expected) =>
        Assert.Equal(expected, Bindings(spec));

    [Fact]
    public void A_port_published_twice_gets_both_bindings_and_expose_adds_ranges()
    {
        var (exposed, bindings) = RunRequest.ParsePorts(["8080:80", "127.0.0.1:9090:80"], ["7000-7002", "53/udp"]);
        Assert.Equal(["53/udp", "7000/tcp", "7001/tcp", "7002/tcp", "80/tcp"], exposed);
        Assert.Equal(2, bindings["80/tcp"].Count);
    }

    [Theory]
    [InlineData("99999:80", "invalid hostPort: 99999")]
    [InlineData("1.2.3:80:80", "invalid IP address: 1.2.3")]
    [InlineData("80:80:80:80", "invalid IP address: 80:80")]
    [InlineData("8000-8001:80-85", "invalid ranges specified for container and host Ports: 80-85 and 8000-8001")]
    [InlineData("80/foo", "invalid proto: foo")]
    [InlineData("8080:", "no port specified: 8080:<empty>")]
    [InlineData("8080:abc", "invalid containerPort: abc")]
    [InlineData("90-80", "invalid containerPort: 90-80")]
    public void Bad_publish_specs_fail_with_docker_messages_and_125(string spec, string message)
    {
        var e = Assert.Throws<CliException>(() => RunRequest.ParsePorts([spec], []));
        Assert.Equal(message, e.Message);
        Assert.Equal(125, e.ExitCode);
    }

    [Fact]
    public void Bad_expose_specs_fail()
    {
        Assert.Equal("invalid port format for --expose: 1:2", Assert.Throws<CliException>(() => RunRequest.ParsePorts([], ["1:2"])).Message);
        Assert.StartsWith("invalid range format for --expose: x", Assert.Throws<CliException>(() => RunRequest.ParsePorts([], ["x"])).Message);
    }

    /// <summary>The body the docker CLI 28.2.2 sent for `docker run --rm -d --name flask -p 8080:80 webapp:noexpose`
    /// (shared/reference/docker-cli-28.2-traffic.log).</summary>
    private const string DockerFlaskBody = """
        {"AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Cmd": null, "Domainname": "", "Entrypoint": null, "Env": null, "ExposedPorts": {"80/tcp": {}}, "Hostname": "", "Image": "webapp:noexpose", "Labels": {}, "OnBuild": null, "OpenStdin": false, "StdinOnce": false, "Tty": false, "User": "", "Volumes": {}, "WorkingDir": "",
         "HostConfig": {"AutoRemove": true, "Binds": null, "BlkioDeviceReadBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceWriteIOps": [], "BlkioWeight": 0, "BlkioWeightDevice": [], "CapAdd": null, "CapDrop": null, "Cgroup": "", "CgroupParent": "", "CgroupnsMode": "", "ConsoleSize": [0, 0], "ContainerIDFile": "", "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpuShares": 0, "CpusetCpus": "", "CpusetMems": "", "DeviceCgroupRules": null, "DeviceRequests": null, "Devices": [], "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null, "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "IpcMode": "", "Isolation": "", "Links": null, "LogConfig": {"Config": {}, "Type": ""}, "MaskedPaths": null, "Memory": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1, "NanoCpus": 0, "NetworkMode": "default", "OomKillDisable": false, "OomScoreAdj": 0, "PidMode": "", "PidsLimit": 0, "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Privileged": false, "PublishAllPorts": false, "ReadonlyPaths": null, "ReadonlyRootfs": false, "RestartPolicy": {"MaximumRetryCount": 0, "Name": "no"}, "SecurityOpt": null, "ShmSize": 0, "UTSMode": "", "Ulimits": [], "UsernsMode": "", "VolumeDriver": "", "VolumesFrom": null},
         "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": null, "DNSNames": null, "DriverOpts": null, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "GwPriority": 0, "IPAMConfig": null, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "Links": null, "MacAddress": "", "NetworkID": ""}}}}
        """;

    [Fact]
    public void The_create_body_is_the_one_the_docker_cli_sends()
    {
        var body = RunRequest.Build(new RunSettings { Image = "webapp:noexpose", Detach = true, AutoRemove = true, Name = "flask", Publish = ["8080:80"] });
        var expected = JsonNode.Parse(DockerFlaskBody)!;
        Assert.Equal(Canonical(expected), Canonical(body));
    }

    [Fact]
    public void Attached_interactive_runs_set_the_stdio_flags_and_options_map_to_config()
    {
        var body = RunRequest.Build(new RunSettings
        {
            Image = "alpine", Command = ["sh", "-c", "exit 3"], Interactive = true, Tty = true, PublishAll = true, Expose = ["7000-7001"],
            Env = ["A=1"], Labels = ["k=v", "flag"], Network = "mynet", NetworkAliases = ["web"], Hostname = "h", Entrypoint = "",
            WorkingDir = "/w", User = "nobody", Restart = "on-failure:3",
        });
        Assert.True(body["AttachStdin"]!.GetValue<bool>() && body["AttachStdout"]!.GetValue<bool>() && body["StdinOnce"]!.GetValue<bool>());
        Assert.True(body["OpenStdin"]!.GetValue<bool>() && body["Tty"]!.GetValue<bool>());
        Assert.Equal("""["sh","-c","exit 3"]""", body["Cmd"]!.ToJsonString());
        Assert.Equal("""[""]""", body["Entrypoint"]!.ToJsonString());
        Assert.Equal("""["A=1"]""", body["Env"]!.ToJsonString());
        Assert.Equal("""{"k":"v","flag":""}""", body["Labels"]!.ToJsonString());
        Assert.Equal("""{"7000/tcp":{},"7001/tcp":{}}""", body["ExposedPorts"]!.ToJsonString());
        Assert.True(body["HostConfig"]!["PublishAllPorts"]!.GetValue<bool>());
        Assert.Equal("{}", body["HostConfig"]!["PortBindings"]!.ToJsonString());
        Assert.Equal("mynet", body["HostConfig"]!["NetworkMode"]!.GetValue<string>());
        Assert.Equal("""["web"]""", body["NetworkingConfig"]!["EndpointsConfig"]!["mynet"]!["Aliases"]!.ToJsonString());
        Assert.Equal("""{"Name":"on-failure","MaximumRetryCount":3}""", body["HostConfig"]!["RestartPolicy"]!.ToJsonString());
        Assert.Equal(("h", "/w", "nobody"), (body["Hostname"]!.GetValue<string>(), body["WorkingDir"]!.GetValue<string>(), body["User"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData("exec: \"nosuch\": executable file not found in $PATH", 127)]
    [InlineData("open /x: permission denied", 126)]
    [InlineData("Bind for 0.0.0.0:8080 failed: port is already allocated", 125)]
    public void Start_failures_map_to_docker_exit_codes(string message, int code) => Assert.Equal(code, Containers.StartFailureCode(message));

    [Fact]
    public void Options_after_the_image_belong_to_the_command()
    {
        var root = new System.CommandLine.RootCommand();
        foreach (var c in ClientCommands.Create()) root.Subcommands.Add(c);
        Assert.Equal(["run", "-d", "-p", "80", "--name", "x", "img", "--", "sh", "-c", "exit 3"],
            ClientCommands.PrepareArgs(["run", "-d", "-p", "80", "--name", "x", "img", "sh", "-c", "exit 3"], root));
        Assert.Equal(["run", "-it", "--rm", "-e=A=1", "img", "--", "-x"], ClientCommands.PrepareArgs(["run", "-it", "--rm", "-e=A=1", "img", "-x"], root));
        Assert.Equal(["exec", "-i", "web", "--", "ls", "-l"], ClientCommands.PrepareArgs(["exec", "-i", "web", "ls", "-l"], root));
        Assert.Equal(["ps", "-a"], ClientCommands.PrepareArgs(["ps", "-a"], root));
        var parsed = root.Parse(ClientCommands.PrepareArgs(["run", "--rm", "img", "sh", "-c", "exit 3"], root));
        Assert.Empty(parsed.Errors);
    }

    [Fact]
    public void Exec_create_body_matches_the_docker_cli()
    {
        var body = Exec.BuildCreateBody(["ls", "/"], [], null, null, tty: false, attachStdin: false, attachOutput: true, privileged: false, (0, 0));
        Assert.Equal("""{"User":"","Privileged":false,"Tty":false,"ConsoleSize":null,"AttachStdin":false,"AttachStderr":true,"AttachStdout":true,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["ls","/"]}""",
            body.ToJsonString());
    }

    // The expected values below are what the docker CLI 28.2.2 sent for the same flags (driven against a logging
    // server on a unix socket).

    [Fact]
    public void Security_opts_pass_through_and_a_seccomp_file_is_sent_as_its_compacted_json()
    {
        string dir = Directory.CreateTempSubdirectory("berth-clisec-").FullName;
        try
        {
            string profile = Path.Combine(dir, "profile.json");
            File.WriteAllText(profile, "{ \"defaultAction\" : \"SCMP_ACT_ALLOW\",\n  \"names\": [ \"a b\\u003c\" ] }\n");
            var host = RunRequest.Build(new RunSettings
            {
                Image = "alpine",
                SecurityOpt = ["no-new-privileges", $"seccomp={profile}", "apparmor:foo", "seccomp=unconfined", "seccomp:builtin", "label=disable"],
            })["HostConfig"]!;
            Assert.Equal("""["no-new-privileges","seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"names\":[\"a b\\u003c\"]}","apparmor:foo","seccomp=unconfined","seccomp:builtin","label=disable"]""",
                host["SecurityOpt"]!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            Assert.Equal("seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
                RunSecurityOptions.Parse([$"seccomp:{profile}"], _ => "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}"u8.ToArray()).Options[0]);
            Assert.Null(host["MaskedPaths"]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Systempaths_unconfined_is_not_sent_but_empties_masked_and_readonly_paths()
    {
        var host = RunRequest.Build(new RunSettings { Image = "alpine", SecurityOpt = ["systempaths=unconfined", "label=disable"] })["HostConfig"]!;
        Assert.Equal("""["label=disable"]""", host["SecurityOpt"]!.ToJsonString());
        Assert.Equal(("[]", "[]"), (host["MaskedPaths"]!.ToJsonString(), host["ReadonlyPaths"]!.ToJsonString()));
        var none = RunRequest.Build(new RunSettings { Image = "alpine" })["HostConfig"]!;
        Assert.Null(none["SecurityOpt"]);
    }

    [Theory]
    [InlineData("bogus", "Invalid --security-opt: \"bogus\"")]
    [InlineData("seccomp=", "Invalid --security-opt: \"seccomp=\"")]
    [InlineData("label", "Invalid --security-opt: \"label\"")]
    public void Security_opts_without_a_value_fail_as_in_docker(string option, string message)
    {
        var e = Assert.Throws<CliException>(() => RunRequest.Build(new RunSettings { Image = "alpine", SecurityOpt = [option] }));
        Assert.Equal((message, 125), (e.Message, e.ExitCode));
    }

    [Fact]
    public void A_missing_or_broken_seccomp_profile_fails_before_anything_is_sent()
    {
        string dir = Directory.CreateTempSubdirectory("berth-clisec-").FullName;
        try
        {
            string missing = Path.Combine(dir, "nonexist.json"), broken = Path.Combine(dir, "bad.json");
            File.WriteAllText(broken, "{bad");
            var e = Assert.Throws<CliException>(() => RunSecurityOptions.Parse([$"seccomp={missing}"]));
            Assert.Equal(($"opening seccomp profile ({missing}) failed: open {missing}: no such file or directory", 125), (e.Message, e.ExitCode));
            e = Assert.Throws<CliException>(() => RunSecurityOptions.Parse([$"seccomp={dir}"]));
            Assert.Equal($"opening seccomp profile ({dir}) failed: read {dir}: is a directory", e.Message);
            e = Assert.Throws<CliException>(() => RunSecurityOptions.Parse([$"seccomp={broken}"]));
            Assert.StartsWith($"compacting json for seccomp profile ({broken}) failed: ", e.Message);
            Assert.Equal(125, e.ExitCode);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Privileged_read_only_and_user_go_into_the_body()
    {
        var body = RunRequest.Build(new RunSettings { Image = "alpine", Privileged = true, ReadOnly = true, User = "1000:1000" });
        Assert.True(body["HostConfig"]!["Privileged"]!.GetValue<bool>());
        Assert.True(body["HostConfig"]!["ReadonlyRootfs"]!.GetValue<bool>());
        Assert.Equal("1000:1000", body["User"]!.GetValue<string>());
        var plain = RunRequest.Build(new RunSettings { Image = "alpine" });
        Assert.False(plain["HostConfig"]!["Privileged"]!.GetValue<bool>() || plain["HostConfig"]!["ReadonlyRootfs"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData(new[] { "NET_ADMIN", "cap_sys_time" }, new[] { "ALL" }, """["CAP_NET_ADMIN","CAP_SYS_TIME"]""", """["ALL"]""")]
    [InlineData(new[] { "NET_ADMIN", "net_admin", "all" }, new[] { "cap_chown", " sys_time " }, """["ALL","CAP_NET_ADMIN"]""", """["CAP_ SYS_TIME ","CAP_CHOWN"]""")]
    [InlineData(new[] { "net_admin,sys_time" }, new string[0], """["CAP_NET_ADMIN,SYS_TIME"]""", "null")]
    [InlineData(new string[0], new string[0], "null", "null")]
    public void Capabilities_are_normalised_deduplicated_and_sorted_as_docker_does(string[] add, string[] drop, string capAdd, string capDrop)
    {
        var host = RunRequest.Build(new RunSettings { Image = "alpine", CapAdd = add, CapDrop = drop })["HostConfig"]!;
        Assert.Equal((capAdd, capDrop), (host["CapAdd"]?.ToJsonString() ?? "null", host["CapDrop"]?.ToJsonString() ?? "null"));
    }

    [Theory]
    [InlineData("json-file", new[] { "max-size=10m", "max-file=3" }, """{"Type":"json-file","Config":{"max-file":"3","max-size":"10m"}}""")]
    [InlineData(null, new[] { "a=b=c", "a=d", "bad", "=x" }, """{"Type":"","Config":{"":"x","a":"d","bad":""}}""")]
    [InlineData("none", new string[0], """{"Type":"none","Config":{}}""")]
    [InlineData(null, new string[0], """{"Type":"","Config":{}}""")]
    public void Log_driver_and_opts_go_into_log_config(string? driver, string[] opts, string expected) =>
        Assert.Equal(expected, RunRequest.Build(new RunSettings { Image = "alpine", LogDriver = driver, LogOpt = opts })["HostConfig"]!["LogConfig"]!.ToJsonString());

    [Fact]
    public void Log_opts_for_the_none_driver_are_refused()
    {
        var e = Assert.Throws<CliException>(() => RunRequest.Build(new RunSettings { Image = "alpine", LogDriver = "none", LogOpt = ["a=b"] }));
        Assert.Equal(("invalid logging opts for driver none", 125), (e.Message, e.ExitCode));
    }

    [Fact]
    public void The_new_flags_parse_on_the_run_command()
    {
        var root = new System.CommandLine.RootCommand();
        foreach (var c in ClientCommands.Create()) root.Subcommands.Add(c);
        var parsed = root.Parse(ClientCommands.PrepareArgs(["run", "--security-opt", "no-new-privileges", "--security-opt", "label=disable",
            "--privileged", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--log-driver", "json-file", "--log-opt", "max-size=1m",
            "--read-only", "-u", "1000", "img", "true"], root));
        Assert.Empty(parsed.Errors);
        Assert.Equal(["create", "--cap-add", "NET_ADMIN", "img", "--", "sh", "-c", "true"],
            ClientCommands.PrepareArgs(["create", "--cap-add", "NET_ADMIN", "img", "sh", "-c", "true"], root));
        Assert.Empty(root.Parse(["create", "--security-opt", "no-new-privileges", "--log-opt", "a=b", "img", "--", "true"]).Errors);
        Assert.DoesNotContain(root.Subcommands.Single(c => c.Name == "create").Options, o => o.Name == "--detach");
        Assert.Contains(root.Subcommands.Single(c => c.Name == "run").Options, o => o.Name == "--detach");
    }

    /// <summary>JSON with object keys sorted, to compare bodies regardless of key order.</summary>
    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"\"{kv.Key}\":{Canonical(kv.Value)}")) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };
}
