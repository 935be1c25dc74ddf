namespace Pipeline.Replay;

/// <summary>
/// I5 (R5): a table is linked from at most one slot, and a PMD/PUD-level move needs an empty destination slot.
/// move_normal_pmd checks the destination itself, WARNs and falls back to move_ptes; the checker predicts that.
/// </summary>
internal sealed class I5Structure : IChecker
{
    public string Id => "I5";

    public void OnPopulatedDestination(ReplayEngine engine, TaskState task, in Op op, Level level, Table dst, int idx, long now)
    {
        long value = dst.Entry(idx);
        var execs = new List<long> { now };
        string history = "";
        if (EntryValue.KindOf(value) == EntryKind.Table && engine.GetTable((int)EntryValue.Payload(value)) is { } linked)
        {
            if (engine.InWindow(linked.LastWriteExec) && OpSpec.IsKernelStep(engine.Record(linked.LastWriteExec).Parent))
            {
                execs.Add(linked.LastWriteExec);
                history = $" Table {linked.Id} was emptied by the per-entry move of an earlier extent but stays linked there ({linked.Present} entries left).";
            }
            if (engine.InWindow(linked.LinkExec) && OpSpec.IsKernelStep(engine.Record(linked.LinkExec).Parent))
            {
                execs.Add(linked.LinkExec);
            }
        }
        foreach (long exec in engine.SameStepExecs(op.Seq, task.Tid, 16))
        {
            var kind = engine.Record(exec).Op.Kind;
            if (kind is OpKind.VmaModify or OpKind.PteAlloc or OpKind.PteMove)
            {
                execs.Add(exec);
            }
        }
        bool once = op.Has(OpFlags.WarnOnce);
        bool alreadyWarned = engine.WarnOnceFired(once);
        string warn = once ? (alreadyWarned ? "WARN_ON_ONCE (already fired once: silent now)" : "WARN_ON_ONCE fires") : "WARN_ON fires";
        engine.AddRace(new RaceInstance("I5", op.Mm, 't', (ulong)dst.Id, now), "R5", Severity.Warning, op.NewVa, 0, execs,
            $"{OpSpec.NameOf(op.Kind)} from 0x{op.Va:x} to 0x{op.NewVa:x}: the destination {OpSpec.LevelName(level).ToUpperInvariant()} entry already holds {EntryValue.Format(value)}; "
            + $"a table-level move needs an empty destination slot (source and destination ranges overlap).{history}",
            $"move_normal_pmd: {warn} (mm/mremap.c) and returns false; move_page_tables falls back to move_ptes for this extent, so the move is correct but slower");
    }

    public void OnDoubleLink(ReplayEngine engine, TaskState task, Table child, Table parent, int idx, long now)
    {
        _ = engine.AddFinding("I5", "inconsistent", FindingClass.Inconsistent, Severity.Error, parent.Mm, 0, 0, [child.LinkExec, now],
            $"table {child.Id} is linked into table {parent.Id} entry {idx} while still linked from table {child.LinkTable} entry {child.LinkIdx}",
            "a table must be linked from at most one slot; the model now follows the new link");
    }
}
