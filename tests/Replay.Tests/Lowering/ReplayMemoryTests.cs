using Pipeline.Replay.Lowering;
using Pipeline.Replay.Tests.Explore;
using Xunit.Abstractions;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary>
/// Memory a replay holds for the state of the traced machine. In the explorer's memory tests' collection, which runs
/// alone: it measures the managed heap, which other tests running beside it would grow.
/// </summary>
[Collection(nameof(ExplorerMemoryTests))]
public sealed class ReplayMemoryTests(ITestOutputHelper output)
{
    private const string UserPage = "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP";
    private const string TablePage = "migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP";

    [SkippableFact]
    public void LowerAndReplay_ProcessesNeverSeenExiting_UpperLevelTablesHoldOnlyTheChunksInUse()
    {
        // 256 processes that each fault one page and are never seen exiting, like the threads of a `trace-cmd record
        // -a` host (its rows carry no tgid, so each thread is a process of its own): their page tables stay until the
        // trace ends, in the lowering's shadow and in the engine. Each has a PGD, P4D, PUD and PMD table using one
        // of its 512 entries and a PTE table with one leaf. Before, every upper-level table held a 4 KiB array in
        // both copies: 48.6 KiB held per process in all (measured); now only the chunks in use are, 19.5 KiB.
        const int processes = 256;
        var input = new LoweringInput();
        for (int p = 0; p < processes; p++)
        {
            ulong pfn = 0x2000 + ((ulong)p * 2);
            input.Line("build", 1000 + p, p % 2, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x6")
                .Line("build", 1000 + p, p % 2, $"mm_page_alloc: page=0000000011111111 pfn=0x{pfn + 1:x} order=0 {TablePage}")
                .Line("build", 1000 + p, p % 2, $"mm_page_alloc: page=0000000022222222 pfn=0x{pfn:x} order=0 {UserPage}");
        }
        var rows = input.Rows();

        // The replay's own path: ops go to the engine as they are made, none is kept.
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var engine = new ReplayEngine(KernelProfile.Latest, Arch.X86);
        var lowering = new TraceLowering(KernelProfile.Latest, new EngineSink(engine, null));
        foreach (var row in rows)
        {
            lowering.Process(row);
        }
        long held = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(lowering);
        GC.KeepAlive(engine);
        output.WriteLine($"{held} bytes held for {processes} processes: {held / processes} each");

        Assert.Equal(processes, lowering.Statistics.FaultsMapped);
        Assert.Equal(processes, lowering.LeafArrays());
        Assert.True(held / processes < 24 << 10, $"{held / processes} bytes held per process");
    }
}
