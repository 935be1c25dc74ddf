using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Pipeline.Replay.Workloads;

/// <summary>
/// The random workload's scheduler. Every task runs one activity at a time (an iterator that yields one op at a
/// time and reads the model only after its previous op was emitted). The scheduler emits a task's next op only
/// when the kernel would let it run: the lock it takes is free (rwsem fairness: no new reader while a writer
/// waits), the locks a kernel step takes inside itself are free, an IPI flush does not target a CPU with IRQs
/// off, an RCU grace period has no open section. Activities also reserve the 2M slots they work on (modes
/// F fault/access, G GUP-fast, C reclaim, X structural) — the part of the kernel's exclusion that lives in code
/// paths the op vocabulary does not show (page refcounts, isolation, the unevictable LRU).
/// </summary>
internal sealed partial class WorkloadGenerator
{
    private const int MinMms = 2;

    private const int KhugepagedCpu = 0;

    private readonly RandomWorkloadOptions _options;
    private readonly IOpSink _sink;
    private readonly Prng _rng;
    private readonly SimCpu[] _cpus;
    private readonly List<SimMm> _mms = [];
    private readonly List<SimPage> _reclaimable = [];
    private readonly Dictionary<ulong, SimPage> _pages = [];
    private readonly Stack<int> _freeTables = new();
    private readonly List<int> _rcuPending = [];
    private readonly Stack<ulong> _freePfns = new();
    private readonly Stack<ulong> _freeHuge = new();
    private readonly int[] _files = new int[4];
    private readonly long[] _injectAt;
    private readonly string[] _injectIds;
    private int _injectNext;
    private int _nextTable = 1;
    private ulong _nextPfn = 0x10_0000;
    private ulong _nextHuge = 0x400_0000;
    private int _nextTid = 100;
    private int _nextMm = 1;
    private int _nextRmap = 1;
    private long _emitted;
    private int _irqOff;
    private bool _finishing;
    private readonly int _targetMms;

    public WorkloadGenerator(RandomWorkloadOptions options, IOpSink sink)
    {
        _options = options;
        _sink = sink;
        _rng = new Prng(options.Seed);
        _cpus = new SimCpu[options.Cpus];
        for (int i = 0; i < _cpus.Length; i++)
        {
            _cpus[i] = new SimCpu { Id = i };
        }
        _targetMms = Math.Clamp(options.Cpus, MinMms, 32);
        for (int i = 0; i < _files.Length; i++)
        {
            _files[i] = _nextRmap++;
        }
        AddKernelThread("kswapd0", TaskKind.Kswapd, _cpus.Length - 1);
        AddKernelThread("khugepaged", TaskKind.Khugepaged, KhugepagedCpu);
        AddKernelThread("rcu_preempt", TaskKind.Rcu, 1 % _cpus.Length);
        _injectIds = [.. options.Inject];
        _injectAt = new long[_injectIds.Length];
        for (int i = 0; i < _injectAt.Length; i++)
        {
            _injectAt[i] = (options.Ops / 10) + (long)(_rng.NextU64() % (ulong)Math.Max(1, options.Ops * 8 / 10));
        }
        Array.Sort(_injectAt);
    }

    private void AddKernelThread(string comm, TaskKind kind, int cpu)
    {
        var task = new SimTask { Tid = _nextTid++, Comm = comm, Cpu = cpu, Kind = kind };
        _cpus[cpu].Tasks.Add(task);
    }

    public long Run()
    {
        int idleRounds = 0;
        while (true)
        {
            if (!_finishing && _emitted >= _options.Ops)
            {
                _finishing = true;
            }
            bool draining = _injectNext < _injectIds.Length && (_emitted >= _injectAt[_injectNext] || _finishing);
            if (draining && AllIdle())
            {
                Inject(_injectIds[_injectNext++]);
                continue;
            }
            if (Step(draining))
            {
                idleRounds = 0;
                continue;
            }
            if (!AllIdle())
            {
                ThrowStuck();
            }
            if (_finishing && _mms.Count == 0 && _rcuPending.Count == 0 && _injectNext == _injectIds.Length)
            {
                return _emitted;
            }
            if (++idleRounds > 10_000)
            {
                ThrowStuck();
            }
        }
    }

    private bool AllIdle()
    {
        foreach (var cpu in _cpus)
        {
            if (cpu.Current is not null)
            {
                return false;
            }
        }
        return true;
    }

    private bool Step(bool draining)
    {
        int n = _cpus.Length;
        int start = _rng.Next(n);
        for (int k = 0; k < n; k++)
        {
            var cpu = _cpus[(start + k) % n];
            var task = cpu.Current;
            if (task is not null)
            {
                if (Runnable(task))
                {
                    Emit(task);
                    return true;
                }
                continue;
            }
            if (!draining && Start(cpu))
            {
                return true;
            }
        }
        return false;
    }

    private bool Start(SimCpu cpu)
    {
        var activity = _finishing ? PlanFinishing(cpu, out var task) : Plan(cpu, out task);
        if (activity is null)
        {
            return false;
        }
        var it = activity.GetEnumerator();
        task!.Activity = it;
        cpu.Current = task;
        if (!it.MoveNext())
        {
            End(task);
            return false;
        }
        return true;
    }

    private void End(SimTask task)
    {
        task.Activity?.Dispose();
        task.Activity = null;
        foreach (var (mm, slot, mode) in task.Reserved)
        {
            var s = mm.Slots[slot];
            switch (mode)
            {
                case 'F': s.F--; break;
                case 'G': s.G--; break;
                case 'C': s.C--; break;
                case 'S': s.S--; break;
                case 'Z': s.Z--; break;
                default: s.X--; break;
            }
        }
        task.Reserved.Clear();
        _cpus[task.Cpu].Current = null;
    }

    private bool Runnable(SimTask task)
    {
        ref var p = ref task.Pending;
        if (p.Guard is { } guard && !guard())
        {
            return false;
        }
        if (p.Acquire is { } a && !a.CanTake(p.AcquireWrite))
        {
            if (p.AcquireWrite)
            {
                a.WriterWaiting = true;
            }
            return false;
        }
        if (p.Momentary1 is { } m1 && !m1.CanTake(p.Momentary1Write))
        {
            if (p.Momentary1Write)
            {
                m1.WriterWaiting = true;
            }
            return false;
        }
        if (p.Momentary2 is { } m2 && (m2.Writer != 0 || m2.Readers != 0))
        {
            return false;
        }
        if (p.Momentary3 is { } m3 && (m3.Writer != 0 || m3.Readers != 0))
        {
            return false;
        }
        if (p.Wait != WaitKind.None && _irqOff > 0)
        {
            foreach (var cpu in _cpus)
            {
                if (!cpu.IrqOff || (cpu.Id == task.Cpu && p.Wait != WaitKind.Sections))
                {
                    continue;
                }
                if (p.Wait != WaitKind.IrqOffOnMmCpus || cpu.LoadedMm == p.WaitMm)
                {
                    return false;
                }
            }
        }
        return true;
    }

    private void Emit(SimTask task)
    {
        ref var p = ref task.Pending;
        var op = p.Op;
        op.Seq = _emitted;
        _sink.Add(op, task.Comm);
        _emitted++;
        if (p.Acquire is { } a)
        {
            if (p.AcquireWrite)
            {
                a.Writer = task.Tid;
                a.WriterWaiting = false;
            }
            else
            {
                a.Readers++;
            }
        }
        if (p.Momentary1 is { } m1 && p.Momentary1Write)
        {
            m1.WriterWaiting = false;
        }
        if (p.Release is { } r)
        {
            if (r.Writer == task.Tid)
            {
                r.Writer = 0;
            }
            else if (r.Readers > 0)
            {
                r.Readers--;
            }
            else
            {
                ThrowInternal($"{task.Comm}-{task.Tid} releases a lock it does not hold at op {OpSpec.NameOf(op.Kind)}");
            }
        }
        var cpu = _cpus[task.Cpu];
        if (p.Irq > 0)
        {
            cpu.IrqOff = true;
            _irqOff++;
        }
        else if (p.Irq < 0)
        {
            cpu.IrqOff = false;
            _irqOff--;
        }
        if (p.SetsLoadedMm)
        {
            cpu.LoadedMm = op.Mm;
        }
        if (!task.Activity!.MoveNext())
        {
            End(task);
        }
    }

    // ---- pending-op constructors (each returns true for `yield return`)

    private static Op Mk(SimTask t, OpKind kind, int mm = 0, ulong va = 0) =>
        new() { Kind = kind, Tid = t.Tid, Cpu = t.Cpu, Mm = mm, Va = va };

    private static bool Do(SimTask t, in Op op, WaitKind wait = WaitKind.None, int waitMm = 0)
    {
        t.Pending = new Pending { Op = op, Wait = wait, WaitMm = waitMm };
        return true;
    }

    private static bool Take(SimTask t, in Op op, SimLock lk, bool write)
    {
        t.Pending = new Pending { Op = op, Acquire = lk, AcquireWrite = write };
        return true;
    }

    private static bool Drop(SimTask t, in Op op, SimLock lk, WaitKind wait = WaitKind.None, int waitMm = 0)
    {
        t.Pending = new Pending { Op = op, Release = lk, Wait = wait, WaitMm = waitMm };
        return true;
    }

    private static bool Step(SimTask t, in Op op, SimLock? m1, bool m1Write, SimLock? m2, SimLock? m3, WaitKind wait, int waitMm)
    {
        t.Pending = new Pending { Op = op, Momentary1 = m1, Momentary1Write = m1Write, Momentary2 = m2, Momentary3 = m3, Wait = wait, WaitMm = waitMm };
        return true;
    }

    private static Op MmapLockOp(SimTask t, SimMm mm, bool write)
    {
        var op = Mk(t, OpKind.MmapLock, mm.Id);
        if (write)
        {
            op.Flags = OpFlags.Write;
        }
        return op;
    }

    private static Op VmaLockOp(SimTask t, SimMm mm, SimVma vma, bool write, bool unlock = false)
    {
        var op = Mk(t, unlock ? OpKind.VmaUnlock : OpKind.VmaLock, mm.Id, vma.Start);
        if (write && !unlock)
        {
            op.Flags = OpFlags.Write;
        }
        return op;
    }

    private static Op RmapOp(SimTask t, int rmap, bool write, bool unlock = false)
    {
        var op = Mk(t, unlock ? OpKind.RmapUnlock : OpKind.RmapLock);
        op.Obj = rmap;
        if (write && !unlock)
        {
            op.Flags = OpFlags.Write;
        }
        return op;
    }

    private static Op PtlOp(SimTask t, SimMm mm, ulong va, Level level, bool unlock = false)
    {
        var op = Mk(t, unlock ? OpKind.PtlUnlock : OpKind.PtlLock, mm.Id, va);
        op.Level = level;
        return op;
    }

    private static Op TablePtlOp(SimTask t, int table, bool unlock = false)
    {
        var op = Mk(t, unlock ? OpKind.PtlUnlock : OpKind.PtlLock);
        op.Table = table;
        return op;
    }

    private static Op PfnOp(SimTask t, OpKind kind, ulong pfn, int order = 0)
    {
        var op = Mk(t, kind);
        op.Pfn = pfn;
        op.Value = order;
        return op;
    }

    private static Op FlagOp(SimTask t, OpKind kind, ulong pfn, SimMm mm, ulong va)
    {
        var op = Mk(t, kind, mm.Id, va);
        op.Pfn = pfn;
        op.Sub = (byte)PageFlag.Mlocked;
        return op;
    }

    private static Op ReadOp(SimTask t, SimMm mm, ulong va, Level level, long value, bool lockless)
    {
        var op = Mk(t, OpKind.EntryRead, mm.Id, va);
        op.Level = level;
        op.Value = value;
        op.Flags = OpFlags.HasValue | (lockless ? OpFlags.Lockless : OpFlags.None);
        return op;
    }

    private static Op TableOp(SimTask t, OpKind kind, SimMm mm, ulong va, int table)
    {
        var op = Mk(t, kind, mm.Id, va);
        op.Table = table;
        return op;
    }

    private static Op FlushOp(SimTask t, SimMm mm, ulong va, ulong len, bool tables, bool all = false)
    {
        var op = Mk(t, OpKind.TlbFlush, mm.Id, all ? 0 : va);
        op.Len = all ? 0 : len;
        op.Flags = (tables ? OpFlags.FreedTables : OpFlags.None) | (all ? OpFlags.All : OpFlags.None);
        return op;
    }

    // ---- ids

    private int AllocTable() => _freeTables.Count > 0 ? _freeTables.Pop() : _nextTable++;

    private ulong AllocPfn() => _freePfns.Count > 0 ? _freePfns.Pop() : _nextPfn++;

    private ulong AllocHuge()
    {
        if (_freeHuge.Count > 0)
        {
            return _freeHuge.Pop();
        }
        ulong pfn = _nextHuge;
        _nextHuge += 512;
        return pfn;
    }

    // ---- reservations

    // S (a THP split) and Z (a THP zap) are only reserved under --contend; they fit with each other (the kernel's
    // exclusion between them is the PMD lock, which the ops show) and with nothing else.
    private static bool CanReserve(SimSlot s, char mode) => mode switch
    {
        'F' => s.X == 0 && s.S == 0 && s.Z == 0,
        'G' => s.X == 0 && s.C == 0 && s.S == 0 && s.Z == 0,
        'C' => s.X == 0 && s.G == 0 && s.S == 0 && s.Z == 0,
        'S' => s.X == 0 && s.F == 0 && s.G == 0 && s.C == 0 && s.S == 0,
        'Z' => s.X == 0 && s.F == 0 && s.G == 0 && s.C == 0 && s.Z == 0 && !s.SplitWalked,
        _ => s.X == 0 && s.F == 0 && s.G == 0 && s.C == 0 && s.S == 0 && s.Z == 0,
    };

    private static void Reserve(SimTask task, SimMm mm, int slot, char mode)
    {
        var s = mm.Slots[slot];
        switch (mode)
        {
            case 'F': s.F++; break;
            case 'G': s.G++; break;
            case 'C': s.C++; break;
            case 'S': s.S++; break;
            case 'Z': s.Z++; break;
            default: s.X++; break;
        }
        task.Reserved.Add((mm, slot, mode));
    }

    private static bool CanReserveRange(SimMm mm, int first, int count, char mode)
    {
        for (int i = first; i < first + count; i++)
        {
            if (!CanReserve(mm.Slots[i], mode))
            {
                return false;
            }
        }
        return true;
    }

    private static void ReserveRange(SimTask task, SimMm mm, int first, int count, char mode)
    {
        for (int i = first; i < first + count; i++)
        {
            Reserve(task, mm, i, mode);
        }
    }

    // ---- page bookkeeping

    private SimPage MapPage(ulong pfn, SimMm mm, ulong va, SimVma vma, bool reclaimable)
    {
        var page = new SimPage { Pfn = pfn, Mm = mm.Id, Va = va, Vma = vma };
        _pages[pfn] = page;
        if (reclaimable)
        {
            page.ListIndex = _reclaimable.Count;
            _reclaimable.Add(page);
        }
        return page;
    }

    private void UnmapPage(SimPage page)
    {
        _pages.Remove(page.Pfn);
        int i = page.ListIndex;
        if (i >= 0)
        {
            var last = _reclaimable[^1];
            _reclaimable[i] = last;
            last.ListIndex = i;
            _reclaimable.RemoveAt(_reclaimable.Count - 1);
            page.ListIndex = -1;
        }
    }

    [DoesNotReturn]
    private static void ThrowInternal(string message) =>
        throw new InvalidOperationException("Random workload generator bug: " + message);

    [DoesNotReturn]
    private void ThrowStuck()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Random workload generator is stuck after {_emitted} ops (seed {_options.Seed}, cpus {_options.Cpus}):");
        foreach (var cpu in _cpus)
        {
            var t = cpu.Current;
            sb.Append(CultureInfo.InvariantCulture, $" CPU{cpu.Id}[irq_off={cpu.IrqOff}]: ");
            sb.Append(t is null ? "idle" : $"{t.Comm}-{t.Tid} waits to run {OpTraceWriter.FormatFields(t.Pending.Op)} ({OpSpec.NameOf(t.Pending.Op.Kind)});");
        }
        ThrowInternal(sb.ToString());
    }
}
