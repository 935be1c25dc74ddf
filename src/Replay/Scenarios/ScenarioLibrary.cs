namespace Pipeline.Replay;

/// <summary>A named seed-race scenario: per-task programs plus the schedule that shows the race.</summary>
public sealed class Scenario
{
    private readonly Func<OpTrace> _build;

    private readonly (int Tid, OpKind Through)[] _benign;

    internal Scenario(string name, string race, string checker, string description, string[] buggy, string[] fixedProfiles, Arch[] maskedOn, Func<OpTrace> build,
        (int Tid, OpKind Through)[] benign)
    {
        _benign = benign;
        Name = name;
        Race = race;
        Checker = checker;
        Description = description;
        BuggyProfiles = buggy;
        FixedProfiles = fixedProfiles;
        MaskedOn = maskedOn;
        _build = build;
    }

    /// <summary>Scenario name, e.g. <c>r1-pmd</c>.</summary>
    public string Name { get; }

    /// <summary>R1…R6.</summary>
    public string Race { get; }

    /// <summary>The invariant checker that must report it (I1…I6).</summary>
    public string Checker { get; }

    /// <summary>What happens, in kernel terms.</summary>
    public string Description { get; }

    /// <summary>Profiles under which the race shows (on architectures not in <see cref="MaskedOn"/>).</summary>
    public IReadOnlyList<string> BuggyProfiles { get; }

    /// <summary>Profiles under which the same programs replay clean (fixed, or before the race existed).</summary>
    public IReadOnlyList<string> FixedProfiles { get; }

    /// <summary>Architectures where the race is masked even on buggy profiles (R1 batched reclaim on x86).</summary>
    public IReadOnlyList<Arch> MaskedOn { get; }

    /// <summary>Builds the op trace (programs in schedule order).</summary>
    public OpTrace Build() => _build();

    /// <summary>
    /// The same programs in a benign schedule: the race does not happen in this order under any profile (except
    /// single-task scenarios, whose race is in the program itself). <c>mmtrace explore</c> starts from it and must find the race.
    /// </summary>
    public OpTrace BuildBenign()
    {
        var trace = _build();
        var programs = trace.Tasks.ToDictionary(t => t.Tid, t => new Queue<Op>(trace.Program(t.Tid)));
        var ops = new List<Op>(trace.Count);
        // Each block runs one task's next ops up to and including the first of kind Through (None: all it has left).
        foreach (var (tid, through) in _benign)
        {
            var program = programs[tid];
            while (program.Count > 0)
            {
                var op = program.Dequeue();
                ops.Add(op);
                if (op.Kind == through)
                {
                    break;
                }
            }
        }
        foreach (var task in trace.Tasks)
        {
            ops.AddRange(programs[task.Tid]);
        }
        for (int i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            op.Seq = i;
            ops[i] = op;
        }
        return new OpTrace(ops, trace.Tasks.ToDictionary(t => t.Tid, t => t.Comm));
    }
}

/// <summary>The seed races as scenarios (docs/mm-model.md §2).</summary>
public static class ScenarioLibrary
{
    private const int Mm = 1;
    private const ulong M2 = 1UL << 21;
    private const ulong G1 = 1UL << 30;

    // R1's benign order: the unmapper runs whole before mremap takes the mmap lock's critical section on, then t3.
    private static readonly (int Tid, OpKind Through)[] R1Benign =
        [(101, OpKind.MmapLock), (102, OpKind.None), (101, OpKind.None), (103, OpKind.None)];

    /// <summary>Every scenario, in race order.</summary>
    public static IReadOnlyList<Scenario> All { get; } =
    [
        new("r1-pmd", "R1", "I1",
            "mremap moves a whole PTE table (NORMAL_PMD) while migration's try_to_unmap_one holds that table, found through the old address; "
            + "a third thread fills its TLB through the new PMD; the migration flushes only the old address and frees the page.",
            ["none", "v5.8", "v5.10.46", "v5.12", "v5.13"], ["v4.3", "v5.13.3", "v5.14", "v6.1", "latest"], [],
            () => R1(pud: false, batch: false), R1Benign),
        new("r1-pud", "R1", "I1",
            "As r1-pmd with a 1G NORMAL_PUD move (pud_lock is mm->page_table_lock); without HAVE_MOVE_PUD the kernel moves PMD by PMD and the PMD race remains.",
            ["none", "v5.10.46", "v5.12", "v5.13"], ["v4.3", "v5.13.3", "v5.14", "latest"], [],
            () => R1(pud: true, batch: false), R1Benign),
        new("r1-pmd-reclaim", "R1", "I1",
            "As r1-pmd but the unmapper is reclaim with TTU_BATCH_FLUSH: on x86 arch_tlbbatch_flush fully flushes every CPU of the union mm_cpumask "
            + "before the free, which masks the race; arm64 flushes only the old address per page.",
            ["none", "v5.13"], ["v5.13.3", "latest"], [Arch.X86],
            () => R1(pud: false, batch: true), R1Benign),
        new("r2-anon", "R2", "I2",
            "khugepaged's collapse_huge_page clears the PMD and flushes without an IPI reaching the GUP-fast CPU (paravirt x86, arm64, INVLPGB), "
            + "copies the pages and deposits the old PTE table while GUP-fast, IRQs off, still walks it.",
            ["none", "v5.14", "v6.0"], ["v6.1", "v6.6", "latest"], [],
            () => R2(file: false), [(201, OpKind.None), (202, OpKind.None)]),
        new("r2-file", "R2", "I2",
            "collapse_and_free_pmd (file THP) clears the PMD, flushes without an IPI to the GUP-fast CPU and frees the PTE table at once.",
            ["none", "v5.14", "v6.0"], ["v6.1", "v6.6", "latest"], [],
            () => R2(file: true), [(201, OpKind.None), (202, OpKind.None)]),
        new("r3-pte", "R3", "I3",
            "split_huge_page's unmap_page calls try_to_unmap without TTU_SYNC: page_vma_mapped_walk peeks at a PTE that zap_pte_range has just cleared "
            + "(mapcount not yet decremented), skips it without the PTL, and the caller's !page_mapcount assertion fails.",
            ["none", "v5.10.46", "v5.12"], ["v5.10.47", "v5.13", "latest"], [],
            () => R3(thp: false), [(302, OpKind.None), (301, OpKind.None)]),
        new("r3-thp", "R3", "I3",
            "As r3-pte for a PMD-mapped THP: zap_huge_pmd cleared the PMD under the PMD lock, the walker sees !pmd_present and returns at once.",
            ["none", "v5.10.46", "v5.12"], ["v5.10.47", "v5.13", "latest"], [],
            () => R3(thp: true), [(302, OpKind.None), (301, OpKind.None)]),
        new("r4-truncate", "R4", "I4",
            "try_to_unmap_one sees VM_LOCKED under the PTE lock, drops it, and later sets PageMlocked under an mmap_sem trylock; meanwhile truncation's "
            + "zap_pte_range unmapped the COWed page, so the page is freed Mlocked (Bad page state).",
            ["none", "v4.3"], ["v4.4", "v5.14", "latest"], [],
            () => R4(munlock: false), [(401, OpKind.None), (402, OpKind.None)]),
        new("r4-munlock", "R4", "I4",
            "exit_mmap's munlock_vma_pages_all (no mmap_sem) clears VM_LOCKED and PageMlocked between try_to_unmap_one's VM_LOCKED test and its "
            + "TestSetPageMlocked: the page stays Mlocked and unevictable with no VM_LOCKED mapper.",
            ["none", "v4.3"], ["v4.4", "v5.14", "latest"], [],
            () => R4(munlock: true), [(401, OpKind.None), (402, OpKind.None)]),
        new("r5-exec-stack", "R5", "I5",
            "shift_arg_pages moves the stack down by 2M over itself: the first 0x3000 go PTE by PTE and leave the old PTE table linked, so the next "
            + "extent's move_normal_pmd finds its destination populated, WARNs and falls back.",
            ["none", "v5.8", "v5.10.46", "v5.14", "v6.6"], ["v4.3", "v6.7", "v6.12", "latest"], [],
            R5, [(501, OpKind.None)]),
        new("r6-retract", "R6", "I6",
            "move_page_tables classifies a file PMD as a table before take_rmap_locks; retract_page_tables (no mmap_lock since v6.5) clears it and "
            + "frees the table before the locks are taken; move_normal_pmd then populates the new PMD from the cleared one.",
            ["none", "v6.6", "v6.11"], ["v6.1", "v6.12", "latest"], [],
            R6, [(601, OpKind.CtxSwitch), (602, OpKind.None), (601, OpKind.None)]),
    ];

    /// <summary>The scenario called <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the valid ones.</exception>
    public static Scenario Get(string name)
    {
        foreach (var s in All)
        {
            if (s.Name == name)
            {
                return s;
            }
        }
        throw new ArgumentException($"Unknown scenario '{name}'; expected one of: {string.Join(", ", All.Select(s => s.Name))}.", nameof(name));
    }

    private static OpTrace R1(bool pud, bool batch)
    {
        const int t1 = 101, t2 = 102, t3 = 103;
        const ulong off = 0x1000, pfn = 0x5000;
        ulong old = pud ? G1 : 0x200000;
        ulong nw = pud ? 2 * G1 : 0x40200000;
        ulong size = pud ? G1 : M2;
        var b = new ScenarioBuilder();
        b.Task(t1, "mremap", 1);
        b.Task(t2, batch ? "kswapd0" : "migrate", 2);
        b.Task(t3, "t3", 3);
        b.MmCreate(t1, Mm);
        b.Vma(t1, Mm, old, size, VmFlags.None, 1);
        b.MapPage(t1, Mm, old + off, pfn);
        b.Ensure(t1, Mm, nw, pud ? Level.Pud : Level.Pmd);
        b.Emit(t1, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t2, OpKind.CtxSwitch, mm: 0);
        b.Emit(t3, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t1, OpKind.MmapLock, mm: Mm, flags: OpFlags.Write);
        // Reclaim/migration finds the PTE table through the old address and holds its PTL.
        b.Emit(t2, OpKind.TtuStart, pfn: pfn, obj: 1);
        b.Emit(t2, OpKind.TtuWalk, mm: Mm, va: old + off, pfn: pfn);
        // copy_vma made a new VMA, so need_rmap_locks is false.
        b.Vma(t1, Mm, nw, size, VmFlags.None, 1);
        b.Emit(t1, pud ? OpKind.MremapMovePud : OpKind.MremapMovePmd, mm: Mm, va: old, newVa: nw, obj: 1, table: 20);
        b.Emit(t3, OpKind.Access, mm: Mm, va: nw + off, flags: OpFlags.WriteAccess);
        b.Emit(t1, OpKind.MmapUnlock, mm: Mm);
        b.Emit(t2, OpKind.TtuUnmap, mm: Mm, va: old + off, pfn: pfn, flags: batch ? OpFlags.Batch : OpFlags.Migrate);
        b.Emit(t2, OpKind.TtuEnd, pfn: pfn, obj: 1);
        if (batch)
        {
            b.Emit(t2, OpKind.TlbBatchFlush);
        }
        b.Emit(t2, OpKind.PageFree, pfn: pfn);
        b.Emit(t3, OpKind.Access, mm: Mm, va: nw + off, flags: OpFlags.WriteAccess);
        return b.Build();
    }

    private static OpTrace R2(bool file)
    {
        const int t1 = 201, t2 = 202;
        const ulong va = 0x200000, huge = 0x8000;
        ulong[] pfns = [0x5000, 0x5001];
        int rmap = file ? 2 : 1;
        var b = new ScenarioBuilder();
        b.Task(t1, "gup", 1);
        b.Task(t2, "khugepaged", 2);
        b.MmCreate(t1, Mm);
        b.Vma(t1, Mm, va, M2, file ? VmFlags.File : VmFlags.None, rmap);
        for (int i = 0; i < pfns.Length; i++)
        {
            b.MapPage(t1, Mm, va + ((ulong)i << 12), pfns[i]);
        }
        int pte = b.Ensure(t1, Mm, va, Level.Pte);
        b.Emit(t1, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t2, OpKind.CtxSwitch, mm: 0);
        b.Emit(t2, OpKind.MmapLock, mm: Mm, flags: OpFlags.Write);
        b.Emit(t2, OpKind.RmapLock, obj: rmap, flags: OpFlags.Write);
        if (file)
        {
            // collapse_pte_mapped_thp has already zapped the small-page PTEs.
            b.Emit(t2, OpKind.PtlLock, table: pte);
            for (int i = 0; i < pfns.Length; i++)
            {
                b.Emit(t2, OpKind.PteClear, table: pte, index: i);
                b.Emit(t2, OpKind.MapDec, pfn: pfns[i]);
            }
            b.Emit(t2, OpKind.PtlUnlock, table: pte);
        }
        b.Emit(t1, OpKind.IrqDisable);
        b.Emit(t1, OpKind.EntryRead, mm: Mm, va: va, level: Level.Pmd, flags: OpFlags.Lockless);
        b.Emit(t2, OpKind.CollapseFlush, mm: Mm, va: va, flags: OpFlags.NoIpi);
        if (file)
        {
            b.Emit(t2, OpKind.TableFree, table: pte);
        }
        else
        {
            b.Emit(t2, OpKind.PtlLock, table: pte);
            b.Emit(t2, OpKind.PtlUnlock, table: pte);
            b.Emit(t2, OpKind.PageAlloc, pfn: huge, value: 9);
            for (int i = 0; i < pfns.Length; i++)
            {
                b.Emit(t2, OpKind.PtlLock, table: pte);
                b.Emit(t2, OpKind.PteClear, table: pte, index: i);
                b.Emit(t2, OpKind.MapDec, pfn: pfns[i]);
                b.Emit(t2, OpKind.PtlUnlock, table: pte);
                b.Emit(t2, OpKind.RefPut, pfn: pfns[i]);
                b.Emit(t2, OpKind.PageFree, pfn: pfns[i]);
            }
            b.Emit(t2, OpKind.PtlLock, mm: Mm, va: va, level: Level.Pmd);
            b.Emit(t2, OpKind.TableDeposit, mm: Mm, va: va, table: pte);
            b.Emit(t2, OpKind.PmdSetHuge, mm: Mm, va: va, pfn: huge);
            b.Emit(t2, OpKind.MapInc, pfn: huge, level: Level.Pmd);
            b.Emit(t2, OpKind.PtlUnlock, mm: Mm, va: va, level: Level.Pmd);
        }
        b.Emit(t2, OpKind.RmapUnlock, obj: rmap);
        b.Emit(t2, OpKind.MmapUnlock, mm: Mm);
        b.Emit(t1, OpKind.EntryRead, table: pte, index: 1, flags: OpFlags.Lockless);
        b.Emit(t1, OpKind.EntryRead, mm: Mm, va: va, level: Level.Pmd, flags: OpFlags.Lockless);
        b.Emit(t1, OpKind.IrqEnable);
        return b.Build();
    }

    private static OpTrace R3(bool thp)
    {
        const int t1 = 301, t2 = 302;
        const ulong va = 0x200000, off = 0x1000;
        ulong pfn = thp ? 0x8000UL : 0x5000UL;
        var level = thp ? Level.Pmd : Level.Pte;
        ulong at = thp ? va : va + off;
        var b = new ScenarioBuilder();
        b.Task(t1, "split", 1);
        b.Task(t2, "munmap", 2);
        b.MmCreate(t2, Mm);
        b.Vma(t2, Mm, va, M2, VmFlags.None, 1);
        if (thp)
        {
            b.Ensure(t2, Mm, va, Level.Pmd);
            b.Emit(t2, OpKind.PageAlloc, pfn: pfn, value: 9);
            b.Emit(t2, OpKind.PmdSetHuge, mm: Mm, va: va, pfn: pfn);
            b.Emit(t2, OpKind.MapInc, pfn: pfn, level: Level.Pmd);
        }
        else
        {
            b.MapPage(t2, Mm, at, pfn);
        }
        b.Emit(t1, OpKind.CtxSwitch, mm: 0);
        b.Emit(t2, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t2, OpKind.ZapClear, mm: Mm, va: at, level: level);
        b.Emit(t1, OpKind.TtuStart, pfn: pfn, obj: 1, flags: OpFlags.Assert);
        b.Emit(t1, OpKind.TtuWalk, mm: Mm, va: at, pfn: pfn, level: level);
        b.Emit(t1, OpKind.TtuUnmap, mm: Mm, va: at, pfn: pfn, level: level);
        b.Emit(t1, OpKind.TtuEnd, pfn: pfn, obj: 1, flags: OpFlags.Assert);
        b.Emit(t2, OpKind.ZapFinish, mm: Mm, va: at, pfn: pfn, level: level);
        return b.Build();
    }

    private static OpTrace R4(bool munlock)
    {
        const int t1 = 401, t2 = 402;
        const ulong va = 0x200000, off = 0x1000, pfn = 0x5000;
        var b = new ScenarioBuilder();
        b.Task(t1, "kswapd0", 1);
        b.Task(t2, munlock ? "exit" : "truncate", 2);
        b.MmCreate(t1, Mm);
        b.Vma(t1, Mm, va, M2, munlock ? VmFlags.Locked : VmFlags.Locked | VmFlags.File, 1);
        b.MapPage(t1, Mm, va + off, pfn);
        b.Emit(t1, OpKind.CtxSwitch, mm: 0);
        b.Emit(t2, OpKind.CtxSwitch, mm: munlock ? Mm : 0);
        b.Emit(t1, OpKind.TtuStart, pfn: pfn, obj: 1);
        b.Emit(t1, OpKind.TtuMlockCheck, mm: Mm, va: va + off, pfn: pfn);
        if (munlock)
        {
            b.Emit(t1, OpKind.TtuMlockSet, mm: Mm, va: va + off, pfn: pfn);
            b.Emit(t2, OpKind.VmFlagsWrite, mm: Mm, va: va, sub: (byte)VmFlags.Locked);
            b.Emit(t2, OpKind.PtlLock, mm: Mm, va: va + off, level: Level.Pte);
            b.Emit(t2, OpKind.EntryRead, mm: Mm, va: va + off, level: Level.Pte);
            b.Emit(t2, OpKind.PtlUnlock, mm: Mm, va: va + off, level: Level.Pte);
            b.Emit(t2, OpKind.FlagClear, pfn: pfn, sub: (byte)PageFlag.Mlocked);
            b.Emit(t1, OpKind.TtuMlockPage, mm: Mm, va: va + off, pfn: pfn);
            b.Emit(t1, OpKind.TtuEnd, pfn: pfn, obj: 1);
        }
        else
        {
            b.Emit(t2, OpKind.RmapLock, obj: 2);
            b.Emit(t2, OpKind.ZapClear, mm: Mm, va: va + off);
            b.Emit(t2, OpKind.ZapFinish, mm: Mm, va: va + off, pfn: pfn);
            b.Emit(t2, OpKind.RmapUnlock, obj: 2);
            b.Emit(t1, OpKind.TtuMlockSet, mm: Mm, va: va + off, pfn: pfn);
            b.Emit(t1, OpKind.TtuMlockPage, mm: Mm, va: va + off, pfn: pfn);
            b.Emit(t1, OpKind.TtuEnd, pfn: pfn, obj: 1);
            b.Emit(t2, OpKind.RefPut, pfn: pfn);
            b.Emit(t2, OpKind.PageFree, pfn: pfn);
        }
        return b.Build();
    }

    private static OpTrace R5()
    {
        const int t1 = 501;
        const ulong top = 0x7fffc0000000, start = top - 0x3000, end = top + M2, shift = M2;
        var b = new ScenarioBuilder();
        b.Task(t1, "exec", 1);
        b.MmCreate(t1, Mm);
        b.Vma(t1, Mm, start, end - start, VmFlags.Stack, 1);
        ulong pfn = 0x6000;
        for (ulong a = start; a < top; a += 0x1000)
        {
            b.MapPage(t1, Mm, a, pfn++);
        }
        b.MapPage(t1, Mm, top, pfn++);
        b.MapPage(t1, Mm, top + 0x1000, pfn);
        b.Ensure(t1, Mm, start - shift, Level.Pmd);
        b.Emit(t1, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t1, OpKind.MmapLock, mm: Mm, flags: OpFlags.Write);
        b.Emit(t1, OpKind.ExecShiftStack, mm: Mm, va: start, newVa: start - shift, len: end - start, table: 40);
        b.Emit(t1, OpKind.MmapUnlock, mm: Mm);
        b.Emit(t1, OpKind.Access, mm: Mm, va: start - shift);
        b.Emit(t1, OpKind.Access, mm: Mm, va: top - shift + 0x1000);
        return b.Build();
    }

    private static OpTrace R6()
    {
        const int t1 = 601, t2 = 602;
        const ulong old = 0x200000, nw = 0x40200000;
        var b = new ScenarioBuilder();
        b.Task(t1, "mremap", 1);
        b.Task(t2, "khugepaged", 2);
        b.MmCreate(t1, Mm);
        b.Vma(t1, Mm, old, M2, VmFlags.File, 2);
        b.Ensure(t1, Mm, old, Level.Pte);
        b.Ensure(t1, Mm, nw, Level.Pmd);
        b.Emit(t1, OpKind.CtxSwitch, mm: Mm);
        b.Emit(t2, OpKind.CtxSwitch, mm: 0);
        b.Emit(t1, OpKind.MmapLock, mm: Mm, flags: OpFlags.Write);
        b.Emit(t2, OpKind.RetractStart, mm: Mm, obj: 2);
        // The destination merges with a neighbour, so copy_vma asks for the rmap locks whatever the kernel.
        b.Vma(t1, Mm, nw, M2, VmFlags.File, 2);
        b.Emit(t1, OpKind.MremapMovePmd, mm: Mm, va: old, newVa: nw, obj: 2, flags: OpFlags.NeedRmapLocks, table: 20);
        b.Emit(t2, OpKind.RetractPmd, mm: Mm, va: old);
        b.Emit(t2, OpKind.RetractEnd, mm: Mm, obj: 2);
        b.Emit(t1, OpKind.MmapUnlock, mm: Mm);
        b.Emit(t2, OpKind.RcuGpEnd);
        return b.Build();
    }
}
