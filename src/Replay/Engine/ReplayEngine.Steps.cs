namespace Pipeline.Replay;

public sealed partial class ReplayEngine
{
    private const ulong PmdSize = 1UL << 21;
    private const ulong PudSize = 1UL << 30;

    // The expansion's next spare table id and the upper tables (level, region) it has already planned to allocate.
    private int _spareNext;
    private readonly HashSet<(Level Level, ulong Base)> _upperReserved = [];

    /// <summary>Expands a kernel step into the primitives the profile's kernel executes.</summary>
    private void Expand(TaskState task, in Op step)
    {
        // A move step hands out its spare table ids (spare=N, N+1, …) in the order its micro-ops may allocate.
        _spareNext = step.Table;
        _upperReserved.Clear();
        switch (step.Kind)
        {
            case OpKind.MremapMovePmd:
                task.RegSkip = false;
                task.RegNotFound = false;
                if (_profile.Has(KernelFeature.MovePmd))
                {
                    EmitNormalMove(task, step, Level.Pmd, step.Va, step.NewVa, step.Has(OpFlags.NeedRmapLocks), checkDst: true);
                }
                else
                {
                    EmitMovePtes(task, step, step.Va, step.NewVa, PmdSize);
                }
                break;
            case OpKind.MremapMovePud:
                task.RegSkip = false;
                task.RegNotFound = false;
                if (_profile.Has(KernelFeature.MovePud))
                {
                    EmitNormalMove(task, step, Level.Pud, step.Va, step.NewVa, step.Has(OpFlags.NeedRmapLocks), checkDst: true);
                }
                else
                {
                    EmitPudAsPmds(task, step);
                }
                break;
            case OpKind.MovePtes:
                EmitMovePtes(task, step, step.Va, step.NewVa, step.Len);
                break;
            case OpKind.ExecShiftStack:
                EmitExecShift(task, step);
                break;
            case OpKind.TtuStart:
                task.RegSkip = false;
                task.RegNotFound = false;
                task.RegTable = 0;
                task.RegSync = step.Has(OpFlags.Sync) || (step.Has(OpFlags.Assert) && _profile.Has(KernelFix.TtuSync));
                task.Push(Micro(step, OpKind.RmapWalkBegin));
                task.Push(Micro(step, OpKind.RmapLock, OpFlags.None, obj: step.Obj));
                break;
            case OpKind.TtuWalk:
                task.RegSkip = false;
                task.RegNotFound = false;
                EmitTtuWalk(task, step);
                break;
            case OpKind.TtuUnmap:
                EmitTtuUnmap(task, step);
                break;
            case OpKind.TtuEnd:
                task.Push(Micro(step, OpKind.RmapUnlock, OpFlags.None, obj: step.Obj));
                task.Push(Micro(step, OpKind.RmapWalkEnd));
                if (step.Has(OpFlags.Assert) && _profile.Has(KernelFeature.SplitUnmapAssert))
                {
                    task.Push(Micro(step, OpKind.MapcountRead, OpFlags.Assert));
                }
                task.RegSync = false;
                break;
            case OpKind.TtuMlockCheck:
                task.RegSkip = false;
                task.RegNotFound = false;
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, Level.Pte));
                task.Push(Micro(step, OpKind.EntryRead, OpFlags.CheckPfn, Level.Pte));
                task.Push(Micro(step, OpKind.VmFlagsRead, OpFlags.CheckLocked));
                if (_profile.Has(KernelFix.MlockUnderPtl))
                {
                    task.Push(Micro(step, OpKind.FlagSet, OpFlags.IfFound, sub: (byte)PageFlag.Mlocked));
                }
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, Level.Pte));
                break;
            case OpKind.TtuMlockSet:
                // The unlock in ttu_mlock_page runs iff this step's trylock succeeded (4.3: up_read inside
                // `if (down_read_trylock(...))`), whatever the walker found.
                task.RegTryHeld = false;
                if (!_profile.Has(KernelFix.MlockUnderPtl))
                {
                    // 4.3: out_mlock: down_read_trylock(mmap_sem), re-test VM_LOCKED, mlock_vma_page, no PTL held.
                    task.Push(Micro(step, OpKind.MmapLock, OpFlags.Try | OpFlags.AbortIfFailed | OpFlags.IfFound));
                    task.Push(Micro(step, OpKind.VmFlagsRead, OpFlags.CheckLocked | OpFlags.IfFound));
                }
                break;
            case OpKind.TtuMlockPage:
                if (!_profile.Has(KernelFix.MlockUnderPtl))
                {
                    task.Push(Micro(step, OpKind.FlagSet, OpFlags.IfFound, sub: (byte)PageFlag.Mlocked));
                    task.Push(Micro(step, OpKind.MmapUnlock, OpFlags.IfTryHeld));
                }
                break;
            case OpKind.ZapClear:
                task.RegZapFound = 0;
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, step.Level));
                task.Push(Micro(step, step.Level == Level.Pmd ? OpKind.PmdClear : OpKind.PteClear));
                break;
            case OpKind.ZapFinish:
                {
                    // zap_pte_range removes the rmap of the page it found in the entry it cleared
                    // (folio_remove_rmap_*): an entry that was already empty (an rmap walker unmapped the page first)
                    // unmaps nothing, one that mapped another page unmaps that page. A zap_finish without its
                    // zap_clear keeps the recorded page.
                    var found = step;
                    if (task.RegZapFound >= 0)
                    {
                        found.Pfn = (ulong)task.RegZapFound;
                    }
                    task.RegZapFound = -1;
                    if (found.Pfn != 0)
                    {
                        task.Push(Micro(found, OpKind.MapDec, OpFlags.None, step.Level));
                        task.Push(Micro(found, OpKind.FlagClear, OpFlags.IfUnmapped, sub: (byte)PageFlag.Mlocked));
                    }
                }
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, step.Level));
                task.Push(Micro(step, OpKind.TlbFlush, OpFlags.None, len: SizeOf(step.Level)));
                break;
            case OpKind.CollapseFlush:
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, Level.Pmd));
                task.Push(Micro(step, OpKind.PmdClear));
                task.Push(Micro(step, OpKind.TlbFlush, (step.Flags & OpFlags.NoIpi) | OpFlags.FreedTables, len: PmdSize, va: step.Va & ~(PmdSize - 1)));
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, Level.Pmd));
                if (_profile.Has(KernelFix.TableFreeIpiSync))
                {
                    task.Push(Micro(step, OpKind.IpiSync, OpFlags.None, sub: 1));
                }
                break;
            case OpKind.RetractStart:
                task.RegSkip = false;
                task.RegTryHeld = false;
                if (!_profile.Has(KernelFeature.RetractWithoutMmapLock))
                {
                    task.Push(Micro(step, OpKind.MmapLock, OpFlags.Write | OpFlags.Try | OpFlags.AbortIfFailed));
                }
                task.Push(Micro(step, OpKind.RmapLock, OpFlags.IfNotSkip, obj: step.Obj));
                break;
            case OpKind.RetractPmd:
                // retract_page_tables goes on only where find_pmd_or_thp_or_none finds a PTE table: a PMD that an
                // mremap moved away (or a THP maps) is skipped, and the lock of the PMD table is dropped again.
                task.RegNotFound = false;
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.IfNotSkip, Level.Pmd));
                task.Push(Micro(step, OpKind.EntryRead, OpFlags.IfNotSkip | OpFlags.SaveReg | OpFlags.SkipUnlessTable, Level.Pmd));
                task.Push(Micro(step, OpKind.PmdClear, OpFlags.IfFound));
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.IfNotSkip, Level.Pmd));
                task.Push(Micro(step, OpKind.TlbFlush, OpFlags.IfFound | OpFlags.FreedTables, len: PmdSize, va: step.Va & ~(PmdSize - 1)));
                task.Push(Micro(step, OpKind.TableFree, OpFlags.IfFound | OpFlags.UseReg, sub: (byte)FreeMode.Rcu));
                break;
            case OpKind.RetractEnd:
                task.Push(Micro(step, OpKind.RmapUnlock, OpFlags.IfNotSkip, obj: step.Obj));
                if (!_profile.Has(KernelFeature.RetractWithoutMmapLock))
                {
                    task.Push(Micro(step, OpKind.MmapUnlock, OpFlags.IfTryHeld));
                }
                break;
        }
    }

    private static Op Micro(in Op step, OpKind kind, OpFlags flags = OpFlags.None, Level level = Level.Pte,
        ulong? va = null, ulong? newVa = null, ulong len = 0, int table = 0, int obj = 0, byte sub = 0)
    {
        return new Op
        {
            Seq = step.Seq,
            Tid = step.Tid,
            Cpu = step.Cpu,
            Kind = kind,
            Flags = flags,
            Level = level,
            Mm = step.Mm,
            Va = va ?? step.Va,
            NewVa = newVa ?? step.NewVa,
            Len = len,
            Pfn = step.Pfn,
            Table = table,
            Obj = obj,
            Sub = sub,
        };
    }

    /// <summary>move_pgt_entry(NORMAL_PMD / NORMAL_PUD) as the profile's mremap.c does it.</summary>
    private void EmitNormalMove(TaskState task, in Op step, Level level, ulong oldVa, ulong newVa, bool needRmapLocks, bool checkDst)
    {
        int rmapObj = MoveRmap(step, oldVa);
        bool rmap = rmapObj != 0 && (needRmapLocks || _profile.Has(KernelFix.RmapLocksPmdMove));
        // alloc_new_pud / alloc_new_pmd: the destination's upper tables, before the entry is classified.
        EmitUpperAllocs(task, step, oldVa, newVa, level);
        // move_page_tables classifies the old entry before take_rmap_locks (the window of docs/mm-model.md §2.6).
        task.Push(Micro(step, OpKind.EntryRead, OpFlags.Lockless | OpFlags.SaveReg, level, va: oldVa));
        if (rmap)
        {
            task.Push(Micro(step, OpKind.RmapLock, OpFlags.Write, obj: rmapObj));
        }
        task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, level, va: oldVa));
        task.Push(Micro(step, OpKind.PtlLock, OpFlags.Nested, level, va: newVa));
        var flags = OpFlags.Classified;
        if (checkDst)
        {
            flags |= OpFlags.CheckDst;
        }
        if (_profile.Has(KernelFix.WarnOnOnce))
        {
            flags |= OpFlags.WarnOnce;
        }
        if (_profile.Has(KernelFix.PmdRecheckUnderLocks))
        {
            flags |= OpFlags.Recheck;
        }
        task.Push(Micro(step, level == Level.Pmd ? OpKind.PmdMove : OpKind.PudMove, flags, level, va: oldVa, newVa: newVa));
        task.Push(Micro(step, OpKind.TlbFlush, OpFlags.FreedTables, level, va: oldVa, len: SizeOf(level)));
        task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.Nested, level, va: newVa));
        task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, level, va: oldVa));
        if (rmap)
        {
            task.Push(Micro(step, OpKind.RmapUnlock, OpFlags.None, obj: rmapObj));
        }
    }

    /// <summary>move_ptes over [oldVa, oldVa+len) within one PMD extent (split into extents by the caller).</summary>
    private void EmitMovePtes(TaskState task, in Op step, ulong oldVa, ulong newVa, ulong len)
    {
        int rmapObj = MoveRmap(step, oldVa);
        bool rmap = rmapObj != 0 && step.Has(OpFlags.NeedRmapLocks);
        ulong end = oldVa + len;
        while (oldVa < end)
        {
            ulong extent = Math.Min(Math.Min(NextBoundary(oldVa, PmdSize) - oldVa, NextBoundary(newVa, PmdSize) - newVa), end - oldVa);
            if (rmap)
            {
                task.Push(Micro(step, OpKind.RmapLock, OpFlags.Write, obj: rmapObj));
            }
            // alloc_new_pmd, then pte_alloc of the destination PMD entry.
            EmitUpperAllocs(task, step, oldVa, newVa, Level.Pmd);
            task.Push(Micro(step, OpKind.PteAlloc, OpFlags.None, va: newVa, table: TakeSpare()));
            task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, Level.Pte, va: oldVa));
            task.Push(Micro(step, OpKind.PtlLock, OpFlags.Nested, Level.Pte, va: newVa));
            for (ulong off = 0; off < extent; off += 4096)
            {
                task.Push(Micro(step, OpKind.PteMove, OpFlags.None, va: oldVa + off, newVa: newVa + off));
            }
            // eb66ae030829: flush the old range before dropping the PTL when relocating entries.
            // flush_tlb_range: freed_tables on x86, a TLBI of all levels on arm64.
            task.Push(Micro(step, OpKind.TlbFlush, OpFlags.FreedTables, va: oldVa, len: extent));
            task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.Nested, Level.Pte, va: newVa));
            task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, Level.Pte, va: oldVa));
            if (rmap)
            {
                task.Push(Micro(step, OpKind.RmapUnlock, OpFlags.None, obj: rmapObj));
            }
            oldVa += extent;
            newVa += extent;
        }
    }

    /// <summary>
    /// The rmap object take_rmap_locks locks: the source VMA's anon_vma root / i_mmap. That is a fact of the
    /// VMA, so the op's optional <c>rmap</c> key is used only when the trace gave its VMA none.
    /// </summary>
    private int MoveRmap(in Op step, ulong oldVa)
    {
        var vma = GetMm(step.Mm)?.FindVma(oldVa);
        return vma is not null && vma.Rmap != 0 ? vma.Rmap : step.Obj;
    }

    private static ulong NextBoundary(ulong va, ulong size) => (va + size) & ~(size - 1);

    /// <summary>Without HAVE_MOVE_PUD the 1G extent moves PMD by PMD into a new PMD table.</summary>
    private void EmitPudAsPmds(TaskState task, in Op step)
    {
        var mm = GetMm(step.Mm);
        if (mm is null || !TryWalk(mm, step.Va, Level.Pmd, out var oldPmd, out _))
        {
            task.Push(Micro(step, OpKind.PudMove, OpFlags.CheckDst, Level.Pud));
            return;
        }
        // The first extent's alloc_new_pmd allocates the destination's PMD table (spare=N when the PUD entry is none).
        for (int i = 0; i < 512; i++)
        {
            if (oldPmd.Entry(i) != EntryValue.None)
            {
                ulong off = (ulong)i * PmdSize;
                if (_profile.Has(KernelFeature.MovePmd))
                {
                    EmitNormalMove(task, step, Level.Pmd, step.Va + off, step.NewVa + off, step.Has(OpFlags.NeedRmapLocks), checkDst: true);
                }
                else
                {
                    EmitMovePtes(task, step, step.Va + off, step.NewVa + off, PmdSize);
                }
            }
        }
    }

    /// <summary>shift_arg_pages / relocate_vma_down: the stack moves down, overlapping itself.</summary>
    private void EmitExecShift(TaskState task, in Op step)
    {
        ulong oldEnd = step.Va + step.Len;
        task.Push(Micro(step, OpKind.VmaModify, OpFlags.None, va: step.Va, newVa: step.NewVa, len: oldEnd - step.NewVa));
        foreach (var e in StackShiftPlan.Extents(_profile, step.Va, step.NewVa, step.Len))
        {
            if (e.PmdMove)
            {
                var flags = OpFlags.CheckDst | (_profile.Has(KernelFix.WarnOnOnce) ? OpFlags.WarnOnce : OpFlags.None);
                EmitUpperAllocs(task, step, e.OldVa, e.NewVa, Level.Pmd);
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.None, Level.Pmd, va: e.OldVa));
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.Nested, Level.Pmd, va: e.NewVa));
                task.Push(Micro(step, OpKind.PmdMove, flags, Level.Pmd, va: e.OldVa, newVa: e.NewVa));
                task.Push(Micro(step, OpKind.TlbFlush, OpFlags.FreedTables, va: e.OldVa, len: PmdSize));
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.Nested, Level.Pmd, va: e.NewVa));
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.None, Level.Pmd, va: e.OldVa));
            }
            else
            {
                EmitMovePtes(task, step, e.OldVa, e.NewVa, e.Length);
            }
        }
    }

    /// <summary>The next spare table id of the step being expanded (0: the step has no spare=).</summary>
    private int TakeSpare() => _spareNext == 0 ? 0 : _spareNext++;

    /// <summary>
    /// move_page_tables' alloc_new_pud / alloc_new_pmd for one extent: p4d_alloc, pud_alloc and (for a PMD or PTE extent,
    /// <paramref name="extent"/> = PMD) pmd_alloc of <paramref name="newVa"/>, each a <c>pte_alloc</c> micro-op at the
    /// level of the table it allocates. One is emitted per table the destination lacks when the step starts (or that an
    /// earlier extent of the step allocates), taking the step's next spare id; at run time it allocates only if the
    /// source entry is present (get_old_pud / get_old_pmd) and the slot is still none under mm->page_table_lock.
    /// </summary>
    private void EmitUpperAllocs(TaskState task, in Op step, ulong oldVa, ulong newVa, Level extent)
    {
        var mm = GetMm(step.Mm);
        if (mm is null)
        {
            return;
        }
        bool missing = false;
        for (var level = Level.P4d; level >= extent; level--)
        {
            var key = (level, newVa & ~(SpanOf(level) - 1));
            missing = missing || (!_upperReserved.Contains(key) && !TryWalk(mm, newVa, level, out _, out _));
            if (missing && _upperReserved.Add(key))
            {
                task.Push(Micro(step, OpKind.PteAlloc, OpFlags.None, level, va: newVa, newVa: oldVa, table: TakeSpare(), sub: (byte)(extent + 1)));
            }
        }
    }

    /// <summary>The address range one table of <paramref name="level"/> covers.</summary>
    private static ulong SpanOf(Level level) => 1UL << (21 + 9 * (int)level);

    private void EmitTtuWalk(TaskState task, in Op step)
    {
        if (step.Level == Level.Pmd)
        {
            // THP: a lockless look at the PMD; not present -> return (PVMW_SYNC: take and drop the PMD lock first).
            task.Push(Micro(step, OpKind.EntryRead, OpFlags.Lockless | OpFlags.SkipIfNone | OpFlags.SaveReg, Level.Pmd));
            if (task.RegSync)
            {
                task.Push(Micro(step, OpKind.PtlLock, OpFlags.IfSkip, Level.Pmd));
                task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.IfSkip, Level.Pmd));
            }
            task.Push(Micro(step, OpKind.PtlLock, OpFlags.IfNotSkip, Level.Pmd));
            task.Push(Micro(step, OpKind.EntryRead, OpFlags.IfNotSkip | OpFlags.CheckPfn, Level.Pmd));
            return;
        }
        // page_vma_mapped_walk: READ_ONCE(*pmd) keeps the PTE table it found; map_pte peeks without the lock.
        task.Push(Micro(step, OpKind.EntryRead, OpFlags.Lockless | OpFlags.SaveReg | OpFlags.SkipIfNone, Level.Pmd));
        task.Push(Micro(step, OpKind.EntryRead, OpFlags.Lockless | OpFlags.UseReg | OpFlags.SkipIfNone | OpFlags.IfNotSkip, Level.Pte));
        task.Push(Micro(step, OpKind.PtlLock, OpFlags.UseReg | OpFlags.IfNotSkip, Level.Pte));
        task.Push(Micro(step, OpKind.EntryRead, OpFlags.UseReg | OpFlags.IfNotSkip | OpFlags.CheckPfn, Level.Pte));
    }

    private void EmitTtuUnmap(TaskState task, in Op step)
    {
        if (step.Level == Level.Pmd)
        {
            task.Push(Micro(step, OpKind.PmdClear, OpFlags.IfFound, Level.Pmd));
            task.Push(Micro(step, OpKind.TlbFlush, OpFlags.IfFound, va: step.Va & ~(PmdSize - 1), len: PmdSize));
            task.Push(Micro(step, OpKind.MapDec, OpFlags.IfFound, Level.Pmd));
            task.Push(Micro(step, OpKind.RefPut, OpFlags.IfFound));
            task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.IfNotSkip, Level.Pmd));
            return;
        }
        var clear = step.Has(OpFlags.Migrate) ? OpKind.PteSetSwap : OpKind.PteClear;
        task.Push(Micro(step, clear, OpFlags.IfFound | OpFlags.UseReg, Level.Pte));
        if (step.Has(OpFlags.Batch))
        {
            task.Push(Micro(step, OpKind.TlbBatchAdd, OpFlags.IfFound));
        }
        else
        {
            // ptep_clear_flush -> flush_tlb_page: only the address this walker knows.
            task.Push(Micro(step, OpKind.TlbFlush, OpFlags.IfFound, va: step.Va & ~4095UL, len: 4096));
        }
        task.Push(Micro(step, OpKind.MapDec, OpFlags.IfFound));
        task.Push(Micro(step, OpKind.RefPut, OpFlags.IfFound));
        task.Push(Micro(step, OpKind.PtlUnlock, OpFlags.UseReg | OpFlags.IfNotSkip, Level.Pte));
    }
}
