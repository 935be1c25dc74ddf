namespace Pipeline.Replay;

/// <summary>Writes scenario programs: tasks on CPUs, ops in schedule order, page tables allocated on demand.</summary>
internal sealed class ScenarioBuilder
{
    private readonly List<Op> _ops = [];
    private readonly Dictionary<int, string> _comms = [];
    private readonly Dictionary<int, int> _cpus = [];
    private readonly Dictionary<(int Mm, Level Level, ulong Prefix), int> _tables = [];
    private int _nextTable = 1;

    public void Task(int tid, string comm, int cpu)
    {
        _comms[tid] = comm;
        _cpus[tid] = cpu;
    }

    public void Emit(int tid, Op op)
    {
        op.Seq = _ops.Count;
        op.Tid = tid;
        op.Cpu = _cpus[tid];
        _ops.Add(op);
    }

    public void Emit(int tid, OpKind kind, int mm = 0, ulong va = 0, ulong newVa = 0, ulong len = 0, ulong pfn = 0,
        int table = 0, int index = 0, int obj = 0, Level level = Level.Pte, OpFlags flags = OpFlags.None, byte sub = 0, long value = 0)
    {
        Emit(tid, new Op
        {
            Kind = kind,
            Mm = mm,
            Va = va,
            NewVa = newVa,
            Len = len,
            Pfn = pfn,
            Table = table,
            Index = index,
            Obj = obj,
            Level = level,
            Flags = flags,
            Sub = sub,
            Value = value,
        });
    }

    public int NewTableId() => _nextTable++;

    public void MmCreate(int tid, int mm)
    {
        int pgd = _nextTable++;
        _tables[(mm, Level.Pgd, 0)] = pgd;
        Emit(tid, OpKind.MmCreate, mm: mm, table: pgd);
    }

    /// <summary>Makes sure the tables down to <paramref name="level"/> exist for <paramref name="va"/>; returns that table.</summary>
    public int Ensure(int tid, int mm, ulong va, Level level)
    {
        int parent = _tables[(mm, Level.Pgd, 0)];
        for (var l = Level.P4d; l >= level; l--)
        {
            ulong prefix = va >> (12 + (9 * ((int)l + 1)));
            if (!_tables.TryGetValue((mm, l, prefix), out int id))
            {
                id = _nextTable++;
                _tables[(mm, l, prefix)] = id;
                Emit(tid, OpKind.TableAlloc, table: id, level: l);
                var populate = l switch
                {
                    Level.P4d => OpKind.PgdPopulate,
                    Level.Pud => OpKind.P4dPopulate,
                    Level.Pmd => OpKind.PudPopulate,
                    _ => OpKind.PmdPopulate,
                };
                Emit(tid, populate, mm: mm, va: va, table: id);
            }
            parent = id;
            if (l == Level.Pte)
            {
                break;
            }
        }
        return parent;
    }

    public void MapPage(int tid, int mm, ulong va, ulong pfn)
    {
        Ensure(tid, mm, va, Level.Pte);
        Emit(tid, OpKind.PageAlloc, pfn: pfn);
        Emit(tid, OpKind.PteSet, mm: mm, va: va, pfn: pfn);
        Emit(tid, OpKind.MapInc, pfn: pfn);
    }

    public void Vma(int tid, int mm, ulong start, ulong len, VmFlags flags, int rmap) =>
        Emit(tid, OpKind.VmaCreate, mm: mm, va: start, len: len, obj: rmap, sub: (byte)flags);

    public OpTrace Build() => new(_ops, _comms);
}
