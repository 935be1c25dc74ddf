using Pipeline.Replay.Lowering;
using Pipeline.Replay.Exposure;
using static Pipeline.Replay.Tests.Lowering.LoweringInput;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary>Lowering of hand-built event sequences (in the kernel's own text form) and of the recorded corpus.</summary>
public sealed class TraceLoweringTests
{
    private const string Mm = "0000000036eb11cf";
    private const string UserPage = "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP";
    private const string TablePage = "migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP";

    private static LoweringInput Fault(LoweringInput input, ulong va, ulong pfn, bool withTable = false, int pid = 100, int cpu = 0)
    {
        input.Line("mmwork", pid, cpu, $"page_fault_user: address=0x{va:x} ip=0x401000 error_code=0x6");
        if (withTable)
        {
            input.Line("mmwork", pid, cpu, $"mm_page_alloc: page=0000000011111111 pfn=0x{pfn + 0x100000:x} order=0 {TablePage}");
        }
        return input.Line("mmwork", pid, cpu, $"mm_page_alloc: page=0000000022222222 pfn=0x{pfn:x} order=0 {UserPage}");
    }

    private static LoweringInput Mmap(LoweringInput input, ulong at, ulong len) => input
        .Line("mmwork", 100, 0, $"sys_mmap(addr: 0, len: 0x{len:x}, prot: 3, flags: 0x22, fd: 0xffffffffffffffff, off: 0)")
        .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
        .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
        .Line("mmwork", 100, 0, $"sys_mmap -> 0x{at:x}");

    private static void AssertNoFindings(ReplayResult result) =>
        Assert.True(result.Findings.Count == 0, string.Join("\n", result.Findings.Select(f => f.Message)));

    [SkippableFact]
    public void Lower_UserFaultWithDataPage_AllocatesTablesSetsPteAndFillsTheFaultingCpu()
    {
        var rows = Fault(new LoweringInput(), 0x7f0000001000, 0x2000, withTable: true, cpu: 1).Rows();
        var (trace, lowering, result) = LowerAndReplay(rows);

        var names = Names(trace);
        Assert.Equal(["mm_create", "page_alloc", "page_alloc", "table_alloc", "pgd_populate", "table_alloc", "p4d_populate",
            "table_alloc", "pud_populate", "table_alloc", "pmd_populate", "pte_set", "map_inc", "ctx_switch", "tlb_fill"], names);
        var set = trace.Ops.ToArray().Single(o => o.Kind == OpKind.PteSet);
        Assert.Equal((0x7f0000001000UL, 0x2000UL, 2L), (set.Va, set.Pfn, set.Seq));
        Assert.True(set.Has(OpFlags.WriteAccess));
        var fill = trace.Ops.ToArray().Single(o => o.Kind == OpKind.TlbFill);
        Assert.Equal((1, 2L), (fill.Cpu, fill.Seq));
        Assert.Equal(1, lowering.Statistics.FaultsMapped);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_PagesInEightPmdRegions_OnlyThePteTablesHoldLeafArrays()
    {
        // 64 pages in 8 regions of 2 MiB under one PMD table: 8 PTE tables hold leaves; the PMD table links them
        // and maps no huge page, so it holds no leaf array (it held one of 512 zeros before).
        var input = new LoweringInput();
        for (ulong region = 0; region < 8; region++)
        {
            for (ulong page = 0; page < 8; page++)
            {
                Fault(input, 0x7f0000000000 + (region * 0x200000) + (page * 0x1000), 0x2000 + (region * 8) + page, withTable: page == 0);
            }
        }
        var (_, lowering, result) = LowerAndReplay(input.Rows());

        Assert.Equal(64, lowering.Statistics.FaultsMapped);
        Assert.Equal(8, lowering.LeafArrays());
        AssertNoFindings(result);
    }

    /// <summary>
    /// Before per-VMA locks (x86 6.4) every user fault takes mmap_lock for read after page_fault_user fired, and
    /// allocates its tables and page under it (lock_mm_and_find_vma, handle_mm_fault), as a real 6.1 kernel's SysRq-z
    /// dump shows (tests/data/recorded/console). The fault keeps its page: before, the lock events ended it and the page
    /// was lost (1,144 of the dump's 1,175 faults), so a PMD whose pages were all faulted in looked never populated.
    /// </summary>
    [SkippableFact]
    public void Lower_FaultTakingTheMmapLockBeforeItsPage_MapsThePage()
    {
        var rows = new LoweringInput()
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x6")
            .Line("mmwork", 100, 0, $"mmap_lock_start_locking: mm={Mm} memcg_path=/ write=false")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_path=/ write=false success=true")
            .Line("mmwork", 100, 0, $"mm_page_alloc: page=0000000011111111 pfn=0x102000 order=0 {TablePage}")
            .Line("mmwork", 100, 0, $"mm_page_alloc: page=0000000022222222 pfn=0x2000 order=0 {UserPage}")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_path=/ write=false")
            .Rows();
        var (trace, lowering, result) = LowerAndReplay(rows);

        var set = trace.Ops.ToArray().Single(o => o.Kind == OpKind.PteSet);
        Assert.Equal((0x7f0000001000UL, 0x2000UL), (set.Va, set.Pfn));
        Assert.Equal((1L, 0L), (lowering.Statistics.FaultsMapped, lowering.Statistics.FaultsWithoutPage));
        AssertNoFindings(result);
    }

    /// <summary>
    /// Only the fault's own mmap_read_lock keeps it waiting for its page. On 6.4+ a fault handled under its VMA lock
    /// takes no mmap_lock and may allocate nothing (the page was in the page cache); the task then reads another
    /// process' memory (process_vm_readv: a GUP under that mm's mmap_read_lock that faults a page in there), or takes its
    /// own mm's lock for write (mbind, shmat: syscalls the recording does not name). The page allocated then is not the
    /// fault's: before, the lock events never ended the fault and the GUP's page was mapped at the fault's address.
    /// </summary>
    [SkippableTheory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Lower_FaultFollowedByAnotherMmapLock_DoesNotTakeThePageAllocatedUnderIt(bool otherMm, bool write)
    {
        const string Other = "00000000a1b2c3d4";
        string lockMm = otherMm ? Other : Mm;
        string mode = write ? "true" : "false";
        var rows = new LoweringInput()
            .Line("target", 300, 1, $"mmap_lock_start_locking: mm={Other} memcg_path=/ write=false", tgid: 300)
            .Line("target", 300, 1, $"mmap_lock_acquire_returned: mm={Other} memcg_path=/ write=false success=true", tgid: 300)
            .Line("target", 300, 1, $"mmap_lock_released: mm={Other} memcg_path=/ write=false", tgid: 300)
            .Line("mmwork", 100, 0, $"mmap_lock_start_locking: mm={Mm} memcg_path=/ write=false", tgid: 100)
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_path=/ write=false success=true", tgid: 100)
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_path=/ write=false", tgid: 100)
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x6", tgid: 100)
            .Line("mmwork", 100, 0, $"mmap_lock_start_locking: mm={lockMm} memcg_path=/ write={mode}", tgid: 100)
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={lockMm} memcg_path=/ write={mode} success=true", tgid: 100)
            .Line("mmwork", 100, 0, $"mm_page_alloc: page=0000000022222222 pfn=0x2000 order=0 {UserPage}", tgid: 100)
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={lockMm} memcg_path=/ write={mode}", tgid: 100)
            .Rows();
        var (trace, lowering, _) = LowerAndReplay(rows);

        Assert.DoesNotContain(trace.Ops.ToArray(), o => o.Kind == OpKind.PteSet && o.Va == 0x7f0000001000UL);
        Assert.Equal((0L, 1L), (lowering.Statistics.FaultsMapped, lowering.Statistics.FaultsWithoutPage));
    }

    [SkippableFact]
    public void Lower_FaultWithoutTracedPage_CountsItAndSetsNoPte()
    {
        var rows = new LoweringInput()
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x4")
            .Line("mmwork", 100, 0, "tlb_flush: pages:0 reason:flush on task switch (0)")
            .Rows();
        var (trace, lowering, result) = LowerAndReplay(rows);

        Assert.DoesNotContain("pte_set", Names(trace));
        Assert.Equal(1, lowering.Statistics.FaultsWithoutPage);
        AssertNoFindings(result);
    }

    /// <summary>
    /// A write to a clean shared file page of ext4 after a read fault takes a write-protect fault on the present entry
    /// (error code P|W|U = 0x7; do_wp_page → wp_page_shared → page_mkwrite), in which ext4 allocates a GFP_NOFS page
    /// for itself. The fault maps nothing new: the retried write fills the TLB through the entry as it is. Before,
    /// that allocation was taken for the fault's data page and replaced the file page in the model (pte_clear,
    /// map_dec, flush, pte_set of the kernel's page). A fault on a present entry the model does not map (fault-around
    /// mapped it, untraced) still gets its fill: in another schedule the entry may map a page the model knows.
    /// </summary>
    [SkippableFact]
    public void Lower_WriteProtectFaultOnAPresentPage_IsATlbFillNotTheFilesystemsPageMapped()
    {
        var input = Fault(new LoweringInput(), 0x7f0000001000, 0x2000, withTable: true);
        input.Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x7")
            .Line("mmwork", 100, 0, "mm_page_alloc: page=0000000022222224 pfn=0x9000 order=0 migratetype=0 gfp_flags=GFP_NOFS|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000005000 ip=0x401000 error_code=0x7")
            .Line("mmwork", 100, 0, "tlb_flush: pages:0 reason:flush on task switch (0)");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var ops = trace.Ops.ToArray();
        Assert.DoesNotContain(ops, o => o.Kind is OpKind.PteClear or OpKind.MapDec);
        Assert.Equal(0x2000UL, Assert.Single(ops, o => o.Kind == OpKind.PteSet).Pfn);
        var fills = ops.Where(o => o.Kind == OpKind.TlbFill).Select(o => o.Va).ToList();
        Assert.Equal([0x7f0000001000UL, 0x7f0000001000UL, 0x7f0000005000UL], fills);
        Assert.Equal((2L, 1L), (lowering.Statistics.PresentFaultFills, lowering.Statistics.PresentFaultOtherAllocs));
        AssertNoFindings(result);
    }

    /// <summary>
    /// A task of another process frees a page the mm maps (a hole punch of a shared file: unmap_mapping_range zaps this
    /// mm's PTE without its mmap_lock): lowered as the rmap walk the explorer re-resolves per schedule, with the mm's
    /// rmap object (the one a PMD move with the rmap locks takes), then the free; counted as R1's file zapper, not as an
    /// implied unmap. Before, it was an implied pte_clear of the recorded table and a flush of the recorded address.
    /// </summary>
    [SkippableFact]
    public void Lower_FreeOfAMappedPageByAnotherProcess_IsAnRmapWalkThenTheFree()
    {
        var input = Fault(new LoweringInput(), 0x7f0000001000, 0x2000, withTable: true);
        input.Line("puncher", 200, 1, "mm_page_free: page=0000000022222222 pfn=0x2000 order=0");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var ops = trace.Ops.ToArray().SkipWhile(o => o.Tid != 200).ToList();
        Assert.Equal(["ttu_start", "ttu_walk", "ttu_unmap", "ttu_end", "page_free"], ops.Select(o => OpSpec.NameOf(o.Kind)));
        Assert.All(ops.Where(o => o.Kind is OpKind.TtuWalk or OpKind.TtuUnmap), o => Assert.Equal((1, 0x7f0000001000UL, 0x2000UL), (o.Mm, o.Va, o.Pfn)));
        Assert.Equal(1, ops[0].Obj);
        Assert.Equal((1L, 0L), (lowering.Statistics.ZapsOfAnotherMm, lowering.Statistics.ImpliedUnmaps));
        var r1 = lowering.Coverage.Build(_ => true).Single(c => c.Race == "R1");
        Assert.Equal(1, r1.Actors.Single(a => a.Name == Pipeline.Replay.Coverage.CoverageRules.FileZapper).Count);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_MunmapOfMappedRange_ZapsGathersTheTableFlushesThenFreesPages()
    {
        var input = new LoweringInput();
        Fault(input, 0x7f0000000000, 0x2000);
        Fault(input, 0x7f0000001000, 0x2001);
        input.Line("mmwork", 100, 0, "sys_munmap(addr: 0x7f0000000000, len: 0x200000)")
            .Line("mmwork", 100, 0, $"mmap_lock_start_locking: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)")
            .Line("mmwork", 100, 0, "mm_page_free_batched: page=0000000022222222 pfn=0x2000 order=0")
            .Line("mmwork", 100, 0, "mm_page_free: page=0000000022222222 pfn=0x2000 order=0")
            .Line("mmwork", 100, 0, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false")
            .Line("mmwork", 100, 0, "sys_munmap -> 0x0");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var names = Names(trace);
        int firstClear = names.IndexOf("pte_clear");
        // free_pgtables hands the table to the mmu_gather (free=gather); tlb_finish_mmu flushes, then frees.
        Assert.Equal(["mmap_unlock", "mmap_lock", "pte_clear", "map_dec", "pte_clear", "map_dec", "pmd_clear", "table_free", "tlb_flush"],
            names[(firstClear - 2)..(firstClear + 7)]);
        Assert.Equal(FreeMode.Gather, (FreeMode)trace.Ops[firstClear + 5].Sub);
        var zapFlush = trace.Ops[firstClear + 6];
        Assert.Equal((0x7f0000000000UL, 0x200000UL), (zapFlush.Va, zapFlush.Len));
        Assert.True(zapFlush.Has(OpFlags.FreedTables));
        Assert.Equal(2, names.Count(n => n == "page_free"));
        Assert.True(names.LastIndexOf("page_free") > names.IndexOf("table_free"));
        Assert.Equal((1, 1, 0, 1), (lowering.Statistics.Munmaps, lowering.Statistics.DuplicateFrees, lowering.Statistics.ImpliedUnmaps, lowering.Statistics.Downgrades));
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData(0x7f0040000000UL, "mremap_move_pmd")]
    [InlineData(0x7f0040001000UL, "move_ptes")]
    public void Lower_FixedMremapOfPopulatedPmd_FollowsThePrediction(ulong target, string expected)
    {
        var input = new LoweringInput();
        Mmap(input, 0x7f0000000000, 0x200000);
        Fault(input, 0x7f0000000000, 0x2000);
        Fault(input, 0x7f0000001000, 0x2001);
        input.Line("mmwork", 100, 0, $"sys_mremap(addr: 0x7f0000000000, old_len: 0x200000, new_len: 0x200000, flags: 3, new_addr: 0x{target:x})")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, $"sys_mremap -> 0x{target:x}")
            // The moved page is reachable at the new address only: freeing it unmaps it there.
            .Line("mmwork", 100, 0, "mm_page_free: page=0000000022222222 pfn=0x2001 order=0");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var move = trace.Ops.ToArray().Single(o => o.Kind is OpKind.MremapMovePmd or OpKind.MovePtes);
        Assert.Equal(expected, OpSpec.NameOf(move.Kind));
        Assert.Equal((0x7f0000000000UL, target), (move.Va, move.NewVa));
        var implied = trace.Ops.ToArray().Single(o => o.Kind == OpKind.PteClear);
        Assert.Equal((int)(((target + 0x1000) >> 12) & 511), implied.Index);
        Assert.Equal(1, lowering.Statistics.ImpliedUnmaps);
        Assert.Equal(1, lowering.Statistics.MremapExtentsLowered);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_TlbFlushReasons_OnlyTheInitiatorBecomesOneFlush()
    {
        var input = new LoweringInput();
        Fault(input, 0x7f0000000000, 0x2000);
        input.Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:remote IPI send (4)")
            .Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)")
            .Line("zstd", 300, 1, "tlb_flush: pages:-1 reason:remote shootdown (1)")
            .Line("zstd", 300, 1, "tlb_flush: pages:0 reason:remote wrong CPU (5)")
            .Line("zstd", 300, 1, "tlb_flush: pages:0 reason:flush on task switch (0)")
            .Line("mmwork", 100, 0, "tlb_flush: pages:8 reason:local MM shootdown (3)");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var flushes = trace.Ops.ToArray().Where(o => o.Kind == OpKind.TlbFlush).ToList();
        Assert.Equal(2, flushes.Count);
        Assert.All(flushes, f => Assert.True(f.Has(OpFlags.All) && f.Tid == 100));
        Assert.Equal((2, 4), (lowering.Statistics.FlushesLowered, lowering.Statistics.FlushesWithoutOp));
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_BatchedFreeReportedTwice_FreesOnce()
    {
        var rows = new LoweringInput()
            .Line("kswapd0", 50, 1, "mm_page_free_batched: page=0000000022222222 pfn=0x9000 order=0")
            .Line("kswapd0", 50, 1, "mm_page_free: page=0000000022222222 pfn=0x9000 order=0")
            .Line("kswapd0", 50, 1, "mm_page_alloc: page=0000000022222222 pfn=0x9000 order=0 " + UserPage)
            .Line("kswapd0", 50, 1, "mm_page_free: page=0000000022222222 pfn=0x9000 order=0")
            .Rows();
        var (trace, lowering, result) = LowerAndReplay(rows);

        Assert.Equal(["page_free", "page_alloc", "page_free"], Names(trace));
        Assert.Equal((1, 1), (lowering.Statistics.DuplicateFrees, lowering.Statistics.FreesOfUntracedPages));
        AssertNoFindings(result);
    }

    /// <summary>
    /// A file fault maps a page-cache page whose free was traced but whose mm_filemap_delete_from_page_cache was lost
    /// (a busy machine): the model maps a frame it holds free. The frame's next traced allocation resets the engine's
    /// mapcount (page_alloc), so the kernel had unmapped it untraced before it was freed: the lowering unmaps it before
    /// the page_alloc, and the later fault at that address replaces an empty PTE, not a map_dec at mapcount 0. The
    /// filemap events are named and their fields spelled as trace.dat holds them (filemap:…, s_dev, i_ino, index); the
    /// next test has the kernel text's spelling.
    /// </summary>
    [SkippableFact]
    public void Lower_FileFaultOfAFreedFrameThenTheFrameReallocated_UnmapsBeforeThePageAllocNotAMapDecAtZero()
    {
        const string Key = "s_dev=0x800001 i_ino=0x1a2b";
        var input = new LoweringInput()
            .Line("cat", 300, 1, "mm_page_alloc: page=0000000033333333 pfn=0x3000 order=0 " + UserPage)
            .Line("cat", 300, 1, $"filemap:mm_filemap_add_to_page_cache: {Key} pfn=0x3000 index=0x0")
            .Line("kswapd0", 50, 1, "mm_page_free: page=0000000033333333 pfn=0x3000 order=0")
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x4")
            .Line("mmwork", 100, 0, $"filemap:mm_filemap_fault: {Key} index=0x0")
            .Line("cat", 300, 1, "mm_page_alloc: page=0000000033333333 pfn=0x3000 order=0 " + UserPage);
        var rows = Fault(input, 0x7f0000001000, 0x4000).Rows();
        var (trace, lowering, result) = LowerAndReplay(rows);

        Assert.Equal(1, lowering.Statistics.FileFaultsMapped);
        Assert.Equal(1, lowering.Statistics.MappedAtAlloc);
        var ops = trace.Ops.ToArray();
        int dec = Array.FindIndex(ops, o => o.Kind == OpKind.MapDec && o.Pfn == 0x3000);
        int realloc = Array.FindLastIndex(ops, o => o.Kind == OpKind.PageAlloc && o.Pfn == 0x3000);
        Assert.True(dec >= 0 && dec < realloc, string.Join(", ", Names(trace)));
        Assert.Single(ops, o => o.Kind == OpKind.MapDec);
        Assert.Equal(0x4000UL, ops.Last(o => o.Kind == OpKind.PteSet).Pfn);
        AssertNoFindings(result);
    }

    /// <summary>
    /// File faults as a 6.x kernel prints them in ftrace text (bare event names; the page-cache add spells its file
    /// as words, <c>dev 254:0 ino b1e328</c>, the fault as fields, <c>dev=254:0 ino=b1e328</c>; <c>ofs</c> is the page
    /// index shifted by the page size). A read fault at offset 8 KiB misses the page cache; readahead adds an order-2
    /// folio at offset 0, whose third frame is the faulting page; a second fault at 12 KiB hits the cache and maps the
    /// fourth frame. Before the event catalog knew the filemap system, none of these reached the lowering.
    /// </summary>
    [SkippableFact]
    public void Lower_FileFaultsInKernelTextSpelling_MapTheFramesOfALargeFolio()
    {
        var input = new LoweringInput()
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000002000 ip=0x401000 error_code=0x4")
            .Line("mmwork", 100, 0, "mm_filemap_fault: dev=254:0 ino=b1e328 ofs=8192")
            .Line("mmwork", 100, 0, "mm_page_alloc: page=0000000033333333 pfn=0x3000 order=2 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP")
            .Line("mmwork", 100, 0, "mm_filemap_add_to_page_cache: dev 254:0 ino b1e328 pfn=0x3000 ofs=0 order=2")
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000003000 ip=0x401000 error_code=0x4")
            .Line("mmwork", 100, 0, "mm_filemap_fault: dev=254:0 ino=b1e328 ofs=12288")
            .Line("mmwork", 100, 0, "page_fault_user: address=0x7f0000004000 ip=0x401000 error_code=0x4")
            .Line("mmwork", 100, 0, "mm_filemap_fault: dev=254:0 ino=b1e328 ofs=16384");
        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        Assert.Equal(2, lowering.Statistics.FileFaultsMapped);
        Assert.Equal(0, lowering.Statistics.FilemapEventsSkipped);
        var sets = trace.Ops.ToArray().Where(o => o.Kind == OpKind.PteSet).Select(o => (o.Va, o.Pfn)).ToArray();
        Assert.Equal([(0x7f0000002000UL, 0x3002UL), (0x7f0000003000UL, 0x3003UL)], sets);
        AssertNoFindings(result);
    }

    /// <summary>
    /// The collapse sequence of docs/mm-model.md §6.2: khugepaged on CPU1, the mm's task on CPU0. <paramref name="succeeded"/>
    /// is how the status field reads: the symbol, or SCAN_SUCCEED's number (1) in raw output (<c>trace-cmd report -R</c>).
    /// </summary>
    internal static LoweringInput Collapse(string succeeded = "succeeded")
    {
        var input = new LoweringInput()
            .Line("c", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("c", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false");
        Fault(input, 0x7f0000200000, 0x5000, pid: 200);
        Fault(input, 0x7f0000201000, 0x5001, pid: 200);
        return input.Wait(1000)
            .Line("khugepaged", 38, 1, "mm_page_alloc: page=0000000033333333 pfn=0x8000 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE")
            .Line("khugepaged", 38, 1, $"mmap_lock_start_locking: mm={Mm} memcg_id=1 write=true")
            .Line("khugepaged", 38, 1, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("khugepaged", 38, 1, "tlb_flush: pages:-1 reason:remote IPI send (4)")
            .Line("khugepaged", 38, 1, "csd_queue_cpu: cpu=0 callsite=on_each_cpu_cond_mask+0x20 func=flush_tlb_func csd=0000000044444444")
            .Line("khugepaged", 38, 1, "tlb_flush: pages:-1 reason:local MM shootdown (3)")
            .Line("c", 200, 0, "tlb_flush: pages:-1 reason:remote shootdown (1)")
            .Line("khugepaged", 38, 1, "csd_queue_cpu: cpu=0 callsite=smp_call_function+0x28 func=tlb_remove_table_smp_sync csd=0000000044444445")
            .Line("c", 200, 0, "csd_function_entry: func=tlb_remove_table_smp_sync, csd=0000000044444445")
            .Line("khugepaged", 38, 1, $"mm_collapse_huge_page_isolate: scan_pfn=0x5000, none_or_zero=510, referenced=2, status={succeeded}")
            .Line("khugepaged", 38, 1, "mm_page_free: page=0000000022222222 pfn=0x5000 order=0")
            .Line("khugepaged", 38, 1, "mm_page_free: page=0000000022222223 pfn=0x5001 order=0")
            .Line("khugepaged", 38, 1, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("khugepaged", 38, 1, $"mm_collapse_huge_page: mm={Mm}, isolated=1, status={succeeded}");
    }

    /// <summary>
    /// MADV_COLLAPSE as 6.18 records it (tests/workloads/raceactors.c under mmtrace record): the calling task allocates
    /// the huge page, a pinned page fails the isolation (not_suitable_page_count) and the page is freed; the retry
    /// allocates again and succeeds. With <paramref name="tracedRetryAlloc"/> false the retry's allocation is lost.
    /// </summary>
    private static LoweringInput MadvCollapse(bool tracedRetryAlloc)
    {
        var input = new LoweringInput();
        Fault(input, 0x7f0000200000, 0x5000, pid: 200);
        Fault(input, 0x7f0000201000, 0x5001, pid: 200);
        input.Line("mover", 200, 0, "sys_madvise(start: 7f0000200000, len_in: 200000, behavior: 19)")
            .Line("mover", 200, 0, "mm_page_alloc: page=0000000033333333 pfn=0x8000 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE")
            .Line("mover", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mover", 200, 0, "mm_collapse_huge_page_isolate: scan_pfn=0x5001, none_or_zero=510, referenced=2, status=not_suitable_page_count")
            .Line("mover", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mover", 200, 0, "mm_page_free: page=0000000033333333 pfn=0x8000 order=9")
            .Line("mover", 200, 0, $"mm_collapse_huge_page: mm={Mm}, isolated=0, status=not_suitable_page_count");
        if (tracedRetryAlloc)
        {
            input.Line("mover", 200, 0, "mm_page_alloc: page=0000000033333334 pfn=0x8200 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE");
        }
        return input
            .Line("mover", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mover", 200, 0, "mm_collapse_huge_page_isolate: scan_pfn=0x5001, none_or_zero=510, referenced=2, status=succeeded")
            .Line("mover", 200, 0, "mm_page_free: page=0000000022222222 pfn=0x5000 order=0")
            .Line("mover", 200, 0, "mm_page_free: page=0000000022222223 pfn=0x5001 order=0")
            .Line("mover", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mover", 200, 0, $"mm_collapse_huge_page: mm={Mm}, isolated=1, status=succeeded");
    }

    [SkippableFact]
    public void Lower_ForkLocksTheChildsMm_TheParentKeepsItsOwnMmWhenTheChildExits()
    {
        // fork: dup_mmap takes the child's new mmap_lock in the parent's context. That pointer is not the parent's mm;
        // binding it there made the child's exit_mmap destroy the parent's mm (and an exec of the child hand the
        // parent's process over to the child's new image).
        const string child = "00000000feedf00d";
        var input = new LoweringInput()
            .Line("bash", 300, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("bash", 300, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false");
        Fault(input, 0x7f0000200000, 0x5000, pid: 300);
        // dup_mmap: mmap_write_lock(oldmm), then mmap_write_lock_nested(mm) of the child.
        input.Line("bash", 300, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("bash", 300, 0, $"mmap_lock_acquire_returned: mm={child} memcg_id=1 write=true success=true")
            .Line("bash", 300, 0, $"mmap_lock_released: mm={child} memcg_id=1 write=true")
            .Line("bash", 300, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("bash", 301, 1, $"mmap_lock_acquire_returned: mm={child} memcg_id=1 write=false success=true")
            .Line("bash", 301, 1, $"mmap_lock_released: mm={child} memcg_id=1 write=false")
            .Line("bash", 301, 1, $"exit_mmap: mm={child} mt=0000000055555555");
        Fault(input, 0x7f0000201000, 0x5001, pid: 300);

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var sets = trace.Ops.ToArray().Where(o => o.Kind == OpKind.PteSet).ToList();
        Assert.Equal(2, sets.Count);
        Assert.Equal(sets[0].Mm, sets[1].Mm);
        var destroyed = Assert.Single(trace.Ops.ToArray(), o => o.Kind == OpKind.MmDestroy);
        Assert.NotEqual(sets[0].Mm, destroyed.Mm);
        Assert.Equal(1, lowering.Statistics.MmDestroyed);
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Lower_ShellForksAChildThatExecs_EachProcessKeepsItsOwnMmAndEachExitMmapDestroysTheMmItNames(bool exitMmapNamesMm)
    {
        // What `sh -c 'x=$(ls)'` records system-wide (tgids on, hashed mm pointers as mmap_lock and exit_mmap print them,
        // the maple tree at mm + 0x40): a shell whose exec started before the trace (no sys_enter_execve), that forks a
        // child; the child execs and exits while the parent keeps running. The lowering used to drop the shell's new mm
        // at sched_process_exec (taking it for the pre-exec one), give the pointerless replacement the child's pointer
        // in dup_mmap, and so let the child's exec destroy the parent's mm and run the child in mms nobody created.
        // exit_mmap runs under the mm's write lock. Its raw fields (trace.dat, trace_pipe_raw) are mm and mt; the text
        // form (trace, perf script) prints only "mt_mod %p, DESTROY", a hashed pointer that names no mm the locks name.
        const string oldMm = "000000005a3c0000", shMm = "000000005a3c1f40", childMm = "000000005a3c2580", lsMm = "000000005a3c76c0";
        static string Mt(string mm) => (ulong.Parse(mm, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture) + 0x40)
            .ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        var input = new LoweringInput();
        LoweringInput Sh(int cpu, string body) => input.Line("sh", 400, cpu, body, tgid: 400);
        LoweringInput Child(int cpu, string body) => input.Line("sh", 401, cpu, body, tgid: 401);
        LoweringInput Lock(Func<int, string, LoweringInput> task, int cpu, string mm, bool write) =>
            task(cpu, $"mmap_lock_acquire_returned: mm={mm} memcg_id=1 write={(write ? "true" : "false")} success=true");
        LoweringInput Unlock(Func<int, string, LoweringInput> task, int cpu, string mm, bool write) =>
            task(cpu, $"mmap_lock_released: mm={mm} memcg_id=1 write={(write ? "true" : "false")}");
        void ExitMmap(Func<int, string, LoweringInput> task, int cpu, string mm)
        {
            Lock(task, cpu, mm, true);
            task(cpu, exitMmapNamesMm ? $"exit_mmap: mm={mm} mt={Mt(mm)}" : $"exit_mmap: mt_mod {Mt(mm)}, DESTROY");
            Unlock(task, cpu, mm, true);
        }
        void Touch(Func<int, string, LoweringInput> task, int cpu, ulong va, ulong pfn)
        {
            task(cpu, $"page_fault_user: address=0x{va:x} ip=0x401000 error_code=0x6");
            task(cpu, $"mm_page_alloc: page=0000000022222222 pfn=0x{pfn:x} order=0 {UserPage}");
        }

        // The shell's exec, from bprm_mm_init on: the new mm's lock, copy_strings reading the old mm, exec_mmap's
        // mmput → exit_mmap of the old mm, setup_arg_pages and the ELF mappings on the new mm.
        Lock(Sh, 1, shMm, true); Unlock(Sh, 1, shMm, true);
        Lock(Sh, 1, oldMm, false); Unlock(Sh, 1, oldMm, false);
        ExitMmap(Sh, 1, oldMm);
        Lock(Sh, 1, shMm, true); Unlock(Sh, 1, shMm, true);
        Sh(1, "sched_process_exec: filename=/usr/bin/sh pid=400 old_pid=400");
        Touch(Sh, 1, 0x7f0000200000, 0x5000);
        // fork: dup_mmap write-locks the parent's mm, then the child's new one (nested), before sched_process_fork.
        Lock(Sh, 1, shMm, true);
        Lock(Sh, 1, childMm, true);
        Unlock(Sh, 1, childMm, true);
        Unlock(Sh, 1, shMm, true);
        Sh(1, "sched_process_fork: comm=sh pid=400 child_comm=sh child_pid=401");
        // The child runs on its copy, then execs ls: bprm mm, copy_strings on the copy, exit_mmap of the copy.
        Lock(Child, 0, childMm, false); Unlock(Child, 0, childMm, false);
        Touch(Child, 0, 0x7f0000300000, 0x6000);
        Child(0, "sys_execve(filename: 7f0000300010, argv: 7f0000300020, envp: 7f0000300030)");
        Lock(Child, 0, lsMm, true); Unlock(Child, 0, lsMm, true);
        Lock(Child, 0, childMm, false); Unlock(Child, 0, childMm, false);
        ExitMmap(Child, 0, childMm);
        Lock(Child, 0, lsMm, true); Unlock(Child, 0, lsMm, true);
        Child(0, "sched_process_exec: filename=/usr/bin/ls pid=401 old_pid=401");
        Child(0, "sys_execve -> 0x0");
        Touch(Child, 0, 0x7f0000400000, 0x7000);
        // The parent keeps running and faults while the child exits.
        Touch(Sh, 1, 0x7f0000201000, 0x5001);
        Child(0, "sched_process_exit: comm=ls pid=401 prio=120");
        ExitMmap(Child, 0, lsMm);
        Touch(Sh, 1, 0x7f0000202000, 0x5002);
        Sh(1, "sched_process_exit: comm=sh pid=400 prio=120");
        ExitMmap(Sh, 1, shMm);

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        AssertNoFindings(result);
        var ops = trace.Ops.ToArray();
        var mmOfPfn = ops.Where(o => o.Kind == OpKind.PteSet).ToDictionary(o => o.Pfn, o => o.Mm);
        int sh = mmOfPfn[0x5000], copy = mmOfPfn[0x6000], ls = mmOfPfn[0x7000];
        Assert.Equal([sh, sh], new[] { mmOfPfn[0x5001], mmOfPfn[0x5002] });
        Assert.Equal(3, new[] { sh, copy, ls }.Distinct().Count());
        // exit_mmap destroys the mm whose pointer it names: the shell's old one, the child's copy, ls', the shell's.
        var destroyed = ops.Where(o => o.Kind == OpKind.MmDestroy).Select(o => o.Mm).ToList();
        Assert.Equal(4, destroyed.Count);
        Assert.Equal([copy, ls, sh], destroyed.Skip(1));
        Assert.DoesNotContain(destroyed[0], new[] { sh, copy, ls });
        Assert.Equal(4, lowering.Statistics.MmDestroyed);
    }

    [SkippableFact]
    public void Lower_ThreadAndVforkChild_ShareTheParentsMmUntilTheChildExecs()
    {
        // CLONE_VM: no dup_mmap, so no nested lock before sched_process_fork. A thread (tgid = the parent's) runs the
        // parent's mm; a vfork child (posix_spawn: a new tgid) borrows it until its exec, whose old mm is the parent's and
        // is not torn down (exec_mmap's mmput drops a reference, no exit_mmap); the child's exit destroys only its new mm.
        const string shared = "000000001b2c3f40", image = "000000001b2c8a80";
        var input = new LoweringInput();
        LoweringInput Parent(string body) => input.Line("spawner", 500, 0, body, tgid: 500);
        LoweringInput Thread(string body) => input.Line("spawner", 501, 1, body, tgid: 500);
        LoweringInput Child(string body) => input.Line("spawner", 502, 1, body, tgid: 502);
        void Touch(Func<string, LoweringInput> task, ulong va, ulong pfn)
        {
            task($"page_fault_user: address=0x{va:x} ip=0x401000 error_code=0x6");
            task($"mm_page_alloc: page=0000000022222222 pfn=0x{pfn:x} order=0 {UserPage}");
        }

        Parent($"mmap_lock_acquire_returned: mm={shared} memcg_id=1 write=false success=true");
        Parent($"mmap_lock_released: mm={shared} memcg_id=1 write=false");
        Touch(Parent, 0x7f0000200000, 0x5000);
        Parent("sched_process_fork: comm=spawner pid=500 child_comm=spawner child_pid=501");
        Touch(Thread, 0x7f0000201000, 0x5001);
        Parent("sched_process_fork: comm=spawner pid=500 child_comm=spawner child_pid=502");
        Child("sys_execve(filename: 7f0000300010, argv: 7f0000300020, envp: 7f0000300030)");
        Child($"mmap_lock_acquire_returned: mm={image} memcg_id=1 write=true success=true");
        Child($"mmap_lock_released: mm={image} memcg_id=1 write=true");
        Child($"mmap_lock_acquire_returned: mm={shared} memcg_id=1 write=false success=true");
        Child($"mmap_lock_released: mm={shared} memcg_id=1 write=false");
        Child($"mmap_lock_acquire_returned: mm={image} memcg_id=1 write=true success=true");
        Child($"mmap_lock_released: mm={image} memcg_id=1 write=true");
        Child("sched_process_exec: filename=/usr/bin/true pid=502 old_pid=502");
        Child("sys_execve -> 0x0");
        Touch(Child, 0x7f0000400000, 0x7000);
        Child("sched_process_exit: comm=true pid=502 prio=120");
        Child($"mmap_lock_acquire_returned: mm={image} memcg_id=1 write=true success=true");
        Child($"exit_mmap: mm={image} mt=000000001b2c8ac0");
        Child($"mmap_lock_released: mm={image} memcg_id=1 write=true");
        Touch(Parent, 0x7f0000202000, 0x5002);

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        AssertNoFindings(result);
        var ops = trace.Ops.ToArray();
        var mmOfPfn = ops.Where(o => o.Kind == OpKind.PteSet).ToDictionary(o => o.Pfn, o => o.Mm);
        Assert.Equal([mmOfPfn[0x5000], mmOfPfn[0x5000]], new[] { mmOfPfn[0x5001], mmOfPfn[0x5002] });
        Assert.NotEqual(mmOfPfn[0x5000], mmOfPfn[0x7000]);
        Assert.Equal(mmOfPfn[0x7000], Assert.Single(ops, o => o.Kind == OpKind.MmDestroy).Mm);
        Assert.Equal(0, lowering.Statistics.ForkMms);
    }

    /// <summary>
    /// Coverage names the process whose mm a race's actors met on (ProcessOfMm). A pid is reused in a long recording:
    /// the first process (pid 700, "first") exits, and a fork gives pid 700 to "second". The first mm is still named
    /// after the process that had it, not after whoever holds the pid at the end of the trace.
    /// </summary>
    [SkippableFact]
    public void ProcessOfMm_PidReusedAfterTheOwnerExited_NamesTheProcessThatHadTheMm()
    {
        const string first = "000000001b2c3f40", second = "000000001b2c8a80";
        var input = new LoweringInput();
        LoweringInput First(string body) => input.Line("first", 700, 0, body, tgid: 700);
        LoweringInput Second(string body) => input.Line("second", 700, 1, body, tgid: 700);
        First($"mmap_lock_acquire_returned: mm={first} memcg_id=1 write=false success=true");
        First($"mmap_lock_released: mm={first} memcg_id=1 write=false");
        Fault(input, 0x7f0000200000, 0x5000, pid: 700);
        First("sched_process_exit: comm=first pid=700 prio=120");
        First($"mmap_lock_acquire_returned: mm={first} memcg_id=1 write=true success=true");
        First($"exit_mmap: mm={first} mt=000000001b2c8ac0");
        First($"mmap_lock_released: mm={first} memcg_id=1 write=true");
        input.Line("init", 1, 1, "sched_process_fork: comm=init pid=1 child_comm=init child_pid=700", tgid: 1);
        Second($"mmap_lock_acquire_returned: mm={second} memcg_id=1 write=false success=true");
        Second($"mmap_lock_released: mm={second} memcg_id=1 write=false");

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var created = trace.Ops.ToArray().Where(o => o.Kind == OpKind.MmCreate).Select(o => o.Mm).ToList();
        Assert.Equal(2, created.Count);
        Assert.Equal(new Pipeline.Replay.Coverage.MmProcess(created[0], 700, "first"), lowering.ProcessOfMm(created[0]));
        Assert.Equal(new Pipeline.Replay.Coverage.MmProcess(created[1], 700, "second"), lowering.ProcessOfMm(created[1]));
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_MadvCollapseRetriedAfterAPinnedPage_MapsTheRetrysHugePage()
    {
        var (trace, lowering, result) = LowerAndReplay(MadvCollapse(tracedRetryAlloc: true).Rows());

        var huge = trace.Ops.ToArray().Single(o => o.Kind == OpKind.PmdSetHuge);
        Assert.Equal((0x7f0000200000UL, 0x8200UL, 200), (huge.Va, huge.Pfn, huge.Tid));
        Assert.Equal((1, 0, 1), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.CollapsesFailed));
        var r2 = lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2");
        Assert.Equal(1, r2.Actors.Single(a => a.Name == Pipeline.Replay.Coverage.CoverageRules.Collapse).Count);
        Assert.Empty(r2.Gaps);
        // The pinned page's attempt is seen once (its isolate; the collapse's own failed status is the same attempt).
        var note = Assert.Single(r2.Notes);
        Assert.Equal(1, note.Count);
        Assert.Contains("mm_collapse_huge_page_isolate status=not_suitable_page_count", note.Text, StringComparison.Ordinal);
        AssertNoFindings(result);
    }

    /// <summary>
    /// Another process's compaction migrates one page of the range between its fault and MADV_COLLAPSE (two copies of
    /// raceactors side by side did this): the mm set records the migration's brackets, allocation and free, not the
    /// remap, so the model no longer maps the page the collapse's isolate names. The call's range covers one PMD, which
    /// madvise_collapse() collapses in the caller's mm: that table is the collapse's. A range of two PMDs says nothing
    /// about which one the isolate is for, and the collapse stays skipped, saying why.
    /// </summary>
    [SkippableTheory]
    [InlineData("200000", true)]
    [InlineData("400000", false)]
    public void Lower_MadvCollapseOfAPageMigratedUntraced_IsLocatedByTheCallsRangeOfOnePmd(string length, bool located)
    {
        var (trace, lowering, result) = LowerAndReplay(MigrationBeforeCollapse(length, remapTraced: false).Rows());

        var r2 = lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2");
        if (located)
        {
            var huge = trace.Ops.ToArray().Single(o => o.Kind == OpKind.PmdSetHuge);
            Assert.Equal((0x7f0000200000UL, 0x8000UL, 200), (huge.Va, huge.Pfn, huge.Tid));
            Assert.Equal((1, 0, 1), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.CollapsesByMadviseRange));
            Assert.Empty(r2.Gaps);
        }
        else
        {
            Assert.DoesNotContain(trace.Ops.ToArray(), o => o.Kind == OpKind.PmdSetHuge);
            Assert.Equal((0, 1, 0), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.CollapsesByMadviseRange));
            Assert.Contains("by a migration whose remap was not recorded or not paired: record migrate:set_migration_pte and migrate:remove_migration_pte", Assert.Single(r2.Gaps).Reason, StringComparison.Ordinal);
            // The record line asks for the two migration events (helpful, not needed: a trace without them is not blind).
            var withoutRemap = lowering.Coverage.Build(e => !e.EndsWith("_migration_pte", StringComparison.Ordinal)).Single(c => c.Race == "R2");
            Assert.Contains("migrate:set_migration_pte", withoutRemap.RecordCommand, StringComparison.Ordinal);
            Assert.Contains("migrate:remove_migration_pte", withoutRemap.MissingEvents);
        }
        AssertNoFindings(result);
    }

    /// <summary>
    /// Compaction (pid 300) migrates page 0x5001 of the mover's range to 0x9001 between its faults and a MADV_COLLAPSE of
    /// <paramref name="length"/> bytes (hex) whose isolate names the new page; <paramref name="remapTraced"/>: with the
    /// per-PTE set/remove_migration_pte events (else only the mm set's migration brackets, allocation and free).
    /// </summary>
    private static LoweringInput MigrationBeforeCollapse(string length, bool remapTraced)
    {
        var input = new LoweringInput();
        Fault(input, 0x7f0000200000, 0x5000, pid: 200);
        Fault(input, 0x7f0000201000, 0x5001, pid: 200);
        input.Line("compact", 300, 1, "mm_migrate_pages_start: mode=MIGRATE_SYNC_LIGHT reason=compaction");
        if (remapTraced)
        {
            input.Line("compact", 300, 1, $"set_migration_pte: addr=7f0000201000, pte={EntryOf5001} order=0")
                .Line("compact", 300, 1, $"remove_migration_pte: addr=7f0000201000, pte={PteOf(0x9001)} order=0");
        }
        else
        {
            input.Line("compact", 300, 1, "mm_page_alloc: page=0000000033330001 pfn=0x9001 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE");
        }
        return input.Line("compact", 300, 1, "mm_page_free: page=0000000022222223 pfn=0x5001 order=0")
            .Line("compact", 300, 1, "mm_migrate_pages: nr_succeeded=1 nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 nr_split=0 mode=MIGRATE_SYNC_LIGHT reason=compaction")
            .Line("mover", 200, 0, $"sys_madvise(start: 7f0000200000, len_in: {length}, behavior: 19)")
            .Line("mover", 200, 0, "mm_page_alloc: page=0000000033333333 pfn=0x8000 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE")
            .Line("mover", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mover", 200, 0, "mm_collapse_huge_page_isolate: scan_pfn=0x9001, none_or_zero=510, referenced=2, status=succeeded")
            .Line("mover", 200, 0, "mm_page_free: page=0000000022222222 pfn=0x5000 order=0")
            .Line("mover", 200, 0, "mm_page_free: page=0000000033330001 pfn=0x9001 order=0")
            .Line("mover", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mover", 200, 0, $"mm_collapse_huge_page: mm={Mm}, isolated=1, status=succeeded")
            .Line("mover", 200, 0, "sys_madvise -> 0x0");
    }

    // x86-64 migration entries (writable, young and dirty bits clear) of pfns 0x5001 and 0x6001, as set_migration_pte prints them.
    private const string EntryOf5001 = "f7ffffffff5ffc00";
    private const string EntryOf6001 = "f7ffffffff3ffc00";

    /// <summary>A present, writable user PTE of <paramref name="pfn"/> as remove_migration_pte prints it (x86-64).</summary>
    private static string PteOf(ulong pfn) => ((pfn << 12) | 0x8000000000000067UL).ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The same migration recorded with migrate:set_migration_pte and migrate:remove_migration_pte: the set's entry
    /// encodes the old pfn, which the model maps at that address in the mover's mm, so the remap moves the mapping to
    /// the new page (0x5001 → 0x9001) and the MADV_COLLAPSE of two PMDs, whose isolate names the new page, is lowered
    /// instead of skipped. The compaction's free of the old page is a plain free: the entry replaced its mapping.
    /// </summary>
    [SkippableFact]
    public void Lower_MigrationRecordedWithItsRemap_MovesTheMappingAndTheCollapseIsLowered()
    {
        var (trace, lowering, result) = LowerAndReplay(MigrationBeforeCollapse("400000", remapTraced: true).Rows());

        var ops = trace.Ops.ToArray();
        var unmap = Assert.Single(ops, o => o.Kind == OpKind.TtuUnmap);
        Assert.Equal((0x7f0000201000UL, 0x5001UL, true), (unmap.Va, unmap.Pfn, unmap.Has(OpFlags.Migrate)));
        Assert.Contains(ops, o => o.Kind == OpKind.PteSet && o.Va == 0x7f0000201000UL && o.Pfn == 0x9001UL && o.Tid == 300);
        var huge = Assert.Single(ops, o => o.Kind == OpKind.PmdSetHuge);
        Assert.Equal((0x7f0000200000UL, 0x8000UL), (huge.Va, huge.Pfn));
        // The collapse clears both PTEs of the table, the migrated one at its new page.
        Assert.Equal([0x5000UL, 0x9001UL], ops.Where(o => o.Kind == OpKind.MapDec && o.Seq >= huge.Seq - 3 && o.Tid == 200).Select(o => o.Pfn).Order());
        Assert.Equal((1, 0, 0L), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.ImpliedUnmaps));
        Assert.Equal((1L, 1L), (lowering.Statistics.MigrationEntriesSet, lowering.Statistics.MigrationRemaps));
        Assert.Empty(lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2").Gaps);
        AssertNoFindings(result);
    }

    /// <summary>
    /// Two processes map different pages at one address and one compaction migrates both (its batch unmaps both, then
    /// moves both): remove_migration_pte names the address and the new page, not the mm, so which new page is whose is
    /// not known. Neither is guessed: both are counted ambiguous and given as an R2 gap, and no new page is mapped.
    /// </summary>
    [SkippableFact]
    public void Lower_TwoMmsPagesAtOneAddressMigratedTogether_AreCountedAmbiguousNotGuessed()
    {
        const string other = "00000000aaaa0000";
        var input = new LoweringInput()
            .Line("a", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("a", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false")
            .Line("b", 400, 1, $"mmap_lock_acquire_returned: mm={other} memcg_id=1 write=false success=true")
            .Line("b", 400, 1, $"mmap_lock_released: mm={other} memcg_id=1 write=false");
        Fault(input, 0x7f0000201000, 0x5001, pid: 200);
        Fault(input, 0x7f0000201000, 0x6001, pid: 400, cpu: 1);
        input.Line("compact", 300, 1, "mm_migrate_pages_start: mode=MIGRATE_SYNC_LIGHT reason=compaction")
            .Line("compact", 300, 1, $"set_migration_pte: addr=7f0000201000, pte={EntryOf5001} order=0")
            .Line("compact", 300, 1, $"set_migration_pte: addr=7f0000201000, pte={EntryOf6001} order=0")
            .Line("compact", 300, 1, $"remove_migration_pte: addr=7f0000201000, pte={PteOf(0x9001)} order=0")
            .Line("compact", 300, 1, $"remove_migration_pte: addr=7f0000201000, pte={PteOf(0x9002)} order=0")
            .Line("compact", 300, 1, "mm_page_free: page=0000000022222223 pfn=0x5001 order=0")
            .Line("compact", 300, 1, "mm_page_free: page=0000000022222224 pfn=0x6001 order=0")
            .Line("compact", 300, 1, "mm_migrate_pages: nr_succeeded=2 nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 nr_split=0 mode=MIGRATE_SYNC_LIGHT reason=compaction");

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        var ops = trace.Ops.ToArray();
        // Both old mappings became migration entries, each in its own mm.
        Assert.Equal(2, ops.Count(o => o.Kind == OpKind.TtuUnmap && o.Has(OpFlags.Migrate)));
        Assert.Equal(2, ops.Select(o => o.Kind == OpKind.TtuUnmap ? o.Mm : 0).Where(m => m != 0).Distinct().Count());
        Assert.DoesNotContain(ops, o => o.Kind == OpKind.PteSet && o.Tid == 300);
        Assert.Equal((2L, 2L, 0L), (lowering.Statistics.MigrationEntriesSet, lowering.Statistics.MigrationRemapsAmbiguous, lowering.Statistics.MigrationRemaps));
        var gap = Assert.Single(lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2").Gaps);
        Assert.Equal(2, gap.Count);
        Assert.Contains("remove_migration_pte names no mm", gap.Reason, StringComparison.Ordinal);
        AssertNoFindings(result);
    }

    /// <summary>
    /// An entry whose x86-64 decoding and arm64 decoding both name a page the model maps at the entry's address (two mms,
    /// one page each): the trace does not say its architecture, so neither is taken. Counted once, as ambiguous (not also
    /// as not the model's), and nothing of either mm is unmapped.
    /// </summary>
    [SkippableFact]
    public void Lower_EntryBothArchitecturesDecodeToMappedPages_CountedAmbiguousOnce()
    {
        const string other = "00000000aaaa0000";
        const ulong entry = 0x500100;
        var (x86, arm64) = MigrationEntry.OldPfn(entry);
        Assert.Equal((0x3ffffd7ffUL, 0x5001UL), (x86, arm64));
        var input = new LoweringInput()
            .Line("a", 200, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("a", 200, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false")
            .Line("b", 400, 1, $"mmap_lock_acquire_returned: mm={other} memcg_id=1 write=false success=true")
            .Line("b", 400, 1, $"mmap_lock_released: mm={other} memcg_id=1 write=false");
        Fault(input, 0x7f0000201000, x86, pid: 200);
        Fault(input, 0x7f0000201000, arm64, pid: 400, cpu: 1);
        input.Line("compact", 300, 1, "mm_migrate_pages_start: mode=MIGRATE_SYNC_LIGHT reason=compaction")
            .Line("compact", 300, 1, $"set_migration_pte: addr=7f0000201000, pte={entry:x} order=0");

        var (trace, lowering, result) = LowerAndReplay(input.Rows());

        Assert.Equal((1L, 0L, 0L), (lowering.Statistics.MigrationEntriesAmbiguous, lowering.Statistics.MigrationEntriesUnknown, lowering.Statistics.MigrationEntriesSet));
        Assert.DoesNotContain(trace.Ops.ToArray(), o => o.Kind == OpKind.TtuUnmap);
        AssertNoFindings(result);
    }

    /// <summary>
    /// A page a fork left mapped in parent and child migrates once: try_to_migrate_one replaces both PTEs (two sets of
    /// one entry) and remove_migration_pte maps the new page in both. The model holds the page in one mm only (it copies
    /// no PTEs at fork): that mapping moves to the new page, the other set and remove are counted as not the model's.
    /// </summary>
    [SkippableFact]
    public void Lower_ForkSharedPageMigrated_RemapsTheMappingTheModelHolds()
    {
        var (trace, lowering, result) = LowerAndReplay(PageMigratedByCompaction(PteOf(0x9001), entries: 2).Rows());

        var set = Assert.Single(trace.Ops.ToArray(), o => o.Kind == OpKind.PteSet && o.Tid == 300);
        Assert.Equal((0x7f0000201000UL, 0x9001UL), (set.Va, set.Pfn));
        Assert.Equal((1L, 1L, 1L, 1L), (lowering.Statistics.MigrationEntriesSet, lowering.Statistics.MigrationEntriesUnknown,
            lowering.Statistics.MigrationRemaps, lowering.Statistics.MigrationRemapsUnknown));
        Assert.Equal(0, lowering.Statistics.MigrationRemapsAmbiguous);
        AssertNoFindings(result);
    }

    /// <summary>
    /// On an AMD machine with memory encryption (SME, or an SEV guest) every present PTE carries the encryption bit
    /// (sme_me_mask, bit 47 here) above the pfn; a migration entry does not (its offset is the pfn). The entry decoded
    /// as x86-64's, the new page is x86-64's pfn too (MAX_PHYSMEM_BITS 46: 34 bits), not the pfn with that bit in it.
    /// </summary>
    [SkippableFact]
    public void Lower_RemoveMigrationPteWithTheMemoryEncryptionBit_MapsTheNewPage()
    {
        string encrypted = ((0x9001UL << 12) | (1UL << 47) | 0x8000000000000067UL).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        var (trace, lowering, result) = LowerAndReplay(PageMigratedByCompaction(encrypted, entries: 1).Rows());

        var set = Assert.Single(trace.Ops.ToArray(), o => o.Kind == OpKind.PteSet && o.Tid == 300);
        Assert.Equal((0x7f0000201000UL, 0x9001UL), (set.Va, set.Pfn));
        Assert.Equal(1L, lowering.Statistics.MigrationRemaps);
        AssertNoFindings(result);
    }

    /// <summary>
    /// Page 0x5001 of pid 200 at 0x7f0000201000 migrated by compaction (pid 300): <paramref name="entries"/> migration
    /// entries of it set at that address (one per mm mapping it), then as many removes printing <paramref name="newPte"/>.
    /// </summary>
    private static LoweringInput PageMigratedByCompaction(string newPte, int entries)
    {
        var input = new LoweringInput();
        Fault(input, 0x7f0000201000, 0x5001, pid: 200);
        input.Line("compact", 300, 1, "mm_migrate_pages_start: mode=MIGRATE_SYNC_LIGHT reason=compaction");
        for (int i = 0; i < entries; i++)
        {
            input.Line("compact", 300, 1, $"set_migration_pte: addr=7f0000201000, pte={EntryOf5001} order=0");
        }
        for (int i = 0; i < entries; i++)
        {
            input.Line("compact", 300, 1, $"remove_migration_pte: addr=7f0000201000, pte={newPte} order=0");
        }
        return input.Line("compact", 300, 1, "mm_page_free: page=0000000022222223 pfn=0x5001 order=0")
            .Line("compact", 300, 1, "mm_migrate_pages: nr_succeeded=1 nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 nr_split=0 mode=MIGRATE_SYNC_LIGHT reason=compaction");
    }

    /// <summary>The entries are decoded as the kernel encodes them; the values are from a recording on this x86-64 6.18 machine (compaction).</summary>
    [Theory]
    [InlineData(0xf7ffe7ffbb988400UL, 0x2233bdUL)] // young and dirty bits (34, 35) set above the pfn
    [InlineData(0xf7ffffffff5ffc00UL, 0x5001UL)]
    public void MigrationEntry_X86_DecodesTheOldPfn(ulong entry, ulong pfn) => Assert.Equal(pfn, MigrationEntry.OldPfn(entry).X86);

    [Fact]
    public void MigrationEntry_PresentPte_DecodesTheNewPfn()
    {
        Assert.Equal(0x311643UL, MigrationEntry.PresentPfn(0x8000000311643067UL));
        // arm64: the pfn bits are the same (bits 12-47); a migration entry's offset sits in bits 8-57.
        Assert.Equal(0x40123UL, MigrationEntry.PresentPfn(0x0068000040123f43UL, x86: false));
        Assert.Equal(0x40123UL, MigrationEntry.OldPfn(0x40123UL << 8 | (30UL << 3)).Arm64);
    }

    [SkippableFact]
    public void Lower_MadvCollapseWhoseRetryAllocationWasLost_IsSkippedNotGivenTheFreedHugePage()
    {
        var (trace, lowering, result) = LowerAndReplay(MadvCollapse(tracedRetryAlloc: false).Rows());

        // The failed attempt freed pfn 0x8000: mapping it as the retry's huge page would map a free page.
        Assert.DoesNotContain(trace.Ops.ToArray(), o => o.Kind == OpKind.PmdSetHuge);
        Assert.Equal((0, 1), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped));
        var gap = Assert.Single(lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2").Gaps);
        Assert.Contains("order-9 GFP_TRANSHUGE allocation", gap.Reason, StringComparison.Ordinal);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_CollapseSequence_ClearsPmdIsolatesPtesDepositsAndMapsHuge()
    {
        var (trace, lowering, result) = LowerAndReplay(Collapse().Rows());

        var names = Names(trace);
        int flush = names.IndexOf("collapse_flush");
        Assert.True(flush > 0 && names[flush - 1] == "rmap_lock" && names[flush + 1] == "rmap_unlock");
        Assert.Equal(["pte_clear", "map_dec", "pte_clear", "map_dec", "table_deposit", "pmd_set_huge", "map_inc"], names[(flush + 2)..(flush + 9)]);
        var huge = trace.Ops[flush + 7];
        Assert.Equal((0x7f0000200000UL, 0x8000UL, 38), (huge.Va, huge.Pfn, huge.Tid));
        Assert.True(names.IndexOf("collapse_flush") < names.LastIndexOf("page_free"));
        Assert.Equal((1, 0, 0), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.ImpliedUnmaps));
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_CollapseWithRawNumericStatuses_IsLoweredAsTheSymbolicOne()
    {
        // trace-cmd report -R prints khugepaged's status as enum scan_result's number: SCAN_SUCCEED is 1.
        var (symbolic, _, _) = LowerAndReplay(Collapse().Rows());
        var (raw, lowering, result) = LowerAndReplay(Collapse(succeeded: "1").Rows());

        Assert.Equal(Names(symbolic), Names(raw));
        Assert.Equal((1, 0, 0), (lowering.Statistics.Collapses, lowering.Statistics.CollapsesSkipped, lowering.Statistics.CollapsesFailed));
        Assert.Empty(lowering.Coverage.Build(_ => true).Single(c => c.Race == "R2").Notes);
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("v6.0", 1)]
    [InlineData("latest", 0)]
    public void Exposure_CollapseWhileAnotherCpuRunsTheMm_ReportedOnlyWithoutTheIpiSync(string profile, int expected)
    {
        var (_, lowering, result) = LowerAndReplay(Collapse().Rows(), profile);

        Assert.Equal(expected, lowering.Exposures.Count);
        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
        if (expected > 0)
        {
            var f = lowering.Exposures[0];
            Assert.Equal(("I2", "R2", ExposureClass.Exposure), (f.Checker, f.Race, f.Class));
            Assert.Equal([0, 1], f.Cpus);
            Assert.Contains("exposure window", f.Message, StringComparison.Ordinal);
            Assert.Equal(f.Seqs.Count, f.Witness.Steps.Count);
        }
    }

    [SkippableFact]
    public void Exposure_KernelThreadReplacedTheMmOnTheOtherCpu_NoWindow()
    {
        var input = Collapse();
        var rows = input.Rows();
        // Insert a kernel thread on CPU0 before khugepaged takes the lock: the mm's task no longer runs there.
        var (_, lowering, _) = LowerAndReplay(
        [
            .. rows.Take(rows.FindIndex(r => r.Event == "kmem:mm_page_alloc" && r.Pid == 38)),
            .. new LoweringInput().Line("kworker/0:1", 7, 0, "tlb_flush: pages:0 reason:flush on task switch (0)").Rows()
                .Select(r => { r.Seq = 999; return r; }),
            .. rows.Skip(rows.FindIndex(r => r.Event == "kmem:mm_page_alloc" && r.Pid == 38)).Where(r => r.Pid != 200),
        ], "v6.0");

        Assert.Empty(lowering.Exposures);
    }

    /// <summary>Two pages faulted in a 2 MiB-aligned anonymous mapping, then a MREMAP_FIXED to another 2 MiB boundary entered (NORMAL_PMD).</summary>
    private static LoweringInput PmdMoveEntered()
    {
        var input = new LoweringInput();
        Mmap(input, 0x7f0000000000, 0x200000);
        Fault(input, 0x7f0000000000, 0x2000);
        Fault(input, 0x7f0000001000, 0x2001);
        return input.Line("mmwork", 100, 0, "sys_mremap(addr: 0x7f0000000000, old_len: 0x200000, new_len: 0x200000, flags: 3, new_addr: 0x7f0040000000)");
    }

    [SkippableTheory]
    [InlineData("v5.13", 1)]
    [InlineData("latest", 0)]
    public void Exposure_PmdMoveDuringReclaim_ReportedOnlyWithoutRmapLocks(string profile, int expected)
    {
        var input = PmdMoveEntered();
        input
            .Line("kswapd0", 50, 1, "mm_vmscan_kswapd_wake: nid=0 order=0")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Wait(40)
            .Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, "sys_mremap -> 0x7f0040000000")
            .Line("kswapd0", 50, 1, "mm_vmscan_kswapd_sleep: nid=0");
        var (_, lowering, result) = LowerAndReplay(input.Rows(), profile);

        Assert.Equal(expected, lowering.Exposures.Count);
        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
        if (expected > 0)
        {
            var f = lowering.Exposures[0];
            Assert.Equal(("I1", "R1"), (f.Checker, f.Race));
            // From the mremap's lock acquisition (kswapd, awake since before it, still active) to its return.
            Assert.Contains("exposure window 43000 ns", f.Message, StringComparison.Ordinal);
            Assert.Contains(f.Witness.Steps, s => s.Text.Contains("still active when mremap took mmap_lock", StringComparison.Ordinal));
            Assert.Equal([0, 1], f.Cpus);
        }
    }

    [SkippableTheory]
    [InlineData("v5.13", 1)]
    [InlineData("v5.13 +rmap-locks-pmd-move", 0)]
    public void Exposure_AnotherTaskFreesAPageOfTheMmDuringThePmdMove_ReportedOnlyWithoutRmapLocks(string profile, int expected)
    {
        var input = PmdMoveEntered();
        input
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("kcompactd0", 51, 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, "sys_mremap -> 0x7f0040000000");
        string[] parts = profile.Split(' ');
        var kernel = KernelProfile.Parse(parts[0], parts[1..]);
        var (result, lowering) = Pipeline.Replay.Lowering.TraceLowering.LowerAndReplay(input.Rows(), kernel, Arch.X86);

        Assert.Equal(expected, lowering.Exposures.Count);
        Assert.Equal(1, lowering.Statistics.ImpliedUnmaps);
        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
        if (expected > 0)
        {
            Assert.Contains(lowering.Exposures[0].Witness.Steps, s => s.Tid == 51 && s.Text.Contains("frees a page of mm", StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// A walker without the mm's lock (kcompactd) frees a page of the mm after the mremap entered but before it got
    /// mmap_lock for write: the move had not started, so the free cannot have met it. Without the mmap_lock events
    /// (older recordings) the window can only start at the entry: it is reported and says so.
    /// </summary>
    [SkippableTheory]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public void Exposure_WalkerFreeWhileMremapWaitsForTheLock_NoWindowFromTheLockAcquisition(bool lockTraced, int expected)
    {
        var input = PmdMoveEntered();
        input.Line("kcompactd0", 51, 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0");
        if (lockTraced)
        {
            input.Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true");
        }
        input.Line("mmwork", 100, 0, "tlb_flush: pages:-1 reason:local MM shootdown (3)");
        if (lockTraced)
        {
            input.Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true");
        }
        input.Line("mmwork", 100, 0, "sys_mremap -> 0x7f0040000000");
        var (_, lowering, result) = LowerAndReplay(input.Rows(), "v5.13");

        Assert.Equal(1, lowering.Statistics.ImpliedUnmaps);
        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
        Assert.Equal(expected, lowering.Exposures.Count);
        if (expected > 0)
        {
            var f = lowering.Exposures[0];
            Assert.Equal(("I1", "R1"), (f.Checker, f.Race));
            Assert.Contains("(from sys_enter_mremap: no mmap_lock acquisition traced)", f.Message, StringComparison.Ordinal);
            Assert.Contains(f.Witness.Steps, s => s.Tid == 51 && s.Text.Contains("frees a page of mm", StringComparison.Ordinal));
        }
    }

    [SkippableTheory]
    [InlineData("recorded/ftrace-text/mm_trace.txt")]
    [InlineData("recorded/trace-cmd/mm_v7_zstd_full.dat")]
    public void Replay_RecordedCorpus_NoInconsistentFindings(string file)
    {
        var rows = ReadCorpus(file);
        foreach (string profile in new[] { "latest", "v5.13", "v6.0" })
        {
            var (trace, lowering, result) = LowerAndReplay(rows, profile);

            Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
            Assert.Empty(result.Unfinished);
            Assert.Equal(rows.Count, lowering.Statistics.Events);
            Assert.True(lowering.Statistics.FaultsMapped > 100, lowering.Statistics.ToString());
            Assert.Equal(1, lowering.Statistics.Collapses);
            Assert.True(lowering.Statistics.DuplicateFrees > 0);
            long previous = -1;
            foreach (ref readonly var op in trace.Ops)
            {
                Assert.True(op.Seq >= previous && op.Seq < rows.Count);
                previous = op.Seq;
            }
            if (profile == "latest")
            {
                AssertNoFindings(result);
            }
        }
    }

    [SkippableFact]
    public void LowerAndReplay_Streaming_SameFindingsAndOpsAsTheKeptTrace()
    {
        var rows = Collapse().Rows();
        var kept = LowerAndReplay(rows, "v6.0");
        var sink = new KeepSink();
        var (result, lowering) = Pipeline.Replay.Lowering.TraceLowering.LowerAndReplay(rows, KernelProfile.Parse("v6.0", []), Arch.X86, sink);

        Assert.Equal(kept.Trace.Ops.ToArray(), sink.Ops);
        Assert.Equal(kept.Result.OpsExecuted, result.OpsExecuted);
        Assert.Equal(kept.Lowering.Exposures.Select(f => f.Message), lowering.Exposures.Select(f => f.Message));
        Assert.Equal("khugepaged", sink.Comms[38]);
    }

    private sealed class KeepSink : Pipeline.Replay.Lowering.IOpSink
    {
        public List<Op> Ops { get; } = [];
        public Dictionary<int, string> Comms { get; } = [];

        public void Task(int tid, string comm) => Comms[tid] = comm;

        public void Write(in Op op) => Ops.Add(op);
    }

    [SkippableFact]
    public void Lower_SameRowsTwice_IdenticalOps()
    {
        var rows = ReadCorpus("recorded/ftrace-text/mm_trace.txt");
        var a = LowerAndReplay(rows).Trace.Ops.ToArray();
        var b = LowerAndReplay(rows).Trace.Ops.ToArray();
        Assert.Equal(a, b);
    }
}
