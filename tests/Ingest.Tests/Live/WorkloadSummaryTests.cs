using Pipeline.Ingest.Live;

namespace Pipeline.Ingest.Tests.Live;

public sealed class WorkloadSummaryTests
{
    [SkippableFact]
    public void Parse_SummaryLine_PidAndCounts()
    {
        var summary = WorkloadSummary.Parse("noise\nmmwork pid=12336 pages=8 rounds=2 mmap=2 mremap=4 mprotect=2 madvise=2 munmap=2 touched=32\n");

        Assert.Equal(12336, summary.Pid);
        Assert.Equal(4, summary.Counts["mremap"]);
        Assert.Equal(32, summary.Counts["touched"]);
        Assert.False(summary.Counts.ContainsKey("pid"));
    }

    [SkippableTheory]
    [InlineData("mmwork: mmap failed in round 0: Cannot allocate memory")]
    [InlineData("mmwork pid=1 mremap=x")]
    public void Parse_NoOrBadSummary_ThrowsQuotingOutput(string output)
    {
        var ex = Assert.Throws<FormatException>(() => WorkloadSummary.Parse(output));

        Assert.Contains("mmwork", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class MmEventSetTests
{
    [SkippableFact]
    public void All_ReferenceThenReplay_CoversTheRecordingAndReplayNeeds()
    {
        Assert.Equal(MmEventSet.Reference.Concat(MmEventSet.Replay), MmEventSet.All);
        Assert.Equal(MmEventSet.All.Count, MmEventSet.All.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains("mmap_lock:*", MmEventSet.Reference);
        foreach (var syscall in new[] { "mmap", "munmap", "mprotect", "madvise", "brk", "mlock", "mlock2", "munlock", "mlockall", "munlockall", "exit_group", "execve" })
        {
            Assert.Contains($"syscalls:sys_enter_{syscall}", MmEventSet.Replay);
            Assert.Contains($"syscalls:sys_exit_{syscall}", MmEventSet.Replay);
        }
        Assert.All(MmEventSet.All, e => Assert.Matches("^[a-z_0-9]+:[a-z_0-9*]+$", e));
    }

    [LiveFact]
    public void ForKernel_ThisKernel_SplitsEveryEntryOnce()
    {
        var (present, missing) = MmEventSet.ForKernel(TraceFsInstance.FindOrMountTraceFs());

        Assert.Equal(MmEventSet.All.Order(StringComparer.Ordinal), present.Concat(missing).Order(StringComparer.Ordinal));
        Assert.Contains("tlb:tlb_flush", present);
    }
}
