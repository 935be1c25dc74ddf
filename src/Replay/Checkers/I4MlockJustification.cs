namespace Pipeline.Replay;

/// <summary>
/// I4 (R4): when Mlocked is set, the page must be mapped at the named address in a VM_LOCKED VMA (or, under
/// that PTE's lock, about to be installed there by a fault), unless it is a transfer from an Mlocked migration
/// source. The fixed kernel guarantees this by setting it in the PTL section that saw the mapping; the 4.3
/// trylock path usually still meets it, and breaks it only when zap or munlock changed the state in between.
/// The outcome (a free while Mlocked, or an Mlocked page without a VM_LOCKED mapping at quiescence) is added
/// to the finding of the racy set; without one, it is reported on its own.
/// </summary>
internal sealed class I4MlockJustification : IChecker
{
    public string Id => "I4";

    public void OnSetMlocked(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (op.Has(OpFlags.Transfer))
        {
            return;
        }
        string? why = Unjustified(engine, task, op, out bool badInput);
        if (why is null)
        {
            return;
        }
        if (badInput)
        {
            // The op names no mapping the model knows: an inconsistency of the input, not a race.
            engine.Inconsistent(op, $"flag_set(mlocked) of pfn 0x{op.Pfn:x} {why}", [now]);
            return;
        }
        var mm = engine.GetMm(op.Mm);
        var vma = mm?.FindVma(op.Va);
        page.MlockFinding = engine.AddRace(new RaceInstance("I4", op.Mm, 'p', op.Pfn, now), "R4", Severity.Error, op.Va, op.Pfn,
            [task.RegCheckExec, task.VmFlagsReadExec, page.LastUnmapExec, page.LastMapDecExec, vma?.FlagsWriteExec ?? -1, page.MlockClearExec, now],
            $"{task.Comm}-{task.Tid} sets PG_mlocked on pfn 0x{op.Pfn:x} {why}",
            page.MapCount == 0
                ? $"pfn 0x{op.Pfn:x} is Mlocked with no mapping left: freeing it reports \"Bad page state (mlocked)\""
                : $"pfn 0x{op.Pfn:x} stays Mlocked and unevictable although no VM_LOCKED VMA maps it");
    }

    private static string? Unjustified(ReplayEngine engine, TaskState task, in Op op, out bool badInput)
    {
        badInput = true;
        var mm = engine.GetMm(op.Mm);
        if (mm is null)
        {
            return op.Mm == 0 ? "names no mapping (mm va) that could justify it" : $"names mm{op.Mm}, which no mm_create introduced";
        }
        if (!engine.TryWalk(mm, op.Va, Level.Pte, out var table, out int idx))
        {
            return $"names 0x{op.Va:x} in mm{op.Mm}, which has no PTE table there";
        }
        badInput = false;
        // The state at the set decides, not the locking pattern: before b87537d9e2fe mlock_vma_page ran under
        // the mmap_sem trylock without the PTL, which is correct whenever the page is still mapped in a
        // VM_LOCKED VMA at that moment; the race is a set after zap or munlock changed that state.
        var lk = engine.TableLock(table);
        bool underPtl = lk is not null && lk.Writer == task.Tid;
        string how = underPtl ? "under the PTE lock" : "without the PTE lock (under the mmap_sem trylock)";
        long entry = table.Entry(idx);
        // A fault sets Mlocked under the PTL just before it installs the PTE (entry still none).
        if (entry != EntryValue.Leaf(op.Pfn) && !(underPtl && entry == EntryValue.None))
        {
            return $"{how}, but 0x{op.Va:x} no longer maps the page (entry {EntryValue.Format(entry)})";
        }
        var vma = mm.FindVma(op.Va);
        if (vma is null || (vma.Flags & VmFlags.Locked) == 0)
        {
            return $"{how}, but the VMA of 0x{op.Va:x} is no longer VM_LOCKED";
        }
        return null;
    }

    public void OnPageFree(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (!page.Mlocked)
        {
            return;
        }
        const string BadPage = "free_pages_check: \"Bad page state (mlocked)\"";
        if (page.MlockFinding == ReplayEngine.PriorFinding)
        {
            // The outcome of a racy set reported before this engine was forked: the prefix's finding, not new.
            return;
        }
        if (page.MlockFinding >= 0)
        {
            // The outcome of the racy set already reported: one race instance, one finding.
            engine.AmendFinding(page.MlockFinding, [page.LastUnmapExec, now], $"pfn 0x{op.Pfn:x} is freed with PG_mlocked set: {BadPage}");
            return;
        }
        engine.AddRace(new RaceInstance("I4", op.Mm, 'p', op.Pfn, now), "R4", Severity.Error, op.Va, op.Pfn,
            [page.MlockSetExec, page.LastUnmapExec, now],
            $"pfn 0x{op.Pfn:x} is freed with PG_mlocked set",
            BadPage);
    }

    public void AtQuiescence(ReplayEngine engine)
    {
        if (engine.MlockedPages <= 0)
        {
            return;
        }
        var lockedMapped = new HashSet<ulong>();
        foreach (var mm in engine.Mms)
        {
            foreach (var vma in mm.Vmas)
            {
                if ((vma.Flags & VmFlags.Locked) == 0)
                {
                    continue;
                }
                for (ulong chunk = vma.Start & ~((1UL << 21) - 1); chunk < vma.End; chunk += 1UL << 21)
                {
                    if (!engine.TryWalk(mm, chunk, Level.Pte, out var table, out _))
                    {
                        continue;
                    }
                    for (int i = 0; i < 512; i++)
                    {
                        ulong va = chunk + ((ulong)i << 12);
                        long e = table.Entry(i);
                        if (va >= vma.Start && va < vma.End && EntryValue.KindOf(e) == EntryKind.Leaf)
                        {
                            lockedMapped.Add((ulong)EntryValue.Payload(e));
                        }
                    }
                }
            }
        }
        foreach (var (pfn, page) in engine.Pages.OrderBy(p => p.Key))
        {
            if (page.Allocated && page.Mlocked && !lockedMapped.Contains(pfn))
            {
                string stays = $"pfn 0x{pfn:x} stays on the unevictable list: memory that can never be reclaimed";
                if (page.MlockFinding == ReplayEngine.PriorFinding)
                {
                    continue;
                }
                if (page.MlockFinding >= 0)
                {
                    engine.AmendFinding(page.MlockFinding, [], $"at the end of the trace pfn 0x{pfn:x} is still Mlocked with no VM_LOCKED mapper: {stays}");
                    continue;
                }
                engine.AddRace(new RaceInstance("I4", 0, 'p', pfn, page.MlockSetExec), "R4", Severity.Error, 0, pfn,
                    [page.MlockSetExec, page.MlockClearExec],
                    $"at the end of the trace pfn 0x{pfn:x} is Mlocked but no VM_LOCKED VMA maps it",
                    stays);
            }
        }
    }
}
