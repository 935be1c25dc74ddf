namespace Pipeline.Replay;

/// <summary>
/// I2 (R2): a table unlinked at time u may be freed or reused only after every CPU that was inside an IRQ-off
/// (GUP-fast) or RCU section at u has left it: an IRQ-off section directly or because an IPI it had to take
/// (ipi_sync, a shootdown IPI) or an RCU grace period came after u; an RCU read-side section that is not IRQ-off
/// only directly or by a grace period (an IPI interrupts it without ending it). Only a section that read a link to
/// the table (a lockless read returning tbl:T) before the unlink can walk it. Also reported: a lockless read of a
/// freed or reused table.
/// </summary>
internal sealed class I2LocklessWalkGrace : IChecker
{
    public string Id => "I2";

    public void OnTableFree(ReplayEngine engine, TaskState task, in Op op, Table table, long now) =>
        OnTableReuse(engine, op, table, now, "freed");

    public void OnTableDeposit(ReplayEngine engine, TaskState task, in Op op, Table table, long now) =>
        OnTableReuse(engine, op, table, now, "deposited (reused to store the huge PMD's pgtable)");

    public void OnLocklessRead(ReplayEngine engine, TaskState task, in Op op, Table table, int idx, long value, long now)
    {
        if (table.State is TableState.Freed or TableState.Deposited)
        {
            OnLocklessReadOfReusedTable(engine, op, table, now);
        }
    }

    private static void OnTableReuse(ReplayEngine engine, in Op op, Table table, long now, string what)
    {
        long unlinked = table.UnlinkExec;
        if (unlinked < 0)
        {
            return;
        }
        // One race instance per unlink of the table: a deposit and a later free of the same unlinked table, or
        // several CPUs still inside their sections, are one finding.
        var instance = new RaceInstance("I2", table.Mm, 't', (ulong)table.Id, unlinked);
        foreach (var cpu in engine.Cpus)
        {
            if (cpu.Id == op.Cpu)
            {
                continue;
            }
            // An IPI (ipi_sync, a shootdown the CPU had to take) syncs only with an IRQ-off section: the CPU
            // handled it, so a section with IRQs off since before the unlink cannot be open. An RCU reader
            // that is not IRQ-off (pte_offset_map since v6.5, pte_free_defer) takes IPIs inside its section;
            // only a grace period after the unlink (rcu_gp_end waits for it) ends it.
            bool irqOff = cpu.IrqDepth > 0 && cpu.IrqStartExec < unlinked && cpu.LastSyncExec < unlinked;
            bool rcu = cpu.RcuDepth > 0 && cpu.RcuStartExec < unlinked;
            // The walker reaches the table only through a link to it that it read in this section before the
            // unlink: read afterwards, the slot holds none or the huge PMD (GUP-fast backs off or takes the leaf),
            // and a section that never read a link to this table (another mm, another PMD) cannot walk it at all.
            if (!irqOff && !rcu || !cpu.SectionReached.TryGetValue(table.Id, out long reached) || reached > unlinked)
            {
                continue;
            }
            long section = irqOff && rcu ? Math.Min(cpu.IrqStartExec, cpu.RcuStartExec) : irqOff ? cpu.IrqStartExec : cpu.RcuStartExec;
            var execs = new List<long> { section, unlinked, now };
            foreach (var other in engine.Tasks)
            {
                long read = other.LastLocklessReadExec;
                if (read > section && engine.InWindow(read) && engine.Record(read).Op.Cpu == cpu.Id)
                {
                    execs.Add(read);
                }
            }
            var mm = engine.GetMm(table.Mm);
            if (mm is not null)
            {
                execs.AddRange(engine.FlushesAfter(mm, unlinked));
            }
            string kind = irqOff ? "IRQ-off (GUP-fast)" : "RCU read-side";
            int known = engine.FindingOf(instance);
            if (known >= 0)
            {
                engine.AmendFinding(known, [now], $"{engine.FindingOutcome(known)}; table {table.Id} is then {what} while CPU{cpu.Id} is still inside its {kind} section");
                continue;
            }
            engine.AddRace(instance, "R2", Severity.Critical, op.Va, 0, execs,
                $"table {table.Id} is {what} while CPU{cpu.Id} is still inside the {kind} section it entered before the table was unlinked; "
                + (irqOff
                    ? $"no IPI and no RCU grace period reached CPU{cpu.Id} after the unlink, so its lockless walk may still read table {table.Id}."
                    : $"no RCU grace period ended after the unlink (an IPI does not end an RCU read-side section), so its lockless walk may still read table {table.Id}."),
                $"CPU{cpu.Id}'s lockless walker reads entries of table {table.Id} after it was {what.Split(' ')[0]}: garbage PTEs, a reference on an unrelated page");
        }
    }

    private static void OnLocklessReadOfReusedTable(ReplayEngine engine, in Op op, Table table, long now)
    {
        var cpu = engine.GetCpu(op.Cpu);
        string state = table.State == TableState.Freed ? "freed" : "deposited (reused)";
        var instance = new RaceInstance("I2", table.Mm, 't', (ulong)table.Id, table.UnlinkExec);
        int known = engine.FindingOf(instance);
        if (known >= 0)
        {
            // The outcome of the reported free or reuse: the walker does read the table.
            engine.AmendFinding(known, [now], $"CPU{op.Cpu}'s lockless walker reads entry {op.Index} of table {table.Id} after it was {state}: it acts on whatever the table now holds");
            return;
        }
        engine.AddRace(instance, "R2", Severity.Critical, op.Va, 0,
            [cpu.SectionStart, table.UnlinkExec, table.FreeExec, now],
            $"CPU{op.Cpu} reads entry {op.Index} of table {table.Id} locklessly after the table was {state}",
            "the walker acts on whatever the table now holds");
    }
}
