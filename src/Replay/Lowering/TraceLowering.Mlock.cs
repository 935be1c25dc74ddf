using Pipeline.Replay.Coverage;
using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// R4 actors (docs/mm-model.md §2.4, §5.1): mlock/mlock2/munlock/mlockall/munlockall, mmap(MAP_LOCKED), faults in a
/// VM_LOCKED VMA, unevictable LRU insertions and exit_mmap become VM_LOCKED changes on the VMAs the lowering
/// creates in the engine and PG_mlocked changes on the pages the shadow has mapped, set under the PTE lock as
/// the current kernel does (mlock-under-ptl).
/// </summary>
public sealed partial class TraceLowering
{
    private const ulong MapLocked = 0x2000;
    private const long McCurrent = 1;
    private const long McFuture = 2;
    private const int LruUnevictable = 4;

    private static readonly int s_flags = Col("flags");
    private static readonly int s_ret = Col("ret");

    /// <summary>pfns the engine holds PG_mlocked (each mapped once in the shadow).</summary>
    private readonly HashSet<ulong> _mlocked = [];

    private void OnMlockEnter(TaskInfo task, string call)
    {
        var mm = MmOfTask(task);
        if (mm is null)
        {
            return;
        }
        ulong flags = Field(s_flags);
        task.Mlock = call switch
        {
            // do_mlock/munlock: len = PAGE_ALIGN(len + offset in page), start &= PAGE_MASK.
            "mlock" or "mlock2" or "munlock" => new MlockCall(call, Field(s_start) & ~4095UL, AlignUp(Field(s_len) + (Field(s_start) & 4095), 4096), flags),
            "mlockall" or "munlockall" => new MlockCall(call, 0, 0, flags),
            _ => (flags & MapLocked) != 0 || mm.LockFuture ? new MlockCall(call, 0, AlignUp(Field(s_len), 4096), flags) : null,
        };
        if (call is "munlock" or "munlockall" && mm.Vmas.Any(v => v.Locked))
        {
            // munlock_vma_pages_range clears VM_LOCKED, then PG_mlocked page by page (docs/mm-model.md §2.4, exit_mmap).
            _exposure.OnMunlockBegin(task.Tid, mm.Id, Ev(task, "sys_enter_" + call));
        }
    }

    private void OnMlockExit(TaskInfo task, string call)
    {
        if (task.Mlock is not { } c || c.Name != call)
        {
            task.Mlock = null;
            return;
        }
        task.Mlock = null;
        var mm = MmOfTask(task);
        long ret = _row.IsSet(s_ret) ? _row.GetInt64(s_ret) : -1;
        if (mm is not null && ret >= 0)
        {
            ulong start = c.Start;
            if (call is "munlock" or "munlockall" && mm.Vmas.Any(v => v.Locked))
            {
                Coverage.Actor("R4", CoverageRules.Munlock, mm.Id, _row.Seq);
            }
            switch (call)
            {
                case "mlock":
                case "mlock2":
                    Statistics.Mlocks++;
                    LockRange(task, mm, start, start + c.Len, true);
                    break;
                case "munlock":
                    Statistics.Munlocks++;
                    LockRange(task, mm, start, start + c.Len, false);
                    break;
                case "mlockall":
                    Statistics.Mlocks++;
                    mm.LockFuture = ((long)c.Flags & McFuture) != 0;
                    if (((long)c.Flags & McCurrent) != 0)
                    {
                        LockKnownVmas(task, mm);
                    }
                    break;
                case "munlockall":
                    Statistics.Munlocks++;
                    mm.LockFuture = false;
                    foreach (var v in mm.Vmas.Where(v => v.Locked).ToList())
                    {
                        LockRange(task, mm, v.Start, v.End, false);
                    }
                    break;
                default:
                    // mmap(MAP_LOCKED) or a mapping made under mlockall(MCL_FUTURE): the call returns the address.
                    Statistics.Mlocks++;
                    LockRange(task, mm, (ulong)ret, (ulong)ret + c.Len, true);
                    break;
            }
        }
        if (call is "munlock" or "munlockall")
        {
            _exposure.OnMunlockEnd(task.Tid, Ev(task, "sys_exit_" + call), "munlock");
        }
    }

    /// <summary>mlockall(MCL_CURRENT): every VMA the tracker knows (VMAs from before the trace are not known and stay unlocked).</summary>
    private void LockKnownVmas(TaskInfo task, ShadowMm mm)
    {
        if (_tracker.SpaceOf(task.Tid) is not { } space)
        {
            return;
        }
        foreach (var v in space.Vmas.Where(v => v.AttributesKnown && !v.Special).ToList())
        {
            LockRange(task, mm, v.Start, v.End, true);
        }
    }

    /// <summary>Sets or clears VM_LOCKED on [start, end) (creating the VMA pieces the engine lacks when locking), then PG_mlocked on the mapped pages.</summary>
    private void LockRange(TaskInfo task, ShadowMm mm, ulong start, ulong end, bool locked)
    {
        if (end <= start || end > UserTop)
        {
            return;
        }
        SplitVmaAt(task, mm, start);
        SplitVmaAt(task, mm, end);
        if (locked)
        {
            CreateVmaGaps(task, mm, start, end, locked);
        }
        foreach (var v in mm.Vmas)
        {
            if (v.Start >= start && v.End <= end && v.Locked != locked)
            {
                var op = NewOp(OpKind.VmFlagsWrite, task);
                op.Mm = mm.Id;
                op.Va = v.Start;
                op.Sub = (byte)VmFlags.Locked;
                if (locked)
                {
                    op.Flags |= OpFlags.Write;
                }
                Emit(op);
                v.Locked = locked;
            }
        }
        foreach (var m in MappedIn(mm, start, end))
        {
            if (locked)
            {
                MlockPage(task, m);
            }
            else
            {
                MunlockPage(task, m);
            }
        }
    }

    /// <summary>Removes the engine VMAs of [start, end) (munmap): pieces outside stay.</summary>
    private void RemoveVmas(TaskInfo task, ShadowMm mm, ulong start, ulong end)
    {
        if (mm.Vmas.Count == 0 || !mm.Vmas.Any(v => v.Start < end && start < v.End))
        {
            return;
        }
        SplitVmaAt(task, mm, start);
        SplitVmaAt(task, mm, end);
        foreach (var v in mm.Vmas.Where(v => v.Start >= start && v.End <= end).ToList())
        {
            var op = NewOp(OpKind.VmaRemove, task);
            op.Mm = mm.Id;
            op.Va = v.Start;
            Emit(op);
            mm.Vmas.Remove(v);
        }
    }

    private void SplitVmaAt(TaskInfo task, ShadowMm mm, ulong at)
    {
        var v = mm.VmaAt(at);
        if (v is null || v.Start == at)
        {
            return;
        }
        var modify = NewOp(OpKind.VmaModify, task);
        modify.Mm = mm.Id;
        modify.Va = v.Start;
        modify.NewVa = v.Start;
        modify.Len = at - v.Start;
        Emit(modify);
        var right = new ShadowVma(at, v.End, v.Locked);
        v.End = at;
        AddVma(task, mm, right);
    }

    private void CreateVmaGaps(TaskInfo task, ShadowMm mm, ulong start, ulong end, bool locked)
    {
        ulong at = start;
        foreach (var v in mm.Vmas.Where(v => v.End > start && v.Start < end).ToList())
        {
            if (v.Start > at)
            {
                AddVma(task, mm, new ShadowVma(at, v.Start, locked));
            }
            at = Math.Max(at, v.End);
        }
        if (at < end)
        {
            AddVma(task, mm, new ShadowVma(at, end, locked));
        }
    }

    private void AddVma(TaskInfo task, ShadowMm mm, ShadowVma v, VmFlags extra = VmFlags.None)
    {
        var op = NewOp(OpKind.VmaCreate, task);
        op.Mm = mm.Id;
        op.Va = v.Start;
        op.Len = v.End - v.Start;
        op.Sub = (byte)((v.Locked ? VmFlags.Locked : VmFlags.None) | extra);
        op.Obj = mm.Id;
        Emit(op);
        mm.Vmas.Add(v);
        mm.Vmas.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        Statistics.VmasCreated++;
    }

    /// <summary>The shadow's mappings in [start, end), collected first (the caller changes them).</summary>
    private List<Mapping> MappedIn(ShadowMm mm, ulong start, ulong end)
    {
        var found = new List<Mapping>();
        for (ulong region = start & ~(PmdSize - 1); region < end && region < UserTop; region += PmdSize)
        {
            var pmd = mm.Find(region, Level.Pmd);
            if (pmd is null)
            {
                region = AlignUp(region + 1, ShadowTable.SizeOf(Level.Pud)) - PmdSize;
                continue;
            }
            int pmdIdx = ShadowTable.IndexOf(region, Level.Pmd);
            if (pmd.Leaves![pmdIdx] != 0)
            {
                found.Add(new Mapping(mm, pmd, pmdIdx));
                continue;
            }
            if (pmd.Children![pmdIdx] is not { Present: > 0 } pte)
            {
                continue;
            }
            for (ulong va = Math.Max(start, region); va < Math.Min(end, region + PmdSize); va += 4096)
            {
                int idx = ShadowTable.IndexOf(va, Level.Pte);
                if (pte.Leaves![idx] != 0)
                {
                    found.Add(new Mapping(mm, pte, idx));
                }
            }
        }
        return found;
    }

    /// <summary>mlock_pte_range / mlock_new_folio: PG_mlocked set under the PTE lock that sees the mapping in the VM_LOCKED VMA.</summary>
    private void MlockPage(TaskInfo task, Mapping m)
    {
        ulong pfn = m.Table.Leaves![m.Index] - 1;
        if (m.Table.Level != Level.Pte)
        {
            // A PMD-mapped THP: the I4 justification is a PTE-lock section; not modelled.
            Statistics.MlockHugeSkipped++;
            return;
        }
        if (!_mlocked.Add(pfn))
        {
            return;
        }
        EmitPtl(task, m, OpKind.PtlLock);
        var set = NewOp(OpKind.FlagSet, task);
        set.Pfn = pfn;
        set.Sub = (byte)PageFlag.Mlocked;
        set.Mm = m.Mm.Id;
        set.Va = m.Va;
        Emit(set);
        EmitPtl(task, m, OpKind.PtlUnlock);
        Statistics.PagesMlocked++;
    }

    private void MunlockPage(TaskInfo task, Mapping m)
    {
        ulong pfn = m.Table.Leaves![m.Index] - 1;
        if (m.Table.Level != Level.Pte || !_mlocked.Contains(pfn))
        {
            return;
        }
        EmitPtl(task, m, OpKind.PtlLock);
        ClearMlocked(task, pfn);
        EmitPtl(task, m, OpKind.PtlUnlock);
    }

    /// <summary>PG_mlocked goes (munlock, or the zap of the page's last mapping: clear_page_mlock / munlock_vma_folio).</summary>
    private void ClearMlocked(TaskInfo task, ulong pfn)
    {
        if (!_mlocked.Remove(pfn))
        {
            return;
        }
        var clear = NewOp(OpKind.FlagClear, task);
        clear.Pfn = pfn;
        clear.Sub = (byte)PageFlag.Mlocked;
        Emit(clear);
        Statistics.PagesMunlocked++;
    }

    private void EmitPtl(TaskInfo task, Mapping m, OpKind kind)
    {
        var op = NewOp(kind, task);
        op.Mm = m.Mm.Id;
        op.Va = m.Va;
        op.Level = Level.Pte;
        Emit(op);
    }

    /// <summary>A page newly mapped by a fault in a VM_LOCKED VMA is mlocked as it is installed (folio_add_lru_vma → mlock_new_folio).</summary>
    private void MlockIfLockedVma(TaskInfo task, Mapping m)
    {
        if (m.Mm.Vmas.Count > 0 && m.Mm.VmaAt(m.Va) is { Locked: true })
        {
            MlockPage(task, m);
        }
    }

    /// <summary>
    /// pagemap:mm_lru_insertion on the unevictable list (lru=4): evidence that the page is Mlocked (docs/mm-model.md §5.1). The flag
    /// is set only when the shadow maps the page in a VM_LOCKED VMA (justified); otherwise counted.
    /// </summary>
    private void OnLruInsertion(TaskInfo task)
    {
        if (!int.TryParse(_row.FindField("lru"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int lru) || lru != LruUnevictable)
        {
            return;
        }
        Statistics.UnevictableInsertions++;
        if (_mapped.TryGetValue(Field(s_pfn), out var m) && m.Mm.VmaAt(m.Va) is { Locked: true })
        {
            if (IsReclaimer(task))
            {
                ReclaimerMlock(task, m);
                return;
            }
            MlockPage(task, m);
            return;
        }
        Statistics.UnevictableWithoutLockedVma++;
    }

    /// <summary>
    /// Reclaim's try_to_unmap_one found the page mapped in a VM_LOCKED VMA: it mlocks the page and gives up
    /// (SWAP_MLOCK / walk_abort), and the folio goes back onto the LRU, now the unevictable list
    /// (folio_putback_lru → lru_add: the insertion this task just made). The walker's VM_LOCKED test and its
    /// PG_mlocked set are emitted as try_to_unmap_one's mlock steps, so the profile decides how they are locked:
    /// under the PTE lock that saw VM_LOCKED since b87537d9e2fe, before it under an mmap_lock trylock after the PTE
    /// lock was dropped (docs/mm-model.md §2.4, R4). Migration is not this path: try_to_migrate_one moves mlocked
    /// pages, and its putback of a page it failed to move proves no VM_LOCKED test.
    /// </summary>
    private void ReclaimerMlock(TaskInfo task, Mapping m)
    {
        ulong pfn = m.Table.Leaves![m.Index] - 1;
        if (m.Table.Level != Level.Pte)
        {
            Statistics.MlockHugeSkipped++;
            return;
        }
        Coverage.Actor("R4", CoverageRules.MlockedWalker, m.Mm.Id, _row.Seq);
        _exposure.OnReclaim(m.Mm.Id, Ev(task, "try_to_unmap_one finds a page of mm" + m.Mm.Id.ToString(CultureInfo.InvariantCulture) + " in a VM_LOCKED VMA and mlocks it"));
        EmitWalkerStep(task, OpKind.TtuStart, m, pfn);
        EmitWalkerStep(task, OpKind.TtuMlockCheck, m, pfn);
        EmitWalkerStep(task, OpKind.TtuMlockSet, m, pfn);
        EmitWalkerStep(task, OpKind.TtuMlockPage, m, pfn);
        EmitWalkerStep(task, OpKind.TtuEnd, m, pfn);
        if (_mlocked.Add(pfn))
        {
            Statistics.PagesMlocked++;
        }
        Statistics.ReclaimerMlocks++;
    }

    private void EmitWalkerStep(TaskInfo task, OpKind kind, Mapping m, ulong pfn)
    {
        var op = NewOp(kind, task);
        op.Pfn = pfn;
        if (kind is OpKind.TtuStart or OpKind.TtuEnd)
        {
            // The mm's one rmap object (the VMAs the lowering creates name it, AddVma).
            op.Obj = m.Mm.Id;
        }
        else
        {
            op.Mm = m.Mm.Id;
            op.Va = m.Va;
        }
        Emit(op);
    }

    /// <summary>A task inside reclaim's try_to_unmap: kswapd, direct/memcg/node reclaim, or MADV_PAGEOUT's reclaim_pages.</summary>
    private static bool IsReclaimer(TaskInfo task) =>
        (task.Walking & (WalkContext.Reclaim | WalkContext.Pageout)) != 0
        || (task.Kernel && task.Comm.StartsWith("kswapd", StringComparison.Ordinal));

    /// <summary>mremap moves the pages of a VM_LOCKED range: the lowering does not follow VMAs across a move, so it forgets them (PG_mlocked cleared: can lose a finding, never invent one).</summary>
    private void ForgetLocked(TaskInfo task, ShadowMm mm, ulong start, ulong end)
    {
        if (!mm.Vmas.Any(v => v.Start < end && start < v.End))
        {
            return;
        }
        foreach (var m in MappedIn(mm, start, end))
        {
            if (_mlocked.Contains(m.Table.Leaves![m.Index] - 1))
            {
                ClearMlocked(task, m.Table.Leaves[m.Index] - 1);
                Statistics.MlocksForgotten++;
            }
        }
        RemoveVmas(task, mm, start, end);
    }

    /// <summary>exit_mmap: VM_LOCKED goes from every VMA, then PG_mlocked from the pages still mapped (munlock_vma_pages_all, docs/mm-model.md §2.4).</summary>
    private void MunlockAtExit(TaskInfo task, ShadowMm mm)
    {
        bool hadLocked = false;
        foreach (var v in mm.Vmas.Where(v => v.Locked))
        {
            var op = NewOp(OpKind.VmFlagsWrite, task);
            op.Mm = mm.Id;
            op.Va = v.Start;
            op.Sub = (byte)VmFlags.Locked;
            Emit(op);
            v.Locked = false;
            hadLocked = true;
        }
        foreach (ulong pfn in _mlocked.Where(p => _mapped.TryGetValue(p, out var m) && ReferenceEquals(m.Mm, mm)).Order().ToList())
        {
            ClearMlocked(task, pfn);
        }
        if (hadLocked)
        {
            Coverage.Actor("R4", CoverageRules.Munlock, mm.Id, _row.Seq);
            _exposure.OnMunlockBegin(-mm.Id, mm.Id, Ev(task, "exit_mmap begins"), keepOpen: true);
        }
        _exposure.OnMunlockEnd(-mm.Id, Ev(task, "exit_mmap"), "exit_mmap");
    }

    /// <summary>A task of an mm with VM_LOCKED VMAs exits: exit_mmap (munlock without mmap_lock in 4.3) follows.</summary>
    private void OnProcessExit(TaskInfo task)
    {
        if (!task.Kernel && _mmOfProcess.TryGetValue(ProcessKey(task.Tid), out var mm) && mm.Vmas.Any(v => v.Locked))
        {
            _exposure.OnMunlockBegin(-mm.Id, mm.Id, Ev(task, "sched_process_exit"), keepOpen: true);
        }
    }

    private sealed record MlockCall(string Name, ulong Start, ulong Len, ulong Flags);
}
