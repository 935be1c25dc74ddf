namespace Pipeline.Replay;

/// <summary>
/// I6 (R6, docs/mm-model.md §2.6): a value read before acquiring lock L and used under L must be re-read (and re-validated)
/// under L if a writer serialised only by L could have changed it. move_page_tables classified the old PMD as
/// a table before take_rmap_locks; retract_page_tables cleared it in between.
/// </summary>
internal sealed class I6DecisionFreshness : IChecker
{
    public string Id => "I6";

    public void OnStaleDecision(ReplayEngine engine, TaskState task, in Op op, Table src, int idx, long decided, long current, long now)
    {
        var execs = new List<long> { task.RegReadExec, src.LastWriteExec, now };
        foreach (var held in task.Held)
        {
            execs.Add(held.Exec);
            if (held.Lock.ReleaseExec > task.RegReadExec && held.Lock.ReleaseExec < held.Exec)
            {
                // The release that let this task in: the interfering writer's section ended here.
                execs.Add(held.Lock.ReleaseExec);
            }
        }
        string writer = "another task";
        if (engine.InWindow(src.LastWriteExec))
        {
            var w = engine.GetTask(engine.Record(src.LastWriteExec).Op.Tid);
            writer = $"{w.Comm}-{w.Tid}";
        }
        if (EntryValue.KindOf(decided) == EntryKind.Table && engine.GetTable((int)EntryValue.Payload(decided)) is { } table)
        {
            execs.Add(table.FreeExec);
            execs.Add(engine.RcuQueuedExec(table.Id));
        }
        string garbage = EntryValue.KindOf(current) == EntryKind.None
            ? "pmd_pgtable(none) (physical page 0)"
            : $"pmd_pgtable({EntryValue.Format(current)})";
        engine.AddRace(new RaceInstance("I6", op.Mm, 't', (ulong)src.Id, now), "R6", Severity.Critical, op.Va, 0, execs,
            $"move_page_tables classified the PMD of 0x{op.Va:x} as {EntryValue.Format(decided)} before taking the rmap and PMD locks; "
            + $"{writer} changed it to {EntryValue.Format(current)} (retract_page_tables) before the locks were taken, and move_normal_pmd "
            + "re-reads *old_pmd under the locks without re-checking pmd_present/!pmd_leaf.",
            $"pmd_populate(new, {garbage}) maps a non-table page as the page table of 0x{op.NewVa:x}: page-table corruption");
    }
}
