using System.Globalization;
using System.Runtime.InteropServices;

namespace Pipeline.Replay;

/// <summary>What an executed op did, for witnesses.</summary>
internal static class Outcome
{
    public const byte Done = 0;
    public const byte TryFailed = 1;
    public const byte Fault = 2;
    public const byte Hit = 3;
    public const byte Fill = 4;
    public const byte WarnFallback = 5;
    public const byte RecheckFallback = 6;
    public const byte StaleUse = 7;
    public const byte NotFound = 8;
    public const byte SkipNone = 9;
    public const byte TryGetFailed = 10;
    public const byte Inconsistent = 11;
}

public sealed partial class ReplayEngine
{
    private const int TlbCap = 4096;
    private const int WalkCacheCap = 256;
    private readonly List<long> _scratch = [];
    // Slots of one mm's TLB entries (RemoveEntries).
    private readonly List<int> _slots = [];

    internal static int IndexOf(ulong va, Level level) => (int)((va >> (12 + (9 * (int)level))) & 511);

    internal static ulong SizeOf(Level level) => 1UL << (12 + (9 * (int)level));

    private long Begin(TaskState task, in Op op, long result = 0, byte outcome = Outcome.Done)
    {
        long now = _exec++;
        if (now - _execBase == _ring.Length && _ring.Length <= RingMask)
        {
            // Not wrapped yet: every record sits at its own index, so a larger copy keeps them in place.
            Array.Resize(ref _ring, _ring.Length * 2);
        }
        ref var rec = ref _ring[(now - _execBase) & (_ring.Length - 1)];
        rec.Exec = now;
        rec.Op = op;
        rec.Parent = task.StepKind;
        rec.Result = result;
        rec.Outcome = outcome;
        return now;
    }

    private void SetResult(long exec, long result, byte outcome)
    {
        ref var rec = ref _ring[(exec - _execBase) & (_ring.Length - 1)];
        rec.Result = result;
        rec.Outcome = outcome;
    }

    private bool ExecMicro(TaskState task, in Op original)
    {
        var flags = original.Flags;
        if ((flags & (OpFlags.IfNotSkip | OpFlags.IfFound | OpFlags.IfSkip | OpFlags.IfTryHeld)) != 0)
        {
            if ((flags & OpFlags.IfTryHeld) != 0)
            {
                if (!task.RegTryHeld)
                {
                    return true;
                }
                // The unlock of the trylock: it never waits, and the next step's trylock decides afresh.
                task.RegTryHeld = false;
            }
            if ((flags & OpFlags.IfNotSkip) != 0 && task.RegSkip)
            {
                return true;
            }
            if ((flags & OpFlags.IfFound) != 0 && (task.RegSkip || task.RegNotFound))
            {
                return true;
            }
            if ((flags & OpFlags.IfSkip) != 0 && !task.RegSkip)
            {
                return true;
            }
        }
        if ((flags & OpFlags.UseReg) != 0)
        {
            // The walker uses the table it found earlier: make that explicit so witnesses name it.
            var resolved = original;
            resolved.Table = task.RegTable;
            resolved.Index = GetTable(task.RegTable) is { } reg ? IndexOf(resolved.Va, reg.Level) : 0;
            resolved.Flags &= ~OpFlags.UseReg;
            return ExecCore(task, resolved);
        }
        return ExecCore(task, original);
    }

    private bool ExecCore(TaskState task, in Op op)
    {
        switch (op.Kind)
        {
            case OpKind.MmCreate: return MmCreate(task, op);
            case OpKind.MmDestroy: return MmDestroy(task, op);
            case OpKind.CtxSwitch: return CtxSwitch(task, op);
            case OpKind.MmapLock:
                {
                    var mm = MmOrReport(task, op);
                    return mm is null || Lock(task, op, mm.MmapLock, op.Has(OpFlags.Write));
                }
            case OpKind.MmapUnlock:
                {
                    var mm = MmOrReport(task, op);
                    return mm is null || Unlock(task, op, mm.MmapLock);
                }
            case OpKind.VmaLock:
            case OpKind.VmaUnlock:
                {
                    var mm = MmOrReport(task, op);
                    if (mm is null)
                    {
                        return true;
                    }
                    var vma = mm.FindVma(op.Va);
                    if (vma is null)
                    {
                        Begin(task, op, 0, Outcome.Inconsistent);
                        Inconsistent(op, $"{Name(op.Kind)} of 0x{op.Va:x} in mm{op.Mm}: no VMA contains that address", [_exec - 1]);
                        return true;
                    }
                    vma.Lock ??= new LockObj($"vma lock of mm{op.Mm} [0x{vma.Start:x},0x{vma.End:x})");
                    return op.Kind == OpKind.VmaLock ? Lock(task, op, vma.Lock, op.Has(OpFlags.Write)) : Unlock(task, op, vma.Lock);
                }
            case OpKind.RmapLock:
                return Lock(task, op, RmapLockOf(op.Obj), op.Has(OpFlags.Write));
            case OpKind.RmapUnlock:
                return Unlock(task, op, RmapLockOf(op.Obj));
            case OpKind.PageLock:
            case OpKind.PageUnlock:
                {
                    if (!_pageLocks.TryGetValue(op.Pfn, out var lk))
                    {
                        lk = new LockObj($"page lock of pfn 0x{op.Pfn:x}");
                        _pageLocks.Add(op.Pfn, lk);
                    }
                    bool done = op.Kind == OpKind.PageLock ? Lock(task, op, lk, true) : Unlock(task, op, lk);
                    if (done && lk.Free)
                    {
                        _pageLocks.Remove(op.Pfn);
                    }
                    return done;
                }
            case OpKind.PtlLock:
            case OpKind.PtlUnlock:
                {
                    var lk = PtlOf(task, op);
                    if (lk is null)
                    {
                        return true;
                    }
                    if (op.Kind == OpKind.PtlLock)
                    {
                        return Lock(task, op, lk, true);
                    }
                    return Unlock(task, op, lk);
                }
            case OpKind.IrqDisable:
            case OpKind.RcuLock:
                {
                    var cpu = GetCpu(op.Cpu);
                    long now = Begin(task, op);
                    if (cpu.IrqDepth == 0 && cpu.RcuDepth == 0)
                    {
                        cpu.SectionReached.Clear();
                    }
                    if (op.Kind == OpKind.IrqDisable)
                    {
                        if (cpu.IrqDepth++ == 0)
                        {
                            cpu.IrqStartExec = now;
                        }
                    }
                    else if (cpu.RcuDepth++ == 0)
                    {
                        cpu.RcuStartExec = now;
                    }
                    return true;
                }
            case OpKind.IrqEnable:
            case OpKind.RcuUnlock:
                {
                    var cpu = GetCpu(op.Cpu);
                    long now = Begin(task, op);
                    ref int depth = ref op.Kind == OpKind.IrqEnable ? ref cpu.IrqDepth : ref cpu.RcuDepth;
                    if (depth == 0)
                    {
                        SetResult(now, 0, Outcome.Inconsistent);
                        Inconsistent(op, $"{Name(op.Kind)} on CPU{op.Cpu} without a matching {(op.Kind == OpKind.IrqEnable ? "irq_disable" : "rcu_lock")}", [now]);
                        return true;
                    }
                    depth--;
                    if (cpu.IrqDepth == 0 && cpu.RcuDepth == 0)
                    {
                        cpu.SectionReached.Clear();
                    }
                    return true;
                }
            case OpKind.IpiSend: return IpiSend(task, op);
            case OpKind.IpiHandle: return IpiHandle(task, op);
            case OpKind.IpiSync: return IpiSync(task, op);
            case OpKind.RcuGpEnd: return RcuGpEnd(task, op);
            case OpKind.TableAlloc: return TableAlloc(task, op);
            case OpKind.TableFree: return TableFree(task, op);
            case OpKind.TableDeposit: return TableDeposit(task, op);
            case OpKind.TableWithdraw: return TableWithdraw(task, op);
            case OpKind.EntryRead: return EntryRead(task, op);
            case OpKind.PteSet: return WriteOp(task, op, Level.Pte, EntryValue.Leaf(op.Pfn), true);
            case OpKind.PteClear: return WriteOp(task, op, Level.Pte, EntryValue.None, true);
            case OpKind.PteSetSwap: return WriteOp(task, op, Level.Pte, EntryValue.Swap(op.Pfn), true);
            case OpKind.PmdPopulate: return Populate(task, op, Level.Pmd);
            case OpKind.PudPopulate: return Populate(task, op, Level.Pud);
            case OpKind.P4dPopulate: return Populate(task, op, Level.P4d);
            case OpKind.PgdPopulate: return Populate(task, op, Level.Pgd);
            case OpKind.PmdClear: return WriteOp(task, op, Level.Pmd, EntryValue.None, false);
            case OpKind.PudClear: return WriteOp(task, op, Level.Pud, EntryValue.None, false);
            case OpKind.PmdSetHuge: return WriteOp(task, op, Level.Pmd, EntryValue.Leaf(op.Pfn), false);
            case OpKind.PudSetHuge: return WriteOp(task, op, Level.Pud, EntryValue.Leaf(op.Pfn), false);
            case OpKind.PteAlloc: return PteAlloc(task, op);
            case OpKind.PteMove: return PteMove(task, op);
            case OpKind.PmdMove: return EntryMove(task, op, Level.Pmd);
            case OpKind.PudMove: return EntryMove(task, op, Level.Pud);
            case OpKind.Access:
            case OpKind.TlbFill: return Access(task, op);
            case OpKind.TlbFlush: return TlbFlush(task, op);
            case OpKind.TlbBatchAdd: return TlbBatchAdd(task, op);
            case OpKind.TlbBatchFlush: return TlbBatchFlush(task, op);
            case OpKind.PageAlloc: return PageAlloc(task, op);
            case OpKind.PageFree: return PageFree(task, op);
            case OpKind.RefGet:
            case OpKind.RefTryGet:
            case OpKind.RefPut: return RefOp(task, op);
            case OpKind.MapInc:
            case OpKind.MapDec: return MapOp(task, op);
            case OpKind.MapcountRead:
                {
                    var page = PageOf(op.Pfn);
                    long now = Begin(task, op, page.MapCount);
                    if (op.Has(OpFlags.Assert))
                    {
                        foreach (var c in _checkers)
                        {
                            c.OnAssertedMapcount(this, task, op, page, now);
                        }
                    }
                    return true;
                }
            case OpKind.FlagSet:
            case OpKind.FlagClear:
            case OpKind.FlagRead: return FlagOp(task, op);
            case OpKind.VmaCreate: return VmaCreate(task, op);
            case OpKind.VmaModify:
            case OpKind.VmaRemove:
            case OpKind.VmFlagsWrite:
            case OpKind.VmFlagsRead: return VmaOp(task, op);
            case OpKind.RmapWalkBegin:
            case OpKind.RmapWalkEnd:
                Begin(task, op);
                return true;
            default:
                Begin(task, op, 0, Outcome.Inconsistent);
                Inconsistent(op, $"op {Name(op.Kind)} cannot run as a primitive", [_exec - 1]);
                return true;
        }
    }

    internal static string Name(OpKind kind) => OpSpec.NameOf(kind);

    private MmState? MmOrReport(TaskState task, in Op op)
    {
        var mm = GetMm(op.Mm);
        if (mm is null)
        {
            long now = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} names mm{op.Mm}, which no mm_create introduced", [now]);
        }
        return mm;
    }

    private LockObj RmapLockOf(int obj)
    {
        if (!_rmapLocks.TryGetValue(obj, out var lk))
        {
            lk = new LockObj($"rmap lock {obj} (anon_vma root / i_mmap)");
            _rmapLocks.Add(obj, lk);
        }
        return lk;
    }

    private string HolderOf(LockObj lk)
    {
        if (lk.Writer != 0)
        {
            var t = GetTask(lk.Writer);
            return $"{t.Comm}-{t.Tid}";
        }
        return lk.Readers.ToString(CultureInfo.InvariantCulture) + " reader(s)";
    }

    private bool Lock(TaskState task, in Op op, LockObj lk, bool write)
    {
        if (op.Has(OpFlags.Nested) && task.Holds(lk))
        {
            task.NestedSkips++;
            return true;
        }
        if (task.Holds(lk))
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{task.Comm}-{task.Tid} takes {lk.Name} which it already holds", [at]);
            return true;
        }
        bool tryLock = op.Has(OpFlags.Try);
        if (lk.Conflicts(write) || (tryLock && op.Has(OpFlags.Failed)))
        {
            if (tryLock)
            {
                task.RegTryHeld = false;
                Begin(task, op, 0, Outcome.TryFailed);
                if (op.Has(OpFlags.AbortIfFailed))
                {
                    task.RegSkip = true;
                }
                return true;
            }
            task.BlockedOn = $"{lk.Name} (held by {HolderOf(lk)})";
            return false;
        }
        long now = Begin(task, op);
        if (write)
        {
            lk.Writer = task.Tid;
        }
        else
        {
            lk.Readers++;
        }
        lk.Serial++;
        lk.AcquireExec = now;
        if (tryLock)
        {
            task.RegTryHeld = true;
        }
        task.Held.Add(new HeldLock { Lock = lk, Write = write, Exec = now });
        Acquisitions?.Add((task.Tid, lk.Name, write, tryLock));
        return true;
    }

    private bool Unlock(TaskState task, in Op op, LockObj lk)
    {
        if (op.Has(OpFlags.Nested) && task.NestedSkips > 0)
        {
            task.NestedSkips--;
            return true;
        }
        long now = Begin(task, op);
        for (int i = task.Held.Count - 1; i >= 0; i--)
        {
            if (ReferenceEquals(task.Held[i].Lock, lk))
            {
                lk.ReleaseExec = now;
                if (task.Held[i].Write)
                {
                    lk.Writer = 0;
                }
                else
                {
                    lk.Readers--;
                }
                task.Held.RemoveAt(i);
                return true;
            }
        }
        SetResult(now, 0, Outcome.Inconsistent);
        Inconsistent(op, $"{task.Comm}-{task.Tid} releases {lk.Name}, which it does not hold", [now]);
        return true;
    }

    internal LockObj? TableLock(Table t)
    {
        if (t.Level >= Level.Pud)
        {
            return GetMm(t.Mm)?.PageTableLock;
        }
        return t.Lock ??= new LockObj(t.Level == Level.Pte ? $"PTE lock of table {t.Id}" : $"PMD lock of table {t.Id}", isPtl: true);
    }

    private LockObj? PtlOf(TaskState task, in Op op)
    {
        Table? t;
        if (op.Has(OpFlags.UseReg))
        {
            t = GetTable(task.RegTable);
        }
        else if (op.Table != 0)
        {
            t = GetTable(op.Table);
        }
        else
        {
            var mm = MmOrReport(task, op);
            if (mm is null)
            {
                return null;
            }
            if (op.Level >= Level.Pud)
            {
                return mm.PageTableLock;
            }
            if (!TryWalk(mm, op.Va, op.Level, out t, out _))
            {
                long at = Begin(task, op, 0, Outcome.Inconsistent);
                Inconsistent(op, $"{Name(op.Kind)}: mm{op.Mm} has no {OpSpec.LevelName(op.Level).ToUpperInvariant()} table for 0x{op.Va:x}", [at]);
                return null;
            }
        }
        if (t is null || t.State == TableState.Freed)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} of table {(op.Has(OpFlags.UseReg) ? task.RegTable : op.Table)}, which is {(t is null ? "unknown" : "freed")}", [at]);
            return null;
        }
        return TableLock(t);
    }

    /// <summary>Finds the level-<paramref name="level"/> table holding the entry of <paramref name="va"/>.</summary>
    internal bool TryWalk(MmState mm, ulong va, Level level, out Table table, out int idx)
    {
        var t = GetTable(mm.Root);
        idx = IndexOf(va, level);
        table = null!;
        while (t is not null && t.State != TableState.Freed)
        {
            if (t.Level == level)
            {
                table = t;
                return true;
            }
            if (t.Level < level)
            {
                return false;
            }
            long e = t.Entry(IndexOf(va, t.Level));
            if (EntryValue.KindOf(e) != EntryKind.Table)
            {
                return false;
            }
            t = GetTable((int)EntryValue.Payload(e));
        }
        return false;
    }

    private bool ResolveSlot(TaskState task, in Op op, Level level, bool explicitAllowed, out Table table, out int idx)
    {
        table = null!;
        idx = 0;
        Table? t;
        if (op.Has(OpFlags.UseReg))
        {
            t = GetTable(task.RegTable);
            if (t is not null)
            {
                idx = IndexOf(op.Va, t.Level);
            }
        }
        else if (explicitAllowed && op.Table != 0)
        {
            t = GetTable(op.Table);
            idx = op.Index;
        }
        else
        {
            var mm = MmOrReport(task, op);
            if (mm is null)
            {
                return false;
            }
            if (!TryWalk(mm, op.Va, level, out var found, out idx))
            {
                long at = Begin(task, op, 0, Outcome.Inconsistent);
                Inconsistent(op, $"{Name(op.Kind)}: mm{op.Mm} has no {OpSpec.LevelName(level).ToUpperInvariant()} table for 0x{op.Va:x} (an upper level is not populated)", [at]);
                return false;
            }
            t = found;
        }
        if (t is null)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} on table {(op.Has(OpFlags.UseReg) ? task.RegTable : op.Table)}, which no table_alloc introduced", [at]);
            return false;
        }
        table = t;
        return true;
    }

    private void WriteEntry(TaskState task, Table t, int idx, long value, long now, bool isMove)
    {
        long old = t.Entry(idx);
        var oldKind = EntryValue.KindOf(old);
        if (oldKind == EntryKind.Table)
        {
            var child = GetTable((int)EntryValue.Payload(old));
            if (child is not null && child.LinkTable == t.Id && child.LinkIdx == idx)
            {
                child.LinkTable = 0;
                child.UnlinkExec = now;
            }
        }
        else if (oldKind == EntryKind.Leaf && !isMove)
        {
            ulong pfn = (ulong)EntryValue.Payload(old);
            var page = PageOf(pfn);
            page.LastUnmapExec = now;
            page.UnmapWalkExec = task.RegReadExec;
            page.LastUnmapTid = task.Tid;
            page.UnmapLockExec = -1;
            var held = TableLock(t);
            foreach (var h in task.Held)
            {
                if (ReferenceEquals(h.Lock, held))
                {
                    page.UnmapLockExec = h.Exec;
                }
            }
            ForgetIfUnnamed(pfn, page);
        }
        if (oldKind != EntryKind.None)
        {
            t.Present--;
        }
        var kind = EntryValue.KindOf(value);
        if (kind == EntryKind.Table)
        {
            var child = GetTable((int)EntryValue.Payload(value));
            if (child is not null)
            {
                if (child.LinkTable != 0)
                {
                    foreach (var c in _checkers)
                    {
                        c.OnDoubleLink(this, task, child, t, idx, now);
                    }
                }
                child.LinkTable = t.Id;
                child.LinkIdx = idx;
                child.LinkExec = now;
                child.Mm = t.Mm;
            }
        }
        if (kind != EntryKind.None)
        {
            t.Present++;
        }
        t.SetEntry(idx, value, _entryPool, EntryPoolLimit);
        t.LastWriteExec = now;
        t.LastWriteIdx = idx;
        t.LastWriteTid = task.Tid;
        var lk = TableLock(t);
        if (lk is not null && lk.Writer == task.Tid)
        {
            if (t.SectionSerial != lk.Serial)
            {
                Array.Clear(t.SectionWrites);
                t.SectionCleared?.Clear();
                t.SectionSerial = lk.Serial;
            }
            t.SectionWrites[idx >> 6] |= 1UL << (idx & 63);
            if (oldKind == EntryKind.Leaf && !isMove)
            {
                (t.SectionCleared ??= [])[idx] = (ulong)EntryValue.Payload(old);
            }
            t.SectionWriteExec = now;
        }
    }

    private bool WriteOp(TaskState task, in Op op, Level level, long value, bool explicitAllowed)
    {
        if (!ResolveSlot(task, op, level, explicitAllowed, out var t, out int idx))
        {
            return true;
        }
        if (t.State != TableState.Live)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} writes entry {idx} of table {t.Id}, which is {t.State.ToString().ToLowerInvariant()}", [at]);
            return true;
        }
        if (t.Level != level)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} on table {t.Id}, a {OpSpec.LevelName(t.Level).ToUpperInvariant()} table", [at]);
            return true;
        }
        long old = t.Entry(idx);
        long now = Begin(task, op, old);
        if (task.StepKind == OpKind.ZapClear)
        {
            task.RegZapFound = EntryValue.KindOf(old) == EntryKind.Leaf ? EntryValue.Payload(old) : 0;
        }
        WriteEntry(task, t, idx, value, now, false);
        return true;
    }

    private bool Populate(TaskState task, in Op op, Level level)
    {
        var child = GetTable(op.Table);
        if (child is null || child.State != TableState.Live || child.Level != level - 1)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            string what = child is null ? "unknown" : child.State != TableState.Live ? child.State.ToString().ToLowerInvariant()
                : $"a {OpSpec.LevelName(child.Level).ToUpperInvariant()} table";
            Inconsistent(op, $"{Name(op.Kind)} links table {op.Table}, which is {what}", [at]);
            return true;
        }
        return WriteOp(task, op, level, EntryValue.Table(op.Table), false);
    }

    private bool EntryRead(TaskState task, in Op op)
    {
        if (!ResolveSlot(task, op, op.Level, true, out var t, out int idx))
        {
            return true;
        }
        bool lockless = op.Has(OpFlags.Lockless);
        long value = t.State == TableState.Freed ? EntryValue.None : t.Entry(idx);
        long now = Begin(task, op, value);
        if (t.State is TableState.Freed or TableState.Deposited)
        {
            if (!lockless)
            {
                SetResult(now, value, Outcome.Inconsistent);
                Inconsistent(op, $"locked entry_read of table {t.Id}, which is {t.State.ToString().ToLowerInvariant()}", [now]);
                return true;
            }
        }
        else if (op.Has(OpFlags.HasValue) && value != op.Value)
        {
            SetResult(now, value, Outcome.Inconsistent);
            Inconsistent(op, $"entry_read of table {t.Id} entry {idx}: the trace says {EntryValue.Format(op.Value)}, the model has {EntryValue.Format(value)}", [now]);
        }
        if (lockless)
        {
            task.LastLocklessReadExec = now;
            if (EntryValue.KindOf(value) == EntryKind.Table && GetCpu(op.Cpu) is { SectionStart: >= 0 } walker)
            {
                walker.SectionReached.TryAdd((int)EntryValue.Payload(value), now);
            }
            foreach (var c in _checkers)
            {
                c.OnLocklessRead(this, task, op, t, idx, value, now);
            }
        }
        var kind = EntryValue.KindOf(value);
        if (op.Has(OpFlags.SaveReg))
        {
            task.RegValue = value;
            task.RegReadExec = now;
            task.RegTable = kind == EntryKind.Table ? (int)EntryValue.Payload(value) : 0;
        }
        // map_pte with PVMW_SYNC takes the PTL even for a none PTE; a none PMD ends the walk either way.
        if (op.Has(OpFlags.SkipIfNone) && kind is EntryKind.None or EntryKind.Swap && !(task.RegSync && t.Level == Level.Pte))
        {
            task.RegSkip = true;
            SetResult(now, value, Outcome.SkipNone);
        }
        if (op.Has(OpFlags.SkipUnlessTable) && kind != EntryKind.Table)
        {
            task.RegNotFound = true;
            SetResult(now, value, Outcome.NotFound);
        }
        if (op.Has(OpFlags.CheckPfn))
        {
            task.RegCheckExec = now;
        }
        if (op.Has(OpFlags.CheckPfn) && !(kind == EntryKind.Leaf && (ulong)EntryValue.Payload(value) == op.Pfn))
        {
            task.RegNotFound = true;
            SetResult(now, value, Outcome.NotFound);
        }
        return true;
    }

    private bool PteAlloc(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        if (op.Level != Level.Pte)
        {
            return UpperAlloc(task, op, mm);
        }
        if (!TryWalk(mm, op.Va, Level.Pmd, out var pmd, out int idx))
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"pte_alloc: mm{op.Mm} has no PMD table for 0x{op.Va:x}", [at]);
            return true;
        }
        if (pmd.Entry(idx) != EntryValue.None)
        {
            return true;
        }
        return LinkNewTable(task, op, pmd, idx);
    }

    /// <summary>An allocation's end: table <c>table</c> (at the op's level), unless that id is in use, made and linked
    /// into the none slot <paramref name="idx"/> of <paramref name="parent"/>.</summary>
    private bool LinkNewTable(TaskState task, in Op op, Table parent, int idx)
    {
        var existing = GetTable(op.Table);
        if (existing is not null && existing.State != TableState.Freed)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{MicroName(op)}: table {op.Table} is already in use", [at]);
            return true;
        }
        long now = Begin(task, op);
        var t = CreateTable(op.Table, op.Level);
        t.Mm = op.Mm;
        WriteEntry(task, parent, idx, EntryValue.Table(t.Id), now, false);
        return true;
    }

    /// <summary>
    /// p4d_alloc / pud_alloc / pmd_alloc inside a move step (alloc_new_pud, alloc_new_pmd of mm/mremap.c): a
    /// <c>pte_alloc</c> micro-op whose level is that of the table it allocates, at <c>va</c> (the destination), with the
    /// source address in <c>new</c> and the level of the source entry the extent moves in <c>sub</c> - 1. Nothing is
    /// allocated when that source entry is none (get_old_pmd / get_old_pud: the extent is skipped) or when the slot is
    /// no longer none (the lockless test, and the re-test under mm->page_table_lock: another task populated it, the
    /// spare is not used). Else it waits for mm->page_table_lock if another task holds it, then allocates table
    /// <c>table</c> and links it, as one hold of that lock.
    /// </summary>
    private bool UpperAlloc(TaskState task, in Op op, MmState mm)
    {
        if (op.Sub != 0 && (!TryWalk(mm, op.NewVa, (Level)(op.Sub - 1), out var src, out int si) || src.Entry(si) == EntryValue.None))
        {
            return true;
        }
        string name = MicroName(op);
        if (!TryWalk(mm, op.Va, op.Level + 1, out var parent, out int idx))
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{name}: mm{op.Mm} has no {OpSpec.LevelName(op.Level + 1).ToUpperInvariant()} table for 0x{op.Va:x}", [at]);
            return true;
        }
        if (parent.Entry(idx) != EntryValue.None)
        {
            return true;
        }
        var lk = mm.PageTableLock;
        if (lk.Conflicts(true) && !task.Holds(lk))
        {
            task.BlockedOn = $"{lk.Name} (held by {HolderOf(lk)})";
            return false;
        }
        // A hold inside this one micro-op: explore's feasibility sees it as a section of the step alone.
        Acquisitions?.Add((task.Tid, lk.Name, true, false));
        if (op.Table == 0)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{name}: mm{op.Mm} has no {OpSpec.LevelName(op.Level).ToUpperInvariant()} table for 0x{op.Va:x} and the step has no spare= to allocate one", [at]);
            return true;
        }
        return LinkNewTable(task, op, parent, idx);
    }

    private bool PteMove(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        if (!TryWalk(mm, op.Va, Level.Pte, out var src, out int si) || EntryValue.KindOf(src.Entry(si)) == EntryKind.None)
        {
            return true;
        }
        if (!TryWalk(mm, op.NewVa, Level.Pte, out var dst, out int di))
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"pte_move: mm{op.Mm} has no PTE table for the destination 0x{op.NewVa:x}", [at]);
            return true;
        }
        long value = src.Entry(si);
        long now = Begin(task, op, value);
        WriteEntry(task, src, si, EntryValue.None, now, true);
        WriteEntry(task, dst, di, value, now, true);
        return true;
    }

    private bool EntryMove(TaskState task, in Op op, Level level)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        bool srcFound = TryWalk(mm, op.Va, level, out var src, out int si);
        if (!srcFound || !TryWalk(mm, op.NewVa, level, out var dst, out int di))
        {
            if (srcFound && op.Has(OpFlags.Classified) && EntryValue.KindOf(task.RegValue) == EntryKind.None)
            {
                // get_old_pmd / get_old_pud found nothing to move: the extent is skipped before alloc_new_pmd.
                return true;
            }
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)}: mm{op.Mm} has no {OpSpec.LevelName(level).ToUpperInvariant()} table for 0x{op.Va:x} or 0x{op.NewVa:x}", [at]);
            return true;
        }
        long srcVal = src.Entry(si);
        long dstVal = dst.Entry(di);
        bool classified = op.Has(OpFlags.Classified);
        long decided = classified ? task.RegValue : srcVal;
        if (EntryValue.KindOf(decided) == EntryKind.None)
        {
            // move_page_tables skips an extent whose old entry is none.
            return true;
        }
        if (dstVal != EntryValue.None)
        {
            long at = Begin(task, op, dstVal, Outcome.WarnFallback);
            if (op.Has(OpFlags.CheckDst))
            {
                foreach (var c in _checkers)
                {
                    c.OnPopulatedDestination(this, task, op, level, dst, di, at);
                }
                FallbackMovePtes(task, op, src, si, dst, di, level, at);
            }
            else
            {
                SetResult(at, dstVal, Outcome.Inconsistent);
                Inconsistent(op, $"{Name(op.Kind)} into 0x{op.NewVa:x}, whose {OpSpec.LevelName(level).ToUpperInvariant()} entry is {EntryValue.Format(dstVal)}, not none", [at]);
            }
            return true;
        }
        if (classified && srcVal != decided)
        {
            if (op.Has(OpFlags.Recheck))
            {
                Begin(task, op, srcVal, Outcome.RecheckFallback);
                return true;
            }
            long at = Begin(task, op, srcVal, Outcome.StaleUse);
            foreach (var c in _checkers)
            {
                c.OnStaleDecision(this, task, op, src, si, decided, srcVal, at);
            }
            return true;
        }
        long now = Begin(task, op, srcVal);
        WriteEntry(task, src, si, EntryValue.None, now, true);
        WriteEntry(task, dst, di, srcVal, now, true);
        return true;
    }

    private void FallbackMovePtes(TaskState task, in Op op, Table src, int si, Table dst, int di, Level level, long now)
    {
        // move_page_tables falls back to move_ptes when move_normal_pmd refuses: entries move one by one
        // into the table already linked at the destination, and the old range is flushed.
        long s = src.Entry(si);
        long d = dst.Entry(di);
        if (level != Level.Pmd || EntryValue.KindOf(s) != EntryKind.Table || EntryValue.KindOf(d) != EntryKind.Table)
        {
            return;
        }
        var from = GetTable((int)EntryValue.Payload(s));
        var to = GetTable((int)EntryValue.Payload(d));
        if (from is null || to is null)
        {
            return;
        }
        for (int i = 0; i < 512; i++)
        {
            long v = from.Entry(i);
            if (v != EntryValue.None && to.Entry(i) == EntryValue.None)
            {
                WriteEntry(task, from, i, EntryValue.None, now, true);
                WriteEntry(task, to, i, v, now, true);
            }
        }
        var mm = GetMm(op.Mm);
        if (mm is not null)
        {
            FlushMm(mm, op.Va, SizeOf(level), op.Cpu, true, now, tables: true);
        }
    }

    internal Table CreateTable(int id, Level level)
    {
        if (id >= _tables.Length)
        {
            if (id > 1 << 26)
            {
                throw new ArgumentOutOfRangeException(nameof(id), id, "Table ids must be below 2^26.");
            }
            Array.Resize(ref _tables, Math.Max(id + 1, _tables.Length * 2));
        }
        var t = GetTable(id) ?? new Table();
        _tables[id] = t;
        t.Id = id;
        t.Level = level;
        t.State = TableState.Live;
        t.ResetEntries();
        t.LinkTable = 0;
        t.LinkIdx = 0;
        t.LinkExec = -1;
        t.UnlinkExec = -1;
        t.FreeExec = -1;
        t.LastWriteExec = -1;
        t.LastWriteIdx = -1;
        t.Present = 0;
        t.Lock = null;
        t.Mm = 0;
        Array.Clear(t.SectionWrites);
        t.SectionCleared = null;
        t.SectionSerial = -1;
        return t;
    }

    /// <summary>The table is really freed now: the checkers judge the free, then its memory goes back to the pool.</summary>
    private void FreeTable(TaskState task, in Op op, Table t, long now)
    {
        foreach (var c in _checkers)
        {
            c.OnTableFree(this, task, op, t, now);
        }
        ReleaseTable(t, now);
    }

    private void ReleaseTable(Table t, long now)
    {
        t.State = TableState.Freed;
        t.FreeExec = now;
        t.ReleaseEntries(_entryPool, EntryPoolLimit);
        t.Present = 0;
    }

    private bool TableAlloc(TaskState task, in Op op)
    {
        var existing = GetTable(op.Table);
        if (existing is not null && existing.State != TableState.Freed)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"table_alloc of table {op.Table}, which is already {existing.State.ToString().ToLowerInvariant()}", [at]);
            return true;
        }
        Begin(task, op);
        CreateTable(op.Table, op.Level);
        return true;
    }

    private bool TableFree(TaskState task, in Op op)
    {
        int id = op.Table;
        var t = GetTable(id);
        if (t is null || t.State is TableState.Freed or TableState.RcuPending or TableState.Gathered || t.LinkTable != 0)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            string why = t is null ? "unknown" : t.LinkTable != 0 ? $"still linked from table {t.LinkTable} entry {t.LinkIdx}" : "already freed";
            Inconsistent(op, $"table_free of table {id}, which is {why}", [at]);
            return true;
        }
        long now = Begin(task, op, EntryValue.Table(id));
        if (t.State == TableState.Deposited)
        {
            var mm = GetMm(t.Mm);
            if (mm is not null)
            {
                RemoveDeposit(mm, id);
            }
        }
        if ((FreeMode)op.Sub == FreeMode.Rcu)
        {
            // tlb_remove_table / pte_free_defer: the free itself happens after a grace period.
            t.State = TableState.RcuPending;
            _rcuPending.Add((id, now));
            return true;
        }
        if ((FreeMode)op.Sub == FreeMode.Gather)
        {
            // pte_free_tlb into this task's mmu_gather: tlb_finish_mmu flushes (freed_tables) and only then
            // frees the batched tables, so the free happens at the task's next flush of the mm.
            t.State = TableState.Gathered;
            task.Gathered.Add((id, op));
            return true;
        }
        FreeTable(task, op, t, now);
        return true;
    }

    private static void RemoveDeposit(MmState mm, int id)
    {
        foreach (var kv in mm.Deposits)
        {
            if (kv.Value == id)
            {
                mm.Deposits.Remove(kv.Key);
                return;
            }
        }
    }

    private bool TableDeposit(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        var t = GetTable(op.Table);
        if (t is null || t.State != TableState.Live || t.LinkTable != 0 || t.Level != Level.Pte)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"table_deposit of table {op.Table}, which is not an unlinked live PTE table", [at]);
            return true;
        }
        long now = Begin(task, op);
        foreach (var c in _checkers)
        {
            c.OnTableDeposit(this, task, op, t, now);
        }
        t.State = TableState.Deposited;
        t.Mm = op.Mm;
        mm.Deposits[op.Va & ~(SizeOf(Level.Pmd) - 1)] = op.Table;
        return true;
    }

    private bool TableWithdraw(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        var t = GetTable(op.Table);
        if (t is null || t.State != TableState.Deposited)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"table_withdraw of table {op.Table}, which is not deposited", [at]);
            return true;
        }
        Begin(task, op);
        t.State = TableState.Live;
        RemoveDeposit(mm, op.Table);
        return true;
    }

    private bool IpiSend(TaskState task, in Op op)
    {
        long now = Begin(task, op);
        _ipis[op.Obj] = (op.Len, now);
        return true;
    }

    private bool IpiHandle(TaskState task, in Op op)
    {
        var cpu = GetCpu(op.Cpu);
        long now = Begin(task, op);
        if (!_ipis.ContainsKey(op.Obj))
        {
            SetResult(now, 0, Outcome.Inconsistent);
            Inconsistent(op, $"ipi_handle of IPI {op.Obj}, which no ipi_send sent", [now]);
            return true;
        }
        if (cpu.IrqDepth > 0)
        {
            SetResult(now, 0, Outcome.Inconsistent);
            Inconsistent(op, $"CPU{op.Cpu} handles IPI {op.Obj} while its IRQs are off", [now, cpu.IrqStartExec]);
            return true;
        }
        cpu.LastSyncExec = now;
        return true;
    }

    /// <summary>
    /// For explore's feasibility analysis (only while <see cref="Acquisitions"/> is set): an IPI that waits for a CPU it
    /// reaches to have interrupts enabled is an exclusive, momentary acquisition of that CPU's "irq" lock, whose shared
    /// holds are IRQ-off sections. Called without closures so that replay's flushes allocate nothing for it.
    /// </summary>
    private void ReportIpiWait(TaskState task, CpuState cpu) =>
        Acquisitions!.Add((task.Tid, "irq:" + cpu.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), true, false));

    private bool IpiSync(TaskState task, in Op op)
    {
        foreach (var cpu in Cpus)
        {
            if (cpu.Id != op.Cpu && cpu.IrqDepth > 0)
            {
                task.BlockedOn = $"ipi_sync({OpSpec.FuncName(op.Sub)}): CPU{cpu.Id} has IRQs off";
                return false;
            }
        }
        if (Acquisitions is not null)
        {
            foreach (var cpu in Cpus)
            {
                if (cpu.Id != op.Cpu)
                {
                    ReportIpiWait(task, cpu);
                }
            }
        }
        long now = Begin(task, op);
        foreach (var cpu in Cpus)
        {
            if (cpu.Id != op.Cpu)
            {
                cpu.LastSyncExec = now;
            }
        }
        return true;
    }

    private bool RcuGpEnd(TaskState task, in Op op)
    {
        long start = task.BlockStartExec >= 0 ? task.BlockStartExec : _exec;
        foreach (var cpu in Cpus)
        {
            long section = cpu.SectionStart;
            if (section >= 0 && section < start)
            {
                task.BlockedOn = $"RCU grace period: CPU{cpu.Id} is inside a read-side/IRQ-off section";
                return false;
            }
        }
        long now = Begin(task, op);
        for (int i = 0; i < _rcuPending.Count; i++)
        {
            var (id, queued) = _rcuPending[i];
            if (queued < start)
            {
                var t = GetTable(id);
                if (t is not null && t.State == TableState.RcuPending)
                {
                    FreeTable(task, op, t, now);
                }
                _rcuPending.RemoveAt(i);
                i--;
            }
        }
        return true;
    }

    private bool MmCreate(TaskState task, in Op op)
    {
        if (op.Mm <= 0 || GetMm(op.Mm) is not null || (GetTable(op.Table) is { } t && t.State != TableState.Freed))
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"mm_create of mm{op.Mm} with PGD table {op.Table}: the mm or the table already exists", [at]);
            return true;
        }
        Begin(task, op);
        if (op.Mm >= _mms.Length)
        {
            if (op.Mm > 1 << 20)
            {
                throw new ArgumentOutOfRangeException(nameof(op), op.Mm, "mm ids must be below 2^20.");
            }
            Array.Resize(ref _mms, Math.Max(op.Mm + 1, _mms.Length * 2));
        }
        var root = CreateTable(op.Table, Level.Pgd);
        root.Mm = op.Mm;
        _mms[op.Mm] = new MmState
        {
            Id = op.Mm,
            Root = op.Table,
            MmapLock = new LockObj($"mmap_lock of mm{op.Mm}"),
            PageTableLock = new LockObj($"mm{op.Mm}->page_table_lock", isPtl: true),
        };
        return true;
    }

    private bool MmDestroy(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        long now = Begin(task, op);
        FreeTree(GetTable(mm.Root), now);
        foreach (var id in mm.Deposits.Values)
        {
            if (GetTable(id) is { } d)
            {
                ReleaseTable(d, now);
            }
        }
        foreach (var cpu in Cpus)
        {
            RemoveEntries(cpu, mm.Id, 0, ulong.MaxValue, true);
            if (cpu.LoadedMm == mm.Id)
            {
                cpu.LoadedMm = 0;
            }
            if (cpu.LazyMm == mm.Id)
            {
                cpu.LazyMm = 0;
            }
        }
        _mms[mm.Id] = null;
        return true;
    }

    private void FreeTree(Table? t, long now)
    {
        if (t is null || t.State == TableState.Freed)
        {
            return;
        }
        if (t.Level > Level.Pte)
        {
            for (int i = 0; i < 512 && t.Present > 0; i++)
            {
                long e = t.Entry(i);
                if (EntryValue.KindOf(e) == EntryKind.Table)
                {
                    FreeTree(GetTable((int)EntryValue.Payload(e)), now);
                }
            }
        }
        ReleaseTable(t, now);
    }

    private bool CtxSwitch(TaskState task, in Op op)
    {
        var cpu = GetCpu(op.Cpu);
        if (op.Mm != 0 && MmOrReport(task, op) is null)
        {
            return true;
        }
        Begin(task, op);
        int previous = cpu.LoadedMm;
        cpu.LoadedMm = op.Mm;
        // A switch to a kernel thread is lazy on x86: the previous user mm stays loaded in hardware.
        cpu.LazyMm = op.Mm == 0 ? (previous != 0 ? previous : cpu.LazyMm) : 0;
        // Between threads of one mm (prev == next, not lazy) switch_mm_irqs_off returns early: no flush.
        if (op.Mm != 0 && previous != op.Mm)
        {
            // switch_mm_irqs_off: when the new mm's tlb_gen moved on since this CPU last caught up, the ASID is
            // flushed whole (load_new_mm_cr3 with a flush), which drops its paging-structure caches as well.
            var mm = GetMm(op.Mm)!;
            if (!cpu.SeenGen.TryGetValue(op.Mm, out long seen) || seen != mm.TlbGen)
            {
                RemoveEntries(cpu, op.Mm, 0, 0, all: true);
            }
            cpu.SeenGen[op.Mm] = mm.TlbGen;
        }
        return true;
    }

    private static long TlbKey(int mm, ulong vaBase, int shift) =>
        ((long)mm << 42) | ((long)(vaBase >> 12) << 2) | (long)((shift - 12) / 9);

    private static long WalkKey(int mm, Level level, ulong va) =>
        ((long)mm << 42) | ((long)(va >> (12 + (9 * ((int)level + 1)))) << 3) | (long)level;

    private bool Access(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        var cpu = GetCpu(op.Cpu);
        if (cpu.LoadedMm != op.Mm)
        {
            long bad = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} of mm{op.Mm} on CPU{op.Cpu}, which runs mm{cpu.LoadedMm} (missing ctx_switch)", [bad]);
            return true;
        }
        for (int shift = 12; shift <= 30; shift += 9)
        {
            ulong vaBase = op.Va & ~((1UL << shift) - 1);
            if (cpu.Tlb.TryGetValue(TlbKey(op.Mm, vaBase, shift), out var hit))
            {
                Begin(task, op, EntryValue.Leaf(hit.Pfn + ((op.Va - vaBase) >> 12)), Outcome.Hit);
                return true;
            }
        }
        var t = GetTable(mm.Root);
        int c0 = 0, c1 = 0, c2 = 0;
        while (t is not null && t.State != TableState.Freed)
        {
            int idx = IndexOf(op.Va, t.Level);
            long e = t.Entry(idx);
            var kind = EntryValue.KindOf(e);
            if (kind == EntryKind.Table && t.Level > Level.Pte)
            {
                var child = GetTable((int)EntryValue.Payload(e));
                if (child is null || child.State == TableState.Freed)
                {
                    break;
                }
                if (child.Level == Level.Pte)
                {
                    c0 = child.Id;
                }
                else if (child.Level == Level.Pmd)
                {
                    c1 = child.Id;
                }
                else if (child.Level == Level.Pud)
                {
                    c2 = child.Id;
                }
                if (cpu.WalkCache.Count >= WalkCacheCap)
                {
                    ClearWalkCache(cpu);
                }
                ref int walk = ref CollectionsMarshal.GetValueRefOrAddDefault(cpu.WalkCache, WalkKey(op.Mm, child.Level, op.Va), out bool cached);
                walk = child.Id;
                if (!cached)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(cpu.WalkPerMm, op.Mm, out _)++;
                }
                t = child;
                continue;
            }
            if (kind == EntryKind.Leaf && t.Level <= Level.Pud)
            {
                int shift = 12 + (9 * (int)t.Level);
                ulong vaBase = op.Va & ~((1UL << shift) - 1);
                ulong pfn = (ulong)EntryValue.Payload(e);
                long now = Begin(task, op, EntryValue.Leaf(pfn + ((op.Va - vaBase) >> 12)), Outcome.Fill);
                if (cpu.Tlb.Count >= TlbCap)
                {
                    // Capacity eviction: drop everything (deterministic); documented as a model limit.
                    _scratch.Clear();
                    foreach (var key in cpu.Tlb.Keys)
                    {
                        _scratch.Add(key);
                    }
                    foreach (long key in _scratch)
                    {
                        DropEntry(cpu, key);
                    }
                }
                var entry = new TlbEntry
                {
                    Mm = op.Mm,
                    Va = vaBase,
                    SizeShift = (byte)shift,
                    Pfn = pfn,
                    LeafTable = t.Id,
                    LeafIdx = idx,
                    Chain0 = c0,
                    Chain1 = c1,
                    Chain2 = c2,
                    Gen = mm.TlbGen,
                    FillExec = now,
                };
                long tkey = TlbKey(op.Mm, vaBase, shift);
                if (cpu.Tlb.ContainsKey(tkey))
                {
                    DropEntry(cpu, tkey);
                }
                cpu.Tlb[tkey] = entry;
                CollectionsMarshal.GetValueRefOrAddDefault(cpu.TlbPerMm, op.Mm, out _)++;
                PageOf(pfn).TlbRefs++;
                return true;
            }
            break;
        }
        long at = Begin(task, op, 0, Outcome.Fault);
        if (op.Kind == OpKind.Access && mm.FindVma(op.Va) is null)
        {
            SetResult(at, 0, Outcome.Inconsistent);
            Inconsistent(op, $"access of 0x{op.Va:x} in mm{op.Mm}: no VMA maps that address (the access would be a SIGSEGV)", [at]);
        }
        return true;
    }

    private void DropEntry(CpuState cpu, long key)
    {
        if (!cpu.Tlb.Remove(key, out var e))
        {
            return;
        }
        Uncount(cpu.TlbPerMm, e.Mm);
        if (TryPage(e.Pfn, out var page))
        {
            page.TlbRefs--;
            ForgetIfUnnamed(e.Pfn, page);
        }
    }

    private static void Uncount(Dictionary<int, int> perMm, int mm)
    {
        ref int n = ref CollectionsMarshal.GetValueRefOrNullRef(perMm, mm);
        if (--n == 0)
        {
            perMm.Remove(mm);
        }
    }

    private static void ClearWalkCache(CpuState cpu)
    {
        cpu.WalkCache.Clear();
        cpu.WalkPerMm.Clear();
    }

    /// <summary>Removes entries of <paramref name="mm"/> overlapping [va, va+len) (or everything of it when <paramref name="all"/>).</summary>
    private void RemoveEntries(CpuState cpu, int mm, ulong va, ulong len, bool all, bool walkCache = true)
    {
        if (!all && len <= 33UL << 12)
        {
            for (ulong a = va; a < va + len; a += 4096)
            {
                long k = TlbKey(mm, a, 12);
                if (cpu.Tlb.ContainsKey(k))
                {
                    DropEntry(cpu, k);
                }
            }
            for (int shift = 21; shift <= 30; shift += 9)
            {
                ulong mask = ~((1UL << shift) - 1);
                for (ulong b = va & mask; b < va + len; b += 1UL << shift)
                {
                    long k = TlbKey(mm, b, shift);
                    if (cpu.Tlb.ContainsKey(k))
                    {
                        DropEntry(cpu, k);
                    }
                }
            }
        }
        else if (cpu.TlbPerMm.ContainsKey(mm))
        {
            _scratch.Clear();
            cpu.Tlb.SlotsOf(mm, _slots);
            foreach (int slot in _slots)
            {
                ref readonly TlbEntry e = ref cpu.Tlb.ValueAt(slot);
                if (all || (e.Va < va + len && e.Va + (1UL << e.SizeShift) > va))
                {
                    _scratch.Add(cpu.Tlb.KeyAt(slot));
                }
            }
            foreach (long key in _scratch)
            {
                DropEntry(cpu, key);
            }
        }
        if (walkCache && cpu.WalkPerMm.ContainsKey(mm))
        {
            _scratch.Clear();
            foreach (var kv in cpu.WalkCache)
            {
                if ((int)(kv.Key >> 42) != mm)
                {
                    continue;
                }
                var level = (Level)(kv.Key & 7);
                ulong span = SizeOf(level + 1);
                ulong start = (ulong)((kv.Key & ((1L << 42) - 1)) >> 3) * span;
                if (all || (start < va + len && start + span > va))
                {
                    _scratch.Add(kv.Key);
                }
            }
            foreach (long key in _scratch)
            {
                cpu.WalkCache.Remove(key);
                Uncount(cpu.WalkPerMm, mm);
            }
        }
    }

    /// <summary>
    /// Flushes [va,va+len) of <paramref name="mm"/> everywhere it can be cached, as the arch does.
    /// <paramref name="tables"/> is freed_tables: on x86 the lazy CPUs that still have the mm loaded are
    /// interrupted too and switch to init_mm (dropping everything of the mm); on arm64 it is the difference
    /// between a last-level TLBI (leaf entries only, walk caches kept) and one that invalidates all levels.
    /// </summary>
    private void FlushMm(MmState mm, ulong va, ulong len, int initiator, bool all, long now, bool tables)
    {
        mm.TlbGen++;
        mm.RecordFlush(now);
        foreach (var cpu in Cpus)
        {
            if (_arch == Arch.Arm64)
            {
                // TLBI is broadcast to every CPU.
                RemoveEntries(cpu, mm.Id, va, len, all, walkCache: tables);
            }
            else if (cpu.LoadedMm == mm.Id || cpu.Id == initiator)
            {
                // x86 shoots down the CPUs running the mm (others flush at switch); INVLPG also drops the
                // paging-structure caches.
                RemoveEntries(cpu, mm.Id, va, len, all, walkCache: true);
            }
            else if (tables && cpu.LazyMm == mm.Id)
            {
                // flush_tlb_func on a lazy CPU switches it to init_mm: nothing of the mm stays usable.
                RemoveEntries(cpu, mm.Id, 0, 0, all: true, walkCache: true);
                cpu.LazyMm = 0;
            }
            if (cpu.LoadedMm == mm.Id)
            {
                cpu.SeenGen[mm.Id] = mm.TlbGen;
            }
        }
    }

    private bool TlbFlush(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        bool ipi = _arch == Arch.X86 && !op.Has(OpFlags.NoIpi);
        bool tables = op.Has(OpFlags.FreedTables);
        if (ipi)
        {
            foreach (var cpu in Cpus)
            {
                if (cpu.Id != op.Cpu && IsFlushTarget(cpu, mm.Id, tables) && cpu.IrqDepth > 0)
                {
                    task.BlockedOn = $"TLB shootdown IPI to CPU{cpu.Id} (IRQs off)";
                    return false;
                }
            }
            if (Acquisitions is not null)
            {
                foreach (var cpu in Cpus)
                {
                    if (cpu.Id != op.Cpu && IsFlushTarget(cpu, mm.Id, tables))
                    {
                        ReportIpiWait(task, cpu);
                    }
                }
            }
        }
        long now = Begin(task, op);
        ulong flushLen = op.Len == 0 ? 4096 : op.Len;
        if (ipi)
        {
            foreach (var cpu in Cpus)
            {
                if (cpu.Id != op.Cpu && IsFlushTarget(cpu, mm.Id, tables))
                {
                    cpu.LastSyncExec = now;
                }
            }
        }
        FlushMm(mm, op.Va, flushLen, op.Cpu, op.Has(OpFlags.All), now, tables);
        if (task.Gathered.Count > 0)
        {
            ReleaseGathered(task, mm.Id, now);
        }
        return true;
    }

    /// <summary>
    /// Whether an x86 shootdown of <paramref name="mm"/> interrupts <paramref name="cpu"/>: the CPUs running it,
    /// and with freed_tables also the lazy ones that still have its page tables loaded (flush_tlb_multi).
    /// </summary>
    private static bool IsFlushTarget(CpuState cpu, int mm, bool tables) =>
        cpu.LoadedMm == mm || (tables && cpu.LazyMm == mm);

    /// <summary>tlb_finish_mmu after its flush: the tables this task's mmu_gather holds for the mm are freed now.</summary>
    private void ReleaseGathered(TaskState task, int mm, long now)
    {
        for (int i = 0; i < task.Gathered.Count; i++)
        {
            var (id, op) = task.Gathered[i];
            var t = GetTable(id);
            if (t is null || t.State != TableState.Gathered)
            {
                task.Gathered.RemoveAt(i--);
                continue;
            }
            if (t.Mm != mm)
            {
                continue;
            }
            task.Gathered.RemoveAt(i--);
            FreeTable(task, op, t, now);
        }
    }

    private bool TlbBatchAdd(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        long now = Begin(task, op);
        task.BatchAddExec = now;
        if (_arch == Arch.Arm64)
        {
            // arch_tlbbatch_add_pending: one TLBI for this page now; the batch flush is only a dsb.
            FlushMm(mm, op.Va, 4096, op.Cpu, false, now, tables: false);
            return true;
        }
        mm.TlbGen++;
        foreach (var cpu in Cpus)
        {
            if (cpu.LoadedMm == mm.Id)
            {
                task.BatchMask.Add(cpu.Id);
            }
        }
        return true;
    }

    private bool TlbBatchFlush(TaskState task, in Op op)
    {
        if (_arch == Arch.X86)
        {
            foreach (var cpu in Cpus)
            {
                if (cpu.Id != op.Cpu && task.BatchMask.Contains(cpu.Id) && cpu.IrqDepth > 0)
                {
                    task.BlockedOn = $"batched TLB flush IPI to CPU{cpu.Id} (IRQs off)";
                    return false;
                }
            }
            if (Acquisitions is not null)
            {
                foreach (var cpu in Cpus)
                {
                    if (cpu.Id != op.Cpu && task.BatchMask.Contains(cpu.Id))
                    {
                        ReportIpiWait(task, cpu);
                    }
                }
            }
        }
        long now = Begin(task, op);
        if (_arch == Arch.X86)
        {
            // arch_tlbbatch_flush: a full flush of every CPU in the union of the batched mm_cpumasks.
            foreach (var cpu in Cpus)
            {
                if (task.BatchMask.Contains(cpu.Id))
                {
                    _scratch.Clear();
                    foreach (var key in cpu.Tlb.Keys)
                    {
                        _scratch.Add(key);
                    }
                    foreach (long key in _scratch)
                    {
                        DropEntry(cpu, key);
                    }
                    ClearWalkCache(cpu);
                    if (cpu.Id != op.Cpu)
                    {
                        cpu.LastSyncExec = now;
                    }
                }
            }
            foreach (var mm in Mms)
            {
                mm.RecordFlush(now);
            }
        }
        task.BatchMask.Clear();
        return true;
    }

    internal PageState PageOf(ulong pfn)
    {
        if (!TryPage(pfn, out var page))
        {
            // A frame first seen in use was allocated before the trace began.
            page = NewPage(allocated: true);
            _pages.Add(pfn, page);
        }
        return page;
    }

    private bool PageAlloc(TaskState task, in Op op)
    {
        if (TryPage(op.Pfn, out var page) && page.Allocated)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"page_alloc of pfn 0x{op.Pfn:x}, which is already allocated", [at, page.AllocExec]);
            return true;
        }
        page ??= PageOf(op.Pfn);
        long now = Begin(task, op);
        page.Allocated = true;
        page.Order = (int)op.Value;
        page.RefCount = 1;
        page.MapCount = 0;
        page.PmdMapCount = 0;
        page.Mlocked = false;
        page.AllocExec = now;
        page.NewLife();
        return true;
    }

    private bool PageFree(TaskState task, in Op op)
    {
        var page = PageOf(op.Pfn);
        if (!page.Allocated)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"page_free of pfn 0x{op.Pfn:x}, which is already free", [at]);
            return true;
        }
        long now = Begin(task, op);
        foreach (var c in _checkers)
        {
            c.OnPageFree(this, task, op, page, now);
        }
        page.Allocated = false;
        if (page.Mlocked)
        {
            page.Mlocked = false;
            _mlockedPages--;
        }
        ForgetIfUnnamed(op.Pfn, page);
        return true;
    }

    private bool RefOp(TaskState task, in Op op)
    {
        var page = PageOf(op.Pfn);
        int n = Math.Max(1, op.Obj);
        if (op.Kind == OpKind.RefTryGet && (!page.Allocated || page.RefCount == 0))
        {
            Begin(task, op, page.RefCount, Outcome.TryGetFailed);
            return true;
        }
        long now = Begin(task, op, page.RefCount);
        if (op.Kind == OpKind.RefPut)
        {
            if (page.RefCount < n)
            {
                SetResult(now, page.RefCount, Outcome.Inconsistent);
                Inconsistent(op, $"ref_put of pfn 0x{op.Pfn:x} below zero (refcount {page.RefCount})", [now]);
                return true;
            }
            page.RefCount -= n;
        }
        else
        {
            page.RefCount += n;
        }
        ForgetIfUnnamed(op.Pfn, page);
        return true;
    }

    private bool MapOp(TaskState task, in Op op)
    {
        var page = PageOf(op.Pfn);
        long now = Begin(task, op, page.MapCount);
        if (op.Kind == OpKind.MapInc)
        {
            page.MapCount++;
            if (op.Level == Level.Pmd)
            {
                page.PmdMapCount++;
            }
            return true;
        }
        if (page.MapCount == 0)
        {
            SetResult(now, 0, Outcome.Inconsistent);
            Inconsistent(op, $"map_dec of pfn 0x{op.Pfn:x}, whose mapcount is already 0", [now]);
            return true;
        }
        page.MapCount--;
        if (op.Level == Level.Pmd && page.PmdMapCount > 0)
        {
            page.PmdMapCount--;
        }
        page.LastMapDecExec = now;
        ForgetIfUnnamed(op.Pfn, page);
        return true;
    }

    private bool FlagOp(TaskState task, in Op op)
    {
        var page = PageOf(op.Pfn);
        var flag = (PageFlag)op.Sub;
        bool current = flag switch
        {
            PageFlag.Mlocked => page.Mlocked,
            PageFlag.Unevictable => page.Unevictable,
            _ => page.Lru,
        };
        if (op.Kind == OpKind.FlagRead)
        {
            Begin(task, op, current ? 1 : 0);
            return true;
        }
        if (op.Has(OpFlags.IfUnmapped) && (page.MapCount > 0 || !current))
        {
            return true;
        }
        long now = Begin(task, op, current ? 1 : 0);
        bool set = op.Kind == OpKind.FlagSet;
        if (flag == PageFlag.Mlocked)
        {
            if (set)
            {
                foreach (var c in _checkers)
                {
                    c.OnSetMlocked(this, task, op, page, now);
                }
                page.MlockSetExec = now;
                if (!page.Mlocked)
                {
                    _mlockedPages++;
                }
            }
            else
            {
                page.MlockClearExec = now;
                page.MlockFinding = -1;
                if (page.Mlocked)
                {
                    _mlockedPages--;
                }
            }
            page.Mlocked = set;
        }
        else if (flag == PageFlag.Unevictable)
        {
            page.Unevictable = set;
        }
        else
        {
            page.Lru = set;
        }
        ForgetIfUnnamed(op.Pfn, page);
        return true;
    }

    internal int MlockedPages => _mlockedPages;

    private bool VmaCreate(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        ulong end = op.Va + op.Len;
        foreach (var v in mm.Vmas)
        {
            if (v.Start < end && op.Va < v.End)
            {
                long at = Begin(task, op, 0, Outcome.Inconsistent);
                Inconsistent(op, $"vma_create [0x{op.Va:x},0x{end:x}) in mm{op.Mm} overlaps [0x{v.Start:x},0x{v.End:x})", [at]);
                return true;
            }
        }
        Begin(task, op);
        mm.Vmas.Add(new Vma { Start = op.Va, End = end, Flags = (VmFlags)op.Sub, Rmap = op.Obj });
        mm.Vmas.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return true;
    }

    private bool VmaOp(TaskState task, in Op op)
    {
        var mm = MmOrReport(task, op);
        if (mm is null)
        {
            return true;
        }
        Vma? vma = null;
        foreach (var v in mm.Vmas)
        {
            if (op.Kind is OpKind.VmaModify or OpKind.VmaRemove ? v.Start == op.Va : (op.Va >= v.Start && op.Va < v.End))
            {
                vma = v;
                break;
            }
        }
        if (vma is null)
        {
            long at = Begin(task, op, 0, Outcome.Inconsistent);
            Inconsistent(op, $"{Name(op.Kind)} of 0x{op.Va:x} in mm{op.Mm}: no such VMA", [at]);
            return true;
        }
        long now = Begin(task, op, (long)vma.Flags);
        switch (op.Kind)
        {
            case OpKind.VmaModify:
                vma.Start = op.NewVa;
                vma.End = op.NewVa + op.Len;
                mm.Vmas.Sort(static (a, b) => a.Start.CompareTo(b.Start));
                break;
            case OpKind.VmaRemove:
                mm.Vmas.Remove(vma);
                break;
            case OpKind.VmFlagsWrite:
                vma.Flags = op.Has(OpFlags.Write) ? vma.Flags | (VmFlags)op.Sub : vma.Flags & ~(VmFlags)op.Sub;
                vma.FlagsWriteExec = now;
                break;
            default:
                task.VmFlagsReadExec = now;
                if (op.Has(OpFlags.CheckLocked) && (vma.Flags & VmFlags.Locked) == 0)
                {
                    task.RegNotFound = true;
                    SetResult(now, (long)vma.Flags, Outcome.NotFound);
                }
                break;
        }
        return true;
    }
}
