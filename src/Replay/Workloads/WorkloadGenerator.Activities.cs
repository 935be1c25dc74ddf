namespace Pipeline.Replay.Workloads;

internal sealed partial class WorkloadGenerator
{
    private const ulong PageSize = 4096;
    private const ulong PmdSize = SimMm.SlotSize;

    private readonly Dictionary<int, SimLock> _rmapLocks = [];
    private readonly Dictionary<ulong, SimLock> _pageLocks = [];

    /// <summary>A file's i_mmap lock is shared by every VMA mapping it; an anon_vma's by the VMA and its mremap copy.</summary>
    private SimLock RmapLockFor(int rmap, bool file)
    {
        if (!file)
        {
            return new SimLock();
        }
        if (!_rmapLocks.TryGetValue(rmap, out var lk))
        {
            lk = new SimLock();
            _rmapLocks.Add(rmap, lk);
        }
        return lk;
    }

    private SimLock PageLock(ulong pfn)
    {
        if (!_pageLocks.TryGetValue(pfn, out var lk))
        {
            lk = new SimLock();
            _pageLocks.Add(pfn, lk);
        }
        return lk;
    }

    private static int PteIndex(ulong va) => (int)((va >> 12) & 511);

    /// <summary>The present entries of a PTE table (a snapshot: callers change the table while they walk it).</summary>
    private static List<(int Idx, ulong Pfn)> Mapped(SimTable pte)
    {
        var list = new List<(int, ulong)>(pte.Present);
        for (int idx = 0; idx < 512; idx++)
        {
            if (pte.Pfns![idx] != 0)
            {
                list.Add((idx, pte.Pfns[idx]));
            }
        }
        return list;
    }

    private static SimTable NewPteTable(int id) => new() { Id = id, Pfns = new ulong[512] };

    private int LiveMms()
    {
        int n = 0;
        foreach (var mm in _mms)
        {
            if (!mm.Dying)
            {
                n++;
            }
        }
        return n;
    }

    // ---- planning

    private IEnumerable<bool>? Plan(SimCpu cpu, out SimTask? task)
    {
        task = null;
        if (LiveMms() < _targetMms && _rng.Chance(0.3))
        {
            task = NewProcess(cpu);
            return Spawn(task);
        }
        if (cpu.Tasks.Count == 0)
        {
            return null;
        }
        var t = cpu.Tasks[_rng.Next(cpu.Tasks.Count)];
        if (_options.Contend && t.Kind == TaskKind.User && _rng.Chance(0.2) && cpu.Tasks.Find(k => k.Kind is TaskKind.Kswapd or TaskKind.Khugepaged) is { } daemon)
        {
            // Contention mode: kswapd and khugepaged get their CPU as often as a busy process would, not once per
            // turn of every task sharing it (their activities are half of R1-R4's and R6's actors).
            t = daemon;
        }
        task = t;
        switch (t.Kind)
        {
            case TaskKind.Kswapd:
                if (_options.Contend && _rng.Chance(0.8) && PlanSplit(t) is { } split)
                {
                    return split;
                }
                return _rng.Chance(0.3) ? PlanReclaim(t) : null;
            case TaskKind.Khugepaged:
                if (!_rng.Chance(_options.Contend ? 0.9 : 0.1))
                {
                    return null;
                }
                return _options.Contend && _mms.Count > 0 && PlanRetract(t) is { } retract ? retract : PlanCollapse(t);
            case TaskKind.Rcu:
                return _rcuPending.Count > 0 && _rng.Chance(0.2) ? RcuGracePeriod(t) : null;
        }
        var mm = t.Mm!;
        if (!mm.Ready || mm.Dying)
        {
            return null;
        }
        if (mm.Vmas.Count == 0)
        {
            return PlanMmap(t, mm);
        }
        if (_options.Contend && PlanContended(t, mm) is { } contended)
        {
            return contended;
        }
        int r = _rng.Next(1000);
        return r switch
        {
            < 560 => PlanBurst(t, mm),
            < 640 => PlanGup(t, mm),
            < 710 => PlanMmap(t, mm),
            < 760 => PlanMunmap(t, mm),
            < 830 => PlanMremap(t, mm),
            < 870 => PlanMlock(t, mm),
            < 910 => PlanDontneed(t, mm),
            < 915 when LiveMms() > MinMms && mm.Threads[0] == t => PlanExit(t, mm),
            _ => PlanBurst(t, mm),
        };
    }

    private IEnumerable<bool>? PlanFinishing(SimCpu cpu, out SimTask? task)
    {
        task = null;
        foreach (var t in cpu.Tasks)
        {
            if (t.Kind == TaskKind.User && t.Mm is { Ready: true, Dying: false } mm && mm.Threads[0] == t)
            {
                var exit = PlanExit(t, mm);
                if (exit is not null)
                {
                    task = t;
                    return exit;
                }
            }
            else if (t.Kind == TaskKind.Rcu && _rcuPending.Count > 0)
            {
                task = t;
                return RcuGracePeriod(t);
            }
        }
        return null;
    }

    private SimTask NewProcess(SimCpu cpu)
    {
        var mm = new SimMm { Id = _nextMm++ };
        int threads = 1 + _rng.Next(Math.Min(4, _cpus.Length));
        int first = cpu.Id;
        for (int i = 0; i < threads; i++)
        {
            int c = i == 0 ? first : (first + 1 + _rng.Next(_cpus.Length)) % _cpus.Length;
            mm.Threads.Add(new SimTask { Tid = _nextTid++, Comm = "app" + mm.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), Cpu = c, Kind = TaskKind.User, Mm = mm });
        }
        cpu.Tasks.Add(mm.Threads[0]);
        _mms.Add(mm);
        return mm.Threads[0];
    }

    private SimVma PickVma(SimMm mm) => mm.Vmas[_rng.Next(mm.Vmas.Count)];

    private static (int First, int Count) SlotsOf(SimVma vma)
    {
        int first = SimMm.SlotOf(vma.Start);
        int last = SimMm.SlotOf(vma.End - 1);
        return (first, last - first + 1);
    }

    private static bool HasHuge(SimMm mm, SimVma vma)
    {
        var (first, count) = SlotsOf(vma);
        for (int i = first; i < first + count; i++)
        {
            if (mm.Slots[i].HugePfn != 0)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A user activity: first switch the CPU to the task's mm if it runs another one.</summary>
    private IEnumerable<bool> AsUser(SimTask t, SimMm mm, IEnumerable<bool> body)
    {
        if (_cpus[t.Cpu].LoadedMm != mm.Id)
        {
            yield return Switch(t, mm);
        }
        foreach (bool step in body)
        {
            yield return step;
        }
    }

    private ulong RandomPage(SimVma vma) => vma.Start + ((ulong)_rng.Next((int)((vma.End - vma.Start) / PageSize)) * PageSize);

    private static bool Switch(SimTask t, SimMm mm)
    {
        t.Pending = new Pending { Op = Mk(t, OpKind.CtxSwitch, mm.Id), SetsLoadedMm = true };
        return true;
    }

    // ---- process creation and exit

    private IEnumerable<bool> Spawn(SimTask t)
    {
        var mm = t.Mm!;
        mm.Pgd = AllocTable();
        yield return Do(t, TableOp(t, OpKind.MmCreate, mm, 0, mm.Pgd));
        yield return Switch(t, mm);
        mm.P4d = AllocTable();
        mm.Pud = AllocTable();
        mm.Pmd[0] = new SimTable { Id = AllocTable() };
        mm.Pmd[1] = new SimTable { Id = AllocTable() };
        yield return Do(t, TableAllocOp(t, mm.P4d, Level.P4d));
        yield return Do(t, TableAllocOp(t, mm.Pud, Level.Pud));
        yield return Do(t, TableAllocOp(t, mm.Pmd[0].Id, Level.Pmd));
        yield return Do(t, TableAllocOp(t, mm.Pmd[1].Id, Level.Pmd));
        // __p4d_alloc/__pud_alloc/__pmd_alloc populate under mm->page_table_lock.
        yield return Take(t, PtlOp(t, mm, SimMm.Base, Level.Pud), mm.PageTableLock, true);
        yield return Do(t, TableOp(t, OpKind.PgdPopulate, mm, SimMm.Base, mm.P4d));
        yield return Do(t, TableOp(t, OpKind.P4dPopulate, mm, SimMm.Base, mm.Pud));
        yield return Do(t, TableOp(t, OpKind.PudPopulate, mm, SimMm.Base, mm.Pmd[0].Id));
        yield return Do(t, TableOp(t, OpKind.PudPopulate, mm, SimMm.Base + (1UL << 30), mm.Pmd[1].Id));
        yield return Drop(t, PtlOp(t, mm, SimMm.Base, Level.Pud, unlock: true), mm.PageTableLock);
        mm.Ready = true;
        for (int i = 1; i < mm.Threads.Count; i++)
        {
            _cpus[mm.Threads[i].Cpu].Tasks.Add(mm.Threads[i]);
        }
    }

    private static Op TableAllocOp(SimTask t, int table, Level level)
    {
        var op = Mk(t, OpKind.TableAlloc);
        op.Table = table;
        op.Level = level;
        return op;
    }

    private IEnumerable<bool>? PlanExit(SimTask t, SimMm mm)
    {
        if (!CanReserveRange(mm, 0, SimMm.SlotCount, 'X'))
        {
            return null;
        }
        ReserveRange(t, mm, 0, SimMm.SlotCount, 'X');
        mm.Dying = true;
        return AsUser(t, mm, Exit(t, mm));
    }

    private IEnumerable<bool> Exit(SimTask t, SimMm mm)
    {
        // exit_mmap before v4.4 (the kernels whose try_to_unmap_one mlocks under mmap_sem's trylock) takes no
        // mmap_sem: the mm has no users left, and munlock_vma_pages_all, unmap_vmas and free_pgtables run unlocked,
        // so reclaim's trylock succeeds against them (r4-munlock). Modelled under --contend, where reclaim meets
        // VM_LOCKED VMAs; default workloads keep the lock.
        bool mmapSem = _options.MlockUnderPtl || !_options.Contend;
        if (mmapSem)
        {
            yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        }
        while (mm.Vmas.Count > 0)
        {
            var vma = mm.Vmas[0];
            foreach (var step in Teardown(t, mm, vma, vma.Start, vma.End))
            {
                yield return step;
            }
            yield return Do(t, Mk(t, OpKind.VmaRemove, mm.Id, vma.Start));
            RemoveVma(mm, vma);
        }
        if (mmapSem)
        {
            yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
        }
        yield return Do(t, Mk(t, OpKind.MmDestroy, mm.Id));
        _freeTables.Push(mm.Pgd);
        _freeTables.Push(mm.P4d);
        _freeTables.Push(mm.Pud);
        _freeTables.Push(mm.Pmd[0].Id);
        _freeTables.Push(mm.Pmd[1].Id);
        _mms.Remove(mm);
        foreach (var cpu in _cpus)
        {
            if (cpu.LoadedMm == mm.Id)
            {
                cpu.LoadedMm = 0;
            }
        }
        foreach (var thread in mm.Threads)
        {
            _cpus[thread.Cpu].Tasks.Remove(thread);
        }
    }

    private static void RemoveVma(SimMm mm, SimVma vma)
    {
        mm.Vmas.Remove(vma);
        var (first, count) = SlotsOf(vma);
        for (int i = first; i < first + count; i++)
        {
            if (mm.Slots[i].Vma == vma)
            {
                mm.Slots[i].Vma = null;
                mm.Slots[i].Retracted = false;
            }
        }
    }

    /// <summary>
    /// unmap_vmas + free_pgtables + tlb_finish_mmu for [<paramref name="from"/>, <paramref name="end"/>) of a VMA
    /// (all of it, or its tail after a split): zap every entry under its lock (munlocking as the last mapping
    /// goes), unlink the tables no remaining part of the VMA uses, flush with freed_tables, then free pages and
    /// queue the tables for RCU freeing. The caller holds mmap_lock for write. THP slots only go whole.
    /// </summary>
    private IEnumerable<bool> Teardown(SimTask t, SimMm mm, SimVma vma, ulong from, ulong end)
    {
        bool whole = from == vma.Start;
        if (vma.Locked && whole)
        {
            yield return Do(t, VmFlagsOp(t, mm, vma, set: false));
            vma.Flags &= ~VmFlags.Locked;
        }
        var pages = new List<(ulong Pfn, int Order)>();
        var tables = new List<int>();
        int first = SimMm.SlotOf(from);
        int count = SimMm.SlotOf(end - 1) - first + 1;
        for (int slot = first; slot < first + count; slot++)
        {
            var s = mm.Slots[slot];
            ulong slotVa = SimMm.SlotVa(slot);
            if (s.HugePfn != 0)
            {
                var pmdLock = mm.PmdOf(slot).Lock;
                yield return Take(t, PtlOp(t, mm, slotVa, Level.Pmd), pmdLock, true);
                yield return Do(t, Mk(t, OpKind.PmdClear, mm.Id, slotVa));
                yield return Do(t, TableOp(t, OpKind.TableWithdraw, mm, slotVa, s.Deposited));
                var dec = PfnOp(t, OpKind.MapDec, s.HugePfn);
                dec.Level = Level.Pmd;
                yield return Do(t, dec);
                yield return Drop(t, PtlOp(t, mm, slotVa, Level.Pmd, unlock: true), pmdLock);
                pages.Add((s.HugePfn, 9));
                tables.Add(s.Deposited);
                s.HugePfn = 0;
                s.Deposited = 0;
                continue;
            }
            if (s.Pte is not { } pte)
            {
                continue;
            }
            if (pte.Present > 0)
            {
                yield return Take(t, PtlOp(t, mm, slotVa, Level.Pte), pte.Lock, true);
                foreach (var (idx, pfn) in Mapped(pte))
                {
                    ulong va = slotVa + ((ulong)idx * PageSize);
                    if (va < from)
                    {
                        continue;
                    }
                    var page = _pages[pfn];
                    yield return Do(t, Mk(t, OpKind.PteClear, mm.Id, va));
                    pte.Pfns![idx] = 0;
                    pte.Present--;
                    yield return Do(t, PfnOp(t, OpKind.MapDec, pfn));
                    if (page.Mlocked)
                    {
                        // clear_page_mlock when the last mapping goes.
                        yield return Do(t, FlagOp(t, OpKind.FlagClear, pfn, mm, va));
                        page.Mlocked = false;
                    }
                    UnmapPage(page);
                    pages.Add((pfn, 0));
                }
                yield return Drop(t, PtlOp(t, mm, slotVa, Level.Pte, unlock: true), pte.Lock);
            }
            if (!whole && slotVa < from)
            {
                // The VMA keeps the head of this slot, and with it the table.
                continue;
            }
            // free_pgtables: nobody may be inside a lockless walk that started before the unlink.
            yield return Do(t, Mk(t, OpKind.PmdClear, mm.Id, slotVa), WaitKind.IrqOffAnywhere);
            tables.Add(pte.Id);
            s.Pte = null;
        }
        ulong start = whole ? SimMm.SlotVa(first) : from;
        ulong stop = SimMm.SlotVa(first + count);
        yield return Do(t, FlushOp(t, mm, start, stop - start, tables: true), WaitKind.IrqOffOnMmCpus, mm.Id);
        foreach (var (pfn, order) in pages)
        {
            yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
            yield return Do(t, PfnOp(t, OpKind.PageFree, pfn, order));
            FreePfn(pfn, order);
        }
        foreach (int table in tables)
        {
            yield return Do(t, TableFreeOp(t, table, FreeMode.Rcu));
            _rcuPending.Add(table);
        }
    }

    private void FreePfn(ulong pfn, int order)
    {
        if (order == 0)
        {
            _freePfns.Push(pfn);
        }
        else
        {
            _freeHuge.Push(pfn);
        }
    }

    private static Op TableFreeOp(SimTask t, int table, FreeMode mode)
    {
        var op = Mk(t, OpKind.TableFree);
        op.Table = table;
        op.Sub = (byte)mode;
        return op;
    }

    private static Op VmFlagsOp(SimTask t, SimMm mm, SimVma vma, bool set)
    {
        var op = Mk(t, OpKind.VmFlagsWrite, mm.Id, vma.Start);
        op.Sub = (byte)VmFlags.Locked;
        op.Flags = set ? OpFlags.Write : OpFlags.None;
        return op;
    }

    private IEnumerable<bool> RcuGracePeriod(SimTask t)
    {
        yield return Do(t, Mk(t, OpKind.RcuGpEnd), WaitKind.Sections);
        foreach (int id in _rcuPending)
        {
            _freeTables.Push(id);
        }
        _rcuPending.Clear();
    }

    // ---- user activities

    private IEnumerable<bool>? PlanBurst(SimTask t, SimMm mm)
    {
        var vma = PickVma(mm);
        int slot = SimMm.SlotOf(RandomPage(vma));
        if (!CanReserve(mm.Slots[slot], 'F'))
        {
            return null;
        }
        Reserve(t, mm, slot, 'F');
        return AsUser(t, mm, Burst(t, mm, vma, slot));
    }

    private IEnumerable<bool> Burst(SimTask t, SimMm mm, SimVma vma, int slot)
    {
        ulong lo = Math.Max(vma.Start, SimMm.SlotVa(slot));
        ulong hi = Math.Min(vma.End, SimMm.SlotVa(slot) + PmdSize);
        int pages = (int)((hi - lo) / PageSize);
        int n = 1 + _rng.Next(6);
        var s = mm.Slots[slot];
        for (int i = 0; i < n; i++)
        {
            ulong va = lo + ((ulong)_rng.Next(pages) * PageSize);
            bool write = _rng.Chance(0.3);
            bool mapped = s.HugePfn != 0 || (s.Pte is { } p && p.Pfns![PteIndex(va)] != 0);
            if (mapped)
            {
                if (_rng.Chance(0.1))
                {
                    // A speculative hardware fill (prefetch / page walk) with no user-visible access.
                    yield return Do(t, Mk(t, OpKind.TlbFill, mm.Id, va));
                }
                else
                {
                    yield return Do(t, AccessOp(t, mm, va, write));
                }
                continue;
            }
            yield return Do(t, AccessOp(t, mm, va, write));
            ulong slotVa = SimMm.SlotVa(slot);
            bool thp = s.Pte is null && !vma.Locked && slotVa >= vma.Start && slotVa + PmdSize <= vma.End && _rng.Chance(_options.Contend && (vma.Flags & VmFlags.File) == 0 ? 0.8 : 0.2);
            foreach (var step in thp ? HugeFault(t, mm, vma, slot) : Fault(t, mm, vma, s, va, write))
            {
                yield return step;
            }
            yield return Do(t, AccessOp(t, mm, va, write));
        }
    }

    private static Op AccessOp(SimTask t, SimMm mm, ulong va, bool write)
    {
        var op = Mk(t, OpKind.Access, mm.Id, va);
        if (write)
        {
            op.Flags = OpFlags.WriteAccess;
        }
        return op;
    }

    /// <summary>do_anonymous_page under the per-VMA lock: pte_alloc, alloc, PTL, recheck, set, unlock.</summary>
    private IEnumerable<bool> Fault(SimTask t, SimMm mm, SimVma vma, SimSlot s, ulong va, bool write)
    {
        yield return Take(t, VmaLockOp(t, mm, vma, false), vma.Lock, false);
        if (s.Pte is null && s.HugePfn == 0)
        {
            int id = AllocTable();
            // __pte_alloc populates the PMD under pmd_lock.
            int slot = SimMm.SlotOf(va);
            yield return Step(t, TableOp(t, OpKind.PteAlloc, mm, va, id), null, false, mm.PmdOf(slot).Lock, null, WaitKind.None, 0);
            if (s.Pte is null && s.HugePfn == 0)
            {
                s.Pte = NewPteTable(id);
            }
            else
            {
                // Another thread populated the PMD first (a PTE table or a THP): pte_alloc did nothing with our table.
                _freeTables.Push(id);
            }
        }
        if (s.Pte is not { } pte)
        {
            // A concurrent THP fault mapped the whole 2M: nothing left to do.
            yield return Drop(t, VmaLockOp(t, mm, vma, false, unlock: true), vma.Lock);
            yield break;
        }
        ulong pfn = AllocPfn();
        yield return Do(t, PfnOp(t, OpKind.PageAlloc, pfn));
        yield return Take(t, PtlOp(t, mm, va, Level.Pte), pte.Lock, true);
        int idx = PteIndex(va);
        if (pte.Pfns![idx] == 0)
        {
            if (vma.Locked)
            {
                // mlock_new_folio: the fault sets Mlocked under the PTL before the PTE is present.
                yield return Do(t, FlagOp(t, OpKind.FlagSet, pfn, mm, va));
            }
            var set = Mk(t, OpKind.PteSet, mm.Id, va);
            set.Pfn = pfn;
            if (write)
            {
                set.Flags = OpFlags.WriteAccess;
            }
            yield return Do(t, set);
            pte.Pfns[idx] = pfn;
            pte.Present++;
            var page = MapPage(pfn, mm, va, vma, reclaimable: true);
            page.Mlocked = vma.Locked;
            yield return Do(t, PfnOp(t, OpKind.MapInc, pfn));
            yield return Drop(t, PtlOp(t, mm, va, Level.Pte, unlock: true), pte.Lock);
        }
        else
        {
            // Lost the race to another thread's fault on the same address: drop our page.
            yield return Drop(t, PtlOp(t, mm, va, Level.Pte, unlock: true), pte.Lock);
            yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
            yield return Do(t, PfnOp(t, OpKind.PageFree, pfn));
            _freePfns.Push(pfn);
        }
        yield return Drop(t, VmaLockOp(t, mm, vma, false, unlock: true), vma.Lock);
    }

    /// <summary>
    /// do_huge_pmd_anonymous_page: preallocate the pgtable, allocate the THP, then under pmd_lock recheck the
    /// PMD is none, deposit the pgtable and map the 2M; a PMD populated meanwhile makes it drop both.
    /// </summary>
    private IEnumerable<bool> HugeFault(SimTask t, SimMm mm, SimVma vma, int slot)
    {
        var s = mm.Slots[slot];
        ulong va = SimMm.SlotVa(slot);
        var pmdLock = mm.PmdOf(slot).Lock;
        yield return Take(t, VmaLockOp(t, mm, vma, false), vma.Lock, false);
        int pgtable = AllocTable();
        yield return Do(t, TableAllocOp(t, pgtable, Level.Pte));
        ulong hpfn = AllocHuge();
        yield return Do(t, PfnOp(t, OpKind.PageAlloc, hpfn, 9));
        yield return Take(t, PtlOp(t, mm, va, Level.Pmd), pmdLock, true);
        if (s.Pte is null && s.HugePfn == 0)
        {
            yield return Do(t, TableOp(t, OpKind.TableDeposit, mm, va, pgtable));
            var set = Mk(t, OpKind.PmdSetHuge, mm.Id, va);
            set.Pfn = hpfn;
            yield return Do(t, set);
            s.HugePfn = hpfn;
            s.Deposited = pgtable;
            var inc = PfnOp(t, OpKind.MapInc, hpfn);
            inc.Level = Level.Pmd;
            yield return Do(t, inc);
            yield return Drop(t, PtlOp(t, mm, va, Level.Pmd, unlock: true), pmdLock);
        }
        else
        {
            yield return Drop(t, PtlOp(t, mm, va, Level.Pmd, unlock: true), pmdLock);
            yield return Do(t, PfnOp(t, OpKind.RefPut, hpfn));
            yield return Do(t, PfnOp(t, OpKind.PageFree, hpfn, 9));
            _freeHuge.Push(hpfn);
            yield return Do(t, TableFreeOp(t, pgtable, FreeMode.Now));
            _freeTables.Push(pgtable);
        }
        yield return Drop(t, VmaLockOp(t, mm, vma, false, unlock: true), vma.Lock);
    }

    private IEnumerable<bool>? PlanGup(SimTask t, SimMm mm)
    {
        var vma = PickVma(mm);
        ulong va = RandomPage(vma);
        // Contention mode pins pages that are there (O_DIRECT into a populated buffer): a GUP-fast walk that descends
        // into the PTE table is the walker a collapse races with (R2); a random page of a large mapping is rarely mapped.
        for (int attempt = 0; _options.Contend && attempt < 16 && !IsMapped(mm, va); attempt++)
        {
            va = RandomPage(vma);
        }
        int slot = SimMm.SlotOf(va);
        if (!CanReserve(mm.Slots[slot], 'G'))
        {
            return null;
        }
        Reserve(t, mm, slot, 'G');
        return AsUser(t, mm, GupFast(t, mm, mm.Slots[slot], va));
    }

    private static bool IsMapped(SimMm mm, ulong va) =>
        mm.Slots[SimMm.SlotOf(va)] is var s && (s.HugePfn != 0 || s.Pte is { } pte && pte.Pfns![PteIndex(va)] != 0);

    /// <summary>gup_fast: IRQs off, lockless walk, speculative reference, recheck, IRQs on, unpin later.</summary>
    private IEnumerable<bool> GupFast(SimTask t, SimMm mm, SimSlot s, ulong va)
    {
        t.Pending = new Pending { Op = Mk(t, OpKind.IrqDisable), Irq = 1 };
        yield return true;
        ulong pfn = 0;
        if (s.HugePfn != 0)
        {
            pfn = s.HugePfn;
            yield return Do(t, ReadOp(t, mm, va, Level.Pmd, EntryValue.Leaf(pfn), lockless: true));
            yield return Do(t, PfnOp(t, OpKind.RefTryGet, pfn));
            yield return Do(t, ReadOp(t, mm, va, Level.Pmd, EntryValue.Leaf(pfn), lockless: true));
        }
        else if (s.Pte is { } pte && pte.Pfns![PteIndex(va)] != 0)
        {
            pfn = pte.Pfns[PteIndex(va)];
            yield return Do(t, ReadOp(t, mm, va, Level.Pmd, EntryValue.Table(pte.Id), lockless: true));
            yield return Do(t, ReadOp(t, mm, va, Level.Pte, EntryValue.Leaf(pfn), lockless: true));
            yield return Do(t, PfnOp(t, OpKind.RefTryGet, pfn));
            yield return Do(t, ReadOp(t, mm, va, Level.Pmd, EntryValue.Table(pte.Id), lockless: true));
            yield return Do(t, ReadOp(t, mm, va, Level.Pte, EntryValue.Leaf(pfn), lockless: true));
        }
        else
        {
            // Nothing mapped yet (a concurrent fault may be filling it): the walk misses and GUP falls back.
            var miss = ReadOp(t, mm, va, Level.Pmd, 0, lockless: true);
            miss.Flags &= ~OpFlags.HasValue;
            yield return Do(t, miss);
        }
        t.Pending = new Pending { Op = Mk(t, OpKind.IrqEnable), Irq = -1 };
        yield return true;
        if (pfn != 0)
        {
            yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
        }
    }

    private IEnumerable<bool>? PlanMmap(SimTask t, SimMm mm)
    {
        if (mm.Vmas.Count >= 16)
        {
            return null;
        }
        int k = 1 + _rng.Next(3);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            int first = _rng.Next(SimMm.SlotCount - k + 1);
            if ((first >> 9) != ((first + k - 1) >> 9) || !SlotsFree(mm, first, k) || !CanReserveRange(mm, first, k, 'X'))
            {
                continue;
            }
            ReserveRange(t, mm, first, k, 'X');
            ulong off = _options.Contend || _rng.Chance(0.6) ? 0 : (ulong)_rng.Next(512) * PageSize;
            ulong maxPages = (((ulong)k * PmdSize) - off) / PageSize;
            // Contention mode maps whole slots: PMD moves and collapses need a VMA covering an aligned 2M extent.
            ulong len = _options.Contend ? (ulong)k * PmdSize : (1 + (ulong)_rng.Next((int)maxPages)) * PageSize;
            var flags = VmFlags.None;
            int rmap;
            if (_rng.Chance(_options.Contend ? 0.4 : 0.2))
            {
                flags |= VmFlags.File;
                rmap = _files[_rng.Next(_files.Length)];
            }
            else
            {
                rmap = _nextRmap++;
            }
            if (_rng.Chance(0.08))
            {
                flags |= VmFlags.Locked;
            }
            var vma = new SimVma { Start = SimMm.SlotVa(first) + off, Flags = flags, Rmap = rmap, RmapLock = RmapLockFor(rmap, (flags & VmFlags.File) != 0) };
            vma.End = vma.Start + len;
            return AsUser(t, mm, Mmap(t, mm, vma));
        }
        return null;
    }

    private static bool SlotsFree(SimMm mm, int first, int count)
    {
        for (int i = first; i < first + count; i++)
        {
            var s = mm.Slots[i];
            if (s.Vma is not null || s.Pte is not null || s.HugePfn != 0)
            {
                return false;
            }
        }
        return true;
    }

    private IEnumerable<bool> Mmap(SimTask t, SimMm mm, SimVma vma)
    {
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        yield return Do(t, VmaCreateOp(t, mm, vma));
        AddVma(mm, vma);
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    private static Op VmaCreateOp(SimTask t, SimMm mm, SimVma vma)
    {
        var op = Mk(t, OpKind.VmaCreate, mm.Id, vma.Start);
        op.Len = vma.End - vma.Start;
        op.Sub = (byte)vma.Flags;
        op.Obj = vma.Rmap;
        return op;
    }

    private static void AddVma(SimMm mm, SimVma vma)
    {
        mm.Vmas.Add(vma);
        var (first, count) = SlotsOf(vma);
        for (int i = first; i < first + count; i++)
        {
            mm.Slots[i].Vma = vma;
        }
    }

    private IEnumerable<bool>? PlanMunmap(SimTask t, SimMm mm)
    {
        var vma = PickVma(mm);
        var (first, count) = SlotsOf(vma);
        ulong pages = (vma.End - vma.Start) / PageSize;
        // Either the whole VMA, or (split_vma) its tail; a THP is never split here.
        bool tail = pages > 1 && !HasHuge(mm, vma) && (mm.Vmas.Count < 2 || _rng.Chance(0.4));
        if ((!tail && mm.Vmas.Count < 2) || !CanReserveRange(mm, first, count, 'X'))
        {
            return null;
        }
        ReserveRange(t, mm, first, count, 'X');
        if (tail)
        {
            ulong cut = vma.Start + ((1 + (ulong)_rng.Next((int)pages - 1)) * PageSize);
            return AsUser(t, mm, MunmapTail(t, mm, vma, cut));
        }
        return AsUser(t, mm, Munmap(t, mm, vma));
    }

    /// <summary>munmap of [cut, end): the VMA is split (its start stays), the tail is zapped and its tables freed.</summary>
    private IEnumerable<bool> MunmapTail(SimTask t, SimMm mm, SimVma vma, ulong cut)
    {
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        yield return Take(t, VmaLockOp(t, mm, vma, true), vma.Lock, true);
        var modify = Mk(t, OpKind.VmaModify, mm.Id, vma.Start);
        modify.NewVa = vma.Start;
        modify.Len = cut - vma.Start;
        yield return Do(t, modify);
        ulong end = vma.End;
        vma.End = cut;
        foreach (var step in Teardown(t, mm, vma, cut, end))
        {
            yield return step;
        }
        for (int slot = SimMm.SlotOf(cut - 1) + 1; slot <= SimMm.SlotOf(end - 1); slot++)
        {
            mm.Slots[slot].Vma = null;
        }
        yield return Drop(t, VmaLockOp(t, mm, vma, true, unlock: true), vma.Lock);
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    private IEnumerable<bool> Munmap(SimTask t, SimMm mm, SimVma vma)
    {
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        // vma_start_write: waits for faults holding the per-VMA lock.
        yield return Take(t, VmaLockOp(t, mm, vma, true), vma.Lock, true);
        foreach (var step in Teardown(t, mm, vma, vma.Start, vma.End))
        {
            yield return step;
        }
        yield return Drop(t, VmaLockOp(t, mm, vma, true, unlock: true), vma.Lock);
        yield return Do(t, Mk(t, OpKind.VmaRemove, mm.Id, vma.Start));
        RemoveVma(mm, vma);
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    /// <summary>A VMA without THP whose every slot can be reserved exclusively (mremap and mlock move or walk all of it).</summary>
    private SimVma? PickWholeVma(SimMm mm, out int first, out int count)
    {
        var vma = PickVma(mm);
        (first, count) = SlotsOf(vma);
        return HasHuge(mm, vma) || !CanReserveRange(mm, first, count, 'X') ? null : vma;
    }

    private IEnumerable<bool>? PlanMremap(SimTask t, SimMm mm)
    {
        // Contention mode moves a range khugepaged retracted a table of more often than chance would (R6's mover).
        int first = 0, count = 0;
        var vma = _options.Contend && _rng.Chance(0.5) && t.Cpu != KhugepagedCpu ? RetractedVma(mm, out first, out count) : null;
        if (vma is null && (vma = PickWholeVma(mm, out first, out count)) is null)
        {
            return null;
        }
        ulong len = vma.End - vma.Start;
        ulong oldOff = vma.Start & (PmdSize - 1);
        // Mostly mutually aligned moves (NORMAL_PMD for whole 2M extents), sometimes not (move_ptes only).
        ulong newOff = _options.Contend || _rng.Chance(0.7) ? oldOff : (ulong)_rng.Next(512) * PageSize;
        int k = (int)((newOff + len + PmdSize - 1) / PmdSize);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            int dst = _rng.Next(SimMm.SlotCount - k + 1);
            if ((dst >> 9) != ((dst + k - 1) >> 9) || dst < first + count && first < dst + k
                || !SlotsFree(mm, dst, k) || !CanReserveRange(mm, dst, k, 'X'))
            {
                continue;
            }
            ReserveRange(t, mm, first, count, 'X');
            ReserveRange(t, mm, dst, k, 'X');
            var target = new SimVma { Start = SimMm.SlotVa(dst) + newOff, Flags = vma.Flags, Rmap = vma.Rmap, RmapLock = vma.RmapLock };
            target.End = target.Start + len;
            return AsUser(t, mm, Mremap(t, mm, vma, target));
        }
        return null;
    }

    /// <summary>
    /// mremap(MAYMOVE|FIXED) of a whole VMA: copy_vma creates the target (need_rmap_locks false), then
    /// move_page_tables per extent (NORMAL_PMD when both sides are 2M-aligned, else move_ptes; none PMDs are
    /// skipped), then the old range is unmapped: its emptied tables are unlinked, flushed and freed.
    /// </summary>
    private IEnumerable<bool> Mremap(SimTask t, SimMm mm, SimVma vma, SimVma target)
    {
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        yield return Take(t, VmaLockOp(t, mm, vma, true), vma.Lock, true);
        yield return Do(t, VmaCreateOp(t, mm, target));
        AddVma(mm, target);
        var rmapLock = vma.RmapLock;
        ulong o = vma.Start;
        ulong n = target.Start;
        while (o < vma.End)
        {
            ulong extent = Math.Min(Math.Min(PmdSize - (o & (PmdSize - 1)), PmdSize - (n & (PmdSize - 1))), vma.End - o);
            int so = SimMm.SlotOf(o);
            int sn = SimMm.SlotOf(n);
            var src = mm.Slots[so];
            var dst = mm.Slots[sn];
            if (src.Pte is { } srcPte)
            {
                if (extent == PmdSize && _options.PmdMoves)
                {
                    var move = Mk(t, OpKind.MremapMovePmd, mm.Id, o);
                    move.NewVa = n;
                    move.Obj = vma.Rmap;
                    yield return Step(t, move, rmapLock, true, mm.PmdOf(so).Lock, mm.PmdOf(sn).Lock, WaitKind.IrqOffOnMmCpus, mm.Id);
                    dst.Pte = srcPte;
                    src.Pte = null;
                    MovePages(srcPte, 0, 512, n & ~(PmdSize - 1), null, target);
                }
                else
                {
                    int spare = dst.Pte is null ? AllocTable() : 0;
                    var move = Mk(t, OpKind.MovePtes, mm.Id, o);
                    move.NewVa = n;
                    move.Len = extent;
                    move.Obj = vma.Rmap;
                    move.Table = spare;
                    yield return Step(t, move, null, false, srcPte.Lock, dst.Pte?.Lock, WaitKind.IrqOffOnMmCpus, mm.Id);
                    dst.Pte ??= NewPteTable(spare);
                    MovePages(srcPte, PteIndex(o), (int)(extent / PageSize), n, dst.Pte, target);
                }
            }
            else if (src.Retracted && extent == PmdSize && _options.PmdMoves)
            {
                // khugepaged retracted this (file) table earlier: move_pgt_entry reads the none PMD and moves nothing.
                // The step is written all the same, as what the kernel runs for the extent, so that explore can put
                // its PMD read before the retract (R6).
                var move = Mk(t, OpKind.MremapMovePmd, mm.Id, o);
                move.NewVa = n;
                move.Obj = vma.Rmap;
                yield return Step(t, move, rmapLock, true, mm.PmdOf(so).Lock, mm.PmdOf(sn).Lock, WaitKind.IrqOffOnMmCpus, mm.Id);
                src.Retracted = false;
            }
            o += extent;
            n += extent;
        }
        // do_munmap of the old range: only emptied tables remain there.
        var (first, count) = SlotsOf(vma);
        var tables = new List<int>();
        for (int slot = first; slot < first + count; slot++)
        {
            if (mm.Slots[slot].Pte is { } left)
            {
                yield return Do(t, Mk(t, OpKind.PmdClear, mm.Id, SimMm.SlotVa(slot)), WaitKind.IrqOffAnywhere);
                tables.Add(left.Id);
                mm.Slots[slot].Pte = null;
            }
        }
        if (tables.Count > 0)
        {
            yield return Do(t, FlushOp(t, mm, SimMm.SlotVa(first), (ulong)count * PmdSize, tables: true), WaitKind.IrqOffOnMmCpus, mm.Id);
            foreach (int table in tables)
            {
                yield return Do(t, TableFreeOp(t, table, FreeMode.Rcu));
                _rcuPending.Add(table);
            }
        }
        yield return Drop(t, VmaLockOp(t, mm, vma, true, unlock: true), vma.Lock);
        yield return Do(t, Mk(t, OpKind.VmaRemove, mm.Id, vma.Start));
        RemoveVma(mm, vma);
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    /// <summary>Moves page bookkeeping: entries [from, from+count) of <paramref name="src"/> now live at <paramref name="newVa"/>.</summary>
    private void MovePages(SimTable src, int from, int count, ulong newVa, SimTable? dst, SimVma target)
    {
        for (int i = 0; i < count; i++)
        {
            int si = from + i;
            ulong pfn = src.Pfns![si];
            if (pfn == 0)
            {
                continue;
            }
            var page = _pages[pfn];
            page.Va = newVa + ((ulong)i * PageSize);
            page.Vma = target;
            if (dst is not null)
            {
                src.Pfns[si] = 0;
                src.Present--;
                dst.Pfns![PteIndex(page.Va)] = pfn;
                dst.Present++;
            }
        }
    }

    private IEnumerable<bool>? PlanMlock(SimTask t, SimMm mm)
    {
        if (PickWholeVma(mm, out int first, out int count) is not { } vma)
        {
            return null;
        }
        ReserveRange(t, mm, first, count, 'X');
        return AsUser(t, mm, Mlock(t, mm, vma, !vma.Locked));
    }

    /// <summary>mlock/munlock under mmap_lock: VM_LOCKED changes first, then each mapped page under its PTL.</summary>
    private IEnumerable<bool> Mlock(SimTask t, SimMm mm, SimVma vma, bool lockIt)
    {
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        yield return Do(t, VmFlagsOp(t, mm, vma, lockIt));
        vma.Flags = lockIt ? vma.Flags | VmFlags.Locked : vma.Flags & ~VmFlags.Locked;
        var (first, count) = SlotsOf(vma);
        for (int slot = first; slot < first + count; slot++)
        {
            if (mm.Slots[slot].Pte is not { Present: > 0 } pte)
            {
                continue;
            }
            ulong slotVa = SimMm.SlotVa(slot);
            yield return Take(t, PtlOp(t, mm, slotVa, Level.Pte), pte.Lock, true);
            foreach (var (idx, pfn) in Mapped(pte))
            {
                ulong va = slotVa + ((ulong)idx * PageSize);
                if (lockIt)
                {
                    yield return Do(t, ReadOp(t, mm, va, Level.Pte, EntryValue.Leaf(pfn), lockless: false));
                    yield return Do(t, FlagOp(t, OpKind.FlagSet, pfn, mm, va));
                }
                else
                {
                    yield return Do(t, FlagOp(t, OpKind.FlagClear, pfn, mm, va));
                }
                _pages[pfn].Mlocked = lockIt;
            }
            yield return Drop(t, PtlOp(t, mm, slotVa, Level.Pte, unlock: true), pte.Lock);
        }
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    private IEnumerable<bool>? PlanDontneed(SimTask t, SimMm mm)
    {
        var vma = PickVma(mm);
        if (vma.Locked)
        {
            return null;
        }
        var (first, count) = SlotsOf(vma);
        int slot = first + _rng.Next(count);
        var s = mm.Slots[slot];
        if (_options.Contend && s.HugePfn != 0 && (vma.Flags & VmFlags.File) == 0)
        {
            // A whole THP (contention mode): zap_huge_pmd, which a split of the THP may meet (R3).
            if (!CanReserve(s, 'Z'))
            {
                return null;
            }
            Reserve(t, mm, slot, 'Z');
            return AsUser(t, mm, DontneedHuge(t, mm, slot));
        }
        if (s.Pte is not { Present: > 0 } || !CanReserve(s, 'X'))
        {
            return null;
        }
        Reserve(t, mm, slot, 'X');
        return AsUser(t, mm, Dontneed(t, mm, vma, slot));
    }

    /// <summary>MADV_DONTNEED under mmap_lock read: zap_pte_range entry by entry, flush, free.</summary>
    private IEnumerable<bool> Dontneed(SimTask t, SimMm mm, SimVma vma, int slot)
    {
        yield return Take(t, MmapLockOp(t, mm, false), mm.MmapLock, false);
        var pte = mm.Slots[slot].Pte!;
        ulong slotVa = SimMm.SlotVa(slot);
        var freed = new List<ulong>();
        // Contention mode drops every page of a file range (a PTE table left empty is what khugepaged retracts, R6).
        bool all = _options.Contend && (vma.Flags & VmFlags.File) != 0;
        foreach (var (idx, pfn) in Mapped(pte))
        {
            if (!all && !_rng.Chance(0.5))
            {
                continue;
            }
            ulong va = slotVa + ((ulong)idx * PageSize);
            yield return Take(t, Mk(t, OpKind.ZapClear, mm.Id, va), pte.Lock, true);
            pte.Pfns![idx] = 0;
            pte.Present--;
            var finish = Mk(t, OpKind.ZapFinish, mm.Id, va);
            finish.Pfn = pfn;
            yield return Drop(t, finish, pte.Lock, WaitKind.IrqOffOnMmCpus, mm.Id);
            UnmapPage(_pages[pfn]);
            freed.Add(pfn);
        }
        if (freed.Count > 0)
        {
            ulong lo = Math.Max(vma.Start, slotVa);
            ulong hi = Math.Min(vma.End, slotVa + PmdSize);
            yield return Do(t, FlushOp(t, mm, lo, hi - lo, tables: false), WaitKind.IrqOffOnMmCpus, mm.Id);
            foreach (ulong pfn in freed)
            {
                yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
                yield return Do(t, PfnOp(t, OpKind.PageFree, pfn));
                _freePfns.Push(pfn);
            }
        }
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }

    // ---- kernel threads

    private IEnumerable<bool>? PlanReclaim(SimTask t)
    {
        if (_reclaimable.Count == 0)
        {
            return null;
        }
        int want = 1 + _rng.Next(12);
        var picked = new List<SimPage>(want);
        for (int attempt = 0; attempt < want * 2 && picked.Count < want; attempt++)
        {
            var page = _reclaimable[_rng.Next(_reclaimable.Count)];
            var mm = FindMm(page.Mm);
            // mlocked pages sit on the unevictable LRU: reclaim never scans them. Under --contend it may hold one it
            // isolated before mlock_vma_page ran (mlock sets PageMlocked but cannot move an isolated page; isolation
            // is no op of the trace), so try_to_unmap_one meets VM_LOCKED and mlocks the page (R4's walker).
            if (page.Reclaiming || (page.Vma!.Locked && !_options.Contend) || mm is null || !mm.Ready || mm.Dying)
            {
                continue;
            }
            int slot = SimMm.SlotOf(page.Va);
            if (!CanReserve(mm.Slots[slot], 'C'))
            {
                continue;
            }
            Reserve(t, mm, slot, 'C');
            page.Reclaiming = true;
            picked.Add(page);
        }
        return picked.Count == 0 ? null : Reclaim(t, picked, _rng.Chance(0.6));
    }

    private SimMm? FindMm(int id)
    {
        foreach (var mm in _mms)
        {
            if (mm.Id == id)
            {
                return mm;
            }
        }
        return null;
    }

    /// <summary>shrink_folio_list: lock, isolate, try_to_unmap (TTU_BATCH_FLUSH or not), flush, free.</summary>
    private IEnumerable<bool> Reclaim(SimTask t, List<SimPage> pages, bool batch)
    {
        foreach (var page in pages)
        {
            var mm = FindMm(page.Mm)!;
            ulong pfn = page.Pfn;
            ulong va = page.Va;
            var pageLock = PageLock(pfn);
            var rmapLock = page.Vma!.RmapLock;
            int rmap = page.Vma.Rmap;
            var pte = mm.Slots[SimMm.SlotOf(va)].Pte!;
            yield return Take(t, PfnOp(t, OpKind.PageLock, pfn), pageLock, true);
            yield return Do(t, PfnOp(t, OpKind.RefGet, pfn));
            var start = PfnOp(t, OpKind.TtuStart, pfn);
            start.Obj = rmap;
            yield return Take(t, start, rmapLock, false);
            if (page.Vma.Locked)
            {
                foreach (var step in TtuMlock(t, mm, page, pte))
                {
                    yield return step;
                }
                var endLocked = PfnOp(t, OpKind.TtuEnd, pfn);
                endLocked.Obj = rmap;
                yield return Drop(t, endLocked, rmapLock);
                yield return Drop(t, PfnOp(t, OpKind.PageUnlock, pfn), pageLock);
                _pageLocks.Remove(pfn);
                // SWAP_MLOCK: the page stays mapped and goes back (to the unevictable LRU): putback drops the isolation reference.
                yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
                page.Reclaiming = false;
                continue;
            }
            var walk = Mk(t, OpKind.TtuWalk, mm.Id, va);
            walk.Pfn = pfn;
            yield return Take(t, walk, pte.Lock, true);
            var unmap = Mk(t, OpKind.TtuUnmap, mm.Id, va);
            unmap.Pfn = pfn;
            unmap.Flags = batch ? OpFlags.Batch : OpFlags.None;
            yield return Drop(t, unmap, pte.Lock, batch ? WaitKind.None : WaitKind.IrqOffOnMmCpus, mm.Id);
            pte.Pfns![PteIndex(va)] = 0;
            pte.Present--;
            UnmapPage(page);
            var end = PfnOp(t, OpKind.TtuEnd, pfn);
            end.Obj = rmap;
            yield return Drop(t, end, rmapLock);
            yield return Drop(t, PfnOp(t, OpKind.PageUnlock, pfn), pageLock);
            _pageLocks.Remove(pfn);
        }
        if (batch)
        {
            yield return Do(t, Mk(t, OpKind.TlbBatchFlush), WaitKind.IrqOffAnywhere);
        }
        foreach (var page in pages)
        {
            if (!page.Reclaiming)
            {
                // Kept mapped by the VM_LOCKED walker above.
                continue;
            }
            yield return Do(t, PfnOp(t, OpKind.RefPut, page.Pfn));
            yield return Do(t, PfnOp(t, OpKind.PageFree, page.Pfn));
            _freePfns.Push(page.Pfn);
        }
    }

    /// <summary>
    /// try_to_unmap_one on a VM_LOCKED VMA (R4's walker, docs/mm-model.md §2.4), as the workload's kernel does it:
    /// <c>ttu_mlock_check</c> reads the PTE and VM_LOCKED under the PTE lock (and, from v4.4, mlocks the page there);
    /// before v4.4 <c>ttu_mlock_set</c> takes mmap_sem by trylock and re-tests VM_LOCKED, <c>ttu_mlock_page</c>
    /// mlocks the page and drops mmap_sem. The recorded trylock succeeds: the step is emitted when the lock is free.
    /// </summary>
    private IEnumerable<bool> TtuMlock(SimTask t, SimMm mm, SimPage page, SimTable pte)
    {
        var check = Mk(t, OpKind.TtuMlockCheck, mm.Id, page.Va);
        check.Pfn = page.Pfn;
        yield return Step(t, check, pte.Lock, true, null, null, WaitKind.None, 0);
        var set = Mk(t, OpKind.TtuMlockSet, mm.Id, page.Va);
        set.Pfn = page.Pfn;
        var mlock = Mk(t, OpKind.TtuMlockPage, mm.Id, page.Va);
        mlock.Pfn = page.Pfn;
        if (_options.MlockUnderPtl)
        {
            page.Mlocked = true;
            yield return Do(t, set);
            yield return Do(t, mlock);
            yield break;
        }
        yield return Take(t, set, mm.MmapLock, false);
        // mmap_sem held for read from here: VM_LOCKED cannot change before ttu_mlock_page.
        bool locked = page.Vma!.Locked;
        yield return Drop(t, mlock, mm.MmapLock);
        page.Mlocked |= locked;
    }

    private IEnumerable<bool>? PlanCollapse(SimTask t)
    {
        if (_mms.Count == 0)
        {
            return null;
        }
        var mm = _mms[_rng.Next(_mms.Count)];
        if (!mm.Ready || mm.Dying || mm.Vmas.Count == 0)
        {
            return null;
        }
        var vma = PickVma(mm);
        if (vma.Locked)
        {
            return null;
        }
        int slot = WholeTableSlot(mm, vma, empty: false);
        if (slot < 0)
        {
            return null;
        }
        Reserve(t, mm, slot, 'X');
        return Collapse(t, mm, vma, slot);
    }

    /// <summary>
    /// The first 2M slot that <paramref name="vma"/> covers whole, holding a PTE table that maps something (a collapse)
    /// or, with <paramref name="empty"/>, nothing (a retract), and that can be reserved exclusively; -1 if none.
    /// </summary>
    private static int WholeTableSlot(SimMm mm, SimVma vma, bool empty)
    {
        var (first, count) = SlotsOf(vma);
        for (int slot = first; slot < first + count; slot++)
        {
            ulong slotVa = SimMm.SlotVa(slot);
            var s = mm.Slots[slot];
            if (slotVa >= vma.Start && slotVa + PmdSize <= vma.End && s.Pte is { } pte && (pte.Present == 0) == empty && CanReserve(s, 'X'))
            {
                return slot;
            }
        }
        return -1;
    }

    /// <summary>collapse_huge_page in mainline order (docs/mm-model.md §5.3).</summary>
    private IEnumerable<bool> Collapse(SimTask t, SimMm mm, SimVma vma, int slot)
    {
        var s = mm.Slots[slot];
        ulong va = SimMm.SlotVa(slot);
        var pmdLock = mm.PmdOf(slot).Lock;
        var rmapLock = vma.RmapLock;
        yield return Take(t, MmapLockOp(t, mm, false), mm.MmapLock, false);
        ulong hpfn = AllocHuge();
        yield return Do(t, PfnOp(t, OpKind.PageAlloc, hpfn, 9));
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
        yield return Take(t, MmapLockOp(t, mm, true), mm.MmapLock, true);
        yield return Take(t, VmaLockOp(t, mm, vma, true), vma.Lock, true);
        yield return Take(t, RmapOp(t, vma.Rmap, true), rmapLock, true);
        var pte = s.Pte!;
        var flush = Mk(t, OpKind.CollapseFlush, mm.Id, va);
        if (_rng.Chance(0.5))
        {
            flush.Flags = OpFlags.NoIpi;
        }
        // No CPU may be inside GUP-fast when the table is unlinked (tlb_remove_table_sync_one on fixed kernels).
        yield return Step(t, flush, pmdLock, true, null, null, WaitKind.IrqOffAnywhere, mm.Id);
        s.Pte = null;
        yield return Take(t, TablePtlOp(t, pte.Id), pte.Lock, true);
        yield return Drop(t, TablePtlOp(t, pte.Id, unlock: true), pte.Lock);
        yield return Drop(t, RmapOp(t, vma.Rmap, false, unlock: true), rmapLock);
        foreach (var (idx, pfn) in Mapped(pte))
        {
            yield return Take(t, TablePtlOp(t, pte.Id), pte.Lock, true);
            var clear = Mk(t, OpKind.PteClear);
            clear.Table = pte.Id;
            clear.Index = idx;
            yield return Do(t, clear);
            pte.Pfns![idx] = 0;
            pte.Present--;
            yield return Do(t, PfnOp(t, OpKind.MapDec, pfn));
            yield return Drop(t, TablePtlOp(t, pte.Id, unlock: true), pte.Lock);
            UnmapPage(_pages[pfn]);
            yield return Do(t, PfnOp(t, OpKind.RefPut, pfn));
            yield return Do(t, PfnOp(t, OpKind.PageFree, pfn));
            _freePfns.Push(pfn);
        }
        yield return Take(t, PtlOp(t, mm, va, Level.Pmd), pmdLock, true);
        yield return Do(t, TableOp(t, OpKind.TableDeposit, mm, va, pte.Id));
        var huge = Mk(t, OpKind.PmdSetHuge, mm.Id, va);
        huge.Pfn = hpfn;
        yield return Do(t, huge);
        s.HugePfn = hpfn;
        s.Deposited = pte.Id;
        var inc = PfnOp(t, OpKind.MapInc, hpfn);
        inc.Level = Level.Pmd;
        yield return Do(t, inc);
        yield return Drop(t, PtlOp(t, mm, va, Level.Pmd, unlock: true), pmdLock);
        yield return Drop(t, VmaLockOp(t, mm, vma, true, unlock: true), vma.Lock);
        yield return Drop(t, Mk(t, OpKind.MmapUnlock, mm.Id), mm.MmapLock);
    }
}
