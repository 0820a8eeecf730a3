using Berth.Cli;
using Xunit;

namespace Berth.Cli.Tests;

public sealed class DaemonConfigFileTests
{
    [Fact]
    public void Each_key_becomes_the_flag_it_stands_for()
    {
        var flags = DaemonConfigFile.ToFlags("""
            {
              // comments are allowed, as dockerd allows them
              "hosts": ["unix:///run/b.sock", "tcp://127.0.0.1:2376"],
              "data-root": "/srv/berth", "bip": "10.9.0.1/24", "default-runtime": "runc",
              "debug": true, "tlsverify": false,
              "log-opts": { "max-size": "1m", "max-file": "2" }
            }
            """, []);
        Assert.Equal(
            ["--host", "unix:///run/b.sock", "--host", "tcp://127.0.0.1:2376", "--data-root", "/srv/berth",
             "--bip", "10.9.0.1/24", "--runtime", "runc", "--debug", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"],
            flags);
    }

    [Fact]
    public void Default_address_pools_become_one_flag_each()
    {
        var flags = DaemonConfigFile.ToFlags("""{"default-address-pools":[{"base":"10.200.0.0/16","size":24}]}""", []);
        Assert.Equal(["--default-address-pool", "base=10.200.0.0/16,size=24"], flags);
        Assert.Throws<ArgumentException>(() =>
            DaemonConfigFile.ToFlags("""{"default-address-pools":[{"base":"10.200.0.0/16","size":"24"}]}""", []));
    }

    [Fact]
    public void Seccomp_profile_is_dockerds_key()
    {
        Assert.Equal(["--seccomp-profile", "/etc/berth/seccomp.json"],
            DaemonConfigFile.ToFlags("""{"seccomp-profile":"/etc/berth/seccomp.json"}""", []));
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"seccomp-profile":"x"}""", ["--seccomp-profile", "y"]));
    }

    [Fact]
    public void Unknown_keys_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"bridge":"b0","live-restore":false}""", []));
        Assert.Contains("don't match any configuration option: live-restore", e.Message);
    }

    [Fact]
    public void Firewall_switches_are_dockerds_keys()
    {
        Assert.Equal(["--iptables", "false", "--ip-forward", "false", "--ip-masq", "true"],
            DaemonConfigFile.ToFlags("""{"iptables":false,"ip-forward":false,"ip-masq":true}""", []));
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"iptables":"no"}""", []));
    }

    [Fact]
    public void Proxy_and_direct_routing_keys_are_dockerds()
    {
        Assert.Equal(["--userland-proxy", "true", "--userland-proxy-path", "/usr/bin/docker-proxy", "--allow-direct-routing", "false"],
            DaemonConfigFile.ToFlags("""{"userland-proxy":true,"userland-proxy-path":"/usr/bin/docker-proxy","allow-direct-routing":false}""", []));
        Assert.Equal(["--userland-proxy", "false"], DaemonConfigFile.ToFlags("""{"userland-proxy":false}""", []));
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"userland-proxy":"yes"}""", []));
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"userland-proxy-path":true}""", []));
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags("""{"allow-direct-routing":1}""", []));
        Assert.Contains("both as a flag and in the configuration file", Assert.Throws<ArgumentException>(() =>
            DaemonConfigFile.ToFlags("""{"userland-proxy":true}""", ["daemon", "--userland-proxy"])).Message);
        Assert.Contains("both as a flag and in the configuration file", Assert.Throws<ArgumentException>(() =>
            DaemonConfigFile.ToFlags("""{"allow-direct-routing":true}""", ["daemon", "--allow-direct-routing=true"])).Message);
    }

    [Theory]
    [InlineData("""{"data-root":"/a"}""", "--data-root=/b")]
    [InlineData("""{"hosts":["unix:///a"]}""", "-H")]
    [InlineData("""{"debug":true}""", "-D")]
    public void A_key_also_given_as_a_flag_is_refused(string json, string flag)
    {
        var e = Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags(json, ["daemon", flag, "x"]));
        Assert.Contains("both as a flag and in the configuration file", e.Message);
    }

    [Theory]
    [InlineData("""{"hosts":"unix:///a"}""")]
    [InlineData("""{"debug":"yes"}""")]
    [InlineData("""{"log-opts":{"max-file":2}}""")]
    [InlineData("""{"bip":10}""")]
    [InlineData("""[1,2]""")]
    [InlineData("""{"bip": """)]
    public void Values_of_the_wrong_type_and_bad_json_are_refused(string json) =>
        Assert.Throws<ArgumentException>(() => DaemonConfigFile.ToFlags(json, []));

    [Fact]
    public void Expand_replaces_the_config_file_flag_with_the_files_flags()
    {
        string file = Path.Combine(Path.GetTempPath(), $"berth-daemon-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(file, """{"bridge":"bcfg0"}""");
            Assert.Equal(["daemon", "-D", "--bridge", "bcfg0"], DaemonConfigFile.Expand(["daemon", "--config-file", file, "-D"]));
            Assert.Equal(["daemon", "--bridge", "bcfg0"], DaemonConfigFile.Expand(["daemon", $"--config-file={file}"]));
            Assert.Equal(["ps", "--config-file", file], DaemonConfigFile.Expand(["ps", "--config-file", file]));
            Assert.Throws<ArgumentException>(() => DaemonConfigFile.Expand(["daemon", "--config-file", file + ".missing"]));
        }
        finally { File.Delete(file); }
    }
}
