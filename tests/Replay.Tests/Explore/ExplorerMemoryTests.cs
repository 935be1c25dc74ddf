using Pipeline.Replay.Explore;
using Xunit.Abstractions;

namespace Pipeline.Replay.Tests.Explore;

[CollectionDefinition(nameof(ExplorerMemoryTests), DisableParallelization = true)]
public sealed class ExplorerMemoryCollection;

/// <summary>Memory held by an exploration is bounded by its state, not by its work (docs/exploration.md, "Stateful
/// pruning"). Alone in its collection: it measures the managed heap, which other tests running beside it would grow.</summary>
[Collection(nameof(ExplorerMemoryTests))]
public class ExplorerMemoryTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(0)]
    [InlineData(2)]
    public void Dpor_ThousandOpWorkload_HoldsLessThanItsCapWhateverTheBudget(int bound)
    {
        // `synth random --cpus 4 --ops 1000 --seed 2` (1,645 ops, 12 tasks). Before, every explored state kept a summary
        // of what ran below it (up to 2^20 entries) and every frame on a path kept for the next round kept its summary
        // and its footprints: explore held 1.7 GB after 300 schedules and 17 GB after 3,000 (bound 0). Now the
        // explored-state table is capped (it forgets its oldest states) and kept frames hold a few words each.
        var trace = ExplorerTests.RandomWorkloadTrace(2, ops: 1000);
        long cap = ExploreOptions.DefaultStateCacheBytes;

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var explorer = new Explorer(trace, KernelProfile.Latest, Arch.X86, new ExploreOptions { Bound = bound, Budget = 400 });
        var result = explorer.Run();
        long held = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(explorer);
        output.WriteLine($"bound {bound}: {held >> 20} MiB held, table peak {explorer.PeakStateCacheBytes >> 20} MiB, {explorer.EvictedStates} states forgotten, {explorer.KeptFrames} frames kept");

        Assert.Equal(400, result.Schedules);
        Assert.True(result.Pruned > 0, "the table prunes");
        // The table, the next round's work list (a quarter of the cap) and the current path's summaries and clocks.
        Assert.True(held < cap + (cap / 4) + (64L << 20), $"{held >> 20} MiB held after {result.Schedules} schedules (cap {cap >> 20} MiB)");
        Assert.True(explorer.PeakStateCacheBytes <= cap, $"table peaked at {explorer.PeakStateCacheBytes >> 20} MiB");
    }
}
