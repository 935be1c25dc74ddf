namespace Pipeline.Replay.Workloads;

/// <summary>
/// Activities only <c>--contend</c> runs: the actors of R3 (a THP split's asserted unmap against MADV_DONTNEED
/// zapping the THP) and R6 (khugepaged retracting a file PTE table that a later mremap classifies). Each writes only
/// ops the workload's kernel runs, in an order that kernel allows (docs/exploration.md, "Random workloads").
/// </summary>
internal sealed partial class WorkloadGenerator
{
    // Huge pages a split holds a reference on (its isolation reference): whoever drops the last reference frees them.
    private readonly HashSet<ulong> _splitHeld = [];

    // Huge pages a zap has cleared and not yet dropped the mapping's reference of.
    private readonly HashSet<ulong> _zapRefPending = [];

    private static bool WithGuard(SimTask t, Func<bool> guard)
    {
        t.Pending.Guard = guard;
        return true;
    }

    /// <summary>kswapd splits an anon THP it is about to reclaim (shrink_folio_list → split_folio_to_list).</summary>
    private IEnumerable<bool>? PlanSplit(SimTask t)
    {
        var candidates = new List<(SimMm Mm, SimVma Vma, int Slot)>();
        foreach (var mm in _mms)
        {
            if (!mm.Ready || mm.Dying)
            {
                continue;
            }
            foreach (var vma in mm.Vmas)
            {
                if ((vma.Flags & VmFlags.File) != 0)
                {
                    continue;
                }
                var (first, count) = SlotsOf(vma);
                for (int slot = first; slot < first + count; slot++)
                {
                    var s = mm.Slots[slot];
                    if (s.HugePfn != 0 && s.Vma == vma && CanReserve(s, 'S'))
                    {
                        candidates.Add((mm, vma, slot));
                    }
                }
            }
        }
        if (candidates.Count == 0)
        {
            return null;
        }
        // A THP a MADV_DONTNEED is about to zap first, as a split that meets it would.
        int zapped = candidates.FindIndex(c => c.Mm.Slots[c.Slot].Z > 0);
        var (m, v, sl) = candidates[zapped >= 0 ? zapped : _rng.Next(candidates.Count)];
        Reserve(t, m, sl, 'S');
        m.Splitting = sl;
        var slotState = m.Slots[sl];
        slotState.SplitRefPending = true;
        _splitHeld.Add(slotState.HugePfn);
        return Split(t, m, v, sl, slotState.HugePfn);
    }

    /// <summary>
    /// split_huge_page → unmap_folio: try_to_unmap(TTU_SPLIT_HUGE_PMD) whose result the caller asserts (<c>assert=1</c>:
    /// with the <c>ttu-sync</c> fix it passes TTU_SYNC). page_vma_mapped_walk looks at the PMD without the PMD lock; a
    /// MADV_DONTNEED may have zapped the THP first (the walk then finds nothing and the mapcount is 0), or the walk
    /// unmaps it and the deposited table becomes the slot's PTE table (split_huge_pmd_locked). The walk is written only
    /// when no zap holds or is about to take the PMD lock, so the recorded assertion holds on every kernel; the racy
    /// order (the walk between the zap's clear and its mapcount drop) is for explore to find. The subpages' remap and
    /// their swap-out are not written (the model has no swap entries): the slot is left with its table, empty.
    /// </summary>
    private IEnumerable<bool> Split(SimTask t, SimMm mm, SimVma vma, int slot, ulong hpfn)
    {
        var s = mm.Slots[slot];
        ulong va = SimMm.SlotVa(slot);
        var pmdLock = mm.PmdOf(slot).Lock;
        var pageLock = PageLock(hpfn);
        yield return Do(t, PfnOp(t, OpKind.RefGet, hpfn));
        s.SplitRefPending = false;
        yield return Take(t, PfnOp(t, OpKind.PageLock, hpfn), pageLock, true);
        var start = PfnOp(t, OpKind.TtuStart, hpfn);
        start.Obj = vma.Rmap;
        start.Flags = OpFlags.Assert;
        yield return Take(t, start, vma.RmapLock, false);
        var walk = Mk(t, OpKind.TtuWalk, mm.Id, va);
        walk.Pfn = hpfn;
        walk.Level = Level.Pmd;
        // The walk holds the PMD lock when it finds the THP (and takes and drops it with TTU_SYNC when it does not).
        yield return Take(t, walk, pmdLock, true) && WithGuard(t, () => s.ZapPending == 0);
        bool found = s.HugePfn == hpfn;
        s.SplitWalked = found;
        var unmap = Mk(t, OpKind.TtuUnmap, mm.Id, va);
        unmap.Pfn = hpfn;
        unmap.Level = Level.Pmd;
        yield return Drop(t, unmap, pmdLock, WaitKind.IrqOffOnMmCpus, mm.Id);
        if (found)
        {
            s.HugePfn = 0;
            int table = s.Deposited;
            yield return Take(t, PtlOp(t, mm, va, Level.Pmd), pmdLock, true);
            yield return Do(t, TableOp(t, OpKind.TableWithdraw, mm, va, table));
            yield return Do(t, TableOp(t, OpKind.PmdPopulate, mm, va, table));
            s.Deposited = 0;
            s.Pte = NewPteTable(table);
            yield return Drop(t, PtlOp(t, mm, va, Level.Pmd, unlock: true), pmdLock);
        }
        var end = PfnOp(t, OpKind.TtuEnd, hpfn);
        end.Obj = vma.Rmap;
        end.Flags = OpFlags.Assert;
        yield return Drop(t, end, vma.RmapLock);
        s.SplitWalked = false;
        yield return Drop(t, PfnOp(t, OpKind.PageUnlock, hpfn), pageLock);
        _pageLocks.Remove(hpfn);
        // The last reference: after a zap that cleared the THP has dropped the mapping's.
        yield return Do(t, PfnOp(t, OpKind.RefPut, hpfn)) && WithGuard(t, () => !_zapRefPending.Contains(hpfn));
        _splitHeld.Remove(hpfn);
        yield return Do(t, PfnOp(t, OpKind.PageFree, hpfn, 9));
        FreePfn(hpfn, 9);
        if (mm.Splitting == slot)
        {
            mm.Splitting = -1;
        }
    }

    /// <summary>
    /// MADV_DONTNEED of a whole THP slot: zap_huge_pmd under the PMD lock (clear, withdraw and free the deposited
    /// table, drop the mapcount), then tlb_finish_mmu's flush and the page's reference. A split that isolated the
    /// THP keeps it until its own last reference.
    /// </summary>
    private IEnumerable<bool> DontneedHuge(SimTask t, SimMm mm, int slot)
    {
        var s = mm.Slots[slot];
        ulong va = SimMm.SlotVa(slot);
        var pmdLock = mm.PmdOf(slot).Lock;
        yield return Take(t, MmapLockOp(t, mm, false), mm.MmapLock, false);
        ulong hpfn = s.HugePfn;
        if (hpfn != 0 && !s.SplitWalked)
        {
            s.ZapPending++;
            _zapRefPending.Add(hpfn);
            var clear = Mk(t, OpKind.ZapClear, mm.Id, va);
            clear.Level = Level.Pmd;
            yield return Take(t, clear, pmdLock, true);
            s.ZapPending--;
            s.HugePfn = 0;
            int table = s.Deposited;
            s.Deposited = 0;
            yield return Do(t, TableOp(t, OpKind.TableWithdraw, mm, va, table));
            var finish = Mk(t, OpKind.ZapFinish, mm.Id, va);
            finish.Pfn = hpfn;
            finish.Level = Level.Pmd;
            yield return Drop(t, finish, pmdLock, WaitKind.IrqOffOnMmCpus, mm.Id);
            yield return Do(t, FlushOp(t, mm, va, PmdSize, tables: false), WaitKind.IrqOffOnMmCpus, mm.Id);
            // The split's isolation reference comes first (it was taken before the zap in the kernel).
            yield return Do(t, PfnOp(t, OpKind.RefPut, hpfn)) && WithGuard(t, () => !s.SplitRefPending);
            _zapRefPending.Remove(hpfn);
            if (!_splitHeld.Contains(hpfn))
            {
                yield return Do(t, PfnOp(t, OpKind.PageFree, hpfn, 9));
                FreePfn(hpfn, 9);
            }
            yield return Do(t, TableFreeOp(t, table, FreeMode.Rcu));
            _rcuPending.Add(table);
        }
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    /// <summary>
    /// khugepaged's file path after collapse_file: retract_page_tables unlinks the PTE tables of the file range that
    /// map nothing (here: of one mm's VMA) under the file's i_mmap lock, and before v6.5 under a write trylock of
    /// that mm's mmap_lock (recorded only when the lock is free: the trylock succeeded).
    /// </summary>
    private IEnumerable<bool>? PlanRetract(SimTask t)
    {
        int from = _rng.Next(_mms.Count);
        for (int k = 0; k < _mms.Count; k++)
        {
            var mm = _mms[(from + k) % _mms.Count];
            if (mm.Ready && !mm.Dying && PlanRetract(t, mm) is { } retract)
            {
                return retract;
            }
        }
        return null;
    }

    private IEnumerable<bool>? PlanRetract(SimTask t, SimMm mm)
    {
        foreach (var vma in mm.Vmas)
        {
            if ((vma.Flags & VmFlags.File) == 0 || vma.Locked)
            {
                continue;
            }
            int slot = WholeTableSlot(mm, vma, empty: true);
            if (slot >= 0)
            {
                Reserve(t, mm, slot, 'X');
                return Retract(t, mm, vma, slot);
            }
        }
        return null;
    }

    private IEnumerable<bool> Retract(SimTask t, SimMm mm, SimVma vma, int slot)
    {
        var s = mm.Slots[slot];
        ulong va = SimMm.SlotVa(slot);
        var start = Mk(t, OpKind.RetractStart, mm.Id);
        start.Obj = vma.Rmap;
        if (_options.RetractWithoutMmapLock)
        {
            yield return Take(t, start, vma.RmapLock, false);
        }
        else
        {
            // mmap_write_trylock and i_mmap_lock_read in one op: both free when it runs; both held from then.
            t.Pending = new Pending { Op = start, Acquire = vma.RmapLock, AcquireWrite = false, Momentary1 = mm.MmapLock, Momentary1Write = true };
            yield return true;
            mm.MmapLock.Writer = t.Tid;
        }
        // Unlinking a table: no CPU may be inside a lockless walk (GUP-fast) that started before.
        yield return Step(t, Mk(t, OpKind.RetractPmd, mm.Id, va), mm.PmdOf(slot).Lock, true, null, null, WaitKind.IrqOffAnywhere, mm.Id);
        _rcuPending.Add(s.Pte!.Id);
        s.Pte = null;
        s.Retracted = true;
        mm.HasRetracted = true;
        var end = Mk(t, OpKind.RetractEnd, mm.Id);
        end.Obj = vma.Rmap;
        yield return Drop(t, end, vma.RmapLock);
        if (!_options.RetractWithoutMmapLock)
        {
            mm.MmapLock.Writer = 0;
        }
    }

    /// <summary>
    /// Contention mode aims a process's threads at the memory a kernel thread works on, as a workload that races
    /// with it would: MADV_DONTNEED of the THP kswapd is splitting (R3), mremap of a range khugepaged retracted a
    /// table of (R6). Null: plan as usual.
    /// </summary>
    private IEnumerable<bool>? PlanContended(SimTask t, SimMm mm)
    {
        // On kswapd's or khugepaged's CPU the two would run one after the other (the CPU runs one task at a time):
        // nothing for a reordering to race.
        if (mm.Splitting >= 0 && t.Cpu != _cpus.Length - 1)
        {
            var s = mm.Slots[mm.Splitting];
            if (s.HugePfn != 0 && s.Vma is { } vma && (vma.Flags & VmFlags.File) == 0 && CanReserve(s, 'Z'))
            {
                Reserve(t, mm, mm.Splitting, 'Z');
                return AsUser(t, mm, DontneedHuge(t, mm, mm.Splitting));
            }
        }
        if (mm.HasRetracted && t.Cpu != KhugepagedCpu && _rng.Chance(0.3))
        {
            return PlanMremap(t, mm);
        }
        if (_rng.Chance(0.3))
        {
            // Drop a populated file range (Dontneed zaps every page of a file slot here): khugepaged retracts
            // the PTE table it leaves empty.
            foreach (var vma in mm.Vmas)
            {
                if ((vma.Flags & VmFlags.File) == 0 || vma.Locked)
                {
                    continue;
                }
                var (first, count) = SlotsOf(vma);
                for (int slot = first; slot < first + count; slot++)
                {
                    var s = mm.Slots[slot];
                    if (s.Pte is { Present: > 0 } && CanReserve(s, 'X'))
                    {
                        Reserve(t, mm, slot, 'X');
                        return AsUser(t, mm, Dontneed(t, mm, vma, slot));
                    }
                }
            }
        }
        return null;
    }

    /// <summary>A VMA of <paramref name="mm"/> with a slot khugepaged retracted, free to move whole, or null.</summary>
    private static SimVma? RetractedVma(SimMm mm, out int first, out int count)
    {
        foreach (var vma in mm.Vmas)
        {
            (first, count) = SlotsOf(vma);
            for (int slot = first; slot < first + count; slot++)
            {
                if (mm.Slots[slot].Retracted && !HasHuge(mm, vma) && CanReserveRange(mm, first, count, 'X'))
                {
                    return vma;
                }
            }
        }
        (first, count) = (0, 0);
        mm.HasRetracted = false;
        return null;
    }
}
