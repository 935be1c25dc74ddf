using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// Invisible page ops (docs/exploration.md, DPOR, "Invisible page ops"): a page allocation or free that no other task
/// can see runs in its predecessor's step instead of being a choice point of its own.
/// </summary>
public class InvisibleOpsTests
{
    /// <summary>
    /// A same-CPU R1 window as the raceactors recordings show them (docs/validation.md, ds4 windows 9, 15, 24, 28):
    /// `mover` holds <c>mmap_lock</c> for write and is switched out on CPU1 while `puncher`, on the same CPU, unmaps
    /// <paramref name="pages"/> pages of the range in turn; then `mover` moves the PTE table to 0x40200000 and a thread
    /// on CPU3 writes page 0 at its new address. `pusher`, on CPU0, paged out <paramref name="pushed"/> pages of another
    /// range of the mm before the window (cleared, never touched by a CPU) and inside it flushes the mm
    /// (<paramref name="flushes"/> times) and frees them, between the puncher's ops. When <paramref name="visible"/>,
    /// the CPU3 thread read each pushed page before it was cleared, so its TLB still holds them when the window
    /// starts.
    /// </summary>
    private static OpTrace SameCpuWindow(int pages, int pushed, int flushes, bool visible = false) => SameCpuWindow(pages, pushed, flushes, visible, out _);

    // As above; windowStart is the index of the puncher's first op (the ops before it are the window's start state).
    private static OpTrace SameCpuWindow(int pages, int pushed, int flushes, bool visible, out int windowStart)
    {
        var trace = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => trace.Op(task, cpu, evt, args);
        const string mover = "mover-101";
        const string puncher = "puncher-102";
        const string pusher = "pusher-103";
        const string toucher = "t3-104";
        trace.CreateMmWithPteTable(mover, 1);
        Op(mover, 1, "vma_create", "mm=1 va=0x600000 len=0x200000 rmap=2");
        Op(pusher, 0, "table_alloc", "table=7 level=pte");
        Op(pusher, 0, "pmd_populate", "mm=1 va=0x601000 table=7");
        for (int j = 0; j < pushed; j++)
        {
            string page = $"pfn=0x{0x9000 + j:x}";
            Op(pusher, 0, "page_alloc", page);
            Op(pusher, 0, "pte_set", $"mm=1 va=0x{0x601000 + (j * 0x1000):x} {page}");
            Op(pusher, 0, "map_inc", page);
        }
        if (visible)
        {
            Op(toucher, 3, "ctx_switch", "mm=1");
            for (int j = 0; j < pushed; j++)
            {
                Op(toucher, 3, "access", $"mm=1 va=0x{0x601000 + (j * 0x1000):x}");
            }
        }
        for (int j = 0; j < pushed; j++)
        {
            Op(pusher, 0, "pte_clear", $"mm=1 va=0x{0x601000 + (j * 0x1000):x}");
            Op(pusher, 0, "map_dec", $"pfn=0x{0x9000 + j:x}");
        }
        trace.MapPagesThenLockForMove(mover, pages);
        windowStart = trace.Count;
        Op(puncher, 1, "ctx_switch", "mm=0");
        int freed = 0;
        int flushed = 0;
        for (int i = 0; i < pages; i++)
        {
            trace.UnmapPage(puncher, 1, i);
            // The pusher's batch: a flush of the mm, then the frees, spread over the puncher's unmaps.
            for (int f = 0; f < (pushed + pages - 1) / pages && freed < pushed; f++)
            {
                if (flushed < flushes && freed == flushed * pushed / flushes)
                {
                    Op(pusher, 0, "tlb_flush", "mm=1 all=1");
                    flushed++;
                }
                Op(pusher, 0, "page_free", $"pfn=0x{0x9000 + freed:x}");
                freed++;
            }
        }
        Op(mover, 1, "ctx_switch", "mm=1");
        Op(mover, 1, "vma_create", "mm=1 va=0x40200000 len=0x200000 rmap=1");
        Op(mover, 1, "mremap_move_pmd", "mm=1 old=0x200000 new=0x40200000 rmap=1 spare=20");
        Op(mover, 1, "mmap_unlock", "mm=1");
        if (!visible)
        {
            Op(toucher, 3, "ctx_switch", "mm=1");
        }
        Op(toucher, 3, "access", "mm=1 va=0x40201000 write=1");
        Op(toucher, 3, "access", "mm=1 va=0x40201000 write=1");
        return trace.Load();
    }

    /// <summary>An explorer of the trace's ops from <paramref name="windowStart"/> on, from the state the ops before it leave
    /// (as a real trace's window is explored).</summary>
    private static Explorer Window(OpTrace trace, int windowStart, KernelProfile profile, ExploreOptions options, Action<ulong, int[], int> onTrace)
    {
        var start = new ReplayEngine(profile, Arch.X86);
        foreach (var op in trace.Ops[..windowStart])
        {
            start.Execute(op);
        }
        var window = new OpTrace([.. trace.Ops[windowStart..]], trace.Tasks.ToDictionary(t => t.Tid, t => t.Comm));
        return new Explorer(window, profile, Arch.X86, options, () => start.Fork(shareFrozenPages: true), []) { OnNewTrace = onTrace };
    }

    [Fact]
    public void Window_SameCpuWalkerAndMover_WithAnUnrelatedPusherOnTheOtherCpu_IsRefutedWithinASmallBudget()
    {
        // The search reorders the pusher around the CPU1 tasks, whose order rule 5 keeps. Its frees touch pages no
        // other task names and nothing can translate, so they run with the pusher's op before them; before, each was
        // a place where the recorded order switched to the pusher, and every such place was an alternative of the next
        // round (with the reduction off, as on main, 500 schedules do not cover the bound; it takes 4,311).
        var trace = SameCpuWindow(pages: 6, pushed: 40, flushes: 1);
        var v513 = KernelProfile.Parse("v5.13");

        var (windows, glued) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = 500 });
        var (_, whole) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = 500, GlueInvisibleOps = false });
        var (_, full) = OpTraceWindows.Run(trace, v513, Arch.X86, new ExploreOptions { Bound = 2, Budget = 5_000, GlueInvisibleOps = false });

        Assert.Equal("R1", Assert.Single(windows).Race);
        Assert.True(glued.Exhaustive, glued.Coverage());
        Assert.Empty(glued.Violations);
        Assert.Equal(0, glued.Infeasible);
        Assert.Equal(0, glued.Deadlocked);
        Assert.False(whole.Exhaustive, $"without the reduction 500 schedules cover the bound: {whole.Coverage()}");
        // The search without the reduction, run to the end of the bound, refutes it too, and reaches no interleaving
        // the reduced search does not (it reaches one fewer: 203 of 204).
        Assert.True(full.Exhaustive, full.Coverage());
        Assert.Empty(full.Violations);
        Assert.True(glued.DistinctTraces >= full.DistinctTraces, $"{glued.DistinctTraces} interleavings with the reduction, {full.DistinctTraces} without");
    }

    [Fact]
    public void Window_SameCpuWalkerAndMover_TheReductionReachesEveryInterleavingTheFullSearchReaches()
    {
        // Run to the end of bound 2 both ways (a smaller pusher, so the full search ends): the same interleavings
        // (Mazurkiewicz traces) and the same violations, in far fewer schedules.
        var trace = SameCpuWindow(pages: 4, pushed: 12, flushes: 2, visible: false, out int windowStart);
        var v513 = KernelProfile.Parse("v5.13");
        var glued = new HashSet<ulong>();
        var whole = new HashSet<ulong>();

        var withGlue = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Race = "R1" }, (t, _, _) => glued.Add(t));
        var a = withGlue.Run();
        var b = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Race = "R1", GlueInvisibleOps = false }, (t, _, _) => whole.Add(t)).Run();

        Assert.Equal(12, withGlue.InvisibleOps);
        Assert.True(a.Exhaustive && b.Exhaustive);
        Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Equal(whole.Order(), glued.Order());
        Assert.True(a.Schedules * 2 < b.Schedules, $"{a.Schedules} schedules with the reduction, {b.Schedules} without");
    }

    [Fact]
    public void Explorer_PageFreesACpuCanStillTranslate_StayChoicePointsAndTheVerdictIsUnchanged()
    {
        // The same pusher, but the CPU3 thread read its pages before they were cleared: CPU3's TLB holds them when the
        // exploration starts, so a free may meet a usable entry (I1) depending on where the pusher's flush runs. None of
        // those frees is invisible, and the search finds what the search without the reduction finds.
        var trace = SameCpuWindow(pages: 3, pushed: 6, flushes: 1, visible: true, out int windowStart);
        var none = KernelProfile.Parse("none");
        var glued = new HashSet<ulong>();
        var whole = new HashSet<ulong>();

        var withGlue = Window(trace, windowStart, none, new ExploreOptions { Bound = 2, GlueOwnMmapLocks = false }, (t, _, _) => glued.Add(t));
        var a = withGlue.Run();
        var b = Window(trace, windowStart, none, new ExploreOptions { Bound = 2, GlueInvisibleOps = false }, (t, _, _) => whole.Add(t)).Run();

        Assert.Equal(0, withGlue.InvisibleOps);
        Assert.True(a.Exhaustive && b.Exhaustive);
        Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Equal(whole.Order(), glued.Order());
        Assert.Equal(b.Schedules, a.Schedules);
    }

    /// <summary>
    /// A collapse window as ds1's R2 windows 77–83 show it (docs/validation.md): `pinner`, a thread of mm 2, mapped
    /// <paramref name="pages"/> pages (pfn 0x5000 on) through PTE table 5 and read each on CPU0, then `csc` (mm 7) took
    /// CPU0: CPU0 keeps mm 2's entries of them, not running it. khugepaged, a kernel thread on CPU1, collapses the range:
    /// <c>collapse_flush</c> (PMD cleared, 2 MiB flushed), each PTE of the old table cleared and unaccounted, the table
    /// deposited and the huge PMD set; then it frees the old pages while `csc` runs on CPU0 (taking and dropping mm 7's
    /// lock, flushing mm 7) and `pinner` switches back into mm 2 on CPU2. With <paramref name="walker"/>, `gup` on CPU3
    /// runs GUP-fast over the range: IRQs off, it reads the PMD (before the clear, in the recorded order), then entry 1 of
    /// the table it found, takes a speculative reference on what that entry mapped (pfn 0x5001) and re-reads the PMD.
    /// </summary>
    private static OpTrace CollapseWindow(int pages, bool walker, out int windowStart, bool sharedLock = false)
    {
        var trace = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => trace.Op(task, cpu, evt, args);
        const string pinner = "pinner-201";
        const string csc = "csc-202";
        const string gup = "gup-203";
        const string khugepaged = "khugepaged-41";
        trace.CreateMmWithPteTable(pinner, 0, mm: 2, at: 0x200000);
        for (int i = 0; i < pages; i++)
        {
            string page = $"pfn=0x{0x5000 + i:x}";
            Op(pinner, 0, "page_alloc", page);
            Op(pinner, 0, "pte_set", $"mm=2 va=0x{0x200000 + (i * 0x1000):x} {page}");
            Op(pinner, 0, "map_inc", page);
        }
        Op(pinner, 0, "ctx_switch", "mm=2");
        for (int i = 0; i < pages; i++)
        {
            Op(pinner, 0, "access", $"mm=2 va=0x{0x200000 + (i * 0x1000):x}");
        }
        Op(csc, 0, "mm_create", "mm=7 table=20");
        Op(csc, 0, "ctx_switch", "mm=7");
        Op(khugepaged, 1, "ctx_switch", "mm=0");
        Op(khugepaged, 1, "page_alloc", "pfn=0x8000 order=9");
        if (walker)
        {
            Op(gup, 3, "ctx_switch", "mm=2");
        }
        windowStart = trace.Count;
        if (sharedLock)
        {
            // A thread of csc's process (mm 7) takes that mm's mmap_lock too.
            Op("csc2-204", 2, "mmap_lock", "mm=7 mode=r");
            Op("csc2-204", 2, "mmap_unlock", "mm=7");
        }
        Op(khugepaged, 1, "mmap_lock", "mm=2 mode=w");
        Op(khugepaged, 1, "rmap_lock", "rmap=1 mode=w");
        if (walker)
        {
            Op(gup, 3, "irq_disable", "");
            Op(gup, 3, "entry_read", "mm=2 va=0x200000 level=pmd lockless=1");
        }
        Op(khugepaged, 1, "collapse_flush", "mm=2 va=0x200000 ipi=0");
        Op(khugepaged, 1, "rmap_unlock", "rmap=1");
        if (walker)
        {
            Op(gup, 3, "entry_read", "table=5 idx=1 lockless=1");
            Op(gup, 3, "ref_try_get", "pfn=0x5001");
        }
        for (int i = 0; i < pages; i++)
        {
            Op(khugepaged, 1, "pte_clear", $"table=5 idx={i}");
            Op(khugepaged, 1, "map_dec", $"pfn=0x{0x5000 + i:x}");
        }
        Op(khugepaged, 1, "table_deposit", "mm=2 va=0x200000 table=5");
        Op(khugepaged, 1, "pmd_set_huge", "mm=2 va=0x200000 pfn=0x8000");
        Op(khugepaged, 1, "map_inc", "pfn=0x8000 level=pmd");
        for (int i = 0; i < pages; i++)
        {
            Op(khugepaged, 1, "page_free", $"pfn=0x{0x5000 + i:x}");
            // What ran on the other CPUs while khugepaged freed the old pages.
            if (i % 4 == 0)
            {
                Op(csc, 0, "mmap_lock", "mm=7 mode=r");
                Op(csc, 0, "tlb_flush", "mm=7 all=1");
                Op(csc, 0, "mmap_unlock", "mm=7");
            }
            if (i == pages / 2)
            {
                Op(pinner, 2, "ctx_switch", "mm=2");
            }
        }
        if (walker)
        {
            Op(gup, 3, "entry_read", "mm=2 va=0x200000 level=pmd lockless=1");
            Op(gup, 3, "irq_enable", "");
        }
        Op(khugepaged, 1, "mmap_unlock", "mm=2");
        return trace.Load();
    }

    [Fact]
    public void Window_CollapseFreesAfterItsFlush_AreGluedAndTheWindowIsRefutedWithinASmallBudget()
    {
        // Every old page was mapped and cached (CPU0) when the window starts, so the free of each is not invisible by
        // the start state; but once khugepaged has cleared its PTE, and its flush has left CPU0's entries dead (CPU0 does
        // not run mm 2, and a switch back into it flushes it), nothing can reach the page: the frees run with the
        // op before them. Without that, each free is a place where the recorded order switches to another task, and
        // 400 schedules do not cover the bound.
        var trace = CollapseWindow(pages: 24, walker: false, out int windowStart);
        var v513 = KernelProfile.Parse("v5.13");

        var reduced = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Budget = 400, Race = "R2" }, (_, _, _) => { });
        var a = reduced.Run();
        var b = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Budget = 400, Race = "R2", GlueUnreachableFrees = false, GlueOwnMmapLocks = false },
            (_, _, _) => { }).Run();

        Assert.Equal(24, reduced.ConditionalFrees);
        Assert.True(reduced.GluedFrees > 0);
        Assert.True(a.Exhaustive, a.Coverage());
        Assert.Empty(a.Violations);
        Assert.Equal(0, a.Infeasible);
        Assert.Equal(0, a.Deadlocked);
        Assert.False(b.Exhaustive, $"without the conditional frees 400 schedules cover the bound: {b.Coverage()}");
    }

    [Fact]
    public void Window_CollapseFrees_TheReductionReachesEveryInterleavingAndViolationTheFullSearchReaches()
    {
        // Both searches to the end of bound 2 on a smaller collapse, with the GUP-fast walker and without, under a
        // profile with R2's bug and one without: the same violations with the same preemptions, and the same
        // interleavings (Mazurkiewicz traces), the reduced one in fewer schedules.
        foreach (bool walker in new[] { false, true })
        {
            foreach (var name in new[] { "v5.13", "latest" })
            {
                var trace = CollapseWindow(pages: 6, walker, out int windowStart);
                var profile = KernelProfile.Parse(name);
                var glued = new HashSet<ulong>();
                var whole = new HashSet<ulong>();

                var reduced = Window(trace, windowStart, profile, new ExploreOptions { Bound = 2 }, (t, _, _) => glued.Add(t));
                var a = reduced.Run();
                var b = Window(trace, windowStart, profile, new ExploreOptions { Bound = 2, GlueUnreachableFrees = false }, (t, _, _) => whole.Add(t)).Run();

                Assert.True(a.Exhaustive && b.Exhaustive, $"{name} walker={walker}: {a.Coverage()} / {b.Coverage()}");
                Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
                Assert.Equal(whole.Order(), glued.Order());
                Assert.True(a.Schedules <= b.Schedules, $"{name} walker={walker}: {a.Schedules} schedules with the reduction, {b.Schedules} without");
            }
        }
    }

    [Fact]
    public void Window_GupFastWalkerThatReadThePmdBeforeTheClear_KeepsTheFreeOfThePageItReachesAChoicePoint()
    {
        // The walker read the PMD before collapse_flush cleared it, so it walks the old table and takes a reference on
        // pfn 0x5001: the race's own walker. The free of that page must stay a choice point, and so must those of the
        // pages of its 2 MiB block (a reference names a page that may be the head or a tail of a huge one); without
        // the walker all eight glue. The search still finds R2 (the table deposited under the walker's IRQ-off
        // section, I2) under v5.13, as the search without the reduction does.
        var trace = CollapseWindow(pages: 8, walker: true, out int windowStart);
        var quiet = CollapseWindow(pages: 8, walker: false, out int quietStart);
        var v513 = KernelProfile.Parse("v5.13");

        var reduced = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Race = "R2" }, (_, _, _) => { });
        var a = reduced.Run();
        var b = Window(trace, windowStart, v513, new ExploreOptions { Bound = 2, Race = "R2", GlueUnreachableFrees = false }, (_, _, _) => { }).Run();

        Assert.Equal(0, reduced.ConditionalFrees);
        Assert.Equal(8, Window(quiet, quietStart, v513, new ExploreOptions { Bound = 2 }, (_, _, _) => { }).ConditionalFrees);
        Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Contains(a.Violations, v => v.Finding.Checker == "I2");
    }

    /// <summary>
    /// A window where another task can reach a page again after it became unreachable: `zapper` (CPU1, a kernel thread)
    /// unmaps page 0x5000 (PTE table 5 entry 0, which `owner` set and filled on CPU0 before `csc` took CPU0) and frees
    /// it; another task then reads the cleared entry, which keeps it after the clear (docs/exploration.md, feasibility
    /// rule 4), and reaches the page:
    /// <list type="bullet">
    /// <item>"remap": the zapper flushes mm 2 first; `other` (CPU2, running mm 2) maps the page again at 0x207000
    /// (entry 7, a slot that did not map it when the window started) and reads it there;</item>
    /// <item>"move": `other` moved the PTE to 0x207000 before the zapper flushed and cleared (the zapper clears an empty
    /// slot), and reads the page at its new address;</item>
    /// <item>"switch": the zapper does not flush; `owner`, which caught up with a flush of another range of mm 2 on
    /// CPU0 before it left (so CPU0's entry of the page is not dead: a switch back into mm 2 does not flush it),
    /// switches back into mm 2 on CPU0.</item>
    /// </list>
    /// </summary>
    private static OpTrace ReachableAgainWindow(string how, out int windowStart)
    {
        var trace = new OpTraceBuilder();
        void Op(string task, int cpu, string evt, string args) => trace.Op(task, cpu, evt, args);
        const string owner = "owner-301";
        const string zapper = "zapper-302";
        const string other = "other-303";
        const string csc = "csc-304";
        bool flushes = how != "switch";
        trace.CreateMmWithPteTable(owner, 0, mm: 2, at: 0x200000);
        Op(owner, 0, "page_alloc", "pfn=0x5000");
        Op(owner, 0, "pte_set", "mm=2 va=0x200000 pfn=0x5000");
        Op(owner, 0, "map_inc", "pfn=0x5000");
        Op(owner, 0, "ctx_switch", "mm=2");
        Op(owner, 0, "access", "mm=2 va=0x200000");
        if (!flushes)
        {
            // tlb_gen moves on while CPU0 runs mm 2, so CPU0 catches up; its entry of 0x200000 is out of the range.
            Op(owner, 0, "tlb_flush", "mm=2 va=0x300000 len=0x1000");
        }
        Op(csc, 0, "mm_create", "mm=7 table=20");
        Op(csc, 0, "ctx_switch", "mm=7");
        Op(zapper, 1, "ctx_switch", "mm=0");
        if (flushes)
        {
            Op(other, 2, "ctx_switch", "mm=2");
        }
        windowStart = trace.Count;
        if (how == "move")
        {
            Op(other, 2, "pte_move", "mm=2 old=0x200000 new=0x207000");
        }
        Op(zapper, 1, "map_dec", "pfn=0x5000");
        if (flushes)
        {
            Op(zapper, 1, "tlb_flush", "mm=2 all=1");
        }
        Op(zapper, 1, "pte_clear", "table=5 idx=0");
        Op(zapper, 1, "page_free", "pfn=0x5000");
        if (flushes)
        {
            Op(other, 2, "entry_read", "table=5 idx=0");
            if (how == "remap")
            {
                Op(other, 2, "pte_set", "mm=2 va=0x207000 pfn=0x5000");
            }
            Op(other, 2, "access", "mm=2 va=0x207000");
        }
        else
        {
            Op(owner, 2, "entry_read", "table=5 idx=0");
            Op(owner, 0, "ctx_switch", "mm=2");
        }
        return trace.Load();
    }

    [Theory]
    [InlineData("remap")]
    [InlineData("move")]
    [InlineData("switch")]
    public void Window_AFreeWhoseFrameAnotherTaskCanReachAgain_StaysAChoicePointAndItsI1IsFound(string how)
    {
        // Right after the zapper's clear nothing reaches the page: the start state's only PTE of it is empty and CPU0's
        // entry is dead (flushed while CPU0 ran mm 7) or not usable (CPU0 runs mm 7). But the other task can map it again
        // or use the PTE it moved, and fill it on CPU2, or the owner can switch back into mm 2 on CPU0 without a flush,
        // and only after the clear: if the free ran with the clear wherever the page is unreachable there, the free
        // after them (I1: a usable TLB entry of a freed page) would be unreachable. The unreduced search finds it with
        // 1 preemption (the zapper preempted before its free); so must the reduced one, and the free must never run
        // glued.
        var trace = ReachableAgainWindow(how, out int windowStart);
        var latest = KernelProfile.Parse("latest");

        var reduced = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2 }, (_, _, _) => { });
        var a = reduced.Run();
        var b = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2, GlueUnreachableFrees = false }, (_, _, _) => { }).Run();

        Assert.True(a.Exhaustive && b.Exhaustive, $"{a.Coverage()} / {b.Coverage()}");
        var i1 = Assert.Single(b.Violations, v => v.Finding.Checker == "I1");
        Assert.Equal(1, i1.Preemptions);
        Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
        Assert.Equal(0, reduced.GluedFrees);
    }

    [Fact]
    public void Window_CollapseWhileAnotherProcessTakesItsOwnMmapLock_IsRefutedWithinTheDefaultBudget()
    {
        // ds1's R2 windows (docs/validation.md, s33: 1,164 of window 78's 1,211 preempting schedules stopped `csc` at its
        // own mmap_lock, mmap_unlock or flush of mm 7 to run khugepaged): `csc` takes and drops mm 7's mmap_lock while
        // khugepaged frees the collapsed pages, and nothing else in the window touches that lock. Its lock ops are no
        // choice points any more, and the collapse against the GUP-fast walker under `latest` is refuted within the
        // default 2,000 schedules of a real trace's window; as choice points (main) they leave it undecided.
        var trace = CollapseWindow(pages: 24, walker: true, out int windowStart);
        var latest = KernelProfile.Parse("latest");
        long budget = RealTraceExplore.DefaultWindowBudget;

        var reduced = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2, Budget = budget, Race = "R2" }, (_, _, _) => { });
        var a = reduced.Run();
        var b = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2, Budget = budget, Race = "R2", GlueOwnMmapLocks = false }, (_, _, _) => { }).Run();

        Assert.Equal(12, reduced.OwnLockOps);
        Assert.True(a.Exhaustive, a.Coverage());
        Assert.Empty(a.Violations);
        // The search with them as choice points, run to the end of the bound: the same interleavings, and the same
        // schedules cut with every task waiting (khugepaged's IPI sync against the walker's IRQ-off section).
        var full = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2, Budget = 20_000, Race = "R2", GlueOwnMmapLocks = false }, (_, _, _) => { }).Run();
        Assert.True(full.Exhaustive, full.Coverage());
        Assert.Equal((full.DistinctTraces, full.Infeasible, full.Deadlocked), (a.DistinctTraces, a.Infeasible, a.Deadlocked));
        Assert.False(b.Exhaustive, $"with csc's lock ops as choice points {budget:N0} schedules cover the bound: {b.Coverage()}");
    }

    [Fact]
    public void Window_OwnMmapLocks_TheReductionReachesEveryInterleavingAndViolationTheFullSearchReaches()
    {
        // Both searches to the end of bound 2, with the GUP-fast walker and without, under a profile with R2's bug and
        // one without: the same violations with the same preemptions (the I2 under v5.13), the same interleavings
        // (Mazurkiewicz traces), the reduced one in fewer schedules (v5.13 with the walker: 422 against 525 at 6 pages).
        foreach (int pages in new[] { 6, 12 })
        {
            foreach (bool walker in new[] { false, true })
            {
                foreach (var name in new[] { "v5.13", "latest" })
                {
                    var trace = CollapseWindow(pages, walker, out int windowStart);
                    var profile = KernelProfile.Parse(name);
                    var glued = new HashSet<ulong>();
                    var whole = new HashSet<ulong>();

                    var reduced = Window(trace, windowStart, profile, new ExploreOptions { Bound = 2, Race = "R2" }, (t, _, _) => glued.Add(t));
                    var a = reduced.Run();
                    var b = Window(trace, windowStart, profile, new ExploreOptions { Bound = 2, Race = "R2", GlueOwnMmapLocks = false }, (t, _, _) => whole.Add(t)).Run();

                    string what = $"{pages} pages, {name}, walker={walker}";
                    Assert.True(reduced.OwnLockOps > 0, what);
                    Assert.True(a.Exhaustive && b.Exhaustive, $"{what}: {a.Coverage()} / {b.Coverage()}");
                    Assert.Equal(b.Violations.Select(v => (v.Key, v.Preemptions)).Order(), a.Violations.Select(v => (v.Key, v.Preemptions)).Order());
                    Assert.Equal(walker && name == "v5.13", a.Violations.Any(v => v.Finding.Checker == "I2"));
                    Assert.Equal(whole.Order(), glued.Order());
                    Assert.True(a.Schedules < b.Schedules, $"{what}: {a.Schedules} schedules with the reduction, {b.Schedules} without");
                }
            }
        }
    }

    [Fact]
    public void Window_AnMmapLockAnotherTaskAlsoTakes_StaysAChoicePoint()
    {
        // The same window with the GUP-fast thread faulting in mm 7 under its mmap_lock first: two tasks take that lock,
        // so csc's lock ops may wait for it and stay choice points (rule 8's hand-over orders them against it).
        var trace = CollapseWindow(pages: 6, walker: false, out int windowStart, sharedLock: true);
        var latest = KernelProfile.Parse("latest");

        var reduced = Window(trace, windowStart, latest, new ExploreOptions { Bound = 2, Race = "R2" }, (_, _, _) => { });
        var a = reduced.Run();

        // Only khugepaged's mmap_unlock of mm 2 (nothing else in the window takes that lock; its mmap_lock is its first op).
        Assert.Equal(1, reduced.OwnLockOps);
        Assert.True(a.Exhaustive, a.Coverage());
        Assert.Empty(a.Violations);
    }
}
