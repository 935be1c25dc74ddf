using System.Globalization;

namespace Pipeline.Replay.Workloads;

/// <summary>
/// Checks that a trace's observed order is itself a legal kernel interleaving — what the replay engine cannot
/// tell us, because it silently parks a task that takes a held lock and runs it later. Rules: no two holders
/// of a lock in conflicting modes, every unlock matches a lock the task holds, no sleeping lock with IRQs off,
/// no IPI-waiting flush or grace period while a CPU it must reach has IRQs off, frames allocated and freed
/// once, a frame freed only when unmapped and after a TLB flush of its mm that follows the unmap, accesses only
/// on a CPU running the mm, and nothing held at the end. Locks are named the way the generator names them
/// (a VMA lock by the VMA start, a PTE lock by its 2M slot, a PMD lock by its 1G region); clears through an
/// explicitly named table (<c>table= idx=</c>) are of an unlinked table and need no flush.
/// </summary>
internal static class WorkloadLint
{
    private readonly record struct Key(byte Kind, long A, long B);

    private sealed class LockState
    {
        public int Writer;
        public int Readers;
    }

    public static List<string> Check(OpTrace trace, int max = 20)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var errors = new List<string>();
        var locks = new Dictionary<Key, LockState>();
        var held = new Dictionary<int, List<(Key Key, bool Write)>>();
        var irqOff = new Dictionary<int, bool>();
        var loaded = new Dictionary<int, int>();
        var allocated = new HashSet<ulong>();
        var mapcount = new Dictionary<ulong, int>();
        var ptes = new Dictionary<(int Mm, ulong Page), ulong>();
        var huge = new Dictionary<(int Mm, ulong Slot), ulong>();
        var mappedIn = new Dictionary<ulong, int>();
        var lastUnmap = new Dictionary<ulong, (int Mm, long At)>();
        var lastFlush = new Dictionary<int, long>();
        var batch = new Dictionary<int, HashSet<int>>();
        var ops = trace.Ops;

        for (int i = 0; i < ops.Length && errors.Count < max; i++)
        {
            var op = ops[i];
            string at = $"op {i.ToString(CultureInfo.InvariantCulture)} {OpSpec.NameOf(op.Kind)}:{OpTraceWriter.FormatFields(op)} ({trace.CommOf(op.Tid)}-{op.Tid.ToString(CultureInfo.InvariantCulture)} on CPU{op.Cpu.ToString(CultureInfo.InvariantCulture)})";
            void Error(string what) => errors.Add($"{at}: {what}");
            bool IrqOffElsewhere(int mm) => irqOff.Any(kv => kv.Value && kv.Key != op.Cpu && (mm == 0 || loaded.GetValueOrDefault(kv.Key) == mm));
            void Acquire(Key key, bool write, bool sleeping)
            {
                if (sleeping && irqOff.GetValueOrDefault(op.Cpu))
                {
                    Error("takes a sleeping lock with IRQs off");
                }
                var state = locks.TryGetValue(key, out var s) ? s : locks[key] = new LockState();
                if (state.Writer == op.Tid || held.GetValueOrDefault(op.Tid)?.Exists(h => h.Key == key) == true)
                {
                    Error("takes a lock it already holds");
                }
                else if (state.Writer != 0 || (write && state.Readers > 0))
                {
                    Error($"takes a lock held by {(state.Writer != 0 ? "task " + state.Writer.ToString(CultureInfo.InvariantCulture) : state.Readers.ToString(CultureInfo.InvariantCulture) + " reader(s)")}");
                }
                if (write)
                {
                    state.Writer = op.Tid;
                }
                else
                {
                    state.Readers++;
                }
                (held.TryGetValue(op.Tid, out var list) ? list : held[op.Tid] = []).Add((key, write));
            }
            void Release(Key key)
            {
                var list = held.GetValueOrDefault(op.Tid);
                int index = list?.FindLastIndex(h => h.Key == key) ?? -1;
                if (index < 0)
                {
                    Error("releases a lock it does not hold");
                    return;
                }
                var state = locks[key];
                if (list![index].Write)
                {
                    state.Writer = 0;
                }
                else
                {
                    state.Readers--;
                }
                list.RemoveAt(index);
            }
            void MustBeFree(Key key)
            {
                if (locks.TryGetValue(key, out var s) && (s.Writer != 0 || s.Readers > 0))
                {
                    Error("a lock the step takes inside itself is held by another task");
                }
            }
            void Unmap(ulong pfn, int mm)
            {
                lastUnmap[pfn] = (mm, i);
            }
            void Flushed(int mm) => lastFlush[mm] = i;

            Key Ptl(Level level, ulong va) => level switch
            {
                Level.Pte => new Key(5, op.Mm, (long)(va >> 21)),
                Level.Pmd => new Key(6, op.Mm, (long)(va >> 30)),
                _ => new Key(7, op.Mm, 0),
            };
            Key PtlOf() => op.Table != 0 ? new Key(4, op.Table, 0) : Ptl(op.Level, op.Va);

            switch (op.Kind)
            {
                case OpKind.CtxSwitch:
                    loaded[op.Cpu] = op.Mm;
                    break;
                case OpKind.MmapLock:
                    if (!op.Has(OpFlags.Try) || !op.Has(OpFlags.Failed))
                    {
                        Acquire(new Key(1, op.Mm, 0), op.Has(OpFlags.Write), sleeping: true);
                    }
                    break;
                case OpKind.MmapUnlock:
                    Release(new Key(1, op.Mm, 0));
                    break;
                case OpKind.VmaLock:
                    Acquire(new Key(2, op.Mm, (long)op.Va), op.Has(OpFlags.Write), sleeping: true);
                    break;
                case OpKind.VmaUnlock:
                    Release(new Key(2, op.Mm, (long)op.Va));
                    break;
                case OpKind.RmapLock:
                    Acquire(new Key(3, op.Obj, 0), op.Has(OpFlags.Write), sleeping: true);
                    break;
                case OpKind.RmapUnlock:
                    Release(new Key(3, op.Obj, 0));
                    break;
                case OpKind.PageLock:
                    Acquire(new Key(8, (long)op.Pfn, 0), true, sleeping: true);
                    break;
                case OpKind.PageUnlock:
                    Release(new Key(8, (long)op.Pfn, 0));
                    break;
                case OpKind.PtlLock:
                    Acquire(PtlOf(), true, sleeping: false);
                    break;
                case OpKind.PtlUnlock:
                    Release(PtlOf());
                    break;
                case OpKind.TtuStart:
                    Acquire(new Key(3, op.Obj, 0), false, sleeping: true);
                    break;
                case OpKind.TtuEnd:
                case OpKind.RetractEnd:
                    Release(new Key(3, op.Obj, 0));
                    break;
                case OpKind.RetractStart:
                    Acquire(new Key(3, op.Obj, 0), false, sleeping: true);
                    break;
                case OpKind.RetractPmd:
                    MustBeFree(Ptl(Level.Pmd, op.Va));
                    if (IrqOffElsewhere(0))
                    {
                        Error("retract unlinks a table while another CPU has IRQs off (inside GUP-fast)");
                    }
                    Flushed(op.Mm);
                    break;
                case OpKind.TtuWalk:
                    Acquire(Ptl(op.Level, op.Va), true, sleeping: false);
                    break;
                case OpKind.TtuUnmap:
                    Release(Ptl(op.Level, op.Va));
                    if (op.Level != Level.Pmd)
                    {
                        Take(TakePte(op.Mm, op.Va));
                        Dec(op.Pfn);
                    }
                    else if (huge.Remove((op.Mm, op.Va >> 21), out ulong hp))
                    {
                        // A THP split's walk finds nothing when a zap cleared the PMD first: nothing to unmap then.
                        Take(hp);
                        Dec(op.Pfn);
                    }
                    if (op.Has(OpFlags.Batch))
                    {
                        (batch.TryGetValue(op.Tid, out var set) ? set : batch[op.Tid] = []).Add(op.Mm);
                    }
                    else if (IrqOffElsewhere(op.Mm))
                    {
                        Error("IPI flush while a CPU running the mm has IRQs off");
                    }
                    else
                    {
                        Flushed(op.Mm);
                    }
                    break;
                case OpKind.ZapClear:
                    Acquire(Ptl(op.Level, op.Va), true, sleeping: false);
                    Take(op.Level == Level.Pmd ? huge.Remove((op.Mm, op.Va >> 21), out ulong zp) ? zp : 0 : TakePte(op.Mm, op.Va));
                    break;
                case OpKind.ZapFinish:
                    Release(Ptl(op.Level, op.Va));
                    Dec(op.Pfn);
                    break;
                case OpKind.PteAlloc:
                    MustBeFree(Ptl(Level.Pmd, op.Va));
                    break;
                case OpKind.TtuMlockCheck:
                    MustBeFree(Ptl(Level.Pte, op.Va));
                    break;
                case OpKind.MremapMovePmd:
                case OpKind.MremapMovePud:
                    if (op.Obj != 0)
                    {
                        MustBeFree(new Key(3, op.Obj, 0));
                    }
                    MustBeFree(Ptl(Level.Pmd, op.Va));
                    MustBeFree(Ptl(Level.Pmd, op.NewVa));
                    MoveRange(op.Mm, op.Va & ~((1UL << 21) - 1), op.NewVa & ~((1UL << 21) - 1), 1UL << 21);
                    FlushStep(op.Mm);
                    break;
                case OpKind.MovePtes:
                    MustBeFree(Ptl(Level.Pte, op.Va));
                    MustBeFree(Ptl(Level.Pte, op.NewVa));
                    MoveRange(op.Mm, op.Va, op.NewVa, op.Len);
                    FlushStep(op.Mm);
                    break;
                case OpKind.CollapseFlush:
                    MustBeFree(Ptl(Level.Pmd, op.Va));
                    if (IrqOffElsewhere(0))
                    {
                        Error("collapse (tlb_remove_table_sync_one) while another CPU has IRQs off");
                    }
                    Flushed(op.Mm);
                    break;
                case OpKind.IrqDisable:
                    irqOff[op.Cpu] = true;
                    break;
                case OpKind.IrqEnable:
                    irqOff[op.Cpu] = false;
                    break;
                case OpKind.IpiSync:
                case OpKind.RcuGpEnd:
                    if (irqOff.Any(kv => kv.Value && (kv.Key != op.Cpu || op.Kind == OpKind.RcuGpEnd)))
                    {
                        Error("waits for a CPU that has IRQs off");
                    }
                    break;
                case OpKind.TlbFlush:
                    if (!op.Has(OpFlags.NoIpi) && IrqOffElsewhere(op.Mm))
                    {
                        Error("IPI flush while a CPU running the mm has IRQs off");
                    }
                    Flushed(op.Mm);
                    break;
                case OpKind.TlbBatchFlush:
                    if (IrqOffElsewhere(0))
                    {
                        Error("batched flush while another CPU has IRQs off");
                    }
                    if (batch.Remove(op.Tid, out var mms))
                    {
                        foreach (int mm in mms)
                        {
                            Flushed(mm);
                        }
                    }
                    break;
                case OpKind.PteSet:
                    if (op.Table == 0)
                    {
                        ptes[(op.Mm, op.Va >> 12)] = op.Pfn;
                        mappedIn[op.Pfn] = op.Mm;
                    }
                    break;
                case OpKind.PmdSetHuge:
                    huge[(op.Mm, op.Va >> 21)] = op.Pfn;
                    mappedIn[op.Pfn] = op.Mm;
                    break;
                case OpKind.PteClear:
                    if (op.Table == 0)
                    {
                        Take(TakePte(op.Mm, op.Va));
                    }
                    break;
                case OpKind.PmdClear:
                    Take(huge.Remove((op.Mm, op.Va >> 21), out ulong cp) ? cp : 0);
                    break;
                case OpKind.MapInc:
                    mapcount[op.Pfn] = mapcount.GetValueOrDefault(op.Pfn) + 1;
                    break;
                case OpKind.MapDec:
                    Dec(op.Pfn);
                    break;
                case OpKind.Access:
                case OpKind.TlbFill:
                    if (loaded.GetValueOrDefault(op.Cpu) != op.Mm)
                    {
                        Error("accesses an mm its CPU does not run");
                    }
                    break;
                case OpKind.PageAlloc:
                    if (!allocated.Add(op.Pfn))
                    {
                        Error("allocates a frame that is already allocated");
                    }
                    break;
                case OpKind.PageFree:
                    if (!allocated.Remove(op.Pfn))
                    {
                        Error("frees a frame that is not allocated");
                    }
                    if (mapcount.GetValueOrDefault(op.Pfn) != 0)
                    {
                        Error("frees a frame that is still mapped");
                    }
                    if (lastUnmap.Remove(op.Pfn, out var unmap) && lastFlush.GetValueOrDefault(unmap.Mm, -1) < unmap.At)
                    {
                        Error($"frees a frame unmapped at op {unmap.At.ToString(CultureInfo.InvariantCulture)} with no TLB flush of mm{unmap.Mm.ToString(CultureInfo.InvariantCulture)} since");
                    }
                    break;
            }

            void Take(ulong pfn)
            {
                if (pfn != 0 && mappedIn.Remove(pfn, out int mm))
                {
                    Unmap(pfn, mm);
                }
            }
            void Dec(ulong pfn)
            {
                int n = mapcount.GetValueOrDefault(pfn);
                if (n == 0)
                {
                    Error("map_dec below zero");
                }
                mapcount[pfn] = n - 1;
            }
            void FlushStep(int mm)
            {
                if (IrqOffElsewhere(mm))
                {
                    Error("IPI flush while a CPU running the mm has IRQs off");
                }
                Flushed(mm);
            }
        }
        foreach (var (tid, list) in held)
        {
            foreach (var (key, _) in list)
            {
                errors.Add($"task {tid.ToString(CultureInfo.InvariantCulture)} still holds lock {key} at the end");
            }
        }
        foreach (var (cpu, off) in irqOff)
        {
            if (off)
            {
                errors.Add($"CPU{cpu.ToString(CultureInfo.InvariantCulture)} ends with IRQs off");
            }
        }
        return errors;

        ulong TakePte(int mm, ulong va) => ptes.Remove((mm, va >> 12), out ulong pfn) ? pfn : 0;

        void MoveRange(int mm, ulong from, ulong to, ulong len)
        {
            for (ulong off = 0; off < len; off += 4096)
            {
                if (ptes.Remove((mm, (from + off) >> 12), out ulong pfn))
                {
                    ptes[(mm, (to + off) >> 12)] = pfn;
                }
            }
        }
    }
}
