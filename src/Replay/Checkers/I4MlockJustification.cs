namespace Pipeline.Replay;

/// <summary>
/// I4 (R4): Mlocked may be set only inside a PTL section that observes (or installs) a mapping of the page in a
/// VM_LOCKED VMA, or as a transfer from an Mlocked migration source. Outcome checks: no free while Mlocked, and
/// at quiescence no Mlocked page without a VM_LOCKED mapping.
/// </summary>
internal static class I4MlockJustification
{
    public static void OnSetMlocked(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (op.Has(OpFlags.Transfer))
        {
            return;
        }
        string? why = Unjustified(engine, task, op);
        if (why is null)
        {
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

    private static string? Unjustified(ReplayEngine engine, TaskState task, in Op op)
    {
        var mm = engine.GetMm(op.Mm);
        if (mm is null)
        {
            return "without naming the mapping that justifies it";
        }
        if (!engine.TryWalk(mm, op.Va, Level.Pte, out var table, out int idx))
        {
            return $"while mm{op.Mm} has no PTE table for 0x{op.Va:x}";
        }
        var lk = engine.TableLock(table);
        if (lk is null || lk.Writer != task.Tid)
        {
            long e = table.Entries[idx];
            string state = e == EntryValue.Leaf(op.Pfn) ? "still mapped" : $"no longer mapped there (entry {EntryValue.Format(e)})";
            return $"without holding the PTE lock of 0x{op.Va:x} (mmap_sem trylock instead); the page is {state}";
        }
        long entry = table.Entries[idx];
        if (entry != EntryValue.Leaf(op.Pfn) && entry != EntryValue.None)
        {
            return $"under the PTE lock, but 0x{op.Va:x} maps {EntryValue.Format(entry)}, not this page";
        }
        var vma = mm.FindVma(op.Va);
        if (vma is null || (vma.Flags & VmFlags.Locked) == 0)
        {
            return $"under the PTE lock, but the VMA of 0x{op.Va:x} is not VM_LOCKED";
        }
        return null;
    }

    public static void OnPageFree(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (!page.Mlocked)
        {
            return;
        }
        const string BadPage = "free_pages_check: \"Bad page state (mlocked)\"";
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

    public static void AtQuiescence(ReplayEngine engine)
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
                        long e = table.Entries[i];
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
