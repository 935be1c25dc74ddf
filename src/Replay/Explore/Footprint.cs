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
        // One CPU's IRQ-off / RCU section and its last IPI sync (id = cpu), as IPI and grace-period waits and I2 see them.
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
        // Whether one CPU runs (or lazily keeps) one mm: its bit of mm_cpumask (id = mm << 8 | cpu).
        CpuMask = 13,
        // A split page-table lock: the lock of one table (id = table).
        Ptl = 14,
        // One VMA's per-VMA lock (id = mm << 36 | start page).
        VmaLock = 15,
        // The usable TLB entries of one CPU that map one frame (id = pfn << 8 | cpu): what I1 looks at when the frame
        // is freed.
        TlbPage = 16,
        // The usable paging-structure-cache entries of one CPU that name one table (id = table << 8 | cpu): what I1
        // looks at when the table is freed.
        WalkRef = 17,
        // What a lockless reader of one table's entries sees of its split PTL (id = table): the writes of the section
        // open on it (I3). Written by the unlock that ends the section (and stores, which write the table); a lock's
        // acquisition opens a section with no writes yet, so it does not touch it.
        PtlSection = 18,
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

    /// <summary>The kinds of the objects that make this footprint conflict with <paramref name="other"/>, by name, sorted
    /// and joined with '+' (empty when they do not conflict).</summary>
    public string ConflictKinds(Footprint other)
    {
        var kinds = new SortedSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < _keys.Count; i++)
        {
            for (int j = 0; j < other._keys.Count; j++)
            {
                if (_keys[i] == other._keys[j] && (_writes[i] || other._writes[j]))
                {
                    kinds.Add(((Obj)(_keys[i] >> KindShift)).ToString());
                }
            }
        }
        return string.Join('+', kinds);
    }

    /// <summary>
    /// What I3 reads at an asserted mapcount read besides the page: the section the task's lockless read observed —
    /// whether its writer still holds that table's lock in the same acquisition (the lock, which <c>ptl_lock</c> and
    /// <c>ptl_unlock</c> write) and what the section cleared (the table, which stores write; kernel steps write both as
    /// the mm's tables). Without it the writer's unlock was independent of the read, and only the order with the read
    /// first reports I3.
    /// </summary>
    private void AddObservedSection(ReplayEngine engine, int tid)
    {
        if (engine.ObservedSectionTable(tid) is var table and not 0)
        {
            Add(Obj.Ptl, table, write: false);
            Add(Obj.Table, table, write: false);
            // Kernel steps (a zap's clear and finish) take and drop the lock and store as part of the mm's tables.
            if (engine.TableOwner(table) is var owner and not 0)
            {
                Add(Obj.Tables, owner, write: false);
            }
        }
    }

    /// <summary>Sets this footprint to what <paramref name="op"/> may touch when it runs in <paramref name="engine"/>'s state;
    /// <paramref name="cpus"/> are the CPUs the trace's tasks run on.</summary>
    public void Of(in Op op, ReplayEngine engine, IReadOnlyList<int> cpus)
    {
        Clear();
        _cpus = cpus;
        _engine = engine;
        int mm = op.Mm;
        bool entry = IsEntryOp(op);
        if (op.Kind is OpKind.PtlLock or OpKind.PtlUnlock && op.Table != 0 && !op.Has(OpFlags.UseReg)
            && engine.TableLevel(op.Table) is Level.Pte or Level.Pmd)
        {
            // A split PTL named by table id (the lock of a PTE or PMD table, not the mm-wide page_table_lock): the lock
            // and, for the unlock, the section a lockless reader looks at; the table and the mm it is linked into are
            // only read (which table the lock belongs to). Taking or dropping a table's lock writes no entry.
            Add(Obj.Ptl, op.Table);
            Add(Obj.Table, op.Table, write: false);
            if (op.Kind == OpKind.PtlUnlock)
            {
                Add(Obj.PtlSection, op.Table);
            }
            if (engine.TableOwner(op.Table) is var lockOwner and not 0)
            {
                Add(Obj.Tables, lockOwner, write: false);
            }
            return;
        }
        if (op.Table != 0 && !OpSpec.IsKernelStep(op.Kind))
        {
            // A table named by id: itself, and the mm it is linked into now (entries of a linked table are the mm's;
            // an entry op reads the mm's tables as a whole, which steps that rewrite them write).
            bool write = op.Kind != OpKind.EntryRead;
            Add(Obj.Table, op.Table, write);
            int owner = engine.TableOwner(op.Table);
            if (owner != 0)
            {
                Add(Obj.Tables, owner, write && !entry);
                mm = mm == 0 ? owner : mm;
            }
        }
        if (entry)
        {
            AddEntry(op, engine, mm);
            return;
        }
        switch (op.Kind)
        {
            case OpKind.MmCreate:
            case OpKind.MmDestroy:
                AddMmWhole(mm);
                break;
            case OpKind.CtxSwitch:
                {
                    if (mm != 0 && engine.LoadedMm(op.Cpu) == mm)
                    {
                        // A switch into the mm this CPU already runs (a thread of the same mm, or a cone task coming back
                        // after tasks outside the cone ran there) changes nothing: switch_mm_irqs_off returns early, the
                        // engine leaves the CPU, its TLB and the cpumask as they are. It only depends on the CPU still
                        // running the mm, which only a switch on this CPU (into another mm, or to a kernel thread) or the
                        // mm's exit changes, and both write this bit; flushes and fills only read it, so they commute
                        // with such a switch (docs/exploration.md, DPOR: "Switches that change nothing").
                        Add(Obj.CpuMask, ((long)mm << 8) | (uint)op.Cpu, write: false);
                        break;
                    }
                    Add(Obj.Cpu, op.Cpu);
                    // Switching in reads the mm's tlb_gen to catch this CPU up with it (drops stale entries); leaving
                    // the previous mm and entering the next change this CPU's bits of their cpumasks and whether the
                    // entries this CPU caches of them are usable (leaving reads no tlb_gen). Switches on
                    // different CPUs commute; each conflicts with the flushes of those mms (which read the bits).
                    int previous = engine.LoadedMm(op.Cpu);
                    if (previous != 0)
                    {
                        Add(Obj.CpuMask, ((long)previous << 8) | (uint)op.Cpu);
                        AddCacheChange(previous, op.Cpu, usableOnly: false);
                    }
                    // An x86 CPU lazily keeping a user mm under a kernel thread drops it when it switches to another
                    // mm: flushes with freed_tables stop interrupting it and table frees stop checking its walk caches.
                    if (engine.LazyMm(op.Cpu) is var lazy and not 0 && lazy != previous)
                    {
                        Add(Obj.CpuMask, ((long)lazy << 8) | (uint)op.Cpu);
                        AddCacheChange(lazy, op.Cpu, usableOnly: false);
                    }
                    if (mm != 0)
                    {
                        Add(Obj.Gen, mm, write: false);
                        Add(Obj.CpuMask, ((long)mm << 8) | (uint)op.Cpu);
                        AddCacheChange(mm, op.Cpu, usableOnly: false);
                    }
                    break;
                }
            case OpKind.MmapLock:
            case OpKind.MmapUnlock:
                {
                    // Read acquisitions and read releases of the rwsem only count readers: two of them commute, and
                    // neither changes whether a writer (or a per-VMA lock, which looks only for a writer) gets in —
                    // unless a task is parked on the lock, which a release may hand it to and an acquisition may then
                    // have to wait behind. Write acquisitions and releases of a write hold write it.
                    bool read = op.Kind == OpKind.MmapLock
                        ? !op.Has(OpFlags.Write)
                        : engine.HoldsMmapLockForRead(op.Tid, mm);
                    Add(Obj.MmLock, mm, write: !read || engine.MmapLockHasWaiters(mm));
                    break;
                }
            case OpKind.VmaLock:
            case OpKind.VmaUnlock:
                // The lock of the VMA containing the address; locks of different VMAs are independent.
                Add(Obj.VmaLock, ((long)mm << 36) | (long)(engine.VmaStart(mm, op.Va) >> 12));
                Add(Obj.MmLock, mm, write: false);
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
                if (op.Has(OpFlags.Assert))
                {
                    AddObservedSection(engine, op.Tid);
                }
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
                // I1 looks at the usable TLB entries that map the page, on every CPU, whichever mm filled them.
                Add(Obj.Page, (long)op.Pfn);
                foreach (int cpu in _cpus)
                {
                    Add(Obj.TlbPage, ((long)op.Pfn << 8) | (uint)cpu, write: false);
                }
                break;
            case OpKind.IrqDisable:
            case OpKind.IrqEnable:
            case OpKind.RcuLock:
            case OpKind.RcuUnlock:
                // Only this CPU's section changes; IPI and grace-period waits read it.
                Add(Obj.Cpu, op.Cpu);
                Add(Obj.Sections, op.Cpu);
                break;
            case OpKind.IpiSend:
            case OpKind.IpiHandle:
                // Handling an IPI ends this CPU's IRQ-off section for I2 (its last sync).
                Add(Obj.Ipi, op.Obj);
                Add(Obj.Cpu, op.Cpu);
                Add(Obj.Sections, op.Cpu);
                break;
            case OpKind.IpiSync:
                AddSectionWaits();
                break;
            case OpKind.RcuGpEnd:
                // Waits for every open IRQ-off/RCU section, then frees the tables queued before it (any mm): each free
                // is checked against the walk caches of that table's mm on the CPUs that have it loaded (I1) and
                // against the sections still open (I2). A grace period touches no other mm's TLB: with nothing queued
                // it frees nothing, and it commutes with context switches and flushes of mms it frees no table of.
                AddSectionWaits();
                Add(Obj.Rcu, 0);
                _scratch.Clear();
                engine.RcuPendingTables(_scratch);
                foreach (int table in _scratch)
                {
                    AddTableRelease(engine, table);
                }
                break;
            case OpKind.TableAlloc:
                break;
            case OpKind.TableDeposit:
                // pgtable_trans_huge_deposit reuses an unlinked PTE table to back the huge PMD: the table and the mm's
                // deposits change, and I2 checks the reuse as it checks a free, against every CPU's open IRQ-off/RCU
                // section that read a link to the table (docs/exploration.md, "The commutation oracle").
                Add(Obj.Tables, mm);
                foreach (int cpu in _cpus)
                {
                    Add(Obj.Sections, cpu);
                }
                break;
            case OpKind.TableFree:
                switch ((FreeMode)op.Sub)
                {
                    case FreeMode.Rcu:
                        // tlb_remove_table / pte_free_defer: only queued; the grace period that ends after it frees it.
                        // Two queueings commute (a grace period frees every table queued before it, in any order),
                        // so they only read the queue; the grace period writes it.
                        Add(Obj.Rcu, 0, write: false);
                        break;
                    case FreeMode.Gather:
                        // Into this task's mmu_gather: freed by the task's own next flush of the mm (whose footprint
                        // holds the free); here only the table's state changes.
                        break;
                    default:
                        AddTableRelease(engine, op.Table);
                        break;
                }
                break;
            case OpKind.Access:
            case OpKind.TlbFill:
                // A hardware walk reads the tables it visits and the mm's tlb_gen and fills this CPU's TLB.
                Add(Obj.Tables, mm, write: false);
                AddWalk(engine, mm, op.Va, Level.Pte, write: false);
                Add(Obj.Gen, mm, write: false);
                Add(Obj.Cpu, op.Cpu, write: false);
                AddTlb(mm, op.Cpu);
                AddFill(engine, mm, op);
                break;
            case OpKind.TlbFlush:
            case OpKind.TlbBatchAdd:
                AddFlush(mm, waits: false);
                if (op.Kind == OpKind.TlbFlush && engine.Arch == Arch.X86 && !op.Has(OpFlags.NoIpi))
                {
                    // The shootdown IPI goes to the other CPUs running the mm (with freed_tables also those lazily
                    // keeping it), as they are now: it waits for their IRQ-off sections and syncs them. CPUs it does
                    // not reach are not waited for (a batch add sends nothing).
                    bool tables = op.Has(OpFlags.FreedTables);
                    foreach (int cpu in _cpus)
                    {
                        if (cpu != op.Cpu && (engine.LoadedMm(cpu) == mm || (tables && engine.LazyMm(cpu) == mm)))
                        {
                            Add(Obj.Sections, cpu, write: false);
                        }
                    }
                }
                // tlb_finish_mmu: the tables this task gathered for the mm are freed after the flush.
                _scratch.Clear();
                engine.GatheredTables(op.Tid, _scratch);
                foreach (int table in _scratch)
                {
                    if (engine.TableOwner(table) == mm)
                    {
                        AddTableRelease(engine, table);
                    }
                }
                break;
            case OpKind.TlbBatchFlush:
                // x86: a full flush of every CPU of the batch's union cpumask, any mm.
                AddEveryTlb(engine, write: true);
                AddSectionWaits();
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
                AddSpare(op, engine);
                // take_rmap_locks locks the source VMA's anon_vma root / i_mmap, where the profile's expansion takes it
                // (ReplayEngine.EmitNormalMove, EmitMovePtes): a PMD/PUD move only with need_rmap_locks or the R1 fix, a
                // PTE move only with need_rmap_locks. A move that takes none touches no rmap lock (docs/exploration.md,
                // DPOR, "Moves that take no rmap lock").
                if (op.Kind == OpKind.ExecShiftStack || op.Has(OpFlags.NeedRmapLocks)
                    || (op.Kind != OpKind.MovePtes && engine.Profile.Has(KernelFix.RmapLocksPmdMove)))
                {
                    if (op.Obj != 0)
                    {
                        Add(Obj.Rmap, op.Obj);
                    }
                    if (engine.VmaRmap(mm, op.Va) is var rmap and not 0)
                    {
                        Add(Obj.Rmap, rmap);
                    }
                }
                if (op.Kind == OpKind.ExecShiftStack)
                {
                    Add(Obj.Vmas, mm);
                }
                break;
            case OpKind.TtuStart:
                // rmap_walk's start: the anon_vma / i_mmap lock (ReplayEngine.Expand: rmap_walk_begin, which only marks
                // the witness, and rmap_lock). No page state changes: the folio's mapcount, flags and references are
                // touched by the walk's later steps.
                Add(Obj.Rmap, op.Obj);
                break;
            case OpKind.TtuEnd:
                // The rmap lock's release and, where the profile asserts after the walk (split_huge_page's
                // VM_BUG_ON(page_mapped)), the mapcount read that I3 judges: the page is read, not written.
                Add(Obj.Rmap, op.Obj);
                if (op.Has(OpFlags.Assert) && engine.Profile.Has(KernelFeature.SplitUnmapAssert))
                {
                    Add(Obj.Page, (long)op.Pfn, write: false);
                    AddObservedSection(engine, op.Tid);
                }
                break;
            case OpKind.TtuWalk:
                Add(Obj.Tables, mm);
                Add(Obj.Page, (long)op.Pfn);
                break;
            case OpKind.TtuUnmap:
            case OpKind.ZapFinish:
                Add(Obj.Tables, mm);
                Add(Obj.Page, (long)op.Pfn);
                // A zap unmaps the page its zap_clear found, which may not be the recorded one.
                if (op.Kind == OpKind.ZapFinish && engine.ZapFound(op.Tid) is > 0 and var found)
                {
                    Add(Obj.Page, found);
                }
                AddFlush(mm);
                break;
            case OpKind.TtuMlockCheck:
                {
                    // The walker's re-check under the PTE lock: that lock, the entry (read), VM_LOCKED (read), and
                    // with the fix the Mlocked flag set under the lock; without it the page is not touched here.
                    bool underPtl = engine.Profile.Has(KernelFix.MlockUnderPtl);
                    _walk.Clear();
                    if (mm != 0 && engine.WalkTables(mm, op.Va, Level.Pte, _walk))
                    {
                        Add(Obj.Tables, mm, write: false);
                        foreach (int table in _walk)
                        {
                            Add(Obj.Table, table, write: false);
                        }
                        Add(Obj.Ptl, _walk[^1]);
                    }
                    else
                    {
                        Add(Obj.Tables, mm);
                    }
                    Add(Obj.Vmas, mm, write: false);
                    Add(Obj.Page, (long)op.Pfn, write: underPtl);
                    break;
                }
            case OpKind.TtuMlockSet:
                // 4.3's out_mlock: down_read_trylock(mmap_sem) and VM_LOCKED re-read. With the fix (mlock under the
                // PTL, in ttu_mlock_check) the step is empty.
                if (!engine.Profile.Has(KernelFix.MlockUnderPtl))
                {
                    Add(Obj.MmLock, mm);
                    Add(Obj.Vmas, mm, write: false);
                }
                break;
            case OpKind.TtuMlockPage:
                // 4.3: mlock_vma_page (the Mlocked flag, justified by the mapping) and up_read; empty with the fix.
                if (!engine.Profile.Has(KernelFix.MlockUnderPtl))
                {
                    Add(Obj.MmLock, mm);
                    Add(Obj.Vmas, mm, write: false);
                    Add(Obj.Tables, mm, write: false);
                    Add(Obj.Page, (long)op.Pfn);
                }
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
    private ReplayEngine? _engine;
    private readonly List<long> _pfns = [];
    private readonly List<int> _tables = [];
    private readonly List<int> _walk = [];

    /// <summary>
    /// Primitives on one entry slot (an entry store, a populate, a read, a split page-table lock): these touch the one
    /// table the slot is in and read the tables above it, so ops on different tables of one mm are independent.
    /// Steps, moves and ops on the mm-wide page_table_lock keep the mm's tables as a whole.
    /// </summary>
    private static bool IsEntryOp(in Op op) => op.Kind switch
    {
        OpKind.PteSet or OpKind.PteClear or OpKind.PteSetSwap or OpKind.EntryRead => !op.Has(OpFlags.UseReg),
        OpKind.PmdPopulate or OpKind.PmdClear or OpKind.PmdSetHuge or OpKind.PudPopulate or OpKind.PudClear
            or OpKind.PudSetHuge or OpKind.P4dPopulate or OpKind.PgdPopulate => op.Table != 0 || op.Kind is OpKind.PmdClear
            or OpKind.PmdSetHuge or OpKind.PudClear or OpKind.PudSetHuge,
        OpKind.PtlLock or OpKind.PtlUnlock => op.Table == 0 && !op.Has(OpFlags.UseReg) && op.Level < Level.Pud,
        _ => false,
    };

    /// <summary>
    /// An entry op: the mm's tables as a whole (read: a step that rewrites them conflicts), every table its walk visits
    /// now (read), the table holding its slot (written unless it is a read), and for a store what the old entry
    /// pointed to — the page a leaf mapped (its unmap is recorded there) or the table it linked (unlinked) — and the
    /// page a new leaf maps.
    /// </summary>
    private void AddEntry(in Op op, ReplayEngine engine, int mm)
    {
        bool write = op.Kind != OpKind.EntryRead;
        Level level = op.Kind switch
        {
            OpKind.PteSet or OpKind.PteClear or OpKind.PteSetSwap => Level.Pte,
            OpKind.PmdPopulate or OpKind.PmdClear or OpKind.PmdSetHuge => Level.Pmd,
            OpKind.PudPopulate or OpKind.PudClear or OpKind.PudSetHuge => Level.Pud,
            OpKind.P4dPopulate => Level.P4d,
            OpKind.PgdPopulate => Level.Pgd,
            _ => op.Level,
        };
        if (op.Pfn != 0)
        {
            Add(Obj.Page, (long)op.Pfn);
        }
        bool named = op.Table != 0 && op.Kind is OpKind.PteSet or OpKind.PteClear or OpKind.PteSetSwap or OpKind.EntryRead;
        if (named)
        {
            // Addressed by table id (handled above); a store also touches what the old entry pointed to. A read looks
            // only at the section open on the table's lock (I3), which the lock's acquisition leaves empty.
            Add(write ? Obj.Ptl : Obj.PtlSection, op.Table, write: false);
            if (write)
            {
                AddOld(engine.EntryOf(op.Table, op.Index));
            }
            return;
        }
        if (mm == 0)
        {
            return;
        }
        Add(Obj.Tables, mm, write: false);
        if (op.Kind is OpKind.PtlLock or OpKind.PtlUnlock)
        {
            // The walk to the table (read) and that table's lock, not its entries.
            _walk.Clear();
            if (engine.WalkTables(mm, op.Va, level, _walk))
            {
                for (int i = 0; i < _walk.Count - 1; i++)
                {
                    Add(Obj.Table, _walk[i], write: false);
                }
                Add(Obj.Ptl, _walk[^1]);
                if (op.Kind == OpKind.PtlUnlock)
                {
                    Add(Obj.PtlSection, _walk[^1]);
                }
            }
            else
            {
                foreach (int table in _walk)
                {
                    Add(Obj.Table, table, write: false);
                }
            }
            return;
        }
        if (AddWalk(engine, mm, op.Va, level, write))
        {
            // Whether the slot's lock is held (and by whom) is what I3 and the unmap records look at; a read looks only
            // at the writes of the section open on it, which a lock's acquisition does not change.
            Add(write ? Obj.Ptl : Obj.PtlSection, _walk[^1], write: false);
            if (write)
            {
                AddOld(engine.EntryNow(mm, op.Va, level));
            }
        }
    }

    private void AddOld(long old)
    {
        switch (EntryValue.KindOf(old))
        {
            case EntryKind.Leaf:
                Add(Obj.Page, EntryValue.Payload(old));
                break;
            case EntryKind.Table:
                Add(Obj.Table, EntryValue.Payload(old));
                break;
            default:
                break;
        }
    }

    /// <summary>Reads every table the walk visits now; the level-<paramref name="level"/> one is written when
    /// <paramref name="write"/>. True when the walk reaches that level.</summary>
    private bool AddWalk(ReplayEngine engine, int mm, ulong va, Level level, bool write)
    {
        _walk.Clear();
        bool reached = engine.WalkTables(mm, va, level, _walk);
        for (int i = 0; i < _walk.Count; i++)
        {
            Add(Obj.Table, _walk[i], write && reached && i == _walk.Count - 1);
        }
        return reached;
    }

    private readonly List<(int Table, Level Level)> _allocations = [];

    private void AddSpare(in Op op, ReplayEngine engine)
    {
        if (op.Table == 0)
        {
            return;
        }
        // spare=N: the table ids the step may allocate (N, and those its PTE tables and the destination's missing PMD,
        // PUD and P4D tables take after it); the tables they link into are the mm's, written above.
        Add(Obj.Table, op.Table);
        _allocations.Clear();
        engine.StepAllocations(op, _allocations);
        foreach (var (table, _) in _allocations)
        {
            Add(Obj.Table, table);
        }
    }

    /// <summary>
    /// The free of a table (now, at a grace period's end, or after a gather flush): the table itself; the I1 check of
    /// the walk caches that may name it — its mm's TLB state on every CPU and whether that CPU has the mm loaded, or
    /// lazily kept (entries of another mm cannot name it, docs/exploration.md); and the I2 check of every CPU's open
    /// IRQ-off/RCU section and its last IPI sync. Those sections are per CPU and change with each CPU's IRQ and RCU
    /// ops, which only read the shared section state, so the free writes it (a grace period and a flush already do).
    /// </summary>
    private void AddTableRelease(ReplayEngine engine, int table)
    {
        Add(Obj.Table, table);
        foreach (int cpu in _cpus)
        {
            Add(Obj.Sections, cpu);
            Add(Obj.WalkRef, ((long)table << 8) | (uint)cpu, write: false);
        }
    }

    /// <summary>
    /// An IPI (a shootdown, ipi_sync) or a grace period waits for the CPUs' IRQ-off/RCU sections and, for an IPI, marks
    /// each target synced: it reads every CPU's section. Two of them commute (each only waits, and a CPU's last sync is
    /// the later of the two in either order); the IRQ and RCU ops of a CPU, and a table free that I2 checks against
    /// the sections, write it.
    /// </summary>
    private void AddSectionWaits()
    {
        foreach (int cpu in _cpus)
        {
            Add(Obj.Sections, cpu, write: false);
        }
    }

    /// <summary>
    /// An access or TLB fill on a miss fills this CPU's TLB with the frame its walk reaches and its paging-structure
    /// cache with the tables it passes (replacing what those slots named); a hit changes nothing there. A fill that
    /// may reach a cache's capacity drops everything the CPU caches.
    /// </summary>
    private void AddFill(ReplayEngine engine, int mm, in Op op)
    {
        _pfns.Clear();
        _tables.Clear();
        if (!engine.FillRefs(op.Cpu, mm, op.Va, _pfns, _tables, out bool evicts))
        {
            return;
        }
        if (evicts)
        {
            engine.CachedRefs(op.Cpu, 0, usableOnly: true, _pfns, _tables);
        }
        AddRefs(op.Cpu);
    }

    private void AddRefs(int cpu)
    {
        foreach (long pfn in _pfns)
        {
            Add(Obj.TlbPage, (pfn << 8) | (uint)cpu);
        }
        foreach (int table in _tables)
        {
            Add(Obj.WalkRef, ((long)table << 8) | (uint)cpu);
        }
    }

    /// <summary>A change of what <paramref name="cpu"/> caches of <paramref name="mm"/> or whether it is usable (a flush,
    /// a context switch): that TLB state, and the frames and tables its entries name.</summary>
    private void AddCacheChange(int mm, int cpu, bool usableOnly = true)
    {
        AddTlb(mm, cpu);
        if (_engine is null)
        {
            return;
        }
        _pfns.Clear();
        _tables.Clear();
        _engine.CachedRefs(cpu, mm, usableOnly, _pfns, _tables);
        AddRefs(cpu);
    }

    private void AddTlb(int mm, int cpu) => Add(Obj.Tlb, ((long)mm << 8) | (uint)cpu);

    /// <summary>A flush of mm's entries on the CPUs it covers (any of them), bumping tlb_gen; an IPI flush waits for IRQ-off
    /// CPUs (<paramref name="waits"/>: any of them).</summary>
    private void AddFlush(int mm, bool waits = true)
    {
        Add(Obj.Gen, mm);
        foreach (int cpu in _cpus)
        {
            AddCacheChange(mm, cpu);
            Add(Obj.CpuMask, ((long)mm << 8) | (uint)cpu, write: false);
        }
        if (waits)
        {
            AddSectionWaits();
        }
    }

    private void AddMmWhole(int mm)
    {
        Add(Obj.Tables, mm);
        Add(Obj.Vmas, mm);
        Add(Obj.MmLock, mm);
        Add(Obj.Gen, mm);
        foreach (int cpu in _cpus)
        {
            AddCacheChange(mm, cpu);
            Add(Obj.CpuMask, ((long)mm << 8) | (uint)cpu);
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
                if (write)
                {
                    AddCacheChange(mm, cpu);
                    Add(Obj.CpuMask, ((long)mm << 8) | (uint)cpu, write: false);
                }
                else
                {
                    Add(Obj.Tlb, ((long)mm << 8) | (uint)cpu, write: false);
                }
            }
            if (write)
            {
                Add(Obj.Gen, mm);
            }
        }
    }
}
