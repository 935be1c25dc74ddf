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
        trace.CreateMmWithPteTable(mover, 1);
        trace.MapPagesThenLockForMove(mover, pages);
        Op(walker, 2, "ctx_switch", "mm=0");
        for (int i = 0; i < pages; i++)
        {
            trace.UnmapPage(walker, 2, i, "migrate=1");
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
        AssertPage0ConfirmedWithinBudget(Truncation(pages: 12, touched: 0), budget: 100);
    }

    /// <summary>The trace's one R1 window, explored under v5.13 with <paramref name="budget"/> schedules, reaches the I1 of
    /// page 0 (pfn 0x5000) at 1 preemption; the witness replays to the same I1 from an empty model, and the fix (the rmap
    /// lock in the move) closes it.</summary>
    internal static void AssertPage0ConfirmedWithinBudget(OpTrace trace, int budget)
    {
        var v513 = KernelProfile.Parse("v5.13");

        var (windows, result) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = budget });

        Assert.Equal("R1", Assert.Single(windows).Race);
        var r1 = Assert.Single(result.Violations, v => v.Finding.Race == "R1");
        Assert.Equal("I1", r1.Finding.Checker);
        Assert.Equal(0x5000UL, r1.Finding.Pfn);
        Assert.Equal(1, r1.Preemptions);
        Assert.True(r1.FoundInSchedule <= budget);
        var emitted = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(r1.ToTrace())));
        bool Reaches(string p) => ReplayEngine.Run(emitted, KernelProfile.Parse(p), Arch.X86).Findings.Any(f => f.Checker == "I1" && f.Pfn == 0x5000);
        Assert.True(Reaches("v5.13"));
        Assert.False(Reaches("latest"));
    }

    /// <summary>
    /// An munmap (or exit) that zaps <paramref name="pages"/> pages of one PTE table in turn (<c>zap_clear</c>, then
    /// <c>zap_finish</c> each), recorded before split_huge_page's unmap of page <paramref name="split"/> (an rmap walk whose
    /// <c>ttu_start</c> asserts the result). The recorded order is benign (the zap finished before the split's walk); the
    /// race (docs/mm-model.md §2.3, seed 002) needs the zapper stopped between the clear of the split page's entry and
    /// its mapcount decrement.
    /// </summary>
    private static OpTrace Zap(int pages, int split)
    {
        var trace = new OpTraceBuilder();
        const string zapper = "munmap-302";
        const string walker = "split-301";
        trace.CreateMmWithPteTable(zapper, 2);
        for (int i = 0; i < pages; i++)
        {
            trace.Op(zapper, 2, "page_alloc", $"pfn=0x{0x5000 + i:x}");
            trace.Op(zapper, 2, "pte_set", $"mm=1 va=0x{0x201000 + (i * 0x1000):x} pfn=0x{0x5000 + i:x}");
            trace.Op(zapper, 2, "map_inc", $"pfn=0x{0x5000 + i:x}");
        }
        trace.Op(zapper, 2, "ctx_switch", "mm=1");
        for (int i = 0; i < pages; i++)
        {
            trace.Op(zapper, 2, "zap_clear", $"mm=1 va=0x{0x201000 + (i * 0x1000):x}");
            trace.Op(zapper, 2, "zap_finish", $"mm=1 va=0x{0x201000 + (i * 0x1000):x} pfn=0x{0x5000 + i:x}");
        }
        string page = $"pfn=0x{0x5000 + split:x}";
        string at = $"mm=1 va=0x{0x201000 + (split * 0x1000):x} {page}";
        trace.Op(walker, 1, "ctx_switch", "mm=0");
        trace.Op(walker, 1, "ttu_start", $"{page} rmap=1 assert=1");
        trace.Op(walker, 1, "ttu_walk", at);
        trace.Op(walker, 1, "ttu_unmap", at);
        trace.Op(walker, 1, "ttu_end", $"{page} rmap=1 assert=1");
        return trace.Load();
    }

    /// <summary>
    /// A file mapped by <paramref name="pmds"/> VMAs of mm 1 (0x200000 on, 2 MiB each, rmap 2), each with its PTE table
    /// (tables 5 on); khugepaged's retract_page_tables clears and frees every one of those PMDs in one i_mmap section,
    /// recorded before an mremap moves the PMD of VMA <paramref name="moved"/> whole to 0x40200000 (the destination
    /// merges with a neighbour: need_rmap_locks). The recorded order is benign (the retract ended before mremap took
    /// <c>mmap_lock</c>); the race (docs/mm-model.md §2.6) needs the retract stopped inside its section before it clears
    /// the moved PMD, so that the move classifies it as a table and then waits for the rmap lock. With
    /// <paramref name="oneCpu"/> khugepaged runs on the mover's CPU 1, between the mover's set-up and its mremap, as the
    /// contended workloads' generator has it (seed 2): a kernel thread that keeps the mm it found (no context switch),
    /// and the grace period is rcu_preempt's on CPU 3.
    /// </summary>
    private static OpTrace Retract(int pmds, int moved, bool oneCpu = false)
    {
        var trace = new OpTraceBuilder();
        const string mover = "mremap-601";
        const string retracter = "khugepaged-602";
        trace.Op(mover, 1, "mm_create", "mm=1 table=1");
        foreach (var (table, level, parent) in new[] { (2, "p4d", "pgd"), (3, "pud", "p4d"), (4, "pmd", "pud") })
        {
            trace.Op(mover, 1, "table_alloc", $"table={table} level={level}");
            trace.Op(mover, 1, $"{parent}_populate", $"mm=1 va=0x200000 table={table}");
        }
        for (int i = 0; i < pmds; i++)
        {
            string va = $"0x{0x200000 + (i * 0x200000):x}";
            trace.Op(mover, 1, "vma_create", $"mm=1 va={va} len=0x200000 vmflags=file rmap=2");
            trace.Op(mover, 1, "table_alloc", $"table={5 + i} level=pte");
            trace.Op(mover, 1, "pmd_populate", $"mm=1 va={va} table={5 + i}");
        }
        trace.Op(mover, 1, "table_alloc", $"table={5 + pmds} level=pmd");
        trace.Op(mover, 1, "pud_populate", $"mm=1 va=0x40200000 table={5 + pmds}");
        trace.Op(mover, 1, "ctx_switch", "mm=1");
        int cpu = oneCpu ? 1 : 2;
        if (!oneCpu)
        {
            trace.Op(retracter, cpu, "ctx_switch", "mm=0");
        }
        trace.Op(retracter, cpu, "retract_start", "mm=1 rmap=2");
        for (int i = 0; i < pmds; i++)
        {
            trace.Op(retracter, cpu, "retract_pmd", $"mm=1 va=0x{0x200000 + (i * 0x200000):x}");
        }
        trace.Op(retracter, cpu, "retract_end", "mm=1 rmap=2");
        trace.Op(oneCpu ? "rcu_preempt-603" : retracter, oneCpu ? 3 : cpu, "rcu_gp_end", "");
        trace.Op(mover, 1, "mmap_lock", "mm=1 mode=w");
        trace.Op(mover, 1, "vma_create", "mm=1 va=0x40200000 len=0x200000 vmflags=file rmap=2");
        trace.Op(mover, 1, "mremap_move_pmd", $"mm=1 old=0x{0x200000 + (moved * 0x200000):x} new=0x40200000 rmap=2 need_rmap_locks=1 spare=100");
        trace.Op(mover, 1, "mmap_unlock", "mm=1");
        return trace.Load();
    }

    [Theory]
    [InlineData("R3", "I3", "v5.12")]
    [InlineData("R6", "I6", "v6.6")]
    public void Window_WhoseStopIsItsShallowestChoicePoint_IsConfirmedWithinASmallBudget(string race, string checker, string buggy)
    {
        // R3: the split walks page 0, the first of 12 the munmap zaps, so the stop after its clear is the shallowest
        // choice point of the window (main before this change: schedule 25 of this window; with the stretch, 3). R6:
        // the move takes the first of 8 PMDs the retract clears, so the stop right after retract_start is (main before:
        // schedule 27; with the stretch, 3). Each window is explored as `explore --windows` does, with 10 schedules.
        var trace = race == "R3" ? Zap(pages: 12, split: 0) : Retract(pmds: 8, moved: 0);

        var (windows, result) = OpTraceWindows.Run(trace, KernelProfile.Parse(buggy), Arch.X86, new ExploreOptions { Bound = 2, Budget = 10 });

        var window = Assert.Single(windows);
        Assert.Equal(race, window.Race);
        Assert.Equal(1, window.Mm);
        var violation = Assert.Single(result.Violations, v => v.Finding.Race == race);
        Assert.Equal(checker, violation.Finding.Checker);
        Assert.True(race == "R3" ? violation.Finding.Pfn == 0x5000 : violation.Finding.Va == 0x200000);
        Assert.Equal(1, violation.Preemptions);
        Assert.True(violation.FoundInSchedule <= 10);
        // The witness replays to the same checker from an empty model; the fix (TTU_SYNC; the re-check under the
        // locks) closes it.
        var emitted = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(violation.ToTrace())));
        bool Reaches(string p) => ReplayEngine.Run(emitted, KernelProfile.Parse(p), Arch.X86).Findings.Any(f => f.Checker == checker);
        Assert.True(Reaches(buggy));
        Assert.False(Reaches("latest"));
    }

    [Fact]
    public void Window_RetractAndMoverOnOneCpu_IsConfirmedUnderV66AndRefutedWhereFixed()
    {
        // khugepaged's retract and the mremap ran on one CPU, the retract's slice first. Both hold only sleeping locks
        // between their ops (i_mmap_rwsem; mmap_lock and the per-VMA lock), so the mover can run while khugepaged is
        // preempted inside its i_mmap section, classify the PMD and sleep on i_mmap_rwsem while khugepaged clears it
        // (docs/exploration.md, rule 5). Before, the CPU kept the slices' order and the window was refuted under v6.6.
        var trace = Retract(pmds: 3, moved: 1, oneCpu: true);
        var options = new ExploreOptions { Bound = 2, Budget = 2000 };

        var (windows, buggy) = OpTraceWindows.Run(trace, KernelProfile.Parse("v6.6"), Arch.X86, options);

        Assert.Equal("R6", Assert.Single(windows).Race);
        var violation = Assert.Single(buggy.Violations, v => v.Finding.Race == "R6");
        Assert.Equal("I6", violation.Finding.Checker);
        Assert.Equal(0x400000UL, violation.Finding.Va);
        Assert.Equal(new[] { 1 }, violation.Finding.Cpus);
        var emitted = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(violation.ToTrace())));
        Assert.Contains(ReplayEngine.Run(emitted, KernelProfile.Parse("v6.6"), Arch.X86).Findings, f => f.Checker == "I6");
        foreach (var fixedProfile in new[] { "v6.12", "latest" })
        {
            var (_, result) = OpTraceWindows.Run(trace, KernelProfile.Parse(fixedProfile), Arch.X86, options);
            Assert.True(result.Exhaustive, fixedProfile);
            Assert.Empty(result.Violations);
            Assert.Equal(0, result.Infeasible + result.Deadlocked);
        }
    }

    [Fact]
    public void Directed_R3_StopsTheZapperAfterTheClearOfTheEntryTheSplitWalks()
    {
        // A stop is for the entries the zapper has cleared and not finished: after the clear of page 0 the split (which
        // walks page 1) sees its own entry still mapped and takes the PTL the zapper holds, so the switch is not one
        // the race needs; after the clear of page 1 it is, up to that page's zap_finish, while the split stands at its
        // rmap walk (its ttu_start next, or inside it up to the walk): before the walk begins (its ctx_switch next)
        // the switch runs work of the split the race does not need.
        var (zapper, walker, directs) = TwoTaskDirection(Zap(pages: 3, split: 1), "R3", OpKind.ZapClear);
        int[] clears = [.. zapper.Index().Where(o => o.Item.Kind == OpKind.ZapClear).Select(o => o.Index)];
        int start = Array.FindIndex(walker, o => o.Kind == OpKind.TtuStart);
        int walk = Array.FindIndex(walker, o => o.Kind == OpKind.TtuWalk);

        Assert.False(directs(clears[0] + 1, start));
        Assert.True(directs(clears[1] + 1, start));
        Assert.True(directs(clears[1] + 1, walk));
        Assert.False(directs(clears[1] + 1, start - 1));
        Assert.False(directs(clears[1] + 2, start));
        Assert.False(directs(clears[1] + 1, walk + 1));
    }

    [Fact]
    public void Directed_R6_StopsTheRetractBeforeItClearsThePmdTheMoverMoves()
    {
        // The mover moves the second of three PMDs: a stop inside the retract's section is for it until its retract_pmd
        // has run; after that (and after retract_end) the move would find the PMD already none.
        var (retracter, _, directs) = TwoTaskDirection(Retract(pmds: 3, moved: 1), "R6", OpKind.RetractStart);
        int start = Array.FindIndex(retracter, o => o.Kind == OpKind.RetractStart);

        Assert.False(directs(start, 0));
        Assert.True(directs(start + 1, 0));
        Assert.True(directs(start + 2, 0));
        Assert.False(directs(start + 3, 0));
        Assert.False(directs(start + 4, 0));
    }

    /// <summary>The direction of <paramref name="race"/> over a two-task trace's programs: the program of the task with
    /// a <paramref name="stopsAt"/> op, the other's, and whether a switch from the first (ran last, now at its position
    /// <c>at</c>) to the other (at <c>otherAt</c>) is race-directed, both enabled.</summary>
    private static (Op[] Stopper, Op[] Other, Func<int, int, bool> Directs) TwoTaskDirection(OpTrace trace, string race, OpKind stopsAt)
    {
        var (programs, _, _) = ConeReduction.Programs(trace);
        var direction = RaceDirection.For(race, programs);
        Assert.NotNull(direction);
        int s = Array.FindIndex(programs, p => p.Any(o => o.Kind == stopsAt));
        return (programs[s], programs[1 - s],
            (at, otherAt) => direction.Directed(s, s == 0 ? [at, otherAt] : [otherAt, at], 0b11) == 1UL << (1 - s));
    }

    [Theory]
    [InlineData("R1", "v5.13")]
    [InlineData("R1", "latest")]
    [InlineData("R3", "v5.12")]
    [InlineData("R3", "latest")]
    [InlineData("R6", "v6.6")]
    [InlineData("R6", "latest")]
    [InlineData("R6 one CPU", "v6.6")]
    [InlineData("R6 one CPU", "latest")]
    public void Dpor_RaceDirectedOrder_CoversTheSameInterleavingsAndViolations(string window, string profile)
    {
        // The order only decides which alternatives run first and adds the directed switch as an alternative: run to the
        // end of the bound, the search reaches exactly what it reaches without it, so a refutation means the same.
        string race = window[..2];
        var trace = window switch
        {
            "R1" => Truncation(pages: 3, touched: 1),
            "R3" => Zap(pages: 3, split: 1),
            "R6" => Retract(pmds: 3, moved: 1),
            _ => Retract(pmds: 3, moved: 1, oneCpu: true),
        };
        Assert.NotNull(RaceDirection.For(race, ConeReduction.Programs(trace).Programs));
        var kernel = KernelProfile.Parse(profile);
        var plain = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }).Run();
        var directed = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2, Race = race }).Run();

        Assert.True(plain.Exhaustive);
        Assert.True(directed.Exhaustive);
        Assert.Equal(plain.DistinctTraces, directed.DistinctTraces);
        Assert.Equal(plain.Violations.Select(v => (v.Key, v.Preemptions)).Order(), directed.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Equal(profile == "latest", directed.Violations.Count == 0);
    }
}
