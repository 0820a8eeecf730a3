using System.Diagnostics;
using Berth.Runtime.Resources;
using Berth.TestSupport;
using Xunit;

namespace Berth.Runtime.Tests;

/// <summary>The cgroup v2 side of the stats reader against the real kernel. This host is hybrid: its v2 hierarchy
/// (/sys/fs/cgroup/unified) has no memory, cpu or pids controller to enable, but cpu.stat is a core file of every
/// v2 cgroup, so a process moved into a cgroup of its own there is read through the v2 code path (its directory
/// from /proc/PID/cgroup's "0::" line, cpu.stat's usec figures, the files a controller would add read as absent).
/// On a v2-only host the same test runs on /sys/fs/cgroup.</summary>
public sealed class CgroupV2KernelTests
{
    private static string? V2Root =>
        File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup"
        : File.Exists("/sys/fs/cgroup/unified/cgroup.controllers") ? "/sys/fs/cgroup/unified" : null;

    [Fact]
    public void A_process_in_a_v2_cgroup_is_read_from_its_cpu_stat()
    {
        Assert.True(V2Root is not null, "no cgroup v2 hierarchy on this host");
        string root = V2Root!;
        string dir = Path.Combine(root, TestNames.Unique("berth-v2-", 24));
        Directory.CreateDirectory(dir);
        // The shell waits for a line on stdin, then burns some CPU inside the cgroup and waits again.
        var shell = Process.Start(new ProcessStartInfo("sh", ["-c", "read go; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; read done"])
        {
            RedirectStandardInput = true,
        })!;
        try
        {
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), shell.Id.ToString());
            shell.StandardInput.WriteLine("go");
            shell.StandardInput.Flush();
            var host = new CgroupHost(CgroupVersion.V2, root, CgroupHost.Host.Features);
            Assert.Equal(dir, host.DirectoriesOf(shell.Id)[""]);
            var reader = new ContainerStatsReader(host);
            using var source = new StatsSource();
            var deadline = Stopwatch.StartNew();
            StatsSample sample;
            // Until the loop has visibly run (usage_usec counts it), read through one source as a stream does.
            do sample = reader.Read(shell.Id, ContainerStatsReader.HostCpu(), source);
            while (sample.Cpu.Total < 50_000_000 && deadline.Elapsed < TimeSpan.FromSeconds(20) && !shell.HasExited);
            var kernel = ContainerStatsReader.KeyValues(Path.Combine(dir, "cpu.stat"));
            Assert.True(sample.Cpu.Total >= 50_000_000, $"cpu usage {sample.Cpu.Total} ns");
            Assert.True(sample.Cpu.Total <= kernel["usage_usec"] * 1000, $"{sample.Cpu.Total} > {kernel["usage_usec"]} usec");
            Assert.True(sample.Cpu.User + sample.Cpu.Kernel <= kernel["usage_usec"] * 1000 + 1000);
            Assert.Null(sample.Cpu.PerCpu); // v2 has no per-CPU figures
            // Without the memory and pids controllers their files are absent: zeros, not errors.
            if (!File.Exists(Path.Combine(dir, "memory.current"))) Assert.Equal(0UL, sample.Memory.Usage);
            if (!File.Exists(Path.Combine(dir, "pids.current"))) Assert.Equal(0UL, sample.PidsCurrent);
        }
        finally
        {
            try
            {
                shell.StandardInput.WriteLine("done");
                shell.StandardInput.Flush();
            }
            catch (IOException) { }
            if (!shell.WaitForExit(20_000)) shell.Kill();
            shell.WaitForExit();
            // An empty cgroup is removed with rmdir.
            Directory.Delete(dir);
        }
    }
}
