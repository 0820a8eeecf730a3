using Berth.Runtime.Containers;
using Xunit;

namespace Berth.Engine.Tests;

/// <summary>The pid check against a fake /proc: a recorded process counts only while boot id and start time match.</summary>
public sealed class ProcessIdentityTests : IDisposable
{
    private readonly string _proc = Path.Combine(Path.GetTempPath(), "berth-proc-" + Guid.NewGuid().ToString("N")[..8]);

    public ProcessIdentityTests()
    {
        Directory.CreateDirectory(Path.Combine(_proc, "sys/kernel/random"));
        SetBoot("0b1e5a9e-0000-4000-8000-000000000001");
    }

    public void Dispose() => Directory.Delete(_proc, recursive: true);

    private void SetBoot(string id) => File.WriteAllText(Path.Combine(_proc, "sys/kernel/random/boot_id"), id + "\n");

    /// <summary>A stat line as the kernel writes it, with a command name holding spaces and parentheses.</summary>
    private void SetProcess(int pid, string comm, ulong start)
    {
        Directory.CreateDirectory(Path.Combine(_proc, pid.ToString()));
        File.WriteAllText(Path.Combine(_proc, pid.ToString(), "stat"),
            $"{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 {start} 2732032 192 " +
            "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
    }

    [Fact]
    public void The_recorded_process_matches_until_its_pid_names_another_process_or_the_host_rebooted()
    {
        SetProcess(4242, "httpd", 987654);
        var recorded = ProcessIdentity.Read(4242, _proc);
        Assert.Equal(new ProcessIdentity(4242, "0b1e5a9e-0000-4000-8000-000000000001", 987654), recorded);
        Assert.True(recorded!.IsCurrent(_proc));

        // The pid reused by a process started later (same boot, other start time).
        SetProcess(4242, "sleep", 999999);
        Assert.False(recorded.IsCurrent(_proc));

        // The same start time in another boot is another process too.
        SetProcess(4242, "httpd", 987654);
        SetBoot("0b1e5a9e-0000-4000-8000-000000000002");
        Assert.False(recorded.IsCurrent(_proc));
    }

    [Fact]
    public void A_gone_process_and_an_unrecorded_identity_never_match()
    {
        Assert.Null(ProcessIdentity.Read(5151, _proc));
        Assert.False(new ProcessIdentity(5151, "0b1e5a9e-0000-4000-8000-000000000001", 1).IsCurrent(_proc));
        SetProcess(5151, "sh", 1);
        Assert.False(new ProcessIdentity(5151, "", 1).IsCurrent(_proc));
        Assert.False(new ProcessIdentity(0, "0b1e5a9e-0000-4000-8000-000000000001", 1).IsCurrent(_proc));
    }

    [Theory]
    [InlineData("a b) S (c")]
    [InlineData("x")]
    [InlineData(")")]
    public void The_start_time_is_counted_after_the_last_parenthesis(string comm)
    {
        SetProcess(77, comm, 123456789);
        Assert.Equal(123456789UL, ProcessIdentity.ReadStartTime(77, _proc));
    }

    [Fact]
    public void The_real_proc_gives_this_process_its_own_identity()
    {
        var self = ProcessIdentity.Read(Environment.ProcessId);
        Assert.NotNull(self);
        Assert.True(self.StartTime > 0);
        Assert.True(self.IsCurrent());
    }
}
