namespace Pipeline.Replay;

/// <summary>A sleeping or spinning lock: one writer or many readers.</summary>
internal sealed class LockObj(string name, bool isPtl = false)
{
    public readonly string Name = name;
    public readonly bool IsPtl = isPtl;
    public int Writer;
    public int Readers;
    public long Serial;
    public long AcquireExec = -1;
    public long ReleaseExec = -1;

    public bool Free => Writer == 0 && Readers == 0;

    public bool Conflicts(bool write) => Writer != 0 || (write && Readers > 0);
}

internal enum TableState : byte
{
    Live,
    Deposited,
    RcuPending,
    // Unlinked and handed to an mmu_gather (tlb_remove_table): freed after that task's next flush of the mm.
    Gathered,
    Freed,
}

/// <summary>One page-table page. It has identity: a whole table can move between slots, with its lock.</summary>
internal sealed class Table
{
    public int Id;
    public Level Level;
    public int Mm;
    public TableState State;
    /// <summary>
    /// A PTE table's 512 entries; <see cref="NoEntries"/> while the table holds none, and for tables of the upper
    /// levels, which keep theirs in <see cref="_sparse"/>. A process that exits without a traced teardown leaves its
    /// tables behind, most of them emptied as its pages are freed: an empty table then costs its object, not 4 KiB
    /// of zeros (docs/benchmarks.md, replay memory). Empty (length 0) once the table is freed.
    /// </summary>
    private long[] _dense = [];
    /// <summary>
    /// An upper-level table's entries while it holds any: it uses a handful of its 512, and the tables of processes
    /// the trace never shows exiting stay until the trace ends (docs/benchmarks.md, "Replay, 2026-12-06 (s27)").
    /// </summary>
    private SparseSlots<long>? _sparse;

    /// <summary>The entries of every empty live table: all none, shared, never written.</summary>
    private static readonly long[] NoEntries = new long[512];

    /// <summary>Entry <paramref name="idx"/> (a live table's; reading a freed table's is a bug and throws).</summary>
    public long Entry(int idx) => _sparse is { } sparse ? sparse[idx] : _dense[idx];

    /// <summary>Whether the table has entries to read: live, or freed (then it reads as having none).</summary>
    public bool IsLive => _dense.Length != 0;

    /// <summary>Whether a PTE table holds an entry array of its own (one from, or for, the pool).</summary>
    private bool HoldsDense => _dense.Length != 0 && !ReferenceEquals(_dense, NoEntries);

    /// <summary>A table made or made again: live, every entry none.</summary>
    public void ResetEntries()
    {
        _dense = NoEntries;
        _sparse = null;
    }

    /// <summary>
    /// Writes entry <paramref name="idx"/>; <see cref="Present"/> is the caller's and already counts the write.
    /// A PTE table takes its array from <paramref name="pool"/> when it gets its first entry and gives it back
    /// (up to <paramref name="poolLimit"/> kept) when it holds none again.
    /// </summary>
    public void SetEntry(int idx, long value, Stack<long[]> pool, int poolLimit)
    {
        if (Level != Level.Pte)
        {
            if (_sparse is null)
            {
                if (value == EntryValue.None)
                {
                    return;
                }
                _sparse = new SparseSlots<long>();
            }
            _sparse[idx] = value;
            if (value == EntryValue.None && Present == 0 && _sparse.IsEmpty)
            {
                _sparse = null;
            }
            return;
        }
        if (ReferenceEquals(_dense, NoEntries))
        {
            if (value != EntryValue.None)
            {
                _dense = pool.Count > 0 ? pool.Pop() : new long[512];
                _dense[idx] = value;
            }
            return;
        }
        _dense[idx] = value;
        if (Present == 0 && !_dense.AsSpan().ContainsAnyExcept(EntryValue.None))
        {
            // Emptied: give the array back (a few are kept for the next tables) and share the zeros.
            if (pool.Count < poolLimit)
            {
                pool.Push(_dense);
            }
            _dense = NoEntries;
        }
    }

    /// <summary>The table is freed: its entries go (a PTE table's array, cleared, back to the pool).</summary>
    public void ReleaseEntries(Stack<long[]>? pool, int poolLimit)
    {
        if (HoldsDense)
        {
            Array.Clear(_dense);
            if (pool is not null && pool.Count < poolLimit)
            {
                pool.Push(_dense);
            }
        }
        _dense = [];
        _sparse = null;
    }

    /// <summary>The entries of <paramref name="from"/>, copied (the explorer's forks change their copies).</summary>
    public void CopyEntriesFrom(Table from)
    {
        _dense = from.HoldsDense ? (long[])from._dense.Clone() : from._dense;
        _sparse = from._sparse?.Clone();
    }
    public int LinkTable;
    public int LinkIdx;
    public long LinkExec = -1;
    public long UnlinkExec = -1;
    public long FreeExec = -1;
    public long LastWriteExec = -1;
    public int LastWriteIdx = -1;
    public int LastWriteTid;
    public int Present;
    public LockObj? Lock;
    // I3: entries written inside the current holder's PTL section.
    public readonly ulong[] SectionWrites = new ulong[8];
    public long SectionSerial = -1;
    public long SectionWriteExec = -1;
    // I3: the page each leaf entry cleared inside the current section mapped (index -> pfn); made on the first such
    // clear. The page's own last-unmap record is not enough: the walker may itself unmap another mapping of the page
    // (a THP mapped by two mms) after the section cleared this one.
    public Dictionary<int, ulong>? SectionCleared;
}

internal sealed class Vma
{
    public ulong Start;
    public ulong End;
    public VmFlags Flags;
    public int Rmap;
    public long FlagsWriteExec = -1;
    public LockObj? Lock;
}

internal sealed class MmState
{
    public int Id;
    public int Root;
    public LockObj MmapLock = null!;
    public LockObj PageTableLock = null!;
    public readonly List<Vma> Vmas = [];
    public long TlbGen;
    public readonly long[] FlushRing = new long[8];
    public int FlushCount;
    public readonly Dictionary<ulong, int> Deposits = [];

    public void RecordFlush(long exec)
    {
        FlushRing[FlushCount & 7] = exec;
        FlushCount++;
    }

    public Vma? FindVma(ulong va)
    {
        foreach (var vma in Vmas)
        {
            if (va >= vma.Start && va < vma.End)
            {
                return vma;
            }
        }
        return null;
    }
}

/// <summary>A TLB entry: remembers the slot it was filled from and the mm's tlb_gen at fill time.</summary>
internal struct TlbEntry
{
    public int Mm;
    public ulong Va;
    public byte SizeShift;
    public ulong Pfn;
    public int LeafTable;
    public int LeafIdx;
    public int Chain0;
    public int Chain1;
    public int Chain2;
    public long Gen;
    public long FillExec;
}

internal sealed class CpuState
{
    public int Id;
    public int LoadedMm;
    // x86 lazy TLB: after a switch to a kernel thread (ctx_switch mm=0) the CPU keeps the last user mm's page
    // tables loaded, so speculative walks may still use its paging-structure caches; 0 when none.
    public int LazyMm;
    public int IrqDepth;
    public long IrqStartExec = -1;
    public int RcuDepth;
    public long RcuStartExec = -1;
    public long LastSyncExec = -1;
    // The tables this CPU's open IRQ-off/RCU section reached: each table a lockless read in the section found
    // linked (the read returned tbl:T), with the exec of the first such read. A lockless walker descends only
    // through links it read, so a table it never read a link to before the table was unlinked is out of its reach
    // (I2). Emptied when a section starts.
    public readonly Dictionary<int, long> SectionReached = [];
    public readonly TlbMap Tlb = new();
    // Walk cache: (mm, level, va prefix) -> table id.
    public readonly Dictionary<long, int> WalkCache = [];
    // Entries per mm in Tlb and WalkCache: a flush of an mm this CPU caches nothing of skips the scan of the
    // whole cache (task-switch flushes of other mms were most of the engine's time on a whole-machine trace).
    public readonly Dictionary<int, int> TlbPerMm = [];
    public readonly Dictionary<int, int> WalkPerMm = [];
    // The tlb_gen of each mm this CPU last caught up with (x86 cpu_tlbstate.ctxs[asid].tlb_gen).
    public readonly Dictionary<int, long> SeenGen = [];

    public long SectionStart => IrqDepth > 0 && RcuDepth > 0 ? Math.Min(IrqStartExec, RcuStartExec)
        : IrqDepth > 0 ? IrqStartExec : RcuDepth > 0 ? RcuStartExec : -1;
}

/// <summary>
/// One page frame. What every frame has is in fields; the history that only some frames have (the last unmap, mlock
/// and map_dec steps the checkers cite) is in an array made on its first write and dropped when the frame is
/// allocated again: a whole-machine trace keeps hundreds of thousands of mapped frames that have none
/// (docs/benchmarks.md, replay memory). Every history value reads as "never" (-1; tid 0) while there is none.
/// </summary>
internal sealed class PageState
{
    private const int UnmapSlot = 0;
    private const int UnmapWalkSlot = 1;
    private const int UnmapLockSlot = 2;
    private const int UnmapTidSlot = 3;
    private const int MlockSetSlot = 4;
    private const int MlockFindingSlot = 5;
    private const int MlockClearSlot = 6;
    private const int MapDecSlot = 7;

    public bool Allocated;
    public bool Mlocked;
    public bool Unevictable;
    public bool Lru;
    public int Order;
    public int RefCount;
    public int MapCount;
    public int PmdMapCount;
    public int TlbRefs;
    public long AllocExec = -1;
    private long[]? _history;

    public long LastUnmapExec { get => Get(UnmapSlot); set => Set(UnmapSlot, value); }

    public long UnmapWalkExec { get => Get(UnmapWalkSlot); set => Set(UnmapWalkSlot, value); }

    public long UnmapLockExec { get => Get(UnmapLockSlot); set => Set(UnmapLockSlot, value); }

    // Tids are never negative; "none" is 0, stored as -1 like every other unset value.
    public int LastUnmapTid { get => (int)Math.Max(0, Get(UnmapTidSlot)); set => Set(UnmapTidSlot, value == 0 ? -1 : value); }

    public long MlockSetExec { get => Get(MlockSetSlot); set => Set(MlockSetSlot, value); }

    /// <summary>
    /// I4: the finding that reported the racy set still in effect (its outcome is added to it), -1, or
    /// ReplayEngine.PriorFinding in a fork when that finding was made before the fork.
    /// </summary>
    public int MlockFinding { get => (int)Get(MlockFindingSlot); set => Set(MlockFindingSlot, value); }

    public long MlockClearExec { get => Get(MlockClearSlot); set => Set(MlockClearSlot, value); }

    public long LastMapDecExec { get => Get(MapDecSlot); set => Set(MapDecSlot, value); }

    /// <summary>
    /// page_alloc: the frame is a new page, and none of its last life's history is its own (docs/mm-model.md, "Page
    /// frames"). Only a TLB entry filled in that life and still cached names the frame across the reallocation: the
    /// walk and the PTL section of the unmap that left it behind stay, the evidence of I1 at this page's free.
    /// </summary>
    public void NewLife()
    {
        long walk = UnmapWalkExec;
        long locked = UnmapLockExec;
        ReleaseHistory();
        if (TlbRefs > 0)
        {
            UnmapWalkExec = walk;
            UnmapLockExec = locked;
        }
    }

    /// <summary>A frame state taken from the engine's pool starts as a frame with no history, like a new one.</summary>
    public void Reuse(bool allocated)
    {
        Allocated = allocated;
        Mlocked = false;
        Unevictable = false;
        Lru = false;
        Order = 0;
        RefCount = 1;
        MapCount = 0;
        PmdMapCount = 0;
        TlbRefs = 0;
        AllocExec = -1;
        ReleaseHistory();
    }

    // History arrays of frames allocated again or forgotten are reused: frames that live for seconds of trace reach
    // the oldest generation, and a fresh array per frame life left the GC's gen2 full of dead ones between full
    // collections (docs/benchmarks.md, "Replay, 2026-12-06 (s26)"). Per thread, as explorations run engines on
    // several threads; bounded so a burst of frees does not pin memory.
    [ThreadStatic]
    private static Stack<long[]>? s_historyPool;
    private const int HistoryPoolLimit = 4096;

    private void ReleaseHistory()
    {
        if (_history is null)
        {
            return;
        }
        var pool = s_historyPool ??= new Stack<long[]>();
        if (pool.Count < HistoryPoolLimit)
        {
            Array.Fill(_history, -1);
            pool.Push(_history);
        }
        _history = null;
    }

    private long Get(int slot) => _history is { } h ? h[slot] : -1;

    private void Set(int slot, long value)
    {
        if (_history is null)
        {
            if (value == -1)
            {
                return;
            }
            _history = s_historyPool is { Count: > 0 } pool ? pool.Pop() : [-1, -1, -1, -1, -1, -1, -1, -1];
        }
        _history[slot] = value;
    }
}

internal struct HeldLock
{
    public LockObj Lock;
    public bool Write;
    public long Exec;
}

/// <summary>A task: its program position, walker registers, held locks and ops waiting behind a block.</summary>
internal sealed class TaskState
{
    public int Tid;
    public string Comm = "task";
    public readonly List<HeldLock> Held = [];
    // Grown by Push as an op's micro-steps need it: a whole-machine trace holds a task for every thread it ever saw
    // (hundreds; the trace rarely shows them end), and 64 ops (5 KiB) each was most of their memory.
    public Op[] Micro = new Op[8];
    public int MicroCount;
    public int MicroPos;
    public OpKind StepKind;
    public bool Blocked;
    public string BlockedOn = "";
    public long BlockStartExec = -1;
    public readonly Queue<Op> Deferred = new();
    // Walker registers (page_vma_mapped_walk state, mremap classification).
    public int RegTable;
    public long RegValue;
    public long RegReadExec = -1;
    public long RegCheckExec = -1;
    public bool RegSkip;
    public bool RegNotFound;
    public bool RegSync;
    // The step's mmap_lock trylock was taken (its unlock runs iff this is set).
    public bool RegTryHeld;
    // What this task's last zap_clear cleared: the pfn of the leaf it found (0: none, the slot was empty or held no
    // page); -1 when no zap_clear ran since the last zap_finish.
    public long RegZapFound = -1;
    public int NestedSkips;
    // Tables freed through this task's mmu_gather (free=gather), released after its next flush of their mm.
    public readonly List<(int Table, Op Op)> Gathered = [];
    // TLB batch (TTU_BATCH_FLUSH).
    public readonly CpuMask BatchMask = new();
    public long BatchAddExec = -1;
    // I3: last lockless read that saw an open writer section.
    public int ObsTable;
    public int ObsIdx;
    public long ObsValue;
    public long ObsSerial;
    public int ObsWriter;
    public long ObsReadExec = -1;
    public long ObsWriteExec = -1;
    public long ObsLockExec = -1;
    public long LastLocklessReadExec = -1;
    public long VmFlagsReadExec = -1;

    public void Push(in Op op)
    {
        if (MicroCount == Micro.Length)
        {
            Array.Resize(ref Micro, Micro.Length * 2);
        }
        Micro[MicroCount++] = op;
    }

    public bool Holds(LockObj lockObj)
    {
        foreach (var h in Held)
        {
            if (ReferenceEquals(h.Lock, lockObj))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>One executed (micro) op, kept in a ring for witnesses.</summary>
internal struct ExecRecord
{
    public long Exec;
    public Op Op;
    public OpKind Parent;
    public long Result;
    public byte Outcome;
}
