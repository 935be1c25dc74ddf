using Pipeline.Ingest.Live;
using Pipeline.Ingest.Tests.Live;

namespace Pipeline.Cli.Tests;

/// <summary>A recorder that is killed or terminated leaves no tracefs instance behind for long.</summary>
public sealed class RecordCleanupTests
{
    private static string[] InstancesOf(int pid) =>
        Directory.GetDirectories(Path.Combine(TraceFsInstance.FindOrMountTraceFs(), "instances"), $"mmtrace-{pid}-*");

    private static void WaitForInstance(MmtraceChild child)
    {
        for (int i = 0; i < 1800 && InstancesOf(child.Pid).Length == 0; i++)
        {
            Thread.Sleep(100);
        }
        Assert.NotEmpty(InstancesOf(child.Pid));
    }

    [LiveFact]
    public void SigKill_TheNextRecordRemovesTheDeadInstance()
    {
        using var dir = new TempDir();
        int pid;
        using (var child = new MmtraceChild(null, "record", "-o", dir["rec"], "--events", "tlb:tlb_flush", "--buffer-kb", "64", "--", "/bin/sleep", "3"))
        {
            pid = child.Pid;
            WaitForInstance(child);
            child.Signal(MmtraceChild.SigKill);
            child.Finish();
        }
        // (Not asserted here that it is still there: a recorder of another test may already have swept it.)
        var next = Mmtrace.Run("record", "-o", dir["rec2"], "--events", "tlb:tlb_flush", "--buffer-kb", "64", "--", "/bin/true");

        Assert.True(next.ExitCode == 0, next.ToString());
        Assert.Empty(InstancesOf(pid));
    }

    [LiveFact]
    public void SigTermAndSigHup_RemoveTheInstance()
    {
        foreach (int signal in new[] { MmtraceChild.SigTerm, MmtraceChild.SigHup })
        {
            using var dir = new TempDir();
            // A command that outlives any delay: with `sleep 3` a busy machine let the recording end normally (exit 0,
            // nothing on stderr) before the signal arrived. The signal's cancellation kills the command.
            using var child = new MmtraceChild(null, "record", "-o", dir["rec"], "--events", "tlb:tlb_flush", "--buffer-kb", "64", "--", "/bin/sleep", "600");
            WaitForInstance(child);

            child.Interrupt(signal);
            var result = child.Finish();

            Assert.Empty(InstancesOf(child.Pid));
            Assert.False(Directory.Exists(dir["rec"]) && !File.Exists(dir["rec/meta.json"]), result.ToString());
        }
    }
}
