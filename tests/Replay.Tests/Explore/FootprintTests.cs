using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

public class FootprintTests
{
    // Two mms on two CPUs, each with one page mapped and accessed (its TLB entry and paging-structure entries filled on
    // its own CPU), a PTE table (20) allocated but not linked, and the page of mm 1 unmapped.
    private const string Prefix = """
        a-101 [000] ..... 0.000001: mmop_mm_create: mm=1 table=1
        a-101 [000] ..... 0.000002: mmop_ctx_switch: mm=1
        a-101 [000] ..... 0.000003: mmop_table_alloc: table=2 level=p4d
        a-101 [000] ..... 0.000004: mmop_pgd_populate: mm=1 va=0x0 table=2
        a-101 [000] ..... 0.000005: mmop_table_alloc: table=3 level=pud
        a-101 [000] ..... 0.000006: mmop_p4d_populate: mm=1 va=0x0 table=3
        a-101 [000] ..... 0.000007: mmop_table_alloc: table=4 level=pmd
        a-101 [000] ..... 0.000008: mmop_pud_populate: mm=1 va=0x0 table=4
        a-101 [000] ..... 0.000009: mmop_table_alloc: table=5 level=pte
        a-101 [000] ..... 0.000010: mmop_pmd_populate: mm=1 va=0x200000 table=5
        a-101 [000] ..... 0.000011: mmop_vma_create: mm=1 va=0x200000 len=0x200000
        a-101 [000] ..... 0.000012: mmop_page_alloc: pfn=0x5000
        a-101 [000] ..... 0.000013: mmop_pte_set: mm=1 va=0x201000 pfn=0x5000
        a-101 [000] ..... 0.000014: mmop_access: mm=1 va=0x201000
        b-102 [001] ..... 0.000015: mmop_mm_create: mm=2 table=11
        b-102 [001] ..... 0.000016: mmop_ctx_switch: mm=2
        b-102 [001] ..... 0.000017: mmop_table_alloc: table=12 level=p4d
        b-102 [001] ..... 0.000018: mmop_pgd_populate: mm=2 va=0x0 table=12
        b-102 [001] ..... 0.000019: mmop_table_alloc: table=13 level=pud
        b-102 [001] ..... 0.000020: mmop_p4d_populate: mm=2 va=0x0 table=13
        b-102 [001] ..... 0.000021: mmop_table_alloc: table=14 level=pmd
        b-102 [001] ..... 0.000022: mmop_pud_populate: mm=2 va=0x0 table=14
        b-102 [001] ..... 0.000023: mmop_table_alloc: table=15 level=pte
        b-102 [001] ..... 0.000024: mmop_pmd_populate: mm=2 va=0x200000 table=15
        b-102 [001] ..... 0.000025: mmop_vma_create: mm=2 va=0x200000 len=0x200000
        b-102 [001] ..... 0.000026: mmop_page_alloc: pfn=0x6000
        b-102 [001] ..... 0.000027: mmop_pte_set: mm=2 va=0x201000 pfn=0x6000
        b-102 [001] ..... 0.000028: mmop_access: mm=2 va=0x201000
        a-101 [000] ..... 0.000029: mmop_table_alloc: table=20 level=pte
        a-101 [000] ..... 0.000030: mmop_pte_clear: mm=1 va=0x201000
        """;

    private static (ReplayEngine Engine, Func<string, Footprint> Of) Setup(string extra = "") => Setup(KernelProfile.Latest, extra);

    private static (ReplayEngine Engine, Func<string, Footprint> Of) Setup(KernelProfile profile, string extra = "")
    {
        var engine = new ReplayEngine(profile, Arch.X86);
        foreach (var op in OpTraceLoader.Load(TraceText.ToRows(Prefix + extra)).Ops.ToArray())
        {
            engine.Execute(op);
        }
        Assert.DoesNotContain(engine.Findings, f => f.Class == FindingClass.Inconsistent);
        int[] cpus = [0, 1];
        Footprint Of(string line)
        {
            var op = OpTraceLoader.Load(TraceText.ToRows(line)).Ops.ToArray()[0];
            var fp = new Footprint();
            fp.Of(op, engine, cpus);
            return fp;
        }
        return (engine, Of);
    }

    [Fact]
    public void Footprint_TableDeposit_ConflictsWithTheIrqAndRcuSectionsOfOtherCpus()
    {
        // pgtable_trans_huge_deposit reuses an unlinked PTE table, and I2 checks that reuse against every other CPU's
        // open IRQ-off/RCU section, as it checks a free: the deposit and an irq_enable on another CPU do not commute
        // (a GUP-fast section that read the link to the table before its unlink is still open in one order, closed
        // in the other). The commutation oracle found it on r2-anon under `none`; before, the deposit wrote only the
        // table and the mm's tables, and DPOR took it to commute with every IRQ and RCU op.
        var (_, of) = Setup();
        var deposit = of("a-101 [000] ..... 1.0: mmop_table_deposit: mm=1 va=0x200000 table=20");

        Assert.True(deposit.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_irq_enable:")));
        Assert.True(deposit.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_rcu_unlock:")));
        Assert.False(deposit.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_access: mm=2 va=0x201000")));
    }

    [Fact]
    public void Footprint_SplitPtlAcquisition_CommutesWithEntryReadsButNotWithTheUnlock()
    {
        // spin_lock(ptl) changes no entry and opens a section with no writes, which is all a lockless reader's I3
        // observation looks at; the unlock ends the section. Before, every entry read read the lock, which the
        // acquisition writes.
        var (_, of) = Setup();
        var read = of("b-102 [001] ..... 1.0: mmop_entry_read: mm=1 va=0x201000 level=pte lockless=1");

        Assert.False(read.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_ptl_lock: mm=1 va=0x201000 level=pte")));
        Assert.True(read.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_ptl_unlock: mm=1 va=0x201000 level=pte")));
        // A store into the table still conflicts with both (the table's entries, the lock's holder).
        var store = of("b-102 [001] ..... 1.0: mmop_pte_clear: mm=1 va=0x202000");
        Assert.True(store.ConflictsWith(read));
        Assert.True(store.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_ptl_lock: mm=1 va=0x201000 level=pte")));
    }

    [Fact]
    public void Footprint_SplitPtlNamedByTable_IsTheLockNotTheMmsTables()
    {
        // khugepaged's collapse holds a PTE table's lock by id. Taking it wrote the table and the whole page-table state
        // of its mm, so it conflicted with every walk of the mm; it is the lock (the table and the mm's tables read).
        var (_, of) = Setup();
        var named = of("c-103 [000] ..... 1.0: mmop_ptl_lock: table=5");

        Assert.False(named.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_access: mm=1 va=0x201000")));
        Assert.False(named.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_entry_read: mm=1 va=0x200000 level=pmd lockless=1")));
        // The same lock taken by address, and a step rewriting the mm's tables, still conflict with it.
        Assert.True(named.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_ptl_lock: mm=1 va=0x201000 level=pte")));
        Assert.True(named.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_mremap_move_pmd: mm=1 old=0x200000 new=0x40200000 spare=30")));
    }

    [Fact]
    public void Footprint_MmapLockReadSide_CommutesUnlessATaskIsParkedOnTheLock()
    {
        // down_read and up_read of a read hold only count readers; with a writer parked on the lock, a release may hand
        // it over, and an acquisition after that waits.
        var (_, of) = Setup("\nc-103 [000] ..... 0.000031: mmop_mmap_lock: mm=1 mode=r\n");
        var readLock = of("d-104 [001] ..... 1.0: mmop_mmap_lock: mm=1 mode=r");
        var readUnlock = of("c-103 [000] ..... 1.0: mmop_mmap_unlock: mm=1");

        Assert.False(readLock.ConflictsWith(readUnlock));
        Assert.False(readLock.ConflictsWith(of("e-105 [001] ..... 1.0: mmop_mmap_lock: mm=1 mode=r")));
        Assert.True(readLock.ConflictsWith(of("e-105 [001] ..... 1.0: mmop_mmap_lock: mm=1 mode=w")));

        var (_, parked) = Setup("\nc-103 [000] ..... 0.000031: mmop_mmap_lock: mm=1 mode=r\ne-105 [001] ..... 0.000032: mmop_mmap_lock: mm=1 mode=w\n");
        Assert.True(parked("c-103 [000] ..... 1.0: mmop_mmap_unlock: mm=1").ConflictsWith(parked("d-104 [001] ..... 1.0: mmop_mmap_lock: mm=1 mode=r")));
    }

    [Fact]
    public void Footprint_RmapWalkStart_TouchesTheRmapLockNotThePage()
    {
        // try_to_unmap's rmap_walk begins by taking the anon_vma / i_mmap lock; the page is touched by the walk's later
        // steps. Before, ttu_start and ttu_end wrote the page, so a fault's map_inc or a zap's refcount drop of it
        // conflicted with the walker's lock ops. ttu_end reads the page where the profile asserts the mapcount after
        // the walk (split's VM_BUG_ON), which I3 judges.
        var (_, of) = Setup();
        var start = of("w-106 [001] ..... 1.0: mmop_ttu_start: pfn=0x5000 rmap=1 assert=1");

        Assert.False(start.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_map_inc: pfn=0x5000")));
        Assert.False(start.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_ref_put: pfn=0x5000")));
        Assert.True(start.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_rmap_lock: rmap=1 mode=w")));
        Assert.False(of("w-106 [001] ..... 1.0: mmop_ttu_end: pfn=0x5000 rmap=1").ConflictsWith(of("a-101 [000] ..... 1.0: mmop_map_inc: pfn=0x5000")));
        Assert.True(of("w-106 [001] ..... 1.0: mmop_ttu_end: pfn=0x5000 rmap=1 assert=1").ConflictsWith(of("a-101 [000] ..... 1.0: mmop_map_inc: pfn=0x5000")));
    }

    [Fact]
    public void Footprint_PageFree_ConflictsOnlyWithWhatChangesTheUsableTlbEntriesOfThatPage()
    {
        // I1 at a page's free looks at the usable TLB entries that map it. CPU0 still holds 0x201000 -> 0x5000 of mm 1
        // (cleared, not flushed): the free conflicts with a flush of mm 1 and a context switch of CPU0, not with a
        // flush of mm 2 or a context switch of CPU1, which cache nothing of that page. Before, every page_free read
        // every mm's TLB on every CPU and raced with every flush and context switch.
        var (_, of) = Setup();
        var free = of("a-101 [000] ..... 1.0: mmop_page_free: pfn=0x5000");

        Assert.True(free.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_tlb_flush: mm=1 va=0x201000 len=0x1000")));
        Assert.True(free.ConflictsWith(of("c-103 [000] ..... 1.0: mmop_ctx_switch: mm=0")));
        Assert.False(free.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_tlb_flush: mm=2 va=0x201000 len=0x1000")));
        Assert.False(free.ConflictsWith(of("c-103 [001] ..... 1.0: mmop_ctx_switch: mm=0")));
        // A new access of mm 2 on CPU1 fills entries for 0x6000 only.
        Assert.False(free.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_access: mm=2 va=0x201000 write=1")));
    }

    [Fact]
    public void Footprint_TableFrees_TouchTheirTableTheQueueAndTheWalkCachesThatNameIt()
    {
        var (_, of) = Setup();
        var queue = of("a-101 [000] ..... 1.0: mmop_table_free: table=20 free=rcu");
        var switchCpu1 = of("c-103 [001] ..... 1.0: mmop_ctx_switch: mm=0");
        var flushMm2 = of("b-102 [001] ..... 1.0: mmop_tlb_flush: mm=2 va=0x201000 len=0x1000");
        var flushMm1 = of("a-101 [000] ..... 1.0: mmop_tlb_flush: mm=1 va=0x201000 len=0x1000");
        var gpEnd = of("rcu-104 [001] ..... 1.0: mmop_rcu_gp_end: ");

        // tlb_remove_table only queues the table: no TLB, no walk cache is looked at. Two queueings commute; the grace
        // period's end conflicts with each.
        Assert.False(queue.ConflictsWith(switchCpu1));
        Assert.False(queue.ConflictsWith(flushMm1));
        Assert.False(queue.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_table_free: table=15 free=rcu")));
        Assert.True(queue.ConflictsWith(gpEnd));
        // A grace period with nothing queued frees nothing: it commutes with context switches and flushes.
        Assert.False(gpEnd.ConflictsWith(switchCpu1));
        Assert.False(gpEnd.ConflictsWith(flushMm2));
        // Two flushes of different mms only wait on the CPUs' IRQ-off sections: they commute.
        Assert.False(flushMm1.ConflictsWith(flushMm2));

        // An immediate free of a table is checked by I2 against every CPU's IRQ-off section: it conflicts with another
        // CPU's irq_enable (before, the free touched no section state and the two were taken to commute).
        var freeNow = of("a-101 [000] ..... 1.0: mmop_table_free: table=20");
        Assert.True(freeNow.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_irq_enable: ")));
    }

    [Fact]
    public void Footprint_GracePeriodEnd_ReadsTheWalkCachesOfTheMmsWhoseTablesItFrees()
    {
        // mm 1's PTE table 5 is unlinked and queued for RCU; CPU0 still has mm 1 loaded and its paging-structure cache
        // names table 5. The grace period's free of table 5 is checked (I1) against that cache: it conflicts with
        // CPU0's switch away from mm 1 and with a flush of mm 1, not with CPU1's switch or a flush of mm 2.
        var (_, of) = Setup("""

            a-101 [000] ..... 0.000031: mmop_pmd_clear: mm=1 va=0x200000
            a-101 [000] ..... 0.000032: mmop_table_free: table=5 free=rcu
            """);
        var gpEnd = of("rcu-104 [001] ..... 1.0: mmop_rcu_gp_end: ");

        Assert.True(gpEnd.ConflictsWith(of("c-103 [000] ..... 1.0: mmop_ctx_switch: mm=0")));
        Assert.True(gpEnd.ConflictsWith(of("a-101 [000] ..... 1.0: mmop_tlb_flush: mm=1 va=0x200000 len=0x200000 tables=1")));
        Assert.False(gpEnd.ConflictsWith(of("c-103 [001] ..... 1.0: mmop_ctx_switch: mm=0")));
        Assert.False(gpEnd.ConflictsWith(of("b-102 [001] ..... 1.0: mmop_tlb_flush: mm=2 va=0x201000 len=0x1000")));
    }

    [Fact]
    public void MremapMovePmd_TouchesTheRmapLockOnlyWhereTheProfileTakesIt()
    {
        // R1's bug is a PMD move without take_rmap_locks: before the fix (v5.13) a move without need_rmap_locks takes no
        // rmap lock, so it commutes with a walker's rmap lock hold (ttu_start / ttu_end of the same rmap object); the
        // walk itself still conflicts with it through the tables. With the fix (v5.13.3, latest), or need_rmap_locks
        // (copy_vma merged into an existing VMA), it takes the lock and conflicts with the walker's hold. Before, the
        // move conflicted with the hold under every profile: on perf's recording of raceactors (docs/validation.md,
        // s36) that kept window 16 undecided at the default 2,000 schedules (2,273 needed; 1,406 now).
        const string move = "m-104 [001] ..... 1.0: mmop_mremap_move_pmd: mm=1 old=0x200000 new=0x40200000 rmap=3";
        const string start = "w-105 [000] ..... 1.0: mmop_ttu_start: pfn=0x5000 rmap=3";
        const string walk = "w-105 [000] ..... 1.0: mmop_ttu_walk: mm=1 va=0x201000 pfn=0x5000";
        foreach (var (profile, locks) in new[] { ("v5.13", false), ("v4.3", false), ("v5.13.3", true), ("latest", true) })
        {
            var (_, of) = Setup(KernelProfile.Parse(profile));
            Assert.True(locks == of(move).ConflictsWith(of(start)), $"{profile}: a move {(locks ? "takes" : "takes no")} rmap lock");
            Assert.True(of(move + " need_rmap_locks=1").ConflictsWith(of(start)), profile);
            Assert.True(of(move).ConflictsWith(of(walk)), profile);
        }
    }
}
