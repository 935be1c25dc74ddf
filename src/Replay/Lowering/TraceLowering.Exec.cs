using System.Globalization;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Exposure;
using Pipeline.Replay.Real;
using Pipeline.Replay.Runner;
using Pipeline.Storage;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// execve (docs/mm-model.md §2.5, §5.1): the process gets a new mm, and setup_arg_pages → relocate_vma_down moved the
/// argument pages of the temporary stack [STACK_TOP_MAX − len, STACK_TOP_MAX) down by the random stack shift.
/// The trace shows neither range; the lowering places them only when the trace decides it (docs/lowering.md):
/// the stack pages are the execing task's zeroed user-page allocations without a fault event before
/// sched_process_exec (GUP in copy_strings, then create_elf_tables' kernel-mode faults), top down, and the
/// lowest of them sits right above the first user fault of the new image in the stack area.
/// </summary>
public sealed partial class TraceLowering
{
    /// <summary>x86-64 with 4-level paging: TASK_SIZE_MAX, where __bprm_mm_init puts the temporary stack's end.</summary>
    private const ulong StackTopMax = 0x7FFF_FFFF_F000UL;
    /// <summary>x86-64 STACK_RND_MASK (0x3fffff pages): the largest random stack shift.</summary>
    private const ulong MaxStackShift = 0x3F_FFFFUL << 12;
    private const int MaxArgPages = 8192;

    private void OnExecEnter(TaskInfo task)
    {
        if (task.Kernel)
        {
            return;
        }
        EndExec(task, undecided: task.Exec is { StackPending: true });
        task.Exec = new ExecState(Ev(task, "sys_enter_execve"))
        {
            PreExecMm = _mmOfProcess.TryGetValue(ProcessKey(task.Tid), out var cur) ? cur : null,
        };
    }

    /// <summary>A failed execve changes nothing (the bprm mm it made is dropped before the point of no return).</summary>
    private void OnExecExit(TaskInfo task)
    {
        long ret = _row.IsSet(s_ret) ? _row.GetInt64(s_ret) : 0;
        if (task.Exec is { } exec && !exec.Switched && ret < 0)
        {
            task.Exec = null;
            return;
        }
        if (task.Exec is { Switched: false })
        {
            // sched_process_exec was not traced (lost or disabled): the exit says the exec succeeded.
            OnExecDone(task);
        }
    }

    /// <summary>sched_process_exec: the process runs its new mm; the stack shift waits for the first stack fault.</summary>
    private void OnExecDone(TaskInfo task)
    {
        if (task.Kernel)
        {
            return;
        }
        Statistics.Execs++;
        var exec = task.Exec;
        if (exec is null || exec.Switched)
        {
            // No traced execve entry: the argument pages are unknown.
            EndExec(task, undecided: exec?.StackPending == true);
            ExecUndecided("exec without a traced sys_enter_execve: the argument pages are unknown");
            // Without the entry the lowering cannot tell whether its current mm for the process is the old one or
            // already the new one (the old mm's exit_mmap was traced and the new mm was bound since): the latest lock
            // decides below, and only a current mm that is not the one locked last is taken for the old one.
            var current = _mmOfProcess.TryGetValue(ProcessKey(task.Tid), out var cur) ? cur : null;
            exec = new ExecState(Ev(task, "sched_process_exec"))
            {
                PreExecMm = ReferenceEquals(current, task.LastLockedMm) ? null : current,
                StackPending = false,
            };
        }
        int key = ProcessKey(task.Tid);
        if (exec.ExecMm is null && task.LastLockedMm is { } last && !ReferenceEquals(last, exec.PreExecMm) && (last.Owner == 0 || last.Owner == key)
            && _mmOfPointer.TryGetValue(last.Pointer, out var live) && ReferenceEquals(live, last))
        {
            // sched_process_exec fires after exec_mmap switched the task to the new mm and load_elf_binary mapped the
            // image under its mmap_lock (setup_arg_pages, elf_map, set_brk): the task's latest lock names the new mm.
            exec.ExecMm = last;
            last.Owner = key;
        }
        if (exec.ExecMm is { } fresh)
        {
            _mmOfProcess[key] = fresh;
        }
        else if (_mmOfProcess.TryGetValue(key, out var current) && ReferenceEquals(current, exec.PreExecMm))
        {
            // The old mm's exit_mmap was not traced: the next use creates the new mm.
            _mmOfProcess.Remove(key);
        }
        exec.Switched = true;
        task.Exec = exec.StackPending ? exec : null;
    }

    private void EndExec(TaskInfo task, bool undecided)
    {
        if (undecided)
        {
            ExecUndecided("exec whose new image never faulted in the stack area before its next exec, its exit or the end of the trace");
        }
        task.Exec = null;
    }

    private void ExecUndecided(string reason)
    {
        Statistics.ExecStacksUndecided++;
        Coverage.Gap("R5", reason, _row.Seq);
    }

    /// <summary>During execve the first mm pointer not yet bound is the bprm mm (bprm_mm_init takes its mmap_lock first).</summary>
    private ShadowMm? ExecMmFor(TaskInfo task)
    {
        if (task.Exec is not { Switched: false, ExecMm: null, OldGone: false } exec)
        {
            return null;
        }
        exec.ExecMm = CreateMm(ProcessKey(task.Tid), task);
        return exec.ExecMm;
    }

    /// <summary>
    /// A zeroed user page the execing task allocates without a fault event before sched_process_exec: an argument
    /// page (GUP in copy_strings) or a page of the auxv/argv block below them (create_elf_tables, a kernel-mode
    /// fault, not traced). Both are stack pages, contiguous from the top down, so only their number matters.
    /// After sched_process_exec the new image's own faults allocate, and a faultless allocation is as likely a
    /// fault whose page the lowering did not pair: those are not counted (docs/lowering.md: the residual risk).
    /// </summary>
    private void NoteExecAlloc(TaskInfo task, ulong pfn, long order, GfpFlags gfp)
    {
        if (task.Exec is not { StackPending: true } exec || task.PendingFault is not null || order != 0 || !gfp.HighUser || !gfp.Zero)
        {
            return;
        }
        if (exec.Switched)
        {
            return;
        }
        if (exec.ArgPfns.Count >= MaxArgPages)
        {
            exec.Tainted = true;
            return;
        }
        exec.ArgPfns.Add(pfn);
    }

    /// <summary>exit_mmap of the mm the execing task leaves: faults from now on are the new image's.</summary>
    private void NoteExecExitMmap(TaskInfo task, ShadowMm destroyed)
    {
        if (task.Exec is not { Switched: false } exec)
        {
            return;
        }
        if (ReferenceEquals(destroyed, exec.ExecMm))
        {
            // The pointer bound during exec was the old mm's after all.
            exec.ExecMm = null;
            return;
        }
        exec.OldGone = true;
        if (exec.ExecMm is { } fresh && destroyed.Owner != 0)
        {
            _mmOfProcess[destroyed.Owner] = fresh;
        }
    }

    /// <summary>The first fault of the new image in the stack area decides (or not) where the stack went, before the fault itself is lowered.</summary>
    private void OnExecFault(TaskInfo task, ulong address)
    {
        if (task.Exec is not { StackPending: true } exec || !(exec.OldGone || exec.Switched) || address >= StackTopMax
            || address < StackTopMax - MaxStackShift - ((ulong)exec.ArgPfns.Count << 12) - 0x2000)
        {
            return;
        }
        exec.StackPending = false;
        if (exec.Switched)
        {
            task.Exec = null;
        }
        if (LowerStackShift(task, exec, address & ~4095UL, out string? why))
        {
            Coverage.Actor("R5", CoverageRules.StackShift, MmOfTask(task)?.Id ?? 0, _row.Seq);
        }
        else
        {
            ExecUndecided(why ?? "exec stack placement not decided");
        }
    }

    private bool LowerStackShift(TaskInfo task, ExecState exec, ulong faultPage, out string? why)
    {
        why = null;
        var mm = MmOfTask(task);
        int n = exec.ArgPfns.Count;
        if (mm is null || ReferenceEquals(mm, exec.PreExecMm) || n == 0 || exec.Tainted)
        {
            why = n == 0 ? "exec with no traced stack page (argument pages allocated between sys_enter_execve and sched_process_exec)"
                : exec.Tainted ? "exec whose stack pages were faulted or freed before the shift"
                : "exec whose old mm is still the process' mapping (its exit_mmap and the new mm were not traced)";
            return false;
        }
        ulong len = (ulong)n << 12;
        ulong oldStart = StackTopMax - len;
        // The auxv/argv block right below the arguments needs one page, or two when it is large: both must agree.
        ulong top1 = faultPage + 0x1000 + len;
        ulong top2 = top1 + 0x1000;
        if (top2 >= StackTopMax)
        {
            why = "exec whose first stack-area fault lies above the argument pages";
            return false;
        }
        var p1 = PredictStack(oldStart, len, StackTopMax - top1);
        var p2 = PredictStack(oldStart, len, StackTopMax - top2);
        if (!_profile.Has(KernelFix.RealignPmd) && p1.Extents.FirstOrDefault(PopulatedDestination) is { } hit)
        {
            // Reported on the likelier placement (the auxv/argv block fits in one page) even when the ops stay undecided.
            ulong s1 = StackTopMax - top1;
            _exposure.OnExecStackOverlap(mm.Id, exec.Enter, Ev(task, "first stack fault of the new image"),
                string.Create(CultureInfo.InvariantCulture,
                    $"exec by {task.Comm}-{task.Tid} shifted its stack [0x{oldStart:x},0x{StackTopMax:x}) down by 0x{s1:x} (overlapping: {s1 < len}); the PMD move of 0x{hit.OldStart:x} finds its destination 0x{hit.NewStart:x} populated (placement assumes the auxv/argv block below the arguments fits in one page)"));
        }
        if (!SameShape(p1, p2, len, StackTopMax - top1, StackTopMax - top2))
        {
            why = "exec whose stack move changes shape one page higher (overlap or PMD alignment depends on the exact placement)";
            return false;
        }
        ulong shift = StackTopMax - top1;
        ulong newStart = oldStart - shift;
        ulong lowRegion = newStart & ~(PmdSize - 1);
        if (mm.Vmas.Any(v => v.Start < StackTopMax && newStart < v.End) || AnyPopulated(mm, lowRegion, StackTopMax)
            || exec.ArgPfns.Any(p => _mapped.ContainsKey(p) || _pages[p] != PfnState.Allocated) || exec.ArgPfns.Distinct().Count() != n)
        {
            why = "exec whose stack range or pages the model already holds (destination populated, or a page mapped or freed)";
            return false;
        }
        // copy_strings filled the temporary stack top down: the first argument page is the highest.
        for (int i = 0; i < n; i++)
        {
            ulong va = StackTopMax - ((ulong)(i + 1) << 12);
            var pte = EnsurePath(task, mm, va, Level.Pte);
            int idx = ShadowTable.IndexOf(va, Level.Pte);
            var set = NewOp(OpKind.PteSet, task);
            set.Mm = mm.Id;
            set.Va = va;
            set.Pfn = exec.ArgPfns[i];
            set.Level = Level.Pte;
            set.Flags |= OpFlags.WriteAccess;
            Emit(set);
            pte.SetLeaf(idx, exec.ArgPfns[i] + 1);
            pte.Present++;
            _mapped[exec.ArgPfns[i]] = new Mapping(mm, pte, idx);
            var inc = NewOp(OpKind.MapInc, task);
            inc.Pfn = exec.ArgPfns[i];
            Emit(inc);
        }
        var stack = new ShadowVma(oldStart, StackTopMax, false);
        AddVma(task, mm, stack, VmFlags.Stack);
        for (ulong region = lowRegion; region < StackTopMax; region += PmdSize)
        {
            // pmd_move and pte_alloc need the PMD tables of both ranges (the kernel's alloc_new_pmd).
            EnsurePath(task, mm, region, Level.Pmd);
        }
        int spare = _nextTable;
        _nextTable += (int)(len / PmdSize) + 8;
        var op = NewOp(OpKind.ExecShiftStack, task);
        op.Mm = mm.Id;
        op.Va = oldStart;
        op.NewVa = newStart;
        op.Len = len;
        op.Table = spare;
        Emit(op);
        MirrorStackShift(mm, oldStart, newStart, len, spare);
        stack.Start = newStart;
        Statistics.ExecStackShifts++;
        return true;
    }

    private MremapPrediction PredictStack(ulong oldStart, ulong len, ulong shift)
    {
        var space = AddressSpace.CreateEmpty();
        var vma = space.Insert(new Real.Vma(oldStart, StackTopMax) { Name = "[stack]", AnonVma = space.NewAnonVmaId() }, merge: false);
        for (ulong region = oldStart & ~(PmdSize - 1); region < StackTopMax; region += PmdSize)
        {
            space.SetPmd(region, PmdState.Table);
        }
        return MremapPredictor.PredictStackShift(space, vma, shift, DatasetReplay.ToPrediction(_profile));
    }

    /// <summary>Both placements give the same overlap, the same extent paths and the same populated-destination verdicts (what the engine's expansion depends on).</summary>
    private static bool SameShape(MremapPrediction a, MremapPrediction b, ulong len, ulong shiftA, ulong shiftB)
    {
        if ((shiftA < len) != (shiftB < len) || a.Extents.Count != b.Extents.Count || a.UndecidedReason is not null || b.UndecidedReason is not null)
        {
            return false;
        }
        for (int i = 0; i < a.Extents.Count; i++)
        {
            if (a.Extents[i].Path != b.Extents[i].Path || PopulatedDestination(a.Extents[i]) != PopulatedDestination(b.Extents[i]))
            {
                return false;
            }
        }
        return true;
    }

    private static bool PopulatedDestination(PredictedExtent e) => e.Reason.Contains("destination PMD populated", StringComparison.Ordinal);

    private static bool AnyPopulated(ShadowMm mm, ulong start, ulong end)
    {
        for (ulong region = start; region < end; region += PmdSize)
        {
            var pmd = mm.Find(region, Level.Pmd);
            int idx = ShadowTable.IndexOf(region, Level.Pmd);
            if (pmd is not null && (pmd.Leaves![idx] != 0 || pmd.Children![idx] is not null))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The shadow follows the engine's expansion of exec_shift_stack (the same <see cref="StackShiftPlan"/>): realign under
    /// realign-pmd, PMD moves of whole 2 MiB extents (fallback into a populated destination), move_ptes otherwise
    /// with pte_alloc taking table ids from <paramref name="spare"/> on.
    /// </summary>
    private void MirrorStackShift(ShadowMm mm, ulong start, ulong target, ulong len, int spare)
    {
        foreach (var e in StackShiftPlan.Extents(_profile, start, target, len))
        {
            (ulong oldVa, ulong newVa, ulong extent) = (e.OldVa, e.NewVa, e.Length);
            var srcPmd = mm.Find(oldVa, Level.Pmd)!;
            var dstPmd = mm.Find(newVa, Level.Pmd)!;
            int si = ShadowTable.IndexOf(oldVa, Level.Pmd);
            int di = ShadowTable.IndexOf(newVa, Level.Pmd);
            if (e.PmdMove)
            {
                if (srcPmd.Children![si] is { } table)
                {
                    if (dstPmd.Children![di] is { } into)
                    {
                        // WARN and fall back: entries move into the table already linked at the destination.
                        for (int i = 0; i < 512; i++)
                        {
                            if (table.Leaves![i] != 0 && into.Leaves![i] == 0)
                            {
                                MoveLeaf(mm, table, i, into, i);
                            }
                        }
                    }
                    else if (dstPmd.Leaves![di] == 0)
                    {
                        srcPmd.Children[si] = null;
                        srcPmd.Present--;
                        dstPmd.Children[di] = table;
                        dstPmd.Present++;
                        table.Base = newVa & ~(PmdSize - 1);
                    }
                }
            }
            else
            {
                if (dstPmd.Children![di] is null && dstPmd.Leaves![di] == 0)
                {
                    dstPmd.Children[di] = new ShadowTable(spare, Level.Pte, newVa & ~(PmdSize - 1)) { Mm = mm };
                    dstPmd.Present++;
                }
                spare++;
                for (ulong off = 0; off < extent; off += 4096)
                {
                    var src = mm.Find(oldVa + off, Level.Pte);
                    var dst = mm.Find(newVa + off, Level.Pte);
                    int from = ShadowTable.IndexOf(oldVa + off, Level.Pte);
                    if (src is not null && dst is not null && src.Leaves![from] != 0)
                    {
                        MoveLeaf(mm, src, from, dst, ShadowTable.IndexOf(newVa + off, Level.Pte));
                    }
                }
            }
        }
    }

    private void MoveLeaf(ShadowMm mm, ShadowTable src, int from, ShadowTable dst, int to)
    {
        ulong leaf = src.Leaves![from];
        src.ClearLeaf(from);
        if (dst.Leaves![to] != 0)
        {
            _mapped.Remove(dst.Leaves[to] - 1);
            dst.Present--;
        }
        dst.SetLeaf(to, leaf);
        dst.Present++;
        _mapped[leaf - 1] = new Mapping(mm, dst, to);
    }

    /// <summary>Per-task state of an execve in progress (and of its stack shift until decided).</summary>
    private sealed class ExecState(ExposureEvent enter)
    {
        public readonly ExposureEvent Enter = enter;
        public ShadowMm? PreExecMm;
        public ShadowMm? ExecMm;
        public readonly List<ulong> ArgPfns = [];
        public bool OldGone;
        public bool Switched;
        public bool StackPending = true;
        public bool Tainted;
    }
}
