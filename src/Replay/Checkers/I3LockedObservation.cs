namespace Pipeline.Replay;

/// <summary>
/// I3 (R3): a decision that asserts or acts irrevocably may not combine a lockless read of slot s with a counter
/// that an open writer section on ptl(s) has yet to update. Callers that tolerate it (reclaim's folio_mapped
/// check) read the mapcount without <c>assert</c> and are exempt. The checker judges what the walker saw: the
/// entry it read locklessly no longer mapped the page (so it skipped without the PTL), the writer that cleared
/// this page's entry still holds that PTL, and the mapcount the assertion reads is not 0. If page_remove_rmap
/// already ran, <c>!page_mapcount</c> holds and the assertion cannot fire, whatever the op pattern.
/// </summary>
internal sealed class I3LockedObservation : IChecker
{
    public string Id => "I3";

    public void OnLocklessRead(ReplayEngine engine, TaskState task, in Op op, Table table, int idx, long value, long now)
    {
        if (table.State is TableState.Freed or TableState.Deposited)
        {
            return;
        }
        var lk = engine.TableLock(table);
        if (lk is null || lk.Writer == 0 || lk.Writer == task.Tid || table.SectionSerial != lk.Serial
            || (table.SectionWrites[idx >> 6] & (1UL << (idx & 63))) == 0)
        {
            return;
        }
        task.ObsTable = table.Id;
        task.ObsIdx = idx;
        task.ObsValue = value;
        task.ObsSerial = lk.Serial;
        task.ObsWriter = lk.Writer;
        task.ObsReadExec = now;
        task.ObsWriteExec = table.SectionWriteExec;
        task.ObsLockExec = lk.AcquireExec;
    }

    public void OnAssertedMapcount(ReplayEngine engine, TaskState task, in Op op, PageState page, long now)
    {
        if (task.ObsReadExec < 0)
        {
            return;
        }
        var table = engine.GetTable(task.ObsTable);
        var lk = table is null ? null : engine.TableLock(table);
        long read = task.ObsReadExec;
        task.ObsReadExec = -1;
        if (lk is null || lk.Writer != task.ObsWriter || lk.Serial != task.ObsSerial)
        {
            return;
        }
        // The walker found the page at that slot: it took the PTL and unmapped it itself, no false result.
        if (EntryValue.KindOf(task.ObsValue) == EntryKind.Leaf && (ulong)EntryValue.Payload(task.ObsValue) == op.Pfn)
        {
            return;
        }
        // The open section must be the one that removed this page's mapping (the page's last unmap, or, when the
        // walker has since unmapped another mapping of the page itself, the leaf the section cleared at the slot
        // the walker read), and the count it has yet to update must still be visible: with the mapcount already 0
        // the assertion holds.
        bool sectionUnmapped = page.LastUnmapTid == task.ObsWriter && page.LastUnmapExec >= lk.AcquireExec
            || table!.SectionSerial == lk.Serial && table.SectionCleared is { } cleared
                && cleared.TryGetValue(task.ObsIdx, out ulong pfn) && pfn == op.Pfn;
        if (page.MapCount == 0 || !sectionUnmapped)
        {
            return;
        }
        var writer = engine.GetTask(task.ObsWriter);
        engine.AddRace(new RaceInstance("I3", table!.Mm, 'p', op.Pfn, read), "R3", Severity.Error, op.Va, op.Pfn,
            [task.ObsLockExec, task.ObsWriteExec, read, now],
            $"{task.Comm}-{task.Tid} saw the entry of pfn 0x{op.Pfn:x} in table {table.Id} already cleared without taking its lock, "
            + $"while {writer.Comm}-{writer.Tid} held that lock and had not yet decremented the mapcount; the asserted mapcount_read "
            + $"returns {page.MapCount} although the page is about to be unmapped.",
            $"try_to_unmap reports failure: VM_BUG_ON_PAGE(!unmap_success) fires (mapcount {page.MapCount}, becoming 0 once {writer.Comm}-{writer.Tid} unlocks)");
    }
}
