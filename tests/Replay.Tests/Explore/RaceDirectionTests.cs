using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

public class RaceDirectionTests
{
    /// <summary>
    /// A truncation-like R1 window, as the real recording's confirmed one (docs/validation.md, "An R1 window confirmed"):
    /// mremap holds <c>mmap_lock</c> for write while another task unmaps <paramref name="pages"/> pages of the range in
    /// turn (<c>ttu_start</c>, <c>ttu_walk</c>, <c>ttu_unmap</c>, <c>ttu_end</c>, <c>page_free</c> each), then moves the
    /// PTE table to 0x40200000; a third thread writes page <paramref name="touched"/> at its new address. The recorded
    /// order is benign (every unmap before the move); the race needs the walker stopped between the walk of the touched
    /// page and its unmap.
    /// </summary>
    private static OpTrace Truncation(int pages, int touched)
    {
        var trace = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => trace.Op(task, cpu, evt, args);
        const string mover = "mremap-101";
        const string walker = "migrate-102";
        trace.MmWithPteTable(mover, 1, mm: 1, at: 0x201000);
        trace.MapPagesThenLockForMove(mover, pages);
        Op(walker, 2, "ctx_switch", "mm=0");
        for (int i = 0; i < pages; i++)
        {
            string page = $"pfn=0x{0x5000 + i:x}";
            string at = $"mm=1 va=0x{0x201000 + (i * 0x1000):x} {page}";
            Op(walker, 2, "ttu_start", $"{page} rmap=1");
            Op(walker, 2, "ttu_walk", at);
            Op(walker, 2, "ttu_unmap", $"{at} migrate=1");
            Op(walker, 2, "ttu_end", $"{page} rmap=1");
            Op(walker, 2, "page_free", page);
        }
        Op(mover, 1, "vma_create", "mm=1 va=0x40200000 len=0x200000 rmap=1");
        Op(mover, 1, "mremap_move_pmd", "mm=1 old=0x200000 new=0x40200000 rmap=1 spare=20");
        Op(mover, 1, "mmap_unlock", "mm=1");
        Op("t3-103", 3, "ctx_switch", "mm=1");
        Op("t3-103", 3, "access", $"mm=1 va=0x{0x40201000 + (touched * 0x1000):x} write=1");
        Op("t3-103", 3, "access", $"mm=1 va=0x{0x40201000 + (touched * 0x1000):x} write=1");
        return trace.Load();
    }

    [Fact]
    public void Window_R1WhoseWalkerIsStoppedAtItsFirstWalk_IsConfirmedWithinASmallBudget()
    {
        // The one preemption the race needs is after the walker's first walk: the shallowest choice point of the
        // window, which DPOR's depth-first rounds reach after every deeper one (main before this change: schedule 451
        // of this window). The R1 window is explored with its race directing the order, as `explore --windows` does.
        var trace = Truncation(pages: 12, touched: 0);
        var v513 = KernelProfile.Parse("v5.13");

        var (windows, result) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = 100 });

        Assert.Equal("R1", Assert.Single(windows).Race);
        var r1 = Assert.Single(result.Violations, v => v.Finding.Race == "R1");
        Assert.Equal("I1", r1.Finding.Checker);
        Assert.Equal(0x5000UL, r1.Finding.Pfn);
        Assert.Equal(1, r1.Preemptions);
        Assert.True(r1.FoundInSchedule <= 100);
        // The witness replays to the same I1 from an empty model, and the fix (the rmap lock in the move) closes it.
        var emitted = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(r1.ToTrace())));
        bool Reaches(string p) => ReplayEngine.Run(emitted, KernelProfile.Parse(p), Arch.X86).Findings.Any(f => f.Checker == "I1" && f.Pfn == 0x5000);
        Assert.True(Reaches("v5.13"));
        Assert.False(Reaches("latest"));
    }

    [Theory]
    [InlineData("v5.13")]
    [InlineData("latest")]
    public void Dpor_RaceDirectedOrder_CoversTheSameInterleavingsAndViolations(string profile)
    {
        // The order only decides which alternatives run first and adds the directed switch as an alternative: run to the
        // end of the bound, the search reaches exactly what it reaches without it, so a refutation means the same.
        var trace = Truncation(pages: 3, touched: 1);
        var kernel = KernelProfile.Parse(profile);
        var plain = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }).Run();
        var directed = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2, Race = "R1" }).Run();

        Assert.True(plain.Exhaustive);
        Assert.True(directed.Exhaustive);
        Assert.Equal(plain.DistinctTraces, directed.DistinctTraces);
        Assert.Equal(plain.Violations.Select(v => (v.Key, v.Preemptions)).Order(), directed.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Equal(profile == "latest", directed.Violations.Count == 0);
    }
}
