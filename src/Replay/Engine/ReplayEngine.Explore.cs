namespace Pipeline.Replay;

/// <summary>What the schedule explorer (<c>Explore/</c>) asks the engine between two program ops.</summary>
public sealed partial class ReplayEngine
{
    /// <summary>Whether task <paramref name="tid"/> is parked inside a step (a lock, an IPI, a grace period).</summary>
    internal bool IsBlocked(int tid) => _tasks.TryGetValue(tid, out var task) && task.Blocked;

    /// <summary>What parked task <paramref name="tid"/> waits for (empty when it is not parked).</summary>
    internal string BlockedOn(int tid) => _tasks.TryGetValue(tid, out var task) && task.Blocked ? task.BlockedOn : "";

    /// <summary>The locks task <paramref name="tid"/> holds now, by name (unique per lock), with whether for write.</summary>
    internal void HeldLocks(int tid, List<(string Lock, bool Write)> into)
    {
        if (_tasks.TryGetValue(tid, out var task))
        {
            foreach (var held in task.Held)
            {
                into.Add((held.Lock.Name, held.Write));
            }
        }
    }

    /// <summary>When set, every lock acquisition is appended (task, lock name, for write, trylock), also those a step
    /// takes and releases inside one program op: explore's feasibility analysis reads it.</summary>
    internal List<(int Tid, string Lock, bool Write, bool Try)>? Acquisitions { get; set; }

    private readonly TaskState _planTask = new();

    /// <summary>
    /// The table ids move step <paramref name="step"/> may allocate if it starts now (its spare=N, N+1, … in the order
    /// its micro-ops take them), each with the level of the table: PTE tables of move_ptes, and the destination's upper
    /// tables alloc_new_pmd / alloc_new_pud allocate, which are planned only where the destination lacks them now.
    /// </summary>
    internal void StepAllocations(in Op step, List<(int Table, Level Level)> into)
    {
        if (step.Table == 0 || step.Kind is not (OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.MovePtes or OpKind.ExecShiftStack))
        {
            return;
        }
        _planTask.MicroCount = 0;
        Expand(_planTask, step);
        for (int i = 0; i < _planTask.MicroCount; i++)
        {
            ref readonly var micro = ref _planTask.Micro[i];
            if (micro.Kind == OpKind.PteAlloc && micro.Table != 0)
            {
                into.Add((micro.Table, micro.Level));
            }
        }
        _planTask.MicroCount = 0;
    }

    /// <summary>How far task <paramref name="tid"/> got inside its current step (changes when a parked step resumes).</summary>
    internal int MicroPosition(int tid) => _tasks.TryGetValue(tid, out var task) ? task.MicroPos : 0;

    /// <summary>
    /// Whether <paramref name="op"/>, run by <paramref name="tid"/> now, would fail a trylock the trace shows
    /// succeeding (docs/exploration.md, Feasibility rule 10): a primitive <c>mmap_lock try=1</c> without <c>failed</c>,
    /// or khugepaged's <c>retract_start</c> where the profile takes mmap_lock by write trylock (before v6.5), while
    /// another task holds the mm's mmap_lock in a conflicting mode. The explorer lets such a task wait, as for a lock.
    /// </summary>
    internal bool RecordedTrylockWouldFail(in Op op, int tid)
    {
        bool write;
        if (op.Kind == OpKind.MmapLock && op.Has(OpFlags.Try) && !op.Has(OpFlags.Failed))
        {
            write = op.Has(OpFlags.Write);
        }
        else if (op.Kind == OpKind.RetractStart && !_profile.Has(KernelFeature.RetractWithoutMmapLock))
        {
            write = true;
        }
        else
        {
            return false;
        }
        return GetMm(op.Mm)?.MmapLock is { } lk && lk.Writer != tid && lk.Conflicts(write);
    }

    /// <summary>Inconsistent-input findings so far (kept and dropped).</summary>
    internal int InconsistentCount => _inconsistentCount;

    /// <summary>The mm a table is linked into now, 0 when it is not linked (or unknown).</summary>
    internal int TableOwner(int table) => GetTable(table)?.Mm ?? 0;

    /// <summary>Whether table id <paramref name="table"/> is free for an allocation now (unknown, or freed: not live,
    /// deposited, or waiting for a grace period or a flush).</summary>
    internal bool TableReleased(int table) => GetTable(table) is not { } t || t.State == TableState.Freed;

    /// <summary>The mm CPU <paramref name="cpu"/> runs now (0: none or lazy).</summary>
    internal int LoadedMm(int cpu) => (uint)cpu < (uint)_cpus.Length && _cpus[cpu] is { } state ? state.LoadedMm : 0;

    /// <summary>Ids of the mms that exist now, ascending.</summary>
    internal void MmIds(List<int> into)
    {
        for (int i = 0; i < _mms.Length; i++)
        {
            if (_mms[i] is not null)
            {
                into.Add(i);
            }
        }
    }

    /// <summary>The slot (table, index) that <paramref name="va"/>'s level-<paramref name="level"/> entry of mm
    /// <paramref name="mm"/> occupies now; false when the walk does not reach that level.</summary>
    internal bool TryResolveSlot(int mm, ulong va, Level level, out int table, out int idx)
    {
        table = 0;
        idx = 0;
        if (GetMm(mm) is not { } state || !TryWalk(state, va, level, out var t, out idx))
        {
            return false;
        }
        table = t.Id;
        return true;
    }

    /// <summary>The tables a walk of <paramref name="mm"/> for <paramref name="va"/> down to <paramref name="level"/> visits
    /// now, from the root, into <paramref name="into"/>; true when it reaches the level-<paramref name="level"/> table (the last one added).</summary>
    internal bool WalkTables(int mm, ulong va, Level level, List<int> into)
    {
        if (GetMm(mm) is not { } state)
        {
            return false;
        }
        var t = GetTable(state.Root);
        while (t is not null && t.State != TableState.Freed && t.Level >= level)
        {
            into.Add(t.Id);
            if (t.Level == level)
            {
                return true;
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

    /// <summary>Entry <paramref name="index"/> of table <paramref name="table"/> now (none when the table is unknown or freed).</summary>
    internal long EntryOf(int table, int index) =>
        GetTable(table) is { } t && t.State != TableState.Freed && (uint)index < 512u ? t.Entry(index) : EntryValue.None;

    /// <summary>Ids of the tables queued for freeing after an RCU grace period.</summary>
    internal void RcuPendingTables(List<int> into)
    {
        foreach (var (id, _) in _rcuPending)
        {
            into.Add(id);
        }
    }

    /// <summary>Tables task <paramref name="tid"/>'s mmu_gather holds (freed at its next flush of their mm).</summary>
    internal void GatheredTables(int tid, List<int> into)
    {
        if (_tasks.TryGetValue(tid, out var task))
        {
            foreach (var (id, _) in task.Gathered)
            {
                into.Add(id);
            }
        }
    }

    private readonly List<int> _refSlots = [];

    /// <summary>
    /// What <paramref name="cpu"/> caches of <paramref name="mm"/> (every mm when 0): the frames its TLB entries map
    /// (<paramref name="pfns"/>) and the tables its paging-structure cache names (<paramref name="tables"/>). An op that
    /// drops these entries or changes whether they are usable (a flush, a context switch) changes what I1 sees when
    /// one of those frames or tables is freed. With <paramref name="usableOnly"/>, only the entries I1 counts now: a
    /// TLB entry while the CPU runs its mm or its tlb_gen is current, a paging-structure entry while the CPU has its mm
    /// loaded (or, on x86, lazily kept); an entry that is not usable becomes usable again only by a context switch.
    /// Without it, every TLB entry but the dead ones (<see cref="TlbDead"/>): a switch cannot make those usable (a switch
    /// into their mm drops them), so what I1 sees of their frames does not change.
    /// </summary>
    internal void CachedRefs(int cpu, int mm, bool usableOnly, List<long> pfns, List<int> tables)
    {
        if ((uint)cpu >= (uint)_cpus.Length || _cpus[cpu] is not { } state)
        {
            return;
        }
        if (mm == 0)
        {
            foreach (var entry in state.Tlb.Values)
            {
                if (usableOnly ? TlbUsable(state, entry) : !TlbDead(state, entry))
                {
                    pfns.Add((long)entry.Pfn);
                }
            }
        }
        else if (state.TlbPerMm.ContainsKey(mm))
        {
            state.Tlb.SlotsOf(mm, _refSlots);
            foreach (int slot in _refSlots)
            {
                ref readonly var entry = ref state.Tlb.ValueAt(slot);
                if (usableOnly ? TlbUsable(state, entry) : !TlbDead(state, entry))
                {
                    pfns.Add((long)entry.Pfn);
                }
            }
        }
        if (mm == 0 || state.WalkPerMm.ContainsKey(mm))
        {
            foreach (var kv in state.WalkCache)
            {
                int owner = (int)(kv.Key >> 42);
                if ((mm == 0 || owner == mm)
                    && (!usableOnly || state.LoadedMm == owner || (_arch == Arch.X86 && state.LazyMm == owner)))
                {
                    tables.Add(kv.Value);
                }
            }
        }
    }

    /// <summary>
    /// Whether no op can make <paramref name="cpu"/> use <paramref name="entry"/> again: the CPU does not run its mm (a
    /// lazy x86 CPU keeps the mm loaded in hardware but runs a kernel thread, which makes no user access), the entry was
    /// filled before the mm's last tlb_gen bump, and the CPU has not caught up with that bump, so a switch back into the
    /// mm flushes the mm there first (<see cref="CtxSwitch"/>, switch_mm_irqs_off). tlb_gen only grows and the CPU
    /// catches up only by running the mm, so a dead entry stays dead until it is dropped. An entry of an mm that is gone
    /// is not called dead (a new mm may take its id).
    /// </summary>
    private bool TlbDead(CpuState cpu, in TlbEntry entry) =>
        GetMm(entry.Mm) is { } m && cpu.LoadedMm != entry.Mm && entry.Gen != m.TlbGen
        && (!cpu.SeenGen.TryGetValue(entry.Mm, out long seen) || seen != m.TlbGen);

    // As I1 counts a TLB entry at a page's free.
    private bool TlbUsable(CpuState cpu, in TlbEntry entry) =>
        cpu.LoadedMm == entry.Mm || (GetMm(entry.Mm) is { } m && entry.Gen == m.TlbGen);

    /// <summary>
    /// What an access or TLB fill of <paramref name="va"/> in <paramref name="mm"/> on <paramref name="cpu"/> may change
    /// in the caches now: false when a TLB entry hits (nothing is filled); otherwise the frame its walk reaches
    /// (<paramref name="pfns"/>) and the tables whose paging-structure entries it fills or replaces (<paramref name="tables"/>).
    /// <paramref name="evicts"/>: the fill may reach a cache's capacity and drop everything the CPU caches.
    /// </summary>
    internal bool FillRefs(int cpu, int mm, ulong va, List<long> pfns, List<int> tables, out bool evicts)
    {
        evicts = false;
        if ((uint)cpu >= (uint)_cpus.Length || _cpus[cpu] is not { } state || GetMm(mm) is not { } m)
        {
            return false;
        }
        for (int shift = 12; shift <= 30; shift += 9)
        {
            if (state.Tlb.ContainsKey(TlbKey(mm, va & ~((1UL << shift) - 1), shift)))
            {
                return false;
            }
        }
        evicts = state.Tlb.Count >= TlbCap - 1 || state.WalkCache.Count >= WalkCacheCap - 4;
        var t = GetTable(m.Root);
        while (t is not null && t.State != TableState.Freed)
        {
            long e = t.Entry(IndexOf(va, t.Level));
            var kind = EntryValue.KindOf(e);
            if (kind == EntryKind.Table && t.Level > Level.Pte)
            {
                var child = GetTable((int)EntryValue.Payload(e));
                if (child is null || child.State == TableState.Freed)
                {
                    break;
                }
                tables.Add(child.Id);
                if (state.WalkCache.TryGetValue(WalkKey(mm, child.Level, va), out int old))
                {
                    tables.Add(old);
                }
                t = child;
                continue;
            }
            if (kind == EntryKind.Leaf && t.Level <= Level.Pud)
            {
                pfns.Add(EntryValue.Payload(e));
            }
            break;
        }
        return true;
    }

    /// <summary>The page task <paramref name="tid"/>'s last zap_clear found in the entry it cleared (0: none; -1: no zap_clear pending).</summary>
    internal long ZapFound(int tid) => _tasks.TryGetValue(tid, out var task) ? task.RegZapFound : -1;

    /// <summary>The table whose open writer section task <paramref name="tid"/>'s last lockless read observed (I3), which
    /// its next asserted mapcount read judges against; 0 when none is pending.</summary>
    internal int ObservedSectionTable(int tid) =>
        _tasks.TryGetValue(tid, out var task) && task.ObsReadExec >= 0 ? task.ObsTable : 0;

    /// <summary>Every table mm <paramref name="mm"/> holds now: its tree from the PGD down and its deposited tables.</summary>
    internal void TablesOf(int mm, List<int> into)
    {
        if (GetMm(mm) is not { } m)
        {
            return;
        }
        var stack = new Stack<int>();
        stack.Push(m.Root);
        while (stack.Count > 0)
        {
            if (GetTable(stack.Pop()) is not { } t || t.State == TableState.Freed)
            {
                continue;
            }
            into.Add(t.Id);
            if (t.Level > Level.Pte)
            {
                for (int i = 0; i < 512 && t.Present > 0; i++)
                {
                    if (EntryValue.KindOf(t.Entry(i)) == EntryKind.Table)
                    {
                        stack.Push((int)EntryValue.Payload(t.Entry(i)));
                    }
                }
            }
        }
        into.AddRange(m.Deposits.Values);
    }

    /// <summary>
    /// Adds to <paramref name="into"/> the frames of <paramref name="sorted"/> (ascending) that the model can translate
    /// now: a leaf entry of a live table maps them (a huge leaf covers its whole range) or a TLB entry of some CPU,
    /// usable or not, names them. Reads the tables a fork shares with its parent without copying them.
    /// </summary>
    internal void TranslatableFrames(ulong[] sorted, HashSet<ulong> into)
    {
        LeafSlots(sorted, (pfn, _, _) => into.Add(pfn));
        foreach (var cpu in Cpus)
        {
            foreach (var entry in cpu.Tlb.Values)
            {
                CoverEntry(sorted, entry, pfn => into.Add(pfn));
            }
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> (frame, table, index) for every leaf entry of a live table (linked or not, not
    /// freed) that maps a frame of <paramref name="sorted"/> (ascending); a huge leaf covers its whole range. Reads the
    /// tables a fork shares with its parent without copying them.
    /// </summary>
    internal void LeafSlots(ulong[] sorted, Action<ulong, int, int> visit)
    {
        if (sorted.Length == 0)
        {
            return;
        }
        int tables = Math.Max(_tables.Length, _parentTables?.Length ?? 0);
        for (int id = 0; id < tables; id++)
        {
            var t = id < _tables.Length && _tables[id] is { } own ? own
                : _parentTables is not null && id < _parentTables.Length ? _parentTables[id] : null;
            if (t is null || t.State == TableState.Freed || !t.IsLive)
            {
                continue;
            }
            ulong span = 1UL << (9 * (int)t.Level);
            for (int i = 0; i < 512 && t.Present > 0; i++)
            {
                long e = t.Entry(i);
                if (EntryValue.KindOf(e) == EntryKind.Leaf)
                {
                    ulong first = (ulong)EntryValue.Payload(e);
                    int k = Array.BinarySearch(sorted, first);
                    for (k = k < 0 ? ~k : k; k < sorted.Length && sorted[k] - first < span; k++)
                    {
                        visit(sorted[k], id, i);
                    }
                }
            }
        }
    }

    /// <summary>The frames of <paramref name="sorted"/> a TLB entry may name: the entry's frame may be the page it
    /// translated inside a huge mapping, so the range on both sides is covered.</summary>
    private static void CoverEntry(ulong[] sorted, in TlbEntry entry, Action<ulong> visit)
    {
        ulong span = 1UL << Math.Max(0, entry.SizeShift - 12);
        ulong first = entry.Pfn >= span ? entry.Pfn - span : 0;
        int k = Array.BinarySearch(sorted, first);
        for (k = k < 0 ? ~k : k; k < sorted.Length && sorted[k] - first < 2 * span; k++)
        {
            visit(sorted[k]);
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> for every frame of <paramref name="sorted"/> (ascending) that a TLB entry names
    /// and is not dead (<see cref="TlbDead"/>): usable now, or it may become usable by a context switch.
    /// </summary>
    internal void LiveTlbEntries(ulong[] sorted, Action<ulong> visit)
    {
        if (sorted.Length == 0)
        {
            return;
        }
        foreach (var cpu in Cpus)
        {
            foreach (var entry in cpu.Tlb.Values)
            {
                if (!TlbDead(cpu, entry))
                {
                    CoverEntry(sorted, entry, visit);
                }
            }
        }
    }

    /// <summary>The mm an x86 CPU keeps lazily loaded under a kernel thread (0: none).</summary>
    internal int LazyMm(int cpu) => (uint)cpu < (uint)_cpus.Length && _cpus[cpu] is { } state ? state.LazyMm : 0;

    /// <summary>Whether a context switch of <paramref name="cpu"/> into <paramref name="mm"/> now flushes the mm's TLB
    /// entries there (switch_mm_irqs_off: the CPU has not caught up with the mm's tlb_gen).</summary>
    internal bool SwitchFlushes(int cpu, int mm)
    {
        if (mm == 0 || (uint)cpu >= (uint)_cpus.Length || _cpus[cpu] is not { } state || state.LoadedMm == mm || GetMm(mm) is not { } m)
        {
            return false;
        }
        return !state.SeenGen.TryGetValue(mm, out long seen) || seen != m.TlbGen;
    }

    /// <summary>The value of <paramref name="va"/>'s level-<paramref name="level"/> entry in mm <paramref name="mm"/> now (none when unreachable).</summary>
    internal long EntryNow(int mm, ulong va, Level level) =>
        GetMm(mm) is { } state && TryWalk(state, va, level, out var t, out int idx) ? t.Entry(idx) : EntryValue.None;

    /// <summary>The rmap object of the VMA of mm <paramref name="mm"/> containing <paramref name="va"/> now (0: none).</summary>
    internal int VmaRmap(int mm, ulong va) => GetMm(mm)?.FindVma(va)?.Rmap ?? 0;

    /// <summary>The start of the VMA of mm <paramref name="mm"/> containing <paramref name="va"/> now (0: none).</summary>
    internal ulong VmaStart(int mm, ulong va) => GetMm(mm)?.FindVma(va)?.Start ?? 0;

    /// <summary>The level of table <paramref name="table"/> (PTE when unknown).</summary>
    internal Level TableLevel(int table) => GetTable(table)?.Level ?? Level.Pte;

    /// <summary>
    /// Where page <paramref name="pfn"/> is mapped in mm <paramref name="mm"/> now, inside a VMA whose rmap object is
    /// <paramref name="rmap"/> (any VMA when 0): the lowest such address, or false when it is not mapped there. Failing
    /// that, the lowest address that maps it outside every VMA the model knows: a lowered real trace has no VMAs of its
    /// file mappings (docs/lowering.md), and there the tables alone say where the VMA put the page.
    /// </summary>
    internal bool TryFindMapping(int mm, ulong pfn, int rmap, out ulong va)
    {
        va = 0;
        if (GetMm(mm) is not { } state || GetTable(state.Root) is not { } root)
        {
            return false;
        }
        return FindLeaf(state, root, 0, pfn, rmap, ref va, depth: 0, outsideVmas: false)
            || FindLeaf(state, root, 0, pfn, rmap, ref va, depth: 0, outsideVmas: true);
    }

    private bool FindLeaf(MmState mm, Table table, ulong prefix, ulong pfn, int rmap, ref ulong va, int depth, bool outsideVmas)
    {
        if (depth > 5)
        {
            return false;
        }
        int shift = 12 + (9 * (int)table.Level);
        for (int i = 0; i < 512 && table.IsLive; i++)
        {
            long e = table.Entry(i);
            if (e == EntryValue.None)
            {
                continue;
            }
            ulong at = prefix | ((ulong)i << shift);
            switch (EntryValue.KindOf(e))
            {
                case EntryKind.Table when GetTable((int)EntryValue.Payload(e)) is { } child && child.Level < table.Level:
                    if (FindLeaf(mm, child, at, pfn, rmap, ref va, depth + 1, outsideVmas))
                    {
                        return true;
                    }
                    break;
                case EntryKind.Leaf when (ulong)EntryValue.Payload(e) == pfn:
                    if (mm.FindVma(at) is { } vma ? !outsideVmas && (rmap == 0 || vma.Rmap == rmap) : outsideVmas)
                    {
                        va = at;
                        return true;
                    }
                    break;
                default:
                    break;
            }
        }
        return false;
    }

    /// <summary>
    /// A hash of the model state without its timestamps (exec numbers): tables and their entries, VMAs, locks, TLBs and
    /// walk caches, CPUs, pages, tasks with their parked steps and walker registers, and the race instances reported.
    /// Two schedules that are the same Mazurkiewicz trace must leave the same digest when the explorer's footprints are
    /// right; its test mode checks that wherever it prunes a run (docs/exploration.md, "DPOR"). Exec numbers order
    /// the ops of one schedule and differ between equivalent ones; what the checkers derive from them is in the findings.
    /// </summary>
    /// <summary>Whether task <paramref name="tid"/> holds mm <paramref name="mm"/>'s mmap_lock for reading (and not for
    /// writing): what its <c>mmap_unlock</c> releases.</summary>
    internal bool HoldsMmapLockForRead(int tid, int mm)
    {
        if (GetMm(mm)?.MmapLock is not { } lk || !_tasks.TryGetValue(tid, out var task))
        {
            return false;
        }
        bool read = false;
        foreach (var held in task.Held)
        {
            if (ReferenceEquals(held.Lock, lk))
            {
                if (held.Write)
                {
                    return false;
                }
                read = true;
            }
        }
        return read;
    }

    /// <summary>Whether a task is parked on mm <paramref name="mm"/>'s mmap_lock (its next micro-op takes it).</summary>
    internal bool MmapLockHasWaiters(int mm)
    {
        foreach (var task in _taskOrder)
        {
            if (task.Blocked && task.MicroPos < task.MicroCount && task.Micro[task.MicroPos] is { Kind: OpKind.MmapLock } op && op.Mm == mm)
            {
                return true;
            }
        }
        return false;
    }

    internal ulong StateDigest()
    {
        ulong sum = 0;
        void Add(ulong a, ulong b = 0, ulong c = 0, ulong d = 0) => sum += Mix(Mix(Mix(Mix(a) ^ b) ^ c) ^ d);
        ulong LockBits(LockObj? l) => l is null ? 0 : ((ulong)(uint)l.Writer << 32) | (uint)l.Readers;
        foreach (var t in _tables)
        {
            if (t is null)
            {
                continue;
            }
            ulong entries = 0;
            for (int i = 0; i < 512 && t.IsLive; i++)
            {
                if (t.Entry(i) != 0)
                {
                    entries += Mix(((ulong)i << 52) ^ (ulong)t.Entry(i));
                }
            }
            Add(1, ((ulong)(uint)t.Id << 32) | ((ulong)t.Level << 8) | (byte)t.State, ((ulong)(uint)t.Mm << 32) | (uint)t.Present,
                entries ^ Mix(((ulong)(uint)t.LinkTable << 32) | (uint)t.LinkIdx) ^ Mix(LockBits(t.Lock) + 7));
        }
        foreach (var m in _mms)
        {
            if (m is null)
            {
                continue;
            }
            Add(2, ((ulong)(uint)m.Id << 32) | (uint)m.Root, (ulong)m.TlbGen, LockBits(m.MmapLock) ^ Mix(LockBits(m.PageTableLock)));
            foreach (var v in m.Vmas)
            {
                Add(3, ((ulong)(uint)m.Id << 32) ^ v.Start, v.End ^ ((ulong)(uint)v.Rmap << 40), (ulong)v.Flags ^ Mix(LockBits(v.Lock) + 3));
            }
            foreach (var (key, table) in m.Deposits)
            {
                Add(4, ((ulong)(uint)m.Id << 32) ^ key, (ulong)(uint)table);
            }
        }
        foreach (var c in _cpuList)
        {
            Add(5, ((ulong)(uint)c.Id << 32) | (uint)c.LoadedMm, ((ulong)(uint)c.LazyMm << 32) | (uint)c.IrqDepth, (ulong)(uint)c.RcuDepth);
            foreach (long key in c.Tlb.Keys)
            {
                c.Tlb.TryGetValue(key, out var e);
                Add(6, ((ulong)(uint)c.Id << 32) ^ (ulong)key, e.Pfn ^ ((ulong)e.SizeShift << 56), ((ulong)(uint)e.LeafTable << 32 | (uint)e.LeafIdx) ^ Mix((ulong)e.Gen));
            }
            foreach (var (key, table) in c.WalkCache)
            {
                Add(7, ((ulong)(uint)c.Id << 32) ^ (ulong)key, (ulong)(uint)table);
            }
            foreach (var (mm, gen) in c.SeenGen)
            {
                Add(8, ((ulong)(uint)c.Id << 32) | (uint)mm, (ulong)gen);
            }
            foreach (int table in c.SectionReached.Keys)
            {
                Add(16, ((ulong)(uint)c.Id << 32) | (uint)table);
            }
        }
        foreach (var (pfn, page) in _pages)
        {
            ulong flags = (page.Allocated ? 1UL : 0) | (page.Mlocked ? 2UL : 0) | (page.Unevictable ? 4UL : 0) | (page.Lru ? 8UL : 0);
            Add(9, pfn, flags | ((ulong)(uint)page.Order << 8) | ((ulong)(uint)page.RefCount << 32),
                (((ulong)(uint)page.MapCount << 32) | (uint)page.PmdMapCount) ^ Mix((ulong)(uint)page.TlbRefs));
        }
        foreach (var (id, l) in _rmapLocks)
        {
            Add(10, (ulong)(uint)id, LockBits(l));
        }
        foreach (var (pfn, l) in _pageLocks)
        {
            Add(11, pfn, LockBits(l));
        }
        foreach (var task in _taskOrder)
        {
            ulong held = 0;
            foreach (var h in task.Held)
            {
                held += Mix((ulong)h.Lock.Name.GetHashCode(StringComparison.Ordinal) ^ (h.Write ? 1UL : 0));
            }
            // A running task's micro position and count are what its last expansion left (a primitive taken on the fast
            // path leaves them, one that had to wait sets them): nothing reads them until the next op resets them.
            ulong pos = task.Blocked ? (uint)task.MicroPos : 0;
            ulong count = task.Blocked ? (uint)task.MicroCount : 0;
            Add(12, ((ulong)(uint)task.Tid << 32) | pos, (count << 1) | (task.Blocked ? 1UL : 0),
                held ^ Mix(((ulong)(uint)task.RegTable << 32) ^ (ulong)task.RegValue) ^ (task.RegSkip ? 2UL : 0) ^ (task.RegNotFound ? 4UL : 0));
        }
        foreach (var (table, _) in _rcuPending)
        {
            Add(13, (ulong)(uint)table);
        }
        foreach (var (ipi, value) in _ipis)
        {
            Add(14, (ulong)(uint)ipi, value.Mask);
        }
        foreach (var (instance, _) in _instances)
        {
            Add(15, (ulong)(instance.Checker, instance.Mm, instance.Object, instance.Id).GetHashCode());
        }
        return sum;

        static ulong Mix(ulong x)
        {
            x += 0x9E3779B97F4A7C15UL;
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
            return x ^ (x >> 31);
        }
    }

    /// <summary>
    /// Back to the state of a new engine (same profile and architecture), keeping the memory it grew: the exec ring,
    /// the table slots and the pooled 512-entry arrays. The explorer runs thousands of short schedules; a fresh engine
    /// per schedule spent most of its time allocating and zeroing those (docs/benchmarks.md#schedule-exploration).
    /// Records in the ring are read only below the exec counter, which restarts at 0, so they need no clearing.
    /// </summary>
    internal void Reset()
    {
        for (int i = 0; i < _tables.Length; i++)
        {
            if (_tables[i] is { } t)
            {
                // The shared zeros of empty tables are never pooled: the pool's arrays are written to.
                t.ReleaseEntries(_entryPool, int.MaxValue);
                _tables[i] = null;
            }
        }
        Array.Clear(_mms);
        Array.Clear(_cpus);
        _tasks.Clear();
        _taskOrder.Clear();
        _pages.Clear();
        _forgotten.Clear();
        _rmapLocks.Clear();
        _pageLocks.Clear();
        _rcuPending.Clear();
        _ipis.Clear();
        _findings.Clear();
        _instances.Clear();
        _priorInstances = NoInstances;
        _drafts.Clear();
        _unfinished.Clear();
        _scratch.Clear();
        _lastTask = null;
        _cpuList = [];
        _exec = 0;
        _programOps = 0;
        _blockedCount = 0;
        _inconsistentCount = 0;
        _findingsDropped = 0;
        _warnedOnce = false;
        _mlockedPages = 0;
    }
}
