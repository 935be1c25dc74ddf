using System.Globalization;
using Pipeline.Ingest.Live;

namespace Pipeline.Ingest.Tests.Live;

[Collection(LiveCollection.Name)]
public sealed class TraceFsInstanceTests
{
    [LiveFact]
    public void Create_Defaults_ConfiguresInstanceAndRemovesItOnDispose()
    {
        string path;
        using (var instance = TraceFsInstance.Create(["tlb:tlb_flush", "mmap_lock:*"], new TraceFsOptions { BufferSizeKb = 256, Clock = "mono" }))
        {
            path = instance.Path;
            Assert.StartsWith($"mmtrace-{Environment.ProcessId}-", instance.Name, StringComparison.Ordinal);
            Assert.True(Directory.Exists(path));
            Assert.Equal(["mmap_lock:mmap_lock_acquire_returned", "mmap_lock:mmap_lock_released", "mmap_lock:mmap_lock_start_locking", "tlb:tlb_flush"], instance.EnabledEvents);
            Assert.Equal("0", ReadInstance(instance, "tracing_on"));
            // The kernel rounds the size up to whole sub-buffers (256 reads back as 258 here).
            Assert.InRange(int.Parse(ReadInstance(instance, "buffer_size_kb"), CultureInfo.InvariantCulture), 256, 272);
            Assert.Contains("[mono]", ReadInstance(instance, "trace_clock"), StringComparison.Ordinal);
            Assert.Equal("1", ReadInstance(instance, "options/record-tgid"));
            Assert.Equal("1", ReadInstance(instance, "events/tlb/tlb_flush/enable"));
            Assert.Equal("0", ReadInstance(instance, "events/kmem/mm_page_alloc/enable"));

            instance.Start();
            Assert.Equal("1", ReadInstance(instance, "tracing_on"));
            instance.Stop();
            Assert.Equal("0", ReadInstance(instance, "tracing_on"));
        }

        Assert.False(Directory.Exists(path));
        AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Create_MissingEvent_ThrowsNamingItAndLeavesNoInstance()
    {
        var ex = Assert.Throws<ArgumentException>(() => TraceFsInstance.Create(["tlb:tlb_flush", "kmem:no_such_event", "nosys:*"]));

        Assert.Contains("'kmem:no_such_event'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'nosys:*'", ex.Message, StringComparison.Ordinal);
        AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Create_SkipMissingEvents_EnablesTheRestAndListsMissing()
    {
        using var instance = TraceFsInstance.Create(["tlb:tlb_flush", "kmem:no_such_event"], new TraceFsOptions { SkipMissingEvents = true, BufferSizeKb = 64 });

        Assert.Equal(["tlb:tlb_flush"], instance.EnabledEvents);
        Assert.Equal(["kmem:no_such_event"], instance.MissingEvents);
    }

    [LiveFact]
    public void Create_BadClock_ThrowsAndLeavesNoInstance()
    {
        var ex = Assert.Throws<ArgumentException>(() => TraceFsInstance.Create(["tlb:tlb_flush"], new TraceFsOptions { Clock = "sundial", BufferSizeKb = 64 }));

        Assert.Contains("sundial", ex.Message, StringComparison.Ordinal);
        AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void Create_TwoAtOnce_GetDistinctInstances()
    {
        using var first = TraceFsInstance.Create(["tlb:tlb_flush"], new TraceFsOptions { BufferSizeKb = 64 });
        using var second = TraceFsInstance.Create(["tlb:tlb_flush"], new TraceFsOptions { BufferSizeKb = 64 });

        Assert.NotEqual(first.Name, second.Name);
        Assert.True(Directory.Exists(first.Path) && Directory.Exists(second.Path));
    }

    [LiveFact]
    public void RemoveAllLive_AsOnCtrlCOrExit_RemovesInstancesAndDisposeStaysSafe()
    {
        var instance = TraceFsInstance.Create(["tlb:tlb_flush"], new TraceFsOptions { BufferSizeKb = 64 });
        instance.Start();

        TraceFsInstance.RemoveAllLive();

        Assert.True(instance.IsRemoved);
        Assert.False(Directory.Exists(instance.Path));
        instance.Dispose();
        AssertNoInstanceOfThisProcess();
    }

    [LiveFact]
    public void ReadStats_AfterRecording_OneEntryPerCpuWithEvents()
    {
        using var instance = TraceFsInstance.Create(["sched:sched_switch", "tlb:tlb_flush"], new TraceFsOptions { BufferSizeKb = 256 });
        instance.Start();
        Thread.Sleep(100);
        instance.Stop();

        var stats = instance.ReadStats();

        Assert.Equal(instance.CpuCount, stats.Count);
        Assert.Equal(Enumerable.Range(0, stats.Count), stats.Select(s => s.Cpu));
        Assert.True(stats.Sum(s => s.Entries) > 0, "sched_switch fires within 100 ms on any running system");
        Assert.True(instance.ReadTraceText().Contains("sched_switch:", StringComparison.Ordinal));
    }

    internal static void AssertNoInstanceOfThisProcess()
    {
        var root = TraceFsInstance.FindOrMountTraceFs();
        var leftovers = Directory.GetDirectories(Path.Combine(root, "instances"), string.Create(CultureInfo.InvariantCulture, $"{TraceFsInstance.NamePrefix}{Environment.ProcessId}-*"));
        Assert.Empty(leftovers);
    }

    private static string ReadInstance(TraceFsInstance instance, string relative) =>
        File.ReadAllText(Path.Combine(instance.Path, relative)).Trim();
}
