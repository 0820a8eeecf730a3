using System.Text.Json.Nodes;
using Berth.Linux;
using Berth.Runtime.Containers;
using Berth.Runtime.Oci;
using Berth.Runtime.Security;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>--security-opt parsing, capabilities, seccomp profile translation, masked paths and the isolation a
/// container gets: pure, except the device scan (real mknod in a temp dir).</summary>
public sealed class SecurityTests
{
    private static readonly SeccompHost Amd64 = new("amd64", "SCMP_ARCH_X86_64", new Version(6, 1, 0));
    private static readonly SeccompHost Arm64 = new("arm64", "SCMP_ARCH_AARCH64", new Version(4, 4, 0));

    // ------------------------------------------------------------------ security options

    [Theory]
    [InlineData("no-new-privileges", true)]
    [InlineData("no-new-privileges=true", true)]
    [InlineData("no-new-privileges:true", true)]
    [InlineData("no-new-privileges=1", true)]
    [InlineData("no-new-privileges=false", false)]
    [InlineData("no-new-privileges:False", false)]
    public void No_new_privileges_in_every_form(string option, bool expected) =>
        Assert.Equal(expected, SecurityOptions.Parse([option]).NoNewPrivileges);

    [Fact]
    public void Seccomp_forms()
    {
        Assert.Equal(SeccompMode.Default, SecurityOptions.Parse([]).Seccomp);
        Assert.Equal(SeccompMode.Unconfined, SecurityOptions.Parse(["seccomp=unconfined"]).Seccomp);
        Assert.Equal(SeccompMode.Unconfined, SecurityOptions.Parse(["seccomp:unconfined"]).Seccomp);
        Assert.Equal(SeccompMode.Default, SecurityOptions.Parse(["seccomp=builtin"]).Seccomp);
        // What the docker CLI sends for seccomp=FILE: the file's compacted JSON.
        var custom = SecurityOptions.Parse(["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}"]);
        Assert.Equal(SeccompMode.Custom, custom.Seccomp);
        Assert.Equal("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}", custom.SeccompProfile);
        // A path the client did not read cannot be read here (it is the client's file).
        var e = Assert.Throws<SecurityOptionException>(() => SecurityOptions.Parse(["seccomp=/tmp/profile.json"]));
        Assert.Contains("JSON content", e.Message);
    }

    [Fact]
    public void Apparmor_label_systempaths_cgroups_mask_and_unmask()
    {
        Assert.Equal("my-profile", SecurityOptions.Parse(["apparmor=my-profile"]).AppArmorProfile);
        Assert.Equal("unconfined", SecurityOptions.Parse(["apparmor:unconfined"]).AppArmorProfile);
        Assert.Null(SecurityOptions.Parse([]).AppArmorProfile);
        Assert.True(SecurityOptions.Parse(["label=disable"]).LabelDisabled);
        Assert.True(SecurityOptions.Parse(["label:disable"]).LabelDisabled);
        Assert.True(SecurityOptions.Parse(["disable"]).LabelDisabled);
        Assert.True(SecurityOptions.Parse(["systempaths=unconfined"]).SystemPathsUnconfined);
        Assert.True(SecurityOptions.Parse(["writable-cgroups"]).WritableCgroups);
        Assert.False(SecurityOptions.Parse(["writable-cgroups=false"]).WritableCgroups);
        Assert.Null(SecurityOptions.Parse([]).WritableCgroups);
        var masks = SecurityOptions.Parse(["mask=/proc/a:/proc/b", "unmask=/proc/kcore", "mask=/sys/c"]);
        Assert.Equal(["/proc/a", "/proc/b", "/sys/c"], masks.Mask);
        Assert.Equal(["/proc/kcore"], masks.Unmask);
        Assert.True(SecurityOptions.Parse(["unmask=ALL"]).UnmaskAll);
        var several = SecurityOptions.Parse(["seccomp=unconfined", "no-new-privileges", "apparmor=unconfined"]);
        Assert.Equal((SeccompMode.Unconfined, true, "unconfined"),
            (several.Seccomp, several.NoNewPrivileges, several.AppArmorProfile));
    }

    [Theory]
    [InlineData("foo=bar", "unknown option \"foo\"")]
    [InlineData("foo", "expected key=value")]
    [InlineData("=x", "expected key=value")]
    [InlineData("apparmor=", "needs a value")]
    [InlineData("no-new-privileges=maybe", "expected true or false")]
    [InlineData("writable-cgroups=2", "expected true or false")]
    [InlineData("systempaths=confined", "systempaths=unconfined")]
    [InlineData("label=type:svirt_t", "does not apply SELinux labels")]
    [InlineData("label=level:s0:c1", "does not apply SELinux labels")]
    [InlineData("label=bogus:x", "bad label option")]
    [InlineData("mask=proc/relative", "absolute paths")]
    [InlineData("unmask=", "needs a value")]
    public void Unknown_or_malformed_options_are_refused(string option, string why)
    {
        var e = Assert.Throws<SecurityOptionException>(() => SecurityOptions.Parse(["no-new-privileges", option]));
        Assert.StartsWith("invalid --security-opt: ", e.Message);
        Assert.Contains(why, e.Message);
    }

    // ------------------------------------------------------------------ capabilities

    [Fact]
    public void Capabilities_as_dockerd_computes_them()
    {
        var all = Capabilities.AllUpTo(40);
        Assert.Equal(41, all.Count);
        Assert.Equal("CAP_CHECKPOINT_RESTORE", all[^1]);
        Assert.Equal(Capabilities.Default, Capabilities.Effective(false, null, null, all));
        var tweaked = Capabilities.Effective(false, ["net_admin", "CAP_SYS_PTRACE"], ["NET_RAW", "cap_chown"], all);
        Assert.Contains("CAP_NET_ADMIN", tweaked);
        Assert.Contains("CAP_SYS_PTRACE", tweaked);
        Assert.DoesNotContain("CAP_NET_RAW", tweaked);
        Assert.DoesNotContain("CAP_CHOWN", tweaked);
        Assert.Equal(["CAP_NET_BIND_SERVICE"], Capabilities.Effective(false, ["NET_BIND_SERVICE"], ["ALL"], all));
        var allButOne = Capabilities.Effective(false, ["ALL"], ["SYS_ADMIN"], all);
        Assert.Equal(40, allButOne.Count);
        Assert.DoesNotContain("CAP_SYS_ADMIN", allButOne);
        Assert.Equal(all, Capabilities.Effective(true, null, ["ALL"], all));
        Assert.Equal(Capabilities.Default.Count, Capabilities.Effective(false, ["CHOWN", "CAP_CHOWN"], null, all).Count);
        var e = Assert.Throws<SecurityOptionException>(() => Capabilities.Effective(false, ["FOO"], null, all));
        Assert.Equal("invalid CapAdd: unknown capability: \"CAP_FOO\"", e.Message);
        Assert.Throws<SecurityOptionException>(() => Capabilities.Normalize(["CAP_NOPE"], "CapDrop"));

        // A sandbox whose bounding set lacks CAP_SYS_RESOURCE (as this one): privileged gets the other 40, and
        // asking for it is refused at create rather than failing in the runtime at start.
        var sandbox = Capabilities.FromMask(0x1fffeffffff);
        Assert.Equal(40, sandbox.Count);
        Assert.DoesNotContain("CAP_SYS_RESOURCE", sandbox);
        Assert.Equal(sandbox, Capabilities.Effective(true, null, null, sandbox));
        Assert.DoesNotContain("CAP_SYS_RESOURCE", Capabilities.Effective(false, ["ALL"], null, sandbox));
        e = Assert.Throws<SecurityOptionException>(() => Capabilities.Normalize(["sys_resource"], "CapAdd", sandbox));
        Assert.Equal("invalid CapAdd: capability not supported by your kernel or not available in the current "
            + "environment: \"CAP_SYS_RESOURCE\"", e.Message);
    }

    // ------------------------------------------------------------------ seccomp translation

    private const string ConditionalProfile = """
        {
          "defaultAction": "SCMP_ACT_ERRNO",
          "defaultErrnoRet": 1,
          "archMap": [
            { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
            { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
          ],
          "syscalls": [
            { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": [] },
            { "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["amd64", "x32"] } },
            { "names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["arm", "arm64"] } },
            { "names": ["not_on_arm"], "action": "SCMP_ACT_ALLOW", "excludes": { "arches": ["arm64"] } },
            { "names": ["unshare", "mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
            { "names": ["both_caps"], "action": "SCMP_ACT_ALLOW",
              "includes": { "caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"] } },
            { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
            { "names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "4.8" } },
            { "names": ["old_kernel_only"], "action": "SCMP_ACT_ALLOW", "excludes": { "minKernel": "5.0" } },
            { "name": "personality", "action": "SCMP_ACT_ALLOW",
              "args": [ { "index": 0, "value": 131080, "valueTwo": 0, "op": "SCMP_CMP_EQ" } ] },
            { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
              "args": [ { "index": 0, "value": 16, "op": "SCMP_CMP_EQ" },
                        { "index": 2, "value": 9, "valueTwo": 4294967295, "op": "SCMP_CMP_MASKED_EQ" } ] }
          ]
        }
        """;

    private static List<string> Names(JsonObject oci) =>
        oci["syscalls"]!.AsArray().SelectMany(s => s!["names"]!.AsArray().Select(n => n!.GetValue<string>())).ToList();

    [Fact]
    public void Translation_takes_the_hosts_architectures_and_rules()
    {
        var profile = SeccompProfile.Parse(ConditionalProfile);
        var amd64 = profile.ToOci(Capabilities.Default, Amd64)!;
        Assert.Equal("SCMP_ACT_ERRNO", amd64["defaultAction"]!.GetValue<string>());
        Assert.Equal(1u, amd64["defaultErrnoRet"]!.GetValue<uint>());
        Assert.Equal(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            amd64["architectures"]!.AsArray().Select(a => a!.GetValue<string>()));
        var names = Names(amd64);
        Assert.Contains("arch_prctl", names);
        Assert.DoesNotContain("set_tls", names);
        Assert.Contains("not_on_arm", names);

        var arm = profile.ToOci(Capabilities.Default, Arm64)!;
        Assert.Equal(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"], arm["architectures"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Contains("set_tls", Names(arm));
        Assert.DoesNotContain("arch_prctl", Names(arm));
        Assert.DoesNotContain("not_on_arm", Names(arm));
    }

    [Fact]
    public void Capability_conditions_follow_the_containers_own_capabilities()
    {
        var profile = SeccompProfile.Parse(ConditionalProfile);
        var plain = Names(profile.ToOci(Capabilities.Default, Amd64)!);
        Assert.DoesNotContain("unshare", plain);
        Assert.DoesNotContain("mount", plain);
        Assert.Contains("clone3", plain); // the ENOSYS rule applies without CAP_SYS_ADMIN

        var admin = Names(profile.ToOci([.. Capabilities.Default, "CAP_SYS_ADMIN"], Amd64)!);
        Assert.Contains("unshare", admin);
        Assert.Contains("mount", admin);
        Assert.DoesNotContain("clone3", admin);
        Assert.DoesNotContain("both_caps", admin); // includes need every listed capability
        Assert.Contains("both_caps", Names(profile.ToOci(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"], Amd64)!));
    }

    [Fact]
    public void Kernel_conditions_args_and_errno_are_carried_over()
    {
        var profile = SeccompProfile.Parse(ConditionalProfile);
        var recent = profile.ToOci(Capabilities.Default, Amd64)!;
        Assert.Contains("ptrace", Names(recent));
        Assert.DoesNotContain("old_kernel_only", Names(recent));
        var old = Names(profile.ToOci(Capabilities.Default, Arm64 with { Kernel = new Version(4, 4, 0) })!);
        Assert.DoesNotContain("ptrace", old);
        Assert.Contains("old_kernel_only", old);

        var rules = recent["syscalls"]!.AsArray();
        var personality = rules.Single(r => r!["names"]![0]!.GetValue<string>() == "personality")!;
        Assert.Equal("""[{"index":0,"value":131080,"valueTwo":0,"op":"SCMP_CMP_EQ"}]""", personality["args"]!.ToJsonString());
        var socket = rules.Single(r => r!["names"]![0]!.GetValue<string>() == "socket")!;
        Assert.Equal(22u, socket["errnoRet"]!.GetValue<uint>());
        Assert.Equal(4294967295UL, socket["args"]![1]!["valueTwo"]!.GetValue<ulong>());
        Assert.Equal("SCMP_CMP_MASKED_EQ", socket["args"]![1]!["op"]!.GetValue<string>());
        var read = rules.Single(r => r!["names"]![0]!.GetValue<string>() == "read")!;
        Assert.Null(read["args"]);
        Assert.Null(read["errnoRet"]);
    }

    [Fact]
    public void Old_architectures_field_and_empty_profiles()
    {
        var old = SeccompProfile.Parse("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[]}""");
        Assert.Equal("""["SCMP_ARCH_X86_64"]""", old.ToOci([], Amd64)!["architectures"]!.ToJsonString());
        Assert.Null(SeccompProfile.Parse("{}").ToOci([], Amd64)); // dockerd: no action, no rules = no filter
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("""{"defaultAction":"SCMP_ACT_NOPE"}""", "unknown defaultAction")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"ALLOW"}]}""", "unknown action")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_LOG"}]}""", "both given")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_LOG"}]}""", "no syscall names")]
    [InlineData("""{"syscalls":[{"names":["a"],"action":"SCMP_ACT_LOG"}]}""", "without a defaultAction")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["X"],"archMap":[{"architecture":"X"}]}""", "'archMap' were both")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_LOG","includes":{"minKernel":"new"}}]}""", "bad minKernel")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_LOG","args":[{"index":-1,"op":"SCMP_CMP_EQ"}]}]}""", "non-negative integer")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_LOG","args":[{"index":0,"op":"EQ"}]}]}""", "unknown argument operator")]
    public void Malformed_profiles_are_refused(string json, string why)
    {
        var e = Assert.Throws<SecurityOptionException>(() => SeccompProfile.Parse(json));
        Assert.StartsWith("invalid seccomp profile: ", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Theory]
    [InlineData("6.18.44-fc-v782", 6, 18, 44)]
    [InlineData("4.8", 4, 8, 0)]
    [InlineData("5.10.0-23-amd64", 5, 10, 0)]
    [InlineData("3.10.0-1160.el7.x86_64", 3, 10, 0)]
    public void Kernel_versions(string release, int major, int minor, int patch) =>
        Assert.Equal(new Version(major, minor, patch), SeccompProfile.ParseKernelVersion(release));

    /// <summary>The profile scripts/install-deps.sh installs is Docker's: without CAP_SYS_ADMIN, unshare and mount
    /// are not allowed and keyctl is allowed nowhere (so the default action, EPERM, answers).</summary>
    [Fact]
    public void The_installed_default_profile_is_dockers()
    {
        string path = HostSecurity.DefaultProfilePaths[0];
        Assert.True(File.Exists(path), $"{path} is missing: run scripts/install-deps.sh");
        var profile = SeccompProfile.Parse(File.ReadAllText(path));
        var oci = profile.ToOci(Capabilities.Default, Amd64)!;
        Assert.Equal("SCMP_ACT_ERRNO", oci["defaultAction"]!.GetValue<string>());
        var allowed = oci["syscalls"]!.AsArray().Where(s => s!["action"]!.GetValue<string>() == "SCMP_ACT_ALLOW")
            .SelectMany(s => s!["names"]!.AsArray().Select(n => n!.GetValue<string>())).ToHashSet();
        Assert.Contains("read", allowed);
        Assert.Contains("arch_prctl", allowed);
        Assert.DoesNotContain("unshare", allowed);
        Assert.DoesNotContain("mount", allowed);
        Assert.DoesNotContain("keyctl", allowed);
        var admin = Names(profile.ToOci([.. Capabilities.Default, "CAP_SYS_ADMIN"], Amd64)!);
        Assert.Contains("unshare", admin);
    }

    // ------------------------------------------------------------------ masked paths and the spec

    private static ContainerSpec Spec(params string[] securityOpt) => new()
    {
        Id = new string('c', 64), BundleDirectory = "/b", Args = ["/bin/sh"], Security = SecurityOptions.Parse(securityOpt),
    };

    [Fact]
    public void Masked_and_readonly_paths_are_docker_28s()
    {
        var (masked, readOnly) = OciSpecBuilder.SystemPaths(Spec(), OciSpecBuilder.MaskedPaths);
        foreach (string path in new[] { "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/acpi", "/proc/scsi",
                     "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/timer_list", "/proc/sched_debug" })
            Assert.Contains(path, masked);
        Assert.Equal(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"], readOnly);
        Assert.Equal((0, 0), Count(OciSpecBuilder.SystemPaths(Spec() with { Privileged = true })));
        Assert.Equal((0, 0), Count(OciSpecBuilder.SystemPaths(Spec("systempaths=unconfined"))));
        // HostConfig's own lists (the docker CLI sends [] for systempaths=unconfined) win, even when privileged.
        Assert.Equal((0, 0), Count(OciSpecBuilder.SystemPaths(Spec() with { MaskedPaths = [], ReadonlyPaths = [] })));
        Assert.Equal((1, 0), Count(OciSpecBuilder.SystemPaths(Spec() with { Privileged = true, MaskedPaths = ["/x"] })));

        var tuned = OciSpecBuilder.SystemPaths(Spec("mask=/proc/extra", "unmask=/proc/kcore:/proc/sys"), OciSpecBuilder.MaskedPaths);
        Assert.Contains("/proc/extra", tuned.Masked);
        Assert.DoesNotContain("/proc/kcore", tuned.Masked);
        Assert.DoesNotContain("/proc/sys", tuned.ReadOnly);
        Assert.Equal((0, 0), Count(OciSpecBuilder.SystemPaths(Spec("unmask=ALL"))));
        static (int, int) Count((List<string> M, List<string> R) p) => (p.M.Count, p.R.Count);
    }

    [Fact]
    public void The_spec_carries_seccomp_apparmor_devices_and_no_new_privileges()
    {
        var seccomp = new JsonObject { ["defaultAction"] = "SCMP_ACT_ERRNO", ["syscalls"] = new JsonArray() };
        var device = new DeviceNode("/dev/loop-control", 'c', 10, 237, 0x1b0, 0, 6);
        var isolation = new Isolation(seccomp, "berth-default", [device]);
        var json = JsonNode.Parse(OciSpecBuilder.Build(Spec("no-new-privileges"), "/b/rootfs", hostNofileHardLimit: 1024,
            isolation: isolation))!;
        Assert.True(json["process"]!["noNewPrivileges"]!.GetValue<bool>());
        Assert.Equal("berth-default", json["process"]!["apparmorProfile"]!.GetValue<string>());
        Assert.Equal("SCMP_ACT_ERRNO", json["linux"]!["seccomp"]!["defaultAction"]!.GetValue<string>());
        Assert.Equal("""[{"path":"/dev/loop-control","type":"c","major":10,"minor":237,"fileMode":432,"uid":0,"gid":6}]""",
            json["linux"]!["devices"]!.ToJsonString());
        Assert.Contains("ro", MountOptions(json, "/sys"));
        Assert.Contains("ro", MountOptions(json, "/sys/fs/cgroup"));
        Assert.NotNull(json["linux"]!["maskedPaths"]);

        var plain = JsonNode.Parse(OciSpecBuilder.Build(Spec(), "/b/rootfs", hostNofileHardLimit: 1024))!;
        Assert.False(plain["process"]!["noNewPrivileges"]!.GetValue<bool>());
        Assert.Null(plain["process"]!["apparmorProfile"]);
        Assert.Null(plain["linux"]!["seccomp"]);
        Assert.Null(plain["linux"]!["devices"]);

        var privileged = JsonNode.Parse(OciSpecBuilder.Build(Spec() with { Privileged = true }, "/b/rootfs",
            hostNofileHardLimit: 1024))!;
        Assert.Contains("rw", MountOptions(privileged, "/sys"));
        Assert.Contains("rw", MountOptions(privileged, "/sys/fs/cgroup"));
        Assert.Null(privileged["linux"]!["maskedPaths"]);
        Assert.Null(privileged["linux"]!["readonlyPaths"]);
        Assert.True(privileged["linux"]!["resources"]!["devices"]![0]!["allow"]!.GetValue<bool>());
        Assert.Equal(Capabilities.All.Count, privileged["process"]!["capabilities"]!["bounding"]!.AsArray().Count);
        var writable = JsonNode.Parse(OciSpecBuilder.Build(Spec("writable-cgroups=true"), "/b/rootfs", hostNofileHardLimit: 1024))!;
        Assert.Contains("rw", MountOptions(writable, "/sys/fs/cgroup"));
    }

    private static List<string> MountOptions(JsonNode spec, string destination) =>
        spec["mounts"]!.AsArray().Single(m => m!["destination"]!.GetValue<string>() == destination)!["options"]!
            .AsArray().Select(o => o!.GetValue<string>()).ToList();

    // ------------------------------------------------------------------ what a container gets

    private static HostSecurity Host(bool appArmor) =>
        new(SeccompProfile.Parse(ConditionalProfile), "/test/profile.json", seccompSupported: true, appArmor,
            appArmor ? AppArmor.DefaultProfileName : null, Amd64);

    [Fact]
    public void Resolve_applies_the_default_profile_unless_unconfined_or_privileged()
    {
        var host = Host(appArmor: false);
        var caps = OciSpecBuilder.Capabilities(Spec());
        var first = host.Resolve(Spec(), caps);
        Assert.NotNull(first.Seccomp);
        Assert.DoesNotContain("unshare", Names(first.Seccomp!));
        Assert.Null(first.AppArmorProfile);
        Assert.Empty(first.Devices);
        // Cached per capability set, but every container gets its own copy to put in its spec.
        var second = host.Resolve(Spec(), caps);
        Assert.NotSame(first.Seccomp, second.Seccomp);
        Assert.Equal(first.Seccomp!.ToJsonString(), second.Seccomp!.ToJsonString());
        var admin = Spec() with { CapAdd = ["SYS_ADMIN"] };
        Assert.Contains("unshare", Names(host.Resolve(admin, OciSpecBuilder.Capabilities(admin)).Seccomp!));

        Assert.Null(host.Resolve(Spec("seccomp=unconfined"), caps).Seccomp);
        var privileged = Spec() with { Privileged = true };
        Assert.Null(host.Resolve(privileged, OciSpecBuilder.Capabilities(privileged)).Seccomp);
        // A profile of one's own applies even to a privileged container, as in dockerd.
        var custom = privileged with { Security = SecurityOptions.Parse(
            ["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\"}]}"]) };
        Assert.Equal(["mkdir"], Names(host.Resolve(custom, OciSpecBuilder.Capabilities(custom)).Seccomp!));
        // No default profile on this host: no filter, and no failure.
        var bare = new HostSecurity(null, "", true, false, null, Amd64);
        Assert.Null(bare.Resolve(Spec(), caps).Seccomp);
        Assert.Empty(bare.InfoOptions);
        Assert.Equal(["name=seccomp,profile=builtin"], host.InfoOptions);
    }

    [Fact]
    public void Apparmor_where_the_host_has_it()
    {
        var host = Host(appArmor: true);
        var caps = Capabilities.Default;
        Assert.Equal("berth-default", host.Resolve(Spec(), caps).AppArmorProfile);
        Assert.Equal("unconfined", host.Resolve(Spec() with { Privileged = true }, caps).AppArmorProfile);
        Assert.Equal("custom", host.Resolve(Spec("apparmor=custom"), caps).AppArmorProfile);
        Assert.Equal(["name=apparmor", "name=seccomp,profile=builtin"], host.InfoOptions);
        host.Validate(SecurityOptions.Parse(["apparmor=custom"]), null, null);

        var without = Host(appArmor: false);
        without.Validate(SecurityOptions.Parse(["apparmor=unconfined"]), null, null);
        var e = Assert.Throws<SecurityOptionException>(() => without.Validate(SecurityOptions.Parse(["apparmor=custom"]), null, null));
        Assert.Contains("AppArmor is not enabled", e.Message);
        Assert.Contains("profile berth-default flags=", AppArmor.DefaultProfileText());
        Assert.Contains("deny mount,", AppArmor.DefaultProfileText());
        Assert.False(AppArmor.HostSupports(Path.Combine(Path.GetTempPath(), TestNames.Unique("no-apparmor-", 30))));
    }

    /// <summary>The profile text is checked by AppArmor's own parser (compiled, not loaded: this host's kernel may
    /// have no AppArmor; scripts/install-deps.sh installs the parser).</summary>
    [Fact]
    public void The_default_apparmor_profile_compiles()
    {
        string parser = "/usr/sbin/apparmor_parser";
        Assert.True(File.Exists(parser), $"{parser} is missing: run scripts/install-deps.sh");
        string file = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-apparmor-", 30));
        try
        {
            File.WriteAllText(file, AppArmor.DefaultProfileText());
            var result = Sh.Run(parser, ["--skip-kernel-load", "--skip-cache", "-o", "/dev/null", file]);
            Assert.True(result.ExitCode == 0, result.Stderr);
            File.WriteAllText(file, AppArmor.DefaultProfileText().Replace("deny mount,", "deny mount"));
            Assert.NotEqual(0, Sh.Run(parser, ["--skip-kernel-load", "--skip-cache", "-o", "/dev/null", file]).ExitCode);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Validate_refuses_bad_profiles_and_capabilities()
    {
        var host = Host(appArmor: false);
        Assert.Throws<SecurityOptionException>(() => host.Validate(SecurityOptions.Parse(["seccomp={\"defaultAction\":1}"]), null, null));
        var e = Assert.Throws<SecurityOptionException>(() => host.Validate(SecurityOptions.None, null, ["NOT_A_CAP"]));
        Assert.Equal("invalid CapDrop: unknown capability: \"CAP_NOT_A_CAP\"", e.Message);
        host.Validate(SecurityOptions.Parse(["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]), ["ALL"], ["net_raw"]);
    }

    [Fact]
    public void Daemon_start_takes_the_first_profile_found_and_warns_when_there_is_none()
    {
        string dir = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-profiles-", 30));
        Directory.CreateDirectory(dir);
        try
        {
            string missing = Path.Combine(dir, "missing.json"), bad = Path.Combine(dir, "bad.json");
            string good = Path.Combine(dir, "good.json");
            File.WriteAllText(bad, "{\"defaultAction\": 7}");
            File.WriteAllText(good, ConditionalProfile);

            var log = new ListLogger();
            var none = HostSecurity.Detect(dir, log, [missing], detectAppArmor: false);
            Assert.Null(none.DefaultSeccomp);
            Assert.Empty(none.InfoOptions);
            Assert.Contains(log.Lines, l => l.StartsWith("Warning: no default seccomp profile found", StringComparison.Ordinal)
                && l.Contains("WITHOUT a seccomp filter"));
            Assert.Contains(log.Lines, l => l.StartsWith("Information: AppArmor is not enabled", StringComparison.Ordinal));

            var broken = HostSecurity.Detect(dir, log, [bad, good], detectAppArmor: false);
            Assert.Null(broken.DefaultSeccomp); // the first one found is the one meant: a broken one is not skipped
            Assert.Contains(log.Lines, l => l.Contains("cannot be used") && l.Contains("'defaultAction' is not a string"));

            var found = HostSecurity.Detect(dir, log, [missing, good], detectAppArmor: false);
            Assert.Equal(good, found.DefaultSeccompSource);
            Assert.Equal(11, found.DefaultSeccomp!.Syscalls.Count);
            Assert.Equal(["name=seccomp,profile=builtin"], found.InfoOptions);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void The_daemons_seccomp_profile_overrides_the_packaged_ones_and_unconfined_means_none()
    {
        string dir = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-profiles-", 30));
        Directory.CreateDirectory(dir);
        try
        {
            string packaged = Path.Combine(dir, "packaged.json"), own = Path.Combine(dir, "own.json");
            File.WriteAllText(packaged, ConditionalProfile);
            File.WriteAllText(own, """{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}""");
            var log = new ListLogger();

            var given = HostSecurity.Detect(dir, log, [packaged], detectAppArmor: false, daemonProfile: own);
            Assert.Equal((own, 1), (given.DefaultSeccompSource, given.DefaultSeccomp!.Syscalls.Count));
            Assert.Equal([$"name=seccomp,profile={own}"], given.InfoOptions);

            var unconfined = HostSecurity.Detect(dir, log, [packaged], detectAppArmor: false, daemonProfile: "unconfined");
            Assert.Null(unconfined.DefaultSeccomp);
            Assert.Equal(["name=seccomp,profile=unconfined"], unconfined.InfoOptions);

            var builtin = HostSecurity.Detect(dir, log, [packaged], detectAppArmor: false, daemonProfile: "builtin");
            Assert.Equal(packaged, builtin.DefaultSeccompSource);
            Assert.Equal(["name=seccomp,profile=builtin"], builtin.InfoOptions);

            File.WriteAllText(own, "{\"defaultAction\": 7}");
            var e = Assert.Throws<SecurityOptionException>(() =>
                HostSecurity.Detect(dir, log, [packaged], detectAppArmor: false, daemonProfile: own));
            Assert.StartsWith($"opening seccomp profile ({own}) failed: ", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId,
            TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add($"{logLevel}: {formatter(state, exception)}");
    }

    // ------------------------------------------------------------------ host devices (real nodes in a temp dir)

    [Fact]
    public void Device_scan_finds_char_and_block_nodes_and_skips_the_rest()
    {
        string root = Path.Combine(Path.GetTempPath(), TestNames.Unique("berth-dev-", 24));
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "sub"));
            Directory.CreateDirectory(Path.Combine(root, "pts"));
            Interop.MakeNode(Path.Combine(root, "null"), Interop.S_IFCHR | 0x1a4, 1, 3); // 0644 survives umask 022
            Interop.MakeNode(Path.Combine(root, "sub", "disk"), Interop.S_IFBLK | 0x1a0, 7, 42);
            Interop.MakeNode(Path.Combine(root, "console"), Interop.S_IFCHR | 0x180, 5, 1);
            Interop.MakeNode(Path.Combine(root, "pts", "0"), Interop.S_IFCHR | 0x180, 136, 0);
            Interop.MakeNode(Path.Combine(root, "fifo"), Interop.S_IFIFO | 0x180, 0, 0);
            File.CreateSymbolicLink(Path.Combine(root, "link"), Path.Combine(root, "null"));
            File.WriteAllText(Path.Combine(root, "plain"), "x");

            var devices = HostDevices.Scan(root, "/dev");
            Assert.Equal(
                [new DeviceNode("/dev/null", 'c', 1, 3, 0x1a4, 0, 0), new DeviceNode("/dev/sub/disk", 'b', 7, 42, 0x1a0, 0, 0)],
                devices);
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
