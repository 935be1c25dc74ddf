namespace Pipeline.Replay.Coverage;

/// <summary>
/// Counts the race actors of an op trace (synthetic scenarios, random workloads, emitted schedules) from its ops: every
/// op is visible, so the verdict only says whether the actors are there and meet on one mm (docs/coverage.md).
/// </summary>
public sealed class OpCoverage
{
    private readonly CoverageTracker _tracker = new();
    private readonly Dictionary<int, int> _loadedMm = [];
    private readonly Dictionary<int, bool> _ttuAsserts = [];
    private readonly HashSet<int> _lockedMms = [];

    /// <summary>Observes one op (in trace order).</summary>
    public void Observe(in Op op)
    {
        switch (op.Kind)
        {
            case OpKind.CtxSwitch:
                _loadedMm[op.Cpu] = op.Mm;
                break;
            case OpKind.MremapMovePmd:
            case OpKind.MremapMovePud:
            case OpKind.PmdMove:
            case OpKind.PudMove:
                _tracker.Actor("R1", CoverageRules.PmdMover, op.Mm, op.Seq);
                _tracker.Actor("R6", CoverageRules.PmdMover, op.Mm, op.Seq);
                break;
            case OpKind.TtuStart:
                _ttuAsserts[op.Tid] = op.Has(OpFlags.Assert);
                break;
            case OpKind.TtuWalk:
                _tracker.Actor("R1", CoverageRules.RmapWalker, op.Mm, op.Seq);
                if (_ttuAsserts.TryGetValue(op.Tid, out bool asserts) && asserts)
                {
                    // split_huge_page's unmap_folio: its result is checked (VM_BUG_ON / WARN), the R3 walker.
                    _tracker.Actor("R3", CoverageRules.CheckedUnmap, op.Mm, op.Seq);
                }
                break;
            case OpKind.TtuMlockCheck:
            case OpKind.TtuMlockSet:
                _tracker.Actor("R4", CoverageRules.MlockedWalker, op.Mm, op.Seq);
                break;
            case OpKind.VmaCreate:
                if (((VmFlags)op.Sub & VmFlags.Locked) != 0)
                {
                    _lockedMms.Add(op.Mm);
                }
                break;
            case OpKind.VmFlagsWrite:
                if (((VmFlags)op.Sub & VmFlags.Locked) != 0)
                {
                    if (op.Has(OpFlags.Write))
                    {
                        _lockedMms.Add(op.Mm);
                    }
                    else
                    {
                        _tracker.Actor("R4", CoverageRules.Munlock, op.Mm, op.Seq);
                    }
                }
                break;
            case OpKind.ZapClear:
                _tracker.Actor("R3", CoverageRules.Zap, op.Mm, op.Seq);
                if (_lockedMms.Contains(op.Mm))
                {
                    // Truncation (unmap_mapping_range → zap_pte_range) of pages in a VM_LOCKED VMA: the R4 variant.
                    _tracker.Actor("R4", CoverageRules.Munlock, op.Mm, op.Seq);
                }
                break;
            case OpKind.MmDestroy:
                if (_lockedMms.Remove(op.Mm))
                {
                    _tracker.Actor("R4", CoverageRules.Munlock, op.Mm, op.Seq);
                }
                break;
            case OpKind.CollapseFlush:
                _tracker.Actor("R2", CoverageRules.Collapse, op.Mm, op.Seq);
                break;
            case OpKind.EntryRead when op.Has(OpFlags.Lockless):
                _tracker.Actor("R2", CoverageRules.LocklessWalker, op.Mm != 0 ? op.Mm : _loadedMm.GetValueOrDefault(op.Cpu), op.Seq);
                break;
            case OpKind.ExecShiftStack:
                _tracker.Actor("R5", CoverageRules.StackShift, op.Mm, op.Seq);
                break;
            case OpKind.RetractStart:
                _tracker.Actor("R6", CoverageRules.Retract, op.Mm, op.Seq);
                break;
        }
    }

    /// <summary>The verdict per race.</summary>
    public IReadOnlyList<RaceCoverage> Build() => _tracker.Build(null);
}
