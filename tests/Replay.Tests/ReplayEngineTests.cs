namespace Pipeline.Replay.Tests;

public class ReplayEngineTests
{
    private sealed class Program
    {
        private readonly List<Op> _ops = [];
        private readonly Dictionary<int, string> _comms = [];

        public Program Op(int tid, int cpu, OpKind kind, int mm = 0, ulong va = 0, ulong pfn = 0, int table = 0, int index = 0,
            Level level = Level.Pte, OpFlags flags = OpFlags.None, int obj = 0, ulong len = 0, byte sub = 0, ulong newVa = 0)
        {
            _comms.TryAdd(tid, "t" + tid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            _ops.Add(new Op
            {
                Seq = _ops.Count,
                Tid = tid,
                Cpu = cpu,
                Kind = kind,
                Mm = mm,
                Va = va,
                Pfn = pfn,
                Table = table,
                Index = index,
                Level = level,
                Flags = flags,
                Obj = obj,
                Len = len,
                Sub = sub,
                NewVa = newVa,
            });
            return this;
        }

        /// <summary>mm 1 with tables 1..5 mapping 0x201000 -> pfn 0x5000, loaded on CPU 1.</summary>
        public Program Mapped()
        {
            Op(1, 1, OpKind.MmCreate, mm: 1, table: 1);
            Op(1, 1, OpKind.TableAlloc, table: 2, level: Level.P4d).Op(1, 1, OpKind.PgdPopulate, mm: 1, va: 0x200000, table: 2);
            Op(1, 1, OpKind.TableAlloc, table: 3, level: Level.Pud).Op(1, 1, OpKind.P4dPopulate, mm: 1, va: 0x200000, table: 3);
            Op(1, 1, OpKind.TableAlloc, table: 4, level: Level.Pmd).Op(1, 1, OpKind.PudPopulate, mm: 1, va: 0x200000, table: 4);
            Op(1, 1, OpKind.TableAlloc, table: 5, level: Level.Pte).Op(1, 1, OpKind.PmdPopulate, mm: 1, va: 0x200000, table: 5);
            Op(1, 1, OpKind.VmaCreate, mm: 1, va: 0x200000, len: 0x200000);
            Op(1, 1, OpKind.PageAlloc, pfn: 0x5000).Op(1, 1, OpKind.PteSet, mm: 1, va: 0x201000, pfn: 0x5000);
            return Op(1, 1, OpKind.CtxSwitch, mm: 1);
        }

        public OpTrace Trace() => new(_ops, _comms);

        public ReplayResult Run(string profile = "none") => ReplayEngine.Run(Trace(), KernelProfile.Parse(profile), Arch.X86);

        /// <summary>The seq the next op gets.</summary>
        public int Next => _ops.Count;

        /// <summary>As <see cref="Run"/> in the observed order, keeping the engine to look at its state after the trace.</summary>
        public (ReplayEngine Engine, ReplayResult Result) RunKeepingEngine(string profile = "latest")
        {
            var engine = new ReplayEngine(KernelProfile.Parse(profile), Arch.X86);
            foreach (var (tid, comm) in _comms)
            {
                engine.NameTask(tid, comm);
            }
            foreach (var op in _ops)
            {
                engine.Execute(op);
            }
            return (engine, engine.Finish());
        }

        /// <summary>Allocates <paramref name="pfn"/> and maps it at PTE <paramref name="slot"/> of table 5; CPUs 1 and 2 cache it.</summary>
        public Program MapNew(ulong pfn, int slot)
        {
            ulong va = 0x200000 + ((ulong)slot * 0x1000);
            return Op(1, 1, OpKind.PageAlloc, pfn: pfn)
                .Op(1, 1, OpKind.PtlLock, table: 5).Op(1, 1, OpKind.PteSet, mm: 1, va: va, pfn: pfn).Op(1, 1, OpKind.MapInc, pfn: pfn)
                .Op(1, 1, OpKind.PtlUnlock, table: 5)
                .Op(1, 1, OpKind.Access, mm: 1, va: va).Op(2, 2, OpKind.Access, mm: 1, va: va);
        }

        /// <summary>Clears PTE <paramref name="slot"/> of table 5 under its PTL (flushing it or not) and frees <paramref name="pfn"/>.</summary>
        public Program UnmapAndFree(ulong pfn, int slot, bool flush = true)
        {
            ulong va = 0x200000 + ((ulong)slot * 0x1000);
            Op(1, 1, OpKind.PtlLock, table: 5).Op(1, 1, OpKind.PteClear, table: 5, index: slot).Op(1, 1, OpKind.MapDec, pfn: pfn);
            if (flush)
            {
                Op(1, 1, OpKind.TlbFlush, mm: 1, va: va, len: 0x1000);
            }
            return Op(1, 1, OpKind.PtlUnlock, table: 5).Op(1, 1, OpKind.PageFree, pfn: pfn);
        }
    }

    private static Finding SingleInconsistent(ReplayResult result, string text)
    {
        var finding = Assert.Single(result.Findings);
        Assert.Equal(FindingClass.Inconsistent, finding.Class);
        Assert.Equal("inconsistent", finding.Race);
        Assert.Contains(text, finding.Message, StringComparison.Ordinal);
        return finding;
    }

    [SkippableFact]
    public void Run_CleanProgram_NoFindings()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.Access, mm: 1, va: 0x201000)
            .Op(1, 1, OpKind.PtlLock, table: 5)
            .Op(1, 1, OpKind.PteClear, table: 5, index: 1)
            .Op(1, 1, OpKind.TlbFlush, mm: 1, va: 0x201000, len: 0x1000)
            .Op(1, 1, OpKind.PtlUnlock, table: 5)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Run();

        Assert.Empty(result.Findings);
        Assert.True(result.OpsExecuted >= 18);
    }

    [SkippableFact]
    public void Run_ChurnOfNewFrames_PageStatesBoundedByTheAllocatedOnes()
    {
        // 20,000 frames pass through 16 PTE slots, as a busy machine's allocator hands out frames: each is
        // allocated, mapped, cached in two TLBs, unmapped with a flush and freed; nothing names it after its free.
        // The engine's page states follow the allocated frames, not every frame the trace touched
        // (docs/mm-model.md, "Page frames").
        const int live = 16;
        var program = new Program().Mapped().Op(2, 2, OpKind.CtxSwitch, mm: 1);
        for (int i = 0; i < 20_000; i++)
        {
            program.MapNew(0x100000 + (ulong)i, 2 + (i % live));
            if (i >= live - 1)
            {
                int old = i - (live - 1);
                program.UnmapAndFree(0x100000 + (ulong)old, 2 + (old % live));
            }
        }
        var (engine, result) = program.RunKeepingEngine();

        Assert.Empty(result.Findings);
        // The frames still mapped: pfn 0x5000 of Mapped() and the last 15 of the churn.
        Assert.Equal(live, engine.PageStateCount);
    }

    [SkippableFact]
    public void Run_FrameFirstSeenAfterOthersWereDropped_HasNoHistoryOfTheirs()
    {
        // 64 frames are mapped, unmapped under the PTL (each gets an unmap and a map_dec in its history) and
        // freed; nothing names them after, so their states are dropped and kept for reuse. A frame the trace first
        // shows in use (allocated before it began) then gets one of those states: it must read as a new frame,
        // with none of the last unmap, walk, lock section, tid or map_dec of the frame that had it before.
        var program = new Program().Mapped().Op(2, 2, OpKind.CtxSwitch, mm: 1);
        for (int i = 0; i < 64; i++)
        {
            program.MapNew(0x100000 + (ulong)i, 2 + (i % 8)).UnmapAndFree(0x100000 + (ulong)i, 2 + (i % 8));
        }
        program.Op(3, 3, OpKind.PtlLock, table: 5).Op(3, 3, OpKind.PteSet, mm: 1, va: 0x20a000, pfn: 0x9000)
            .Op(3, 3, OpKind.MapInc, pfn: 0x9000).Op(3, 3, OpKind.PtlUnlock, table: 5);
        var (engine, result) = program.RunKeepingEngine();

        Assert.Empty(result.Findings);
        var page = engine.GetPage(0x9000);
        Assert.NotNull(page);
        Assert.True(page.Allocated);
        Assert.Equal((1, 1, 0, 0, -1L), (page.RefCount, page.MapCount, page.PmdMapCount, page.TlbRefs, page.AllocExec));
        Assert.Equal((-1L, -1L, -1L, 0), (page.LastUnmapExec, page.UnmapWalkExec, page.UnmapLockExec, page.LastUnmapTid));
        Assert.Equal((-1L, -1L, -1, -1L), (page.LastMapDecExec, page.MlockSetExec, page.MlockFinding, page.MlockClearExec));
        Assert.False(page.Mlocked || page.Unevictable || page.Lru);
    }

    [SkippableFact]
    public void Run_StaleTlbEntryOfAFreedFrame_KeepsItThroughReallocation_BothFreesReported()
    {
        // CPU2 keeps its TLB entry of pfn 0x5000 after an unmap that flushed nothing: the free is a use-after-free
        // (I1), and so is the free of the same frame after it was allocated again while CPU2 still holds the
        // entry. The entry names the frame, so its state lives on through the 2,000 frames that come and go in
        // between (fewer than the witness ring holds) and through its reallocation, and both findings show the
        // PTL section of the unmap that left the entry behind.
        var program = new Program().Mapped()
            .Op(2, 2, OpKind.CtxSwitch, mm: 1).Op(2, 2, OpKind.Access, mm: 1, va: 0x201000);
        int unmapLock = program.Next;
        program.UnmapAndFree(0x5000, 1, flush: false);
        for (int i = 0; i < 2_000; i++)
        {
            program.MapNew(0x100000 + (ulong)i, 2 + (i % 8)).UnmapAndFree(0x100000 + (ulong)i, 2 + (i % 8));
        }
        program.Op(1, 1, OpKind.PageAlloc, pfn: 0x5000).Op(1, 1, OpKind.PageFree, pfn: 0x5000);
        var (engine, result) = program.RunKeepingEngine();

        Assert.Equal(1, engine.PageStateCount);
        var frees = result.Findings.Where(f => f.Checker == "I1").ToList();
        Assert.Equal(2, frees.Count);
        Assert.All(frees, f => Assert.Contains("pfn 0x5000 is freed while CPU2 still holds a usable", f.Message, StringComparison.Ordinal));
        Assert.All(frees, f => Assert.Contains(unmapLock, f.Seqs));
    }

    [SkippableFact]
    public void Run_FreeWithoutFlush_StaleTranslationReported()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.Access, mm: 1, va: 0x201000)
            .Op(1, 1, OpKind.PteClear, table: 5, index: 1)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Run();

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I1", finding.Checker);
        Assert.Equal([1], finding.Cpus);
    }

    [SkippableTheory]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public void Run_SwitchBackAfterTableFlush_WalkCacheFlushedOnlyIfTlbGenMoved(bool flush, int findings)
    {
        // CPU2 walks mm1 (walk cache names table 5), switches away, table 5 is unlinked (and flushed with
        // freed_tables, which x86 sends only to CPUs running mm1), CPU2 switches back, table 5 is freed.
        // x86 switch_mm_irqs_off sees mm1's tlb_gen moved on and flushes the ASID whole, so the free is safe;
        // without any flush the walk cache still names the freed table.
        var program = new Program().Mapped()
            .Op(2, 2, OpKind.CtxSwitch, mm: 1)
            .Op(2, 2, OpKind.Access, mm: 1, va: 0x201000)
            .Op(2, 2, OpKind.CtxSwitch, mm: 0)
            .Op(1, 1, OpKind.PtlLock, table: 5)
            .Op(1, 1, OpKind.PteClear, table: 5, index: 1)
            .Op(1, 1, OpKind.PtlUnlock, table: 5)
            .Op(1, 1, OpKind.PmdClear, mm: 1, va: 0x200000, level: Level.Pmd);
        if (flush)
        {
            program.Op(1, 1, OpKind.TlbFlush, mm: 1, va: 0x200000, len: 0x200000, flags: OpFlags.FreedTables);
        }
        var result = program
            .Op(2, 2, OpKind.CtxSwitch, mm: 1)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Op(1, 1, OpKind.TableFree, table: 5)
            .Run("latest");

        var tableFindings = result.Findings.Where(f => f.Message.Contains("paging-structure cache", StringComparison.Ordinal)).ToList();
        Assert.True(tableFindings.Count == findings, string.Join("\n", result.Findings.Select(f => f.Message)));
    }

    [SkippableFact]
    public void Run_TableIdReusedByAnotherMm_StaleEntryOfTheFirstMmNotReported()
    {
        // CPU2 walked mm1 through table 5 and switched to mm2; mm1 freed table 5 (flushed: CPU2's leftover
        // entry is for mm1's ASID and dies when CPU2 switches back). mm2 then reuses the id 5 for a table of its
        // own and frees it properly: the leftover mm1 entry is not a walk-cache entry of mm2's table.
        var result = new Program().Mapped()
            .Op(2, 2, OpKind.CtxSwitch, mm: 1)
            .Op(2, 2, OpKind.Access, mm: 1, va: 0x201000)
            .Op(2, 2, OpKind.MmCreate, mm: 2, table: 10)
            .Op(2, 2, OpKind.CtxSwitch, mm: 2)
            .Op(1, 1, OpKind.PtlLock, table: 5)
            .Op(1, 1, OpKind.PteClear, table: 5, index: 1)
            .Op(1, 1, OpKind.PtlUnlock, table: 5)
            .Op(1, 1, OpKind.PmdClear, mm: 1, va: 0x200000, level: Level.Pmd)
            .Op(1, 1, OpKind.TlbFlush, mm: 1, va: 0x200000, len: 0x200000, flags: OpFlags.FreedTables)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Op(1, 1, OpKind.TableFree, table: 5)
            .Op(2, 2, OpKind.TableAlloc, table: 11, level: Level.P4d).Op(2, 2, OpKind.PgdPopulate, mm: 2, va: 0x200000, table: 11)
            .Op(2, 2, OpKind.TableAlloc, table: 12, level: Level.Pud).Op(2, 2, OpKind.P4dPopulate, mm: 2, va: 0x200000, table: 12)
            .Op(2, 2, OpKind.TableAlloc, table: 13, level: Level.Pmd).Op(2, 2, OpKind.PudPopulate, mm: 2, va: 0x200000, table: 13)
            .Op(2, 2, OpKind.TableAlloc, table: 5, level: Level.Pte).Op(2, 2, OpKind.PmdPopulate, mm: 2, va: 0x200000, table: 5)
            .Op(2, 2, OpKind.PmdClear, mm: 2, va: 0x200000, level: Level.Pmd)
            .Op(2, 2, OpKind.TlbFlush, mm: 2, va: 0x200000, len: 0x200000, flags: OpFlags.FreedTables)
            .Op(2, 2, OpKind.TableFree, table: 5)
            .Run("latest");

        Assert.True(result.Findings.Count == 0, string.Join("\n", result.Findings.Select(f => f.Message)));
    }

    [SkippableFact]
    public void Run_UnlockNotHeld_Inconsistent()
    {
        var result = new Program().Mapped().Op(2, 2, OpKind.MmapUnlock, mm: 1).Run();

        SingleInconsistent(result, "which it does not hold");
    }

    [SkippableFact]
    public void Run_FreeOfFreePage_Inconsistent()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.PteClear, table: 5, index: 1)
            .Op(1, 1, OpKind.TlbFlush, mm: 1, flags: OpFlags.All)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Op(1, 1, OpKind.PageFree, pfn: 0x5000)
            .Run();

        SingleInconsistent(result, "which is already free");
    }

    [SkippableFact]
    public void Run_AccessOutsideAnyVma_Inconsistent()
    {
        var result = new Program().Mapped().Op(1, 1, OpKind.Access, mm: 1, va: 0x900000).Run();

        SingleInconsistent(result, "no VMA maps that address");
    }

    [SkippableFact]
    public void Run_OpOnUnknownTable_Inconsistent()
    {
        var result = new Program().Mapped().Op(1, 1, OpKind.PteClear, table: 77, index: 3).Run();

        SingleInconsistent(result, "table 77, which no table_alloc introduced");
    }

    [SkippableFact]
    public void Run_AccessFromCpuRunningAnotherMm_Inconsistent()
    {
        var result = new Program().Mapped().Op(3, 3, OpKind.Access, mm: 1, va: 0x201000).Run();

        SingleInconsistent(result, "missing ctx_switch");
    }

    [SkippableFact]
    public void Run_UnknownMm_Inconsistent()
    {
        var result = new Program().Mapped().Op(1, 1, OpKind.MmapLock, mm: 9, flags: OpFlags.Write).Run();

        SingleInconsistent(result, "mm9, which no mm_create introduced");
    }

    [SkippableFact]
    public void Run_TraceEndsWhileTaskWaits_ReportedAsInconsistentNotRace()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.MmapLock, mm: 1, flags: OpFlags.Write)
            .Op(2, 2, OpKind.MmapLock, mm: 1, flags: OpFlags.Write)
            .Op(2, 2, OpKind.MmapUnlock, mm: 1)
            .Run();

        var finding = SingleInconsistent(result, "waits forever on mmap_lock of mm1 (held by t1-1)");
        Assert.Contains("1 later ops never ran", finding.Message, StringComparison.Ordinal);
        Assert.Single(result.Unfinished);
    }

    [SkippableFact]
    public void Run_BlockedTask_OthersRunOnAndItResumesAfterRelease()
    {
        // t2 waits for the PTL t1 holds; t3 keeps running (its fill happens while t2 waits); t2's queued
        // pte_clear runs only after t1's unlock, and its later flush covers t3's entry.
        var result = new Program().Mapped()
            .Op(3, 3, OpKind.CtxSwitch, mm: 1)
            .Op(1, 1, OpKind.PtlLock, table: 5)
            .Op(2, 2, OpKind.PtlLock, table: 5)
            .Op(2, 2, OpKind.PteClear, table: 5, index: 1)
            .Op(3, 3, OpKind.Access, mm: 1, va: 0x201000)
            .Op(1, 1, OpKind.PtlUnlock, table: 5)
            .Op(2, 2, OpKind.TlbFlush, mm: 1, va: 0x201000, len: 0x1000)
            .Op(2, 2, OpKind.PtlUnlock, table: 5)
            .Op(2, 2, OpKind.PageFree, pfn: 0x5000)
            .Run();

        Assert.Empty(result.Findings);
    }

    [SkippableFact]
    public void Run_IpiSync_WaitsForIrqOffSection()
    {
        // Without the wait, the table would be freed inside CPU1's IRQ-off section (an I2 finding).
        var program = new Program().Mapped()
            .Op(1, 1, OpKind.IrqDisable)
            .Op(1, 1, OpKind.EntryRead, mm: 1, va: 0x200000, level: Level.Pmd, flags: OpFlags.Lockless)
            .Op(2, 2, OpKind.PmdClear, mm: 1, va: 0x200000)
            .Op(2, 2, OpKind.IpiSync)
            .Op(2, 2, OpKind.TableFree, table: 5)
            .Op(1, 1, OpKind.EntryRead, table: 5, index: 1, flags: OpFlags.Lockless)
            .Op(1, 1, OpKind.IrqEnable);

        Assert.Empty(program.Run().Findings);
    }

    [SkippableFact]
    public void Run_TableFreeInsideIrqOffSection_I2()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.IrqDisable)
            .Op(1, 1, OpKind.EntryRead, mm: 1, va: 0x200000, level: Level.Pmd, flags: OpFlags.Lockless)
            .Op(2, 2, OpKind.PmdClear, mm: 1, va: 0x200000)
            .Op(2, 2, OpKind.TableFree, table: 5)
            .Op(1, 1, OpKind.EntryRead, table: 5, index: 1, flags: OpFlags.Lockless)
            .Op(1, 1, OpKind.IrqEnable)
            .Run();

        var finding = Assert.Single(result.Findings);
        Assert.Equal("I2", finding.Checker);
        Assert.Equal("R2", finding.Race);
    }

    [SkippableFact]
    public void Run_ImmediateFreeInsideRcuSection_I2()
    {
        // The RCU reader (pte_offset_map) has read the PMD, so it may map table 5 after the clear.
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.RcuLock)
            .Op(1, 1, OpKind.EntryRead, mm: 1, va: 0x200000, level: Level.Pmd, flags: OpFlags.Lockless)
            .Op(2, 2, OpKind.PmdClear, mm: 1, va: 0x200000)
            .Op(2, 2, OpKind.TableFree, table: 5)
            .Run();

        Assert.Equal("I2", Assert.Single(result.Findings).Checker);
    }

    [SkippableFact]
    public void Run_RcuDeferredFree_GracePeriodWaitsForReader()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.RcuLock)
            .Op(2, 2, OpKind.PmdClear, mm: 1, va: 0x200000)
            .Op(2, 2, OpKind.TableFree, table: 5, sub: (byte)FreeMode.Rcu)
            .Op(2, 2, OpKind.RcuGpEnd)
            .Op(2, 2, OpKind.TableAlloc, table: 5, level: Level.Pte)
            .Op(1, 1, OpKind.EntryRead, table: 5, index: 1, flags: OpFlags.Lockless, level: Level.Pte)
            .Op(1, 1, OpKind.RcuUnlock)
            .Run();

        // The grace period (and so the free and the reuse of id 5) waits for CPU1's reader.
        Assert.Empty(result.Findings);
    }

    [SkippableFact]
    public void Run_ObservedValueDiffersFromModel_Inconsistent()
    {
        var program = new Program().Mapped();
        var trace = OpTraceLoader.Load(TraceText.ToRows(TraceText.Write(program.Trace())
            + "t1-1 [001] ..... 1.000000: mmop_entry_read: mm=1 va=0x201000 level=pte lockless=1 val=leaf:0x6000\n"));

        var result = ReplayEngine.Run(trace, KernelProfile.None, Arch.X86);

        SingleInconsistent(result, "the trace says leaf:0x6000, the model has leaf:0x5000");
    }

    [SkippableFact]
    public void Run_TableLinkedTwice_InconsistentNotRace()
    {
        var result = new Program().Mapped()
            .Op(1, 1, OpKind.PmdPopulate, mm: 1, va: 0x400000, table: 5)
            .Run();

        var finding = SingleInconsistent(result, "while still linked from table 4 entry 1");
        Assert.Equal("I5", finding.Checker);
    }

    [SkippableFact]
    public void Reset_AfterEveryScenario_ReplaysTheNextLikeANewEngine()
    {
        // The explorer runs every schedule on one engine reset in between: whatever a race, a parked task or a freed
        // table left behind must not leak into the next run's findings or counts.
        var engine = new ReplayEngine(KernelProfile.None, Arch.Arm64);
        foreach (var scenario in ScenarioLibrary.All.Concat(ScenarioLibrary.All.Reverse()))
        {
            var trace = scenario.Build();
            var fresh = ReplayEngine.Run(trace, KernelProfile.None, Arch.Arm64);

            engine.Reset();
            foreach (var task in trace.Tasks)
            {
                engine.NameTask(task.Tid, task.Comm);
            }
            foreach (ref readonly var op in trace.Ops)
            {
                engine.Execute(op);
            }
            var reused = engine.Finish();

            Assert.NotEmpty(fresh.Findings);
            Assert.Equal(Finding.ToJson(fresh.Findings), Finding.ToJson(reused.Findings));
            Assert.Equal(fresh.OpsExecuted, reused.OpsExecuted);
        }
    }
}
