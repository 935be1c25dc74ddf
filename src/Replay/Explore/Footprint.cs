namespace Pipeline.Replay.Explore;

/// <summary>
/// The model objects one program op may read or write when it runs, at the granularity the exploration's
/// independence relation uses (docs/exploration.md): an mm (its VMAs, mmap lock, linked tables, TLB entries and
/// cpumask), a table that is not linked into any mm, a page frame, an rmap lock, a CPU's own state, the IPI and RCU
/// machinery. Two ops are independent when no object is written by one and touched by the other; then running them
/// in either order gives the same state, so the search need not try both.
/// The footprint is computed from the op's operands and the state it runs in (which mm a table is linked into, which
/// mm a CPU runs), and it over-approximates: an op that might touch an object is said to touch it.
/// </summary>
internal sealed class Footprint
{
    private const int KindShift = 48;
    private readonly List<long> _keys = new(8);
    private readonly List<bool> _writes = new(8);
    private readonly List<int> _scratch = [];

    /// <summary>Object kinds.</summary>
    internal enum Obj : long
    {
        // An mm's page tables: their entries and page-table locks (tables linked into it).
        Tables = 1,
        // A table not linked into any mm (just allocated, unlinked, deposited, queued for RCU).
        Table = 2,
        Page = 3,
        Rmap = 4,
        // A CPU's IRQ-off / RCU depth and the mm it runs.
        Cpu = 5,
        // Every CPU's IRQ-off / RCU section state, as IPI and grace-period waits see it.
        Sections = 6,
        Rcu = 7,
        Ipi = 8,
        // An mm's VMAs and their flags.
        Vmas = 9,
        // An mm's mmap_lock and per-VMA locks.
        MmLock = 10,
        // An mm's mm_cpumask and tlb_gen (what a flush covers and what a context switch catches up with).
        Gen = 11,
        // The TLB and walk-cache entries of one mm on one CPU (id = mm << 8 | cpu).
        Tlb = 12,
    }

    public int Count => _keys.Count;

    public long Key(int i) => _keys[i];

    public bool Write(int i) => _writes[i];

    public void Clear()
    {
        _keys.Clear();
        _writes.Clear();
    }

    public void Add(Obj kind, long id, bool write = true)
    {
        long key = ((long)kind << KindShift) | (id & ((1L << KindShift) - 1));
        for (int i = 0; i < _keys.Count; i++)
        {
            if (_keys[i] == key)
            {
                _writes[i] |= write;
                return;
            }
        }
        _keys.Add(key);
        _writes.Add(write);
    }

    public void AddAll(Footprint other)
    {
        for (int i = 0; i < other._keys.Count; i++)
        {
            long key = other._keys[i];
            Add((Obj)(key >> KindShift), key & ((1L << KindShift) - 1), other._writes[i]);
        }
    }

    /// <summary>Whether some object is written by one footprint and touched by the other.</summary>
    public bool ConflictsWith(Footprint other)
    {
        for (int i = 0; i < _keys.Count; i++)
        {
            for (int j = 0; j < other._keys.Count; j++)
            {
                if (_keys[i] == other._keys[j] && (_writes[i] || other._writes[j]))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>Sets this footprint to what <paramref name="op"/> may touch when it runs in <paramref name="engine"/>'s state;
    /// <paramref name="cpus"/> are the CPUs the trace's tasks run on.</summary>
    public void Of(in Op op, ReplayEngine engine, IReadOnlyList<int> cpus)
    {
        Clear();
        _cpus = cpus;
        int mm = op.Mm;
        if (op.Table != 0 && !OpSpec.IsKernelStep(op.Kind))
        {
            // A table named by id: itself, and the mm it is linked into now (entries of a linked table are the mm's).
            bool write = op.Kind != OpKind.EntryRead;
            Add(Obj.Table, op.Table, write);
            int owner = engine.TableOwner(op.Table);
            if (owner != 0)
            {
                Add(Obj.Tables, owner, write);
                mm = mm == 0 ? owner : mm;
            }
        }
        switch (op.Kind)
        {
            case OpKind.MmCreate:
            case OpKind.MmDestroy:
                AddMmWhole(mm);
                break;
            case OpKind.CtxSwitch:
                {
                    Add(Obj.Cpu, op.Cpu);
                    // Switching in catches the CPU up with the mm's tlb_gen (drops stale entries); leaving the
                    // previous mm touches its cpumask.
                    int previous = engine.LoadedMm(op.Cpu);
                    if (previous != 0)
                    {
                        Add(Obj.Gen, previous);
                        AddTlb(previous, op.Cpu);
                    }
                    if (mm != 0)
                    {
                        Add(Obj.Gen, mm);
                        AddTlb(mm, op.Cpu);
                    }
                    break;
                }
            case OpKind.MmapLock:
            case OpKind.MmapUnlock:
                Add(Obj.MmLock, mm);
                break;
            case OpKind.VmaLock:
            case OpKind.VmaUnlock:
                Add(Obj.MmLock, mm);
                Add(Obj.Vmas, mm, write: false);
                break;
            case OpKind.RmapLock:
            case OpKind.RmapUnlock:
                Add(Obj.Rmap, op.Obj);
                break;
            case OpKind.PageLock:
            case OpKind.PageUnlock:
            case OpKind.PageAlloc:
            case OpKind.RefGet:
            case OpKind.RefTryGet:
            case OpKind.RefPut:
            case OpKind.MapInc:
            case OpKind.MapDec:
            case OpKind.FlagClear:
            case OpKind.RmapWalkBegin:
            case OpKind.RmapWalkEnd:
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.MapcountRead:
            case OpKind.FlagRead:
                Add(Obj.Page, (long)op.Pfn, write: false);
                break;
            case OpKind.FlagSet:
                Add(Obj.Page, (long)op.Pfn);
                if (mm != 0)
                {
                    // The Mlocked justification names a mapping: its VMA flags and entry are read.
                    Add(Obj.Vmas, mm, write: false);
                    Add(Obj.Tables, mm, write: false);
                }
                break;
            case OpKind.PageFree:
                // I1 looks at every CPU's TLB for the page, whichever mm filled it.
                Add(Obj.Page, (long)op.Pfn);
                AddEveryTlb(engine, write: false);
                break;
            case OpKind.IrqDisable:
            case OpKind.IrqEnable:
            case OpKind.RcuLock:
            case OpKind.RcuUnlock:
                // Only this CPU's section changes; waiters read the shared section state.
                Add(Obj.Cpu, op.Cpu);
                Add(Obj.Sections, 0, write: false);
                break;
            case OpKind.IpiSend:
            case OpKind.IpiHandle:
                Add(Obj.Ipi, op.Obj);
                Add(Obj.Cpu, op.Cpu);
                Add(Obj.Sections, 0);
                break;
            case OpKind.IpiSync:
                Add(Obj.Sections, 0);
                break;
            case OpKind.RcuGpEnd:
                // Waits for every open section, then frees the tables queued by any mm (walk caches are checked).
                Add(Obj.Sections, 0);
                Add(Obj.Rcu, 0);
                AddEveryTlb(engine, write: true);
                break;
            case OpKind.TableAlloc:
                break;
            case OpKind.TableFree:
                Add(Obj.Rcu, 0);
                AddEveryTlb(engine, write: false);
                break;
            case OpKind.EntryRead:
                // A read, locked or lockless (the I3 observation it records is the task's own).
                if (op.Table == 0)
                {
                    Add(Obj.Tables, mm, write: false);
                }
                break;
            case OpKind.Access:
            case OpKind.TlbFill:
                // A hardware walk reads the tables and the mm's tlb_gen and fills this CPU's TLB.
                Add(Obj.Tables, mm, write: false);
                Add(Obj.Gen, mm, write: false);
                Add(Obj.Cpu, op.Cpu, write: false);
                AddTlb(mm, op.Cpu);
                break;
            case OpKind.TlbFlush:
            case OpKind.TlbBatchAdd:
                AddFlush(mm);
                break;
            case OpKind.TlbBatchFlush:
                // x86: a full flush of every CPU of the batch's union cpumask, any mm.
                AddEveryTlb(engine, write: true);
                Add(Obj.Sections, 0);
                break;
            case OpKind.VmaCreate:
            case OpKind.VmaModify:
            case OpKind.VmaRemove:
            case OpKind.VmFlagsWrite:
                Add(Obj.Vmas, mm);
                break;
            case OpKind.VmFlagsRead:
                Add(Obj.Vmas, mm, write: false);
                break;
            case OpKind.MremapMovePmd:
            case OpKind.MremapMovePud:
            case OpKind.MovePtes:
            case OpKind.ExecShiftStack:
                Add(Obj.Tables, mm);
                AddFlush(mm);
                AddSpare(op);
                if (op.Obj != 0)
                {
                    Add(Obj.Rmap, op.Obj);
                }
                // take_rmap_locks locks the source VMA's anon_vma root / i_mmap.
                if (engine.VmaRmap(mm, op.Va) is var rmap and not 0)
                {
                    Add(Obj.Rmap, rmap);
                }
                if (op.Kind == OpKind.ExecShiftStack)
                {
                    Add(Obj.Vmas, mm);
                }
                break;
            case OpKind.TtuStart:
            case OpKind.TtuEnd:
                Add(Obj.Rmap, op.Obj);
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.TtuWalk:
                Add(Obj.Tables, mm);
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.TtuUnmap:
            case OpKind.ZapFinish:
                Add(Obj.Tables, mm);
                Add(Obj.Page, (long)op.Pfn);
                AddFlush(mm);
                break;
            case OpKind.TtuMlockCheck:
                Add(Obj.Tables, mm);
                Add(Obj.Vmas, mm, write: false);
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.TtuMlockSet:
            case OpKind.TtuMlockPage:
                Add(Obj.MmLock, mm);
                Add(Obj.Vmas, mm, write: false);
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.ZapClear:
                Add(Obj.Tables, mm);
                break;
            case OpKind.CollapseFlush:
            case OpKind.RetractPmd:
                Add(Obj.Tables, mm);
                AddFlush(mm);
                Add(Obj.Rcu, 0);
                break;
            case OpKind.RetractStart:
            case OpKind.RetractEnd:
                Add(Obj.Rmap, op.Obj);
                Add(Obj.MmLock, mm);
                break;
            default:
                // Entry writes, table links, moves, PTL operations, deposits: the mm's tables (and pages they map).
                if (mm != 0)
                {
                    Add(Obj.Tables, mm);
                }
                if (op.Pfn != 0)
                {
                    Add(Obj.Page, (long)op.Pfn);
                }
                break;
        }
    }

    private IReadOnlyList<int> _cpus = [];

    private void AddSpare(in Op op)
    {
        if (op.Table != 0)
        {
            // spare=N: the first table ids the step may allocate.
            Add(Obj.Table, op.Table);
        }
    }

    private void AddTlb(int mm, int cpu) => Add(Obj.Tlb, ((long)mm << 8) | (uint)cpu);

    /// <summary>A flush of mm's entries on the CPUs it covers (any of them), bumping tlb_gen; an IPI flush waits for IRQ-off CPUs.</summary>
    private void AddFlush(int mm)
    {
        Add(Obj.Gen, mm);
        foreach (int cpu in _cpus)
        {
            AddTlb(mm, cpu);
        }
        Add(Obj.Sections, 0);
    }

    private void AddMmWhole(int mm)
    {
        Add(Obj.Tables, mm);
        Add(Obj.Vmas, mm);
        Add(Obj.MmLock, mm);
        Add(Obj.Gen, mm);
        foreach (int cpu in _cpus)
        {
            AddTlb(mm, cpu);
        }
    }

    private void AddEveryTlb(ReplayEngine engine, bool write)
    {
        _scratch.Clear();
        engine.MmIds(_scratch);
        foreach (int mm in _scratch)
        {
            foreach (int cpu in _cpus)
            {
                Add(Obj.Tlb, ((long)mm << 8) | (uint)cpu, write);
            }
            if (write)
            {
                Add(Obj.Gen, mm);
            }
        }
    }
}
