using System.Globalization;
using Pipeline.Replay.Exposure;
using Pipeline.Replay.Lowering;
using static Pipeline.Replay.Tests.Lowering.LoweringInput;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary>Lowering of the R4 actors (mlock, munlock, MAP_LOCKED, exit) and of the R5 exec stack shift, from hand-built event sequences.</summary>
public sealed class MlockExecLoweringTests
{
    private const string Mm = "0000000036eb11cf";
    private const string UserPage = "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP";
    private const ulong Base = 0x7f0000000000;

    private static LoweringInput Fault(LoweringInput input, ulong va, ulong pfn) => input
        .Line("mmwork", 100, 0, $"page_fault_user: address=0x{va:x} ip=0x401000 error_code=0x6")
        .Line("mmwork", 100, 0, $"mm_page_alloc: page=0000000022222222 pfn=0x{pfn:x} order=0 {UserPage}");

    private static LoweringInput Syscall(LoweringInput input, string call, string args, string ret) => input
        .Line("mmwork", 100, 0, $"sys_{call}({args})")
        .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
        .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
        .Line("mmwork", 100, 0, $"sys_{call} -> {ret}");

    /// <summary>Two faulted pages at Base, Base+4K, then mlock of both.</summary>
    private static LoweringInput Mlocked()
    {
        var input = new LoweringInput();
        Syscall(input, "mmap", "addr: 0, len: 0x200000, prot: 3, flags: 0x22, fd: 0xffffffffffffffff, off: 0", $"0x{Base:x}");
        Fault(input, Base, 0x2000);
        Fault(input, Base + 0x1000, 0x2001);
        return Syscall(input, "mlock", $"start: 0x{Base:x}, len: 0x2000", "0x0");
    }

    private static (OpTrace Trace, TraceLowering Lowering, ReplayResult Result) Run(LoweringInput input, string profile)
    {
        var rows = input.Rows();
        var kernel = KernelProfile.Parse(profile, []);
        var trace = TraceLowering.Lower(rows, kernel, out var lowering);
        return (trace, lowering, ReplayEngine.Run(trace, kernel, Arch.X86));
    }

    private static void AssertNoFindings(ReplayResult result) =>
        Assert.True(result.Findings.Count == 0, string.Join("\n", result.Findings.Select(f => f.Checker + ": " + f.Message)));

    [SkippableTheory]
    [InlineData("latest")]
    [InlineData("v4.3")]
    public void Lower_MlockOfFaultedPages_LockedVmaAndMlockedUnderThePteLock(string profile)
    {
        var (trace, lowering, result) = Run(Mlocked(), profile);

        var ops = trace.Ops.ToArray();
        var create = ops.Single(o => o.Kind == OpKind.VmaCreate);
        Assert.Equal((Base, 0x2000UL, (byte)VmFlags.Locked), (create.Va, create.Len, create.Sub));
        var tail = Names(trace).SkipWhile(n => n != "vma_create").Skip(1).ToList();
        Assert.Equal(["ptl_lock", "flag_set", "ptl_unlock", "ptl_lock", "flag_set", "ptl_unlock"], tail);
        Assert.Equal([0x2000UL, 0x2001UL], ops.Where(o => o.Kind == OpKind.FlagSet).Select(o => o.Pfn));
        Assert.Equal((1, 2), ((int)lowering.Statistics.Mlocks, (int)lowering.Statistics.PagesMlocked));
        // I4 accepts each set: under the PTE lock, the page mapped there, the VMA VM_LOCKED.
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_MunlockOfPartOfTheRange_SplitsTheVmaAndClearsOnlyThosePages()
    {
        var input = Mlocked();
        Syscall(input, "munlock", $"start: 0x{Base + 0x1000:x}, len: 0x1000", "0x0");
        var (trace, lowering, result) = Run(input, "latest");

        var names = Names(trace);
        var tail = names.Skip(names.LastIndexOf("flag_set") + 2).Where(n => n is not ("mmap_lock" or "mmap_unlock")).ToList();
        Assert.Equal(["vma_modify", "vma_create", "vm_flags_write", "ptl_lock", "flag_clear", "ptl_unlock"], tail);
        var write = trace.Ops.ToArray().Single(o => o.Kind == OpKind.VmFlagsWrite);
        Assert.Equal(Base + 0x1000, write.Va);
        Assert.False(write.Has(OpFlags.Write));
        Assert.Equal(0x2001UL, trace.Ops.ToArray().Single(o => o.Kind == OpKind.FlagClear).Pfn);
        Assert.Equal(1, lowering.Statistics.PagesMunlocked);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_MunmapOfMlockedPages_ClearsMlockedBeforeTheFrees()
    {
        var input = Mlocked();
        input.Line("mmwork", 100, 0, $"sys_munmap(addr: 0x{Base:x}, len: 0x200000)")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Line("mmwork", 100, 0, "mm_page_free: page=0000000022222222 pfn=0x2000 order=0")
            .Line("mmwork", 100, 0, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, "sys_munmap -> 0x0");
        var (trace, lowering, result) = Run(input, "v4.3");

        var names = Names(trace);
        Assert.True(names.LastIndexOf("flag_clear") < names.IndexOf("page_free"));
        Assert.Contains("vma_remove", names);
        Assert.Equal(2, lowering.Statistics.PagesMunlocked);
        // Without the clears the engine reports "Bad page state (mlocked)" at the frees.
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_FaultInMapLockedMapping_MlocksTheNewPage()
    {
        var input = new LoweringInput();
        Syscall(input, "mmap", "addr: 0, len: 0x200000, prot: 3, flags: 0x2022, fd: 0xffffffffffffffff, off: 0", $"0x{Base:x}");
        Fault(input, Base + 0x5000, 0x3000);
        var (trace, lowering, result) = Run(input, "latest");

        var names = Names(trace);
        Assert.Equal(names.IndexOf("map_inc") + 2, names.IndexOf("flag_set"));
        Assert.Equal(1, lowering.Statistics.PagesMlocked);
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_UnevictableLruInsertionOutsideALockedVma_CountedNoOp()
    {
        var input = new LoweringInput();
        Fault(input, Base, 0x2000);
        input.Line("mmwork", 100, 0, "mm_lru_insertion: folio=0000000022222222 pfn=0x2000 lru=4 flags=Mab");
        var (trace, lowering, result) = Run(input, "latest");

        Assert.DoesNotContain("flag_set", Names(trace));
        Assert.Equal((1, 1), ((int)lowering.Statistics.UnevictableInsertions, (int)lowering.Statistics.UnevictableWithoutLockedVma));
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("v4.3", 1)]
    [InlineData("latest", 0)]
    public void Exposure_MunlockWhileReclaimRuns_ReportedOnlyWithoutMlockUnderPtl(string profile, int expected)
    {
        var input = Mlocked();
        input.Line("kswapd0", 50, 1, "mm_vmscan_kswapd_wake: nid=0 order=0")
            .Line("mmwork", 100, 0, $"sys_munlock(start: 0x{Base:x}, len: 0x2000)")
            .Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=true success=true")
            .Wait(30)
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=true")
            .Line("mmwork", 100, 0, "sys_munlock -> 0x0")
            .Line("kswapd0", 50, 1, "mm_vmscan_kswapd_sleep: nid=0");
        var (_, lowering, result) = Run(input, profile);

        Assert.Equal(expected, lowering.Exposures.Count);
        if (expected > 0)
        {
            var f = lowering.Exposures[0];
            Assert.Equal(("I4", "R4", ExposureClass.Exposure), (f.Checker, f.Race, f.Class));
            Assert.Equal([0, 1], f.Cpus);
        }
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("v4.3", 1)]
    [InlineData("latest", 0)]
    public void Lower_ExitOfMmWithMlockedPagesDuringReclaim_MunlocksBeforeDestroyAndExposedOnlyWithoutMlockUnderPtl(string profile, int expected)
    {
        var input = Mlocked();
        input.Line("kswapd0", 50, 1, "mm_vmscan_kswapd_wake: nid=0 order=0")
            .Line("mmwork", 100, 0, "sched_process_exit: comm=mmwork pid=100 prio=120")
            .Wait(20)
            .Line("mmwork", 100, 0, $"exit_mmap: mm={Mm} mt=0000000055555555")
            .Line("kswapd0", 50, 1, "mm_vmscan_kswapd_sleep: nid=0");
        var (trace, lowering, result) = Run(input, profile);

        var names = Names(trace);
        var tail = names.Skip(names.LastIndexOf("ptl_unlock") + 1).ToList();
        Assert.Equal(["vm_flags_write", "flag_clear", "flag_clear", "mm_destroy"], tail);
        Assert.Equal(expected, lowering.Exposures.Count);
        if (expected > 0)
        {
            Assert.Contains("exit_mmap of mm1", lowering.Exposures[0].Message, StringComparison.Ordinal);
        }
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("kswapd0", 50, true)]
    [InlineData("kcompactd0", 51, false)]
    public void Lower_UnevictablePutbackByAReclaimer_IsTryToUnmapOnesMlockStep(string comm, int pid, bool reclaimer)
    {
        var input = Mlocked();
        input.Line(comm, pid, 1, "mm_lru_insertion: folio=0000000022222223 pfn=0x2001 lru=4 flags=Mab");
        var (trace, lowering, result) = Run(input, "latest");

        // Reclaim's try_to_unmap_one saw VM_LOCKED and mlocked the page (the putback onto the unevictable list shows
        // it); migration moves mlocked pages and proves no such test. The page was already Mlocked by mlock().
        var walker = trace.Ops.ToArray().Where(o => o.Tid == pid).Select(o => o.Kind).ToList();
        Assert.Equal(reclaimer ? [OpKind.TtuStart, OpKind.TtuMlockCheck, OpKind.TtuMlockSet, OpKind.TtuMlockPage, OpKind.TtuEnd] : [], walker.Where(k => k != OpKind.CtxSwitch));
        Assert.True(trace.Ops.ToArray().Where(o => o.Tid == pid && o.Kind != OpKind.CtxSwitch && o.Kind != OpKind.TtuStart && o.Kind != OpKind.TtuEnd)
            .All(o => (o.Mm, o.Va, o.Pfn) == (1, Base + 0x1000, 0x2001UL)));
        Assert.Equal(reclaimer ? 1 : 0, (int)lowering.Statistics.ReclaimerMlocks);
        Assert.Equal(reclaimer ? 1 : 0, lowering.Coverage.Build(_ => true).Single(r => r.Race == "R4").Actors.Single(a => a.Name == Pipeline.Replay.Coverage.CoverageRules.MlockedWalker).Count);
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("mmwork", 100, 0)]
    [InlineData("mmwork", 101, 0)]
    [InlineData("kcompactd0", 51, 1)]
    public void Exposure_PageFreedDuringExit_ConflictsOnlyWhenAWalkerFreesIt(string comm, int pid, int expected)
    {
        // As raceactors records it: one thread exits first, the last one's exit_mmap zaps the mm (its frees come
        // before the exit_mmap event). Those frees are the teardown itself, not reclaim; a compaction thread's are.
        var input = Mlocked();
        input.Line("mmwork", 102, 1, "sched_process_exit: comm=mmwork pid=102 prio=120", tgid: 100)
            .Line(comm, pid, 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0", tgid: comm == "mmwork" ? 100 : pid)
            .Line("mmwork", 100, 0, "sched_process_exit: comm=mmwork pid=100 prio=120", tgid: 100)
            .Line("mmwork", 100, 0, $"exit_mmap: mm={Mm} mt=0000000055555555", tgid: 100);
        var (_, lowering, result) = Run(input, "v4.3");

        Assert.Equal(1, lowering.Statistics.ImpliedUnmaps);
        Assert.Equal(expected, lowering.Exposures.Count);
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("mm_migrate_pages_start: mode=MIGRATE_SYNC reason=memory_hotplug",
        "mm_migrate_pages: succeeded=1 failed=0 thp_succeeded=0 thp_failed=0 thp_split=0 large_folio_split=0 mode=MIGRATE_SYNC reason=memory_hotplug", 1)]
    [InlineData("mm_compaction_begin: zone_start=0x100000 migrate_pfn=0x100000 free_pfn=0x63fe00 zone_end=0x640000, mode=sync",
        "mm_compaction_end: zone_start=0x100000 migrate_pfn=0x380000 free_pfn=0x380000 zone_end=0x640000, mode=sync status=complete", 1)]
    [InlineData(null, null, 0)]
    public void Coverage_FreeOfAnMlockedPageInsideAMigrationByATaskOfTheMm_IsR4sWalker(string? begin, string? end, int expected)
    {
        // raceactors' R4 phase as 6.18 records it: a thread of the mm writes a memory block's state "offline" (or
        // compact_memory), and the migration frees the old frame of a page the mm has mlocked (remove_migration_pte
        // mapped and mlocked the new one). Inside the migration bracket that free is the rmap walker's, whichever
        // task ran it; outside it, a free by a task of the mm is its own zap, no walker.
        var input = Mlocked();
        if (begin is not null)
        {
            input.Line("mmwork", 101, 1, begin, tgid: 100);
        }
        input.Line("mmwork", 101, 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0", tgid: 100);
        if (end is not null)
        {
            input.Line("mmwork", 101, 1, end, tgid: 100);
        }
        var (_, lowering, result) = Run(input, "latest");

        var coverage = lowering.Coverage.Build(_ => true);
        long Count(string race, string actor) => coverage.Single(r => r.Race == race).Actors.Single(a => a.Name == actor).Count;
        Assert.Equal(expected, Count("R4", Pipeline.Replay.Coverage.CoverageRules.MlockedWalker));
        Assert.Equal(expected, Count("R1", Pipeline.Replay.Coverage.CoverageRules.RmapWalker));
        Assert.Equal(1, lowering.Statistics.ImpliedUnmaps);
        AssertNoFindings(result);
    }

    /// <summary>
    /// The same memory-hotplug migration of the mlocked page recorded with its per-PTE remap events: try_to_migrate_one
    /// walked one mlocked page once, so R1's rmap walker and R4's mlocked walker each count it once (the set's entry and
    /// the old frame's free are the same walk).
    /// </summary>
    [SkippableFact]
    public void Coverage_MlockedPageMigratedWithItsRemapRecorded_CountsTheWalkerOnce()
    {
        // x86-64 writable migration entry of pfn 0x2001 (type 30, offset inverted from bit 9), and the new page's PTE.
        var input = Mlocked()
            .Line("mmwork", 101, 1, "mm_migrate_pages_start: mode=MIGRATE_SYNC reason=memory_hotplug", tgid: 100)
            .Line("mmwork", 101, 1, $"set_migration_pte: addr={Base + 0x1000:x}, pte=f7ffffffffbffc00 order=0", tgid: 100)
            .Line("mmwork", 101, 1, $"remove_migration_pte: addr={Base + 0x1000:x}, pte=8000000009001067 order=0", tgid: 100)
            .Line("mmwork", 101, 1, "mm_page_free: page=0000000022222223 pfn=0x2001 order=0", tgid: 100)
            .Line("mmwork", 101, 1, "mm_migrate_pages: succeeded=1 failed=0 thp_succeeded=0 thp_failed=0 thp_split=0 large_folio_split=0 mode=MIGRATE_SYNC reason=memory_hotplug", tgid: 100);
        var (_, lowering, result) = Run(input, "latest");

        var coverage = lowering.Coverage.Build(_ => true);
        long Count(string race, string actor) => coverage.Single(r => r.Race == race).Actors.Single(a => a.Name == actor).Count;
        Assert.Equal(1L, lowering.Statistics.MigrationEntriesMlocked);
        Assert.Equal(1, Count("R4", Pipeline.Replay.Coverage.CoverageRules.MlockedWalker));
        Assert.Equal(1, Count("R1", Pipeline.Replay.Coverage.CoverageRules.RmapWalker));
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Exposure_MunlockWithoutReclaim_NoWindow()
    {
        var input = Mlocked();
        Syscall(input, "munlock", $"start: 0x{Base:x}, len: 0x2000", "0x0");
        var (_, lowering, _) = Run(input, "v4.3");

        Assert.Empty(lowering.Exposures);
    }

    // ---- exec (R5)

    private const ulong StackTopMax = 0x7ffffffff000;

    /// <summary>execve with <paramref name="argPages"/> argument pages, then the first stack fault at <paramref name="fault"/>.</summary>
    private static LoweringInput Exec(int argPages, ulong fault, bool faultBeforeExecEvent = false)
    {
        var input = new LoweringInput();
        Fault(input, Base, 0x1000);
        input.Line("mmwork", 100, 0, $"mmap_lock_acquire_returned: mm={Mm} memcg_id=1 write=false success=true")
            .Line("mmwork", 100, 0, $"mmap_lock_released: mm={Mm} memcg_id=1 write=false")
            .Line("mmwork", 100, 0, "sys_execve(filename: 56181cc6d0d0, argv: 56181cc67440, envp: 56181cc51650)");
        for (int i = 0; i < argPages; i++)
        {
            input.Line("mmwork", 100, 0, string.Create(CultureInfo.InvariantCulture,
                $"mm_page_alloc: page=0000000033333333 pfn=0x{0x10000 + i:x} order=0 {UserPage}"));
        }
        if (faultBeforeExecEvent)
        {
            // exec_mmap → mmput of the old mm (bound through its mmap_lock); create_elf_tables faults before sched_process_exec.
            input.Line("mmwork", 100, 0, $"exit_mmap: mm={Mm} mt=0000000055555555");
        }
        else
        {
            input.Line("mmwork", 100, 0, "sched_process_exec: filename=/tmp/mmwork pid=100 old_pid=100");
        }
        input.Line("mmwork", 100, 0, $"page_fault_user: address=0x{fault:x} ip=0x7f0000001000 error_code=0x6")
            .Line("mmwork", 100, 0, $"mm_page_alloc: page=0000000044444444 pfn=0x20000 order=0 {UserPage}");
        if (faultBeforeExecEvent)
        {
            input.Line("mmwork", 100, 0, "sched_process_exec: filename=/tmp/mmwork pid=100 old_pid=100");
        }
        return input.Line("mmwork", 100, 0, "sys_execve -> 0x0");
    }

    [SkippableTheory]
    [InlineData("latest")]
    [InlineData("v5.13")]
    [InlineData("v4.3")]
    public void Lower_ExecWithArgumentPagesAndAStackFault_ShiftsTheStackIntoTheNewMm(string profile)
    {
        // 2 argument pages; the stack top went 0x10000000 down (far: no overlap), the auxv block faults right below.
        ulong top = StackTopMax - 0x10000000;
        var (trace, lowering, result) = Run(Exec(2, top - 0x2000 - 0x800), profile);

        var ops = trace.Ops.ToArray();
        Assert.True(ops.Any(o => o.Kind == OpKind.ExecShiftStack), lowering.Statistics.ToString());
        var shift = ops.Single(o => o.Kind == OpKind.ExecShiftStack);
        Assert.Equal((StackTopMax - 0x2000, top - 0x2000, 0x2000UL), (shift.Va, shift.NewVa, shift.Len));
        var oldMm = ops.First(o => o.Kind == OpKind.MmCreate).Mm;
        Assert.NotEqual(oldMm, shift.Mm);
        // The argument pages were mapped top down in the old range before the move.
        var sets = ops.Where(o => o.Kind == OpKind.PteSet && o.Mm == shift.Mm).ToList();
        Assert.Equal((StackTopMax - 0x1000, 0x10000UL), (sets[0].Va, sets[0].Pfn));
        Assert.Equal((StackTopMax - 0x2000, 0x10001UL), (sets[1].Va, sets[1].Pfn));
        // The fault itself is lowered after the shift, below the moved arguments.
        Assert.Equal(top - 0x3000, sets[2].Va);
        Assert.True(Array.IndexOf(ops, shift) < Array.IndexOf(ops, sets[2]));
        Assert.Equal((1, 1, 0), ((int)lowering.Statistics.Execs, (int)lowering.Statistics.ExecStackShifts, (int)lowering.Statistics.ExecStacksUndecided));
        AssertNoFindings(result);
        Assert.Empty(lowering.Exposures);
    }

    [SkippableFact]
    public void Lower_StackFaultBeforeTheExecEvent_DecidedAtTheFault()
    {
        ulong top = StackTopMax - 0x10000000;
        var (trace, lowering, result) = Run(Exec(1, top - 0x1000 - 0x10, faultBeforeExecEvent: true), "latest");

        var ops = trace.Ops.ToArray();
        var shift = Assert.Single(ops, o => o.Kind == OpKind.ExecShiftStack);
        var destroyed = Assert.Single(ops, o => o.Kind == OpKind.MmDestroy);
        Assert.NotEqual(destroyed.Mm, shift.Mm);
        Assert.Equal((1, 1), ((int)lowering.Statistics.ExecStackShifts, (int)lowering.Statistics.MmDestroyed));
        AssertNoFindings(result);
    }

    [SkippableFact]
    public void Lower_ExecWithoutArgumentPages_UndecidedNoShift()
    {
        var (trace, lowering, result) = Run(Exec(0, StackTopMax - 0x10000000), "latest");

        Assert.DoesNotContain("exec_shift_stack", Names(trace));
        Assert.Equal((1, 0, 1), ((int)lowering.Statistics.Execs, (int)lowering.Statistics.ExecStackShifts, (int)lowering.Statistics.ExecStacksUndecided));
        AssertNoFindings(result);
    }

    [SkippableTheory]
    [InlineData("v5.13", 1)]
    [InlineData("v6.6", 1)]
    [InlineData("v4.3", 0)]
    [InlineData("latest", 0)]
    public void Lower_ExecWhosePlacementChangesTheMovePath_UndecidedButExposedWithoutRealign(string profile, int expected)
    {
        // 0x402 argument pages and a 2 MiB shift (docs/mm-model.md §2.5): the first extent's move_ptes leaves the source table
        // linked where the next PMD move lands. One page lower the ranges are not mutually aligned: undecided.
        ulong len = 0x402000;
        ulong top = StackTopMax - 0x200000;
        var (trace, lowering, result) = Run(Exec(0x402, top - len - 0x1000), profile);

        Assert.DoesNotContain("exec_shift_stack", Names(trace));
        Assert.Equal(1, lowering.Statistics.ExecStacksUndecided);
        Assert.Equal(expected, lowering.Exposures.Count);
        if (expected > 0)
        {
            var f = lowering.Exposures[0];
            Assert.Equal(("I5", "R5", ExposureClass.Exposure), (f.Checker, f.Race, f.Class));
            Assert.Contains("0x7fffffa00000 populated", f.Message, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(result.Findings, x => x.Class == FindingClass.Inconsistent);
    }

    [SkippableFact]
    public void Lower_OverlappingShiftWithoutPmdMoves_MovesEveryArgumentPageDown()
    {
        // v4.3 has no MOVE_PMD: whatever the exact placement (a shift of 2 or 1 pages), move_ptes moves page by page.
        ulong len = 0x3000;
        ulong top = StackTopMax - 0x2000;
        var (trace, lowering, result) = Run(Exec(3, top - len - 0x1000), "v4.3");

        Assert.Equal(1, lowering.Statistics.ExecStackShifts);
        Assert.Empty(lowering.Exposures);
        AssertNoFindings(result);
        var shift = trace.Ops.ToArray().Single(o => o.Kind == OpKind.ExecShiftStack);
        Assert.Equal(StackTopMax - len - 0x2000, shift.NewVa);
    }
}
