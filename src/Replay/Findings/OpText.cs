using System.Globalization;

namespace Pipeline.Replay;

/// <summary>Renders executed ops the way the seed threads draw them (op names: docs/op-trace.md).</summary>
internal static class OpText
{
    private static string H(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Lvl(Level level) => OpSpec.LevelName(level).ToUpperInvariant();

    private static string Slot(in Op op, Level level) => op.Table != 0
        ? $"table {I(op.Table)}[{I(op.Index)}]"
        : $"{Lvl(level)} of {H(op.Va)}";

    public static string Describe(in ExecRecord rec)
    {
        var op = rec.Op;
        string text = DescribeOp(op, rec.Result, rec.Outcome);
        if (OpSpec.IsKernelStep(rec.Parent) && rec.Parent != op.Kind)
        {
            text += " [" + OpSpec.NameOf(rec.Parent) + "]";
        }
        return rec.Outcome == Outcome.Inconsistent ? text + " !! inconsistent" : text;
    }

    private static string DescribeOp(in Op op, long result, byte outcome)
    {
        string mode = op.Has(OpFlags.Write) ? "W" : "R";
        switch (op.Kind)
        {
            case OpKind.MmapLock:
                return op.Has(OpFlags.Try)
                    ? $"mmap_trylock(mm{I(op.Mm)},{mode}) {(outcome == Outcome.TryFailed ? "fails" : "ok")}"
                    : $"mmap_lock(mm{I(op.Mm)},{mode})";
            case OpKind.MmapUnlock:
                return $"mmap_unlock(mm{I(op.Mm)})";
            case OpKind.RmapLock:
                return $"rmap_lock({I(op.Obj)},{mode})";
            case OpKind.RmapUnlock:
                return $"rmap_unlock({I(op.Obj)})";
            case OpKind.PtlLock:
            case OpKind.PtlUnlock:
                {
                    string verb = op.Kind == OpKind.PtlLock ? "lock" : "unlock";
                    if (op.Table != 0)
                    {
                        return $"ptl_{verb}(table {I(op.Table)})";
                    }
                    string name = op.Level switch
                    {
                        Level.Pte => "pte",
                        Level.Pmd => "pmd",
                        _ => "pud",
                    };
                    return $"{name}_{verb}({H(op.Va)})";
                }
            case OpKind.EntryRead:
                {
                    string how = op.Has(OpFlags.Lockless) ? ", lockless" : "";
                    string text = $"entry_read({Slot(op, op.Level)}{how}) = {EntryValue.Format(result)}";
                    return outcome switch
                    {
                        Outcome.SkipNone => text + " -> skip, no PTL",
                        Outcome.NotFound => text + " -> not our page",
                        _ => text,
                    };
                }
            case OpKind.PteSet:
                return $"pte_set({Slot(op, Level.Pte)}, pfn {H(op.Pfn)})";
            case OpKind.PteClear:
                return $"pte_clear({Slot(op, Level.Pte)}) was {EntryValue.Format(result)}";
            case OpKind.PteSetSwap:
                return $"pte_set_swap({Slot(op, Level.Pte)}) was {EntryValue.Format(result)}";
            case OpKind.PmdClear:
            case OpKind.PudClear:
                return $"{OpSpec.NameOf(op.Kind)}({H(op.Va)}) was {EntryValue.Format(result)}";
            case OpKind.PmdPopulate:
            case OpKind.PudPopulate:
            case OpKind.P4dPopulate:
            case OpKind.PgdPopulate:
                return $"{OpSpec.NameOf(op.Kind)}({H(op.Va)}, table {I(op.Table)})";
            case OpKind.PmdSetHuge:
            case OpKind.PudSetHuge:
                return $"{OpSpec.NameOf(op.Kind)}({H(op.Va)}, pfn {H(op.Pfn)})";
            case OpKind.PteAlloc:
                // A move step's alloc_new_pmd / alloc_new_pud is a pte_alloc at the level of the table it allocates.
                return $"{ReplayEngine.MicroName(op)}({H(op.Va)}) -> table {I(op.Table)}";
            case OpKind.PteMove:
                return $"pte_move({H(op.Va)} -> {H(op.NewVa)}) {EntryValue.Format(result)}";
            case OpKind.PmdMove:
            case OpKind.PudMove:
                {
                    string head = $"{OpSpec.NameOf(op.Kind)}({H(op.Va)} -> {H(op.NewVa)})";
                    return outcome switch
                    {
                        Outcome.WarnFallback => $"{head}: destination is {EntryValue.Format(result)}, not none -> {(op.Has(OpFlags.WarnOnce) ? "WARN_ON_ONCE" : "WARN_ON")}, fall back to move_ptes",
                        Outcome.RecheckFallback => $"{head}: re-check under locks finds {EntryValue.Format(result)} -> no move",
                        Outcome.StaleUse => $"{head}: old PMD is now {EntryValue.Format(result)} but the decision was made before the locks -> pmd_populate(new, pmd_pgtable({EntryValue.Format(result)}))",
                        _ => $"{head} moves {EntryValue.Format(result)}",
                    };
                }
            case OpKind.Access:
            case OpKind.TlbFill:
                {
                    string name = OpSpec.NameOf(op.Kind);
                    string pfn = H((ulong)EntryValue.Payload(result));
                    return outcome switch
                    {
                        Outcome.Hit => $"{name}({H(op.Va)}): TLB hit -> pfn {pfn}",
                        Outcome.Fill => $"{name}({H(op.Va)}): walk, TLB fill -> pfn {pfn}",
                        _ => $"{name}({H(op.Va)}): no translation, fault",
                    };
                }
            case OpKind.TlbFlush:
                {
                    string range = op.Has(OpFlags.All) ? "all" : $"{H(op.Va)}+{H(op.Len == 0 ? 4096 : op.Len)}";
                    return $"tlb_flush(mm{I(op.Mm)}, {range}{(op.Has(OpFlags.NoIpi) ? ", no IPI" : "")})";
                }
            case OpKind.TlbBatchAdd:
                return $"tlb_batch_add({H(op.Va)})";
            case OpKind.TlbBatchFlush:
                return "tlb_batch_flush()";
            case OpKind.PageAlloc:
            case OpKind.PageFree:
                return $"{OpSpec.NameOf(op.Kind)}(pfn {H(op.Pfn)})";
            case OpKind.RefGet:
            case OpKind.RefPut:
                return $"{OpSpec.NameOf(op.Kind)}(pfn {H(op.Pfn)})";
            case OpKind.RefTryGet:
                return $"ref_try_get(pfn {H(op.Pfn)}){(outcome == Outcome.TryGetFailed ? " fails" : "")}";
            case OpKind.MapInc:
            case OpKind.MapDec:
                {
                    long after = op.Kind == OpKind.MapInc ? result + 1 : result - 1;
                    return $"{OpSpec.NameOf(op.Kind)}(pfn {H(op.Pfn)}) -> {I(after)}";
                }
            case OpKind.MapcountRead:
                return $"mapcount_read(pfn {H(op.Pfn)}) = {I(result)}{(op.Has(OpFlags.Assert) ? ", asserted" : "")}";
            case OpKind.FlagSet:
            case OpKind.FlagClear:
            case OpKind.FlagRead:
                return $"{OpSpec.NameOf(op.Kind)}(pfn {H(op.Pfn)}, {OpSpec.FlagName((PageFlag)op.Sub)}) was {I(result)}";
            case OpKind.VmFlagsRead:
                return $"vm_flags_read({H(op.Va)}) = {OpSpec.VmFlagsName((VmFlags)result)}";
            case OpKind.VmFlagsWrite:
                return $"vm_flags_write({H(op.Va)}, {(op.Has(OpFlags.Write) ? "set" : "clear")} {OpSpec.VmFlagsName((VmFlags)op.Sub)})";
            case OpKind.VmaModify:
                return $"vma_modify([{H(op.Va)},..) -> [{H(op.NewVa)},{H(op.NewVa + op.Len)}))";
            case OpKind.IpiSync:
                return $"ipi_sync({OpSpec.FuncName(op.Sub)})";
            case OpKind.TableDeposit:
                return $"table_deposit(table {I(op.Table)} under PMD of {H(op.Va)})";
            case OpKind.TableFree:
                return $"table_free(table {I(op.Table)}{((FreeMode)op.Sub == FreeMode.Rcu ? ", rcu" : "")})";
            case OpKind.TableAlloc:
                return $"table_alloc(table {I(op.Table)}, {Lvl(op.Level)})";
            case OpKind.RmapWalkBegin:
            case OpKind.RmapWalkEnd:
                return $"{OpSpec.NameOf(op.Kind)}(pfn {H(op.Pfn)})";
            case OpKind.IrqDisable:
            case OpKind.IrqEnable:
            case OpKind.RcuLock:
            case OpKind.RcuUnlock:
            case OpKind.RcuGpEnd:
                return OpSpec.NameOf(op.Kind) + "()";
            default:
                return OpSpec.NameOf(op.Kind) + ":" + OpTraceWriter.FormatFields(op);
        }
    }
}
