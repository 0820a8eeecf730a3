using System.Formats.Tar;
using System.Text.Json;
using Berth.TestSupport;
using Xunit;

namespace Berth.EndToEnd.Tests;

/// <summary>An engine and an image for the isolation tests: busybox with the applets they use, and syscall-probe
/// (isolation/syscall-probe.c, built here with gcc -static) for the calls busybox cannot make (keyctl).</summary>
public sealed class IsolationFixture : IAsyncLifetime
{
    public const string Image = "isolation:probe";
    private static readonly string[] Applets =
        ["sh", "cat", "grep", "head", "ls", "mkdir", "test", "unshare", "wc", "true", "echo", "sleep", "find"];

    public EngineProcess Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Engine = await EngineProcess.StartAsync();
        string dir = Path.Combine(Engine.Root, "isolation");
        Directory.CreateDirectory(dir);
        string probe = Path.Combine(dir, "syscall-probe");
        var gcc = Sh.Run("gcc", ["-static", "-O2", "-o", probe,
            Path.Combine(AppContext.BaseDirectory, "isolation", "syscall-probe.c")], TimeSpan.FromSeconds(120));
        if (gcc.ExitCode != 0) throw new InvalidOperationException($"gcc -static failed: {gcc.Stderr}");
        string tar = Path.Combine(dir, "rootfs.tar");
        WriteRootfs(tar, probe);
        EngineFixture.Check(Engine.Docker("import", "-c", "CMD [\"/bin/sh\"]", tar, Image));
    }

    public async Task DisposeAsync() => await Engine.DisposeAsync();

    private static void WriteRootfs(string path, string probe)
    {
        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax);
        foreach (string dir in new[] { "bin", "etc", "tmp", "proc", "sys", "dev" })
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, dir + "/") { Mode = (UnixFileMode)(dir == "tmp" ? 0x3ff : 0x1ed) });
        foreach (var (source, name) in new[] { ("/usr/bin/busybox", "bin/busybox"), (probe, "bin/syscall-probe") })
        {
            using var data = File.OpenRead(source);
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1ed, DataStream = data });
        }
        foreach (string applet in Applets)
            tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet) { LinkName = "busybox", Mode = (UnixFileMode)0x1ff });
    }
}

/// <summary>Docker's default isolation through the real docker CLI: the default seccomp profile refuses unshare
/// and keyctl (unconfined, privileged or CAP_SYS_ADMIN let them through, as in Docker), a profile file of one's own,
/// no-new-privileges, masked and read-only paths, privileged containers with the host's devices, and unknown
/// security options refused before anything is created.</summary>
public sealed class IsolationTests(IsolationFixture fixture) : IClassFixture<IsolationFixture>
{
    private EngineProcess Engine => fixture.Engine;
    private const string Image = IsolationFixture.Image;

    private ShResult Run(params string[] args) => Engine.Docker(["run", "--rm", .. args]);

    [Fact]
    public void The_default_profile_refuses_unshare_and_keyctl_and_unconfined_allows_them()
    {
        var keyctl = Run(Image, "syscall-probe", "keyctl");
        Assert.Equal((1, "EPERM\n"), (keyctl.ExitCode, keyctl.Stdout));
        var userns = Run(Image, "syscall-probe", "userns");
        Assert.Equal((1, "EPERM\n"), (userns.ExitCode, userns.Stdout));
        var unshare = Run(Image, "unshare", "-U", "true");
        Assert.NotEqual(0, unshare.ExitCode);
        Assert.Contains("Operation not permitted", unshare.Stderr);

        foreach (string[] loosened in new[] { new[] { "--security-opt", "seccomp=unconfined" },
                     ["--security-opt", "seccomp:unconfined"], ["--privileged"] })
        {
            Assert.Equal((0, "ok\n"), Result(Run([.. loosened, Image, "syscall-probe", "keyctl"])));
            Assert.Equal((0, "ok\n"), Result(Run([.. loosened, Image, "syscall-probe", "userns"])));
            Assert.Equal(0, Run([.. loosened, Image, "unshare", "-U", "true"]).ExitCode);
        }
        // The profile's conditions follow the container's own capabilities: CAP_SYS_ADMIN opens unshare, not keyctl.
        Assert.Equal((0, "ok\n"), Result(Run("--cap-add", "SYS_ADMIN", Image, "syscall-probe", "userns")));
        Assert.Equal((1, "EPERM\n"), Result(Run("--cap-add", "SYS_ADMIN", Image, "syscall-probe", "keyctl")));
        Assert.Contains("Seccomp:\t2", Run(Image, "grep", "Seccomp:", "/proc/self/status").Stdout);
        Assert.Contains("Seccomp:\t0", Run("--security-opt", "seccomp=unconfined", Image, "grep", "Seccomp:", "/proc/self/status").Stdout);
    }

    private static (int, string) Result(ShResult r) => (r.ExitCode, r.Stdout);

    [Fact]
    public void A_profile_file_of_ones_own_applies()
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("seccomp-", 20));
        Directory.CreateDirectory(dir);
        string profile = Path.Combine(dir, "deny-mkdir.json");
        File.WriteAllText(profile, """
            {
              "defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [ { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 } ]
            }
            """);
        var denied = Run("--security-opt", $"seccomp={profile}", Image, "mkdir", "/tmp/made");
        Assert.Equal(1, denied.ExitCode);
        Assert.Contains("Operation not permitted", denied.Stderr);
        Assert.Equal(0, Run(Image, "mkdir", "/tmp/made").ExitCode);
        // Only that profile: keyctl, which Docker's default refuses, is allowed by it.
        Assert.Equal((0, "ok\n"), Result(Run("--security-opt", $"seccomp={profile}", Image, "syscall-probe", "keyctl")));

        File.WriteAllText(profile, """{"defaultAction": "SCMP_ACT_NOPE"}""");
        var bad = Run("--security-opt", $"seccomp={profile}", Image, "true");
        Assert.Equal(125, bad.ExitCode);
        Assert.Contains("invalid seccomp profile: unknown defaultAction", bad.Stderr);
    }

    [Fact]
    public void No_new_privileges_on_request()
    {
        foreach (string form in new[] { "no-new-privileges", "no-new-privileges=true", "no-new-privileges:true" })
            Assert.Equal("NoNewPrivs:\t1\n", Run("--security-opt", form, Image, "grep", "NoNewPrivs", "/proc/self/status").Stdout);
        Assert.Equal("NoNewPrivs:\t0\n", Run("--security-opt", "no-new-privileges=false", Image, "grep", "NoNewPrivs", "/proc/self/status").Stdout);
        Assert.Equal("NoNewPrivs:\t0\n", Run(Image, "grep", "NoNewPrivs", "/proc/self/status").Stdout);
    }

    [Fact]
    public void Unknown_security_options_and_capabilities_are_refused_and_nothing_is_created()
    {
        string name = TestNames.Unique("refused", 16);
        try
        {
            foreach (var (args, message) in new[]
            {
                (new[] { "--security-opt", "foo=bar" }, "invalid --security-opt: \"foo=bar\": unknown option \"foo\""),
                (["--security-opt", "label=type:spc_t"], "Berth does not apply SELinux labels"),
                (["--security-opt", "no-new-privileges=perhaps"], "expected true or false"),
                (["--cap-add", "NOT_A_CAP"], "invalid CapAdd: unknown capability: \"CAP_NOT_A_CAP\""),
            })
            {
                var refused = Engine.Docker(["run", "--name", name, .. args, Image, "true"]);
                Assert.Equal(125, refused.ExitCode);
                Assert.Contains("Error response from daemon: invalid ", refused.Stderr);
                Assert.Contains(message, refused.Stderr);
                Assert.DoesNotContain(name, Engine.Docker("ps", "-a", "--format", "{{.Names}}").Stdout);
            }
            Assert.Equal(0, Run("--security-opt", "label=disable", "--security-opt", "apparmor=unconfined", Image, "true").ExitCode);
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    [Fact]
    public void Masked_and_readonly_paths_as_docker_and_none_when_privileged_or_unconfined()
    {
        // A masked file is /dev/null mounted over it; a masked directory an empty read-only tmpfs.
        const string probe = "test -c /proc/interrupts && echo masked || echo visible; ls /sys/firmware | wc -l; " +
                             "grep -c ' /proc/sys proc ro,' /proc/mounts; grep -c ' /sys sysfs ro,' /proc/mounts";
        Assert.NotEmpty(Directory.GetFileSystemEntries("/sys/firmware")); // else masking it would show nothing
        Assert.Equal("masked\n0\n1\n1\n", Run(Image, "sh", "-c", probe).Stdout);
        var privileged = Run("--privileged", Image, "sh", "-c", probe).Stdout.Split('\n');
        Assert.Equal(("visible", "0", "0"), (privileged[0], privileged[2], privileged[3]));
        Assert.NotEqual("0", privileged[1]);
        Assert.StartsWith("visible", Run("--security-opt", "systempaths=unconfined", Image, "sh", "-c", probe).Stdout);
        Assert.NotEmpty(Run("--privileged", Image, "head", "-1", "/proc/interrupts").Stdout);

        string name = TestNames.Unique("masked", 16);
        try
        {
            EngineFixture.Check(Engine.Docker("create", "--name", name, Image));
            var masked = JsonSerializer.Deserialize<string[]>(Engine.Docker("inspect", "-f", "{{json .HostConfig.MaskedPaths}}", name).Stdout)!;
            Assert.Contains("/proc/interrupts", masked);
            Assert.Contains("/sys/devices/virtual/powercap", masked);
        }
        finally { Engine.Docker("rm", "-f", name); }
    }

    [Fact]
    public void Privileged_sees_the_hosts_devices()
    {
        Assert.True(Path.Exists("/dev/loop-control"), "this test needs the host's /dev/loop-control");
        Assert.Equal(0, Run("--privileged", Image, "test", "-c", "/dev/loop-control").ExitCode);
        Assert.NotEqual(0, Run(Image, "test", "-e", "/dev/loop-control").ExitCode);
        int inPrivileged = int.Parse(Run("--privileged", Image, "sh", "-c", "find /dev -type c | wc -l").Stdout.Trim());
        int inDefault = int.Parse(Run(Image, "sh", "-c", "find /dev -type c | wc -l").Stdout.Trim());
        Assert.True(inPrivileged > inDefault + 10, $"privileged sees {inPrivileged} character devices, default {inDefault}");
        // All the capabilities the daemon holds, and no seccomp filter.
        Assert.Contains("Seccomp:\t0", Run("--privileged", Image, "grep", "Seccomp:", "/proc/self/status").Stdout);
        Assert.Equal(File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapBnd:")),
            Run("--privileged", Image, "grep", "CapBnd:", "/proc/self/status").Stdout.Trim());
    }

    [Fact]
    public async Task The_daemons_seccomp_profile_replaces_dockers_default_and_a_bad_one_stops_the_start()
    {
        string dir = Path.Combine(Engine.Root, TestNames.Unique("daemon-seccomp-", 24));
        Directory.CreateDirectory(dir);
        string profile = Path.Combine(dir, "deny-mkdir.json");
        File.WriteAllText(profile, """
            {
              "defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [ { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 } ]
            }
            """);
        // As daemon.json's key, the way most admins set it.
        string config = Path.Combine(dir, "daemon.json");
        File.WriteAllText(config, $$"""{"seccomp-profile": "{{profile}}"}""");
        await using (var engine = await EngineProcess.StartAsync("--config-file", config))
        {
            EngineFixture.Check(engine.Docker("import", "-c", "CMD [\"/bin/sh\"]", Path.Combine(Engine.Root, "isolation", "rootfs.tar"), Image));
            ShResult RunThere(params string[] args) => engine.Docker(["run", "--rm", .. args]);
            var denied = RunThere(Image, "mkdir", "/tmp/made");
            Assert.Equal(1, denied.ExitCode);
            Assert.Contains("Operation not permitted", denied.Stderr);
            // Docker's default is replaced, not added to: keyctl, which it refuses, goes through.
            Assert.Equal((0, "ok\n"), Result(RunThere(Image, "syscall-probe", "keyctl")));
            Assert.Equal(0, RunThere("--security-opt", "seccomp=unconfined", Image, "mkdir", "/tmp/made").ExitCode);
            Assert.Contains($"name=seccomp,profile={profile}",
                EngineFixture.Check(engine.Docker("info", "-f", "{{json .SecurityOptions}}")).Stdout);
        }

        File.WriteAllText(profile, """{"defaultAction": "SCMP_ACT_NOPE"}""");
        foreach (string bad in new[] { profile, Path.Combine(dir, "missing.json") })
        {
            var refused = Sh.Run(Path.Combine(EngineProcess.RepoRoot(), "berth"),
                ["daemon", "--seccomp-profile", bad, "--data-root", Path.Combine(dir, "data"), "--exec-root", Path.Combine(dir, "exec")]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains($"opening seccomp profile ({bad}) failed", refused.Stderr);
            Assert.False(Directory.Exists(Path.Combine(dir, "exec")), "a refused start made its exec root");
        }
    }

    /// <summary>Where the kernel has AppArmor, containers run under berth-default in enforce mode (and unconfined when
    /// asked); where it has not (this machine's kernel: no apparmor module, no securityfs), asking for a profile is
    /// refused, never silently dropped.</summary>
    [Fact]
    public void The_apparmor_profile_is_applied_where_the_kernel_has_apparmor_and_refused_where_it_has_not()
    {
        bool enabled = File.Exists("/sys/module/apparmor/parameters/enabled")
            && File.ReadAllText("/sys/module/apparmor/parameters/enabled").StartsWith('Y');
        if (enabled)
        {
            Assert.Equal("berth-default (enforce)", Run(Image, "cat", "/proc/self/attr/current").Stdout.Trim('\0', '\n'));
            Assert.Equal("unconfined", Run("--security-opt", "apparmor=unconfined", Image, "cat", "/proc/self/attr/current")
                .Stdout.Trim('\0', '\n'));
            Assert.Contains("berth-default", File.ReadAllText("/sys/kernel/security/apparmor/profiles"));
        }
        else
        {
            var refused = Run("--security-opt", "apparmor=berth-default", Image, "true");
            Assert.Equal(125, refused.ExitCode);
            Assert.Contains("AppArmor is not enabled on this host", refused.Stderr);
        }
    }

    [Fact]
    public void Info_lists_the_active_security_options()
    {
        var options = JsonSerializer.Deserialize<string[]>(EngineFixture.Check(
            Engine.Docker("info", "-f", "{{json .SecurityOptions}}")).Stdout)!;
        Assert.Contains("name=seccomp,profile=builtin", options);
        bool appArmor = File.Exists("/sys/module/apparmor/parameters/enabled")
            && File.ReadAllText("/sys/module/apparmor/parameters/enabled").StartsWith('Y')
            && (File.Exists("/sbin/apparmor_parser") || File.Exists("/usr/sbin/apparmor_parser"));
        Assert.Equal(appArmor, options.Contains("name=apparmor"));
        if (!appArmor) Assert.Contains("AppArmor is not enabled on this host", Engine.Log);
    }
}
