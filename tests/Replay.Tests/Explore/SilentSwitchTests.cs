using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// Context switches into the mm a CPU already runs (docs/exploration.md, DPOR, "Switches that change nothing"): they
/// leave the model as it is, so they commute with the flushes and fills of that mm instead of racing with each.
/// </summary>
public class SilentSwitchTests
{
    /// <summary>
    /// An R1 window as the raceactors recording ds2 shows them (docs/validation.md, windows 0, 1, 4, 5, 9): `mover` holds
    /// <c>mmap_lock</c> for write and a walker unmaps <paramref name="pages"/> pages of the range in turn (each unmap
    /// flushes the mm), then `mover` moves the PTE table to 0x40200000. `pinner`, a thread of the mm on CPU0, runs the mm
    /// since before the window and is switched back in <paramref name="switches"/> times between the unmaps (tasks
    /// outside the cone ran on CPU0 in between). When <paramref name="sameCpu"/> the walker is `puncher` on the mover's
    /// CPU1 (hole punching, as in ds2) and a thread on CPU3 writes page 0 at its new address after the move; else it is
    /// migration on CPU2 and `pinner` itself makes that write, last.
    /// </summary>
    private static OpTrace PinnerWindow(int pages, int switches, bool sameCpu)
    {
        var trace = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => trace.Op(task, cpu, evt, args);
        const string mover = "mover-101";
        const string pinner = "pinner-103";
        string walker = sameCpu ? "puncher-102" : "migrate-102";
        int walkerCpu = sameCpu ? 1 : 2;
        trace.CreateMmWithPteTable(mover, 1);
        Op(pinner, 0, "ctx_switch", "mm=1");
        trace.MapPagesThenLockForMove(mover, pages);
        Op(walker, walkerCpu, "ctx_switch", "mm=0");
        int switched = 0;
        for (int i = 0; i < pages; i++)
        {
            trace.UnmapPage(walker, walkerCpu, i, sameCpu ? "" : "migrate=1");
            for (; switched < (i + 1) * switches / pages; switched++)
            {
                Op(pinner, 0, "ctx_switch", "mm=1");
            }
        }
        if (sameCpu)
        {
            Op(mover, 1, "ctx_switch", "mm=1");
        }
        Op(mover, 1, "vma_create", "mm=1 va=0x40200000 len=0x200000 rmap=1");
        Op(mover, 1, "mremap_move_pmd", "mm=1 old=0x200000 new=0x40200000 rmap=1 spare=20");
        Op(mover, 1, "mmap_unlock", "mm=1");
        string toucher = sameCpu ? "t3-104" : pinner;
        int touchCpu = sameCpu ? 3 : 0;
        if (sameCpu)
        {
            Op(toucher, touchCpu, "ctx_switch", "mm=1");
        }
        Op(toucher, touchCpu, "access", "mm=1 va=0x40201000 write=1");
        Op(toucher, touchCpu, "access", "mm=1 va=0x40201000 write=1");
        return trace.Load();
    }

    [Fact]
    public void Window_SameCpuWalkerAndMover_WithAThreadSwitchingBackIntoTheMmOnTheOtherCpu_IsRefutedWithinASmallBudget()
    {
        // The puncher's unmaps flush the mm, whose cpumask holds CPU0 the whole time: each of the pinner's switches back
        // into the mm leaves that as it is, so its place among the flushes changes nothing. Before, every switch
        // "wrote" CPU0's bit and raced with every flush (ds2 window 5: 373 `ttu_unmap` x `ctx_switch` backtrack
        // alternatives), and 300 schedules did not cover the bound (853 alternatives left).
        var trace = PinnerWindow(pages: 8, switches: 6, sameCpu: true);
        var v513 = KernelProfile.Parse("v5.13");

        var (windows, result) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = 300 });

        Assert.Equal("R1", Assert.Single(windows).Race);
        Assert.True(result.Exhaustive, result.Coverage());
        Assert.Empty(result.Violations);
        Assert.Equal(0, result.Infeasible);
        Assert.Equal(0, result.Deadlocked);
    }

    [Theory]
    [InlineData("v5.13")]
    [InlineData("latest")]
    public void Dpor_SwitchesBackIntoTheMm_FindWhatNaiveEnumerationFinds(string profile)
    {
        // Whole programs, no window: walker and mover on different CPUs (CPU1 and CPU2 below), the pinner switching back
        // into the mm between the unmaps and then writing page 0 at its new address, the R1 fill. Under v5.13 the
        // walker stopped between its walk and its unmap of page 0 lets the move and the pinner's fill in: the I1 must
        // still be found, with naive enumeration's fewest preemptions, and every interleaving naive enumeration reaches
        // must be reached (the switches only stop being choice points where they change nothing).
        var trace = PinnerWindow(pages: 2, switches: 3, sameCpu: false);
        var kernel = KernelProfile.Parse(profile);
        var naiveTraces = new HashSet<ulong>();
        var dporTraces = new HashSet<ulong>();
        var naive = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2, Strategy = ExploreStrategy.Naive }) { OnNewTrace = (t, _, _) => naiveTraces.Add(t) }.Run();
        var dpor = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }) { OnNewTrace = (t, _, _) => dporTraces.Add(t) }.Run();

        Assert.True(naive.Exhaustive);
        Assert.True(dpor.Exhaustive);
        Assert.Equal(naive.Violations.Select(v => (v.Key, v.Preemptions)).Order(), dpor.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Empty(naiveTraces.Except(dporTraces));
        Assert.Equal(profile == "v5.13", dpor.Violations.Any(v => v.Finding.Checker == "I1" && v.Finding.Race == "R1" && v.Finding.Pfn == 0x5000));
        Assert.Equal(profile == "latest", dpor.Violations.Count == 0);
        Assert.Equal(naiveTraces.Count, dporTraces.Count);
        Assert.True(dpor.Schedules < naive.Schedules, $"dpor {dpor.Schedules} schedules, naive {naive.Schedules}");
    }

    [Fact]
    public void Window_WalkerStoppedAtItsFirstWalk_WithSwitchesBackIntoTheMm_IsStillConfirmedWithinASmallBudget()
    {
        // The confirmed-window shape (RaceDirectionTests) with a thread of the mm that switches back in between the
        // unmaps and makes the fill through the new address itself: the race needs the switches before that fill, and
        // the reduction must not lose it.
        RaceDirectionTests.AssertPage0ConfirmedWithinBudget(PinnerWindow(pages: 12, switches: 8, sameCpu: false), budget: 100);
    }
}
