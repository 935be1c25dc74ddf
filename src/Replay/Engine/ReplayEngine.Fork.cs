using System.Diagnostics.CodeAnalysis;
using Pipeline.Replay.Lowering;

namespace Pipeline.Replay;

/// <summary>
/// A copy of the engine's model state, so that the exploration of a window of a real trace (docs/exploration.md,
/// "Real traces") starts every schedule from the state the recorded prefix left, without replaying the prefix again.
/// </summary>
public sealed partial class ReplayEngine
{
    /// <summary>
    /// A new engine in the same model state (tables, VMAs, TLBs, pages, locks, tasks with their parked steps), with
    /// no findings yet: what it reports happened after the fork. It knows the race instances reported before the fork,
    /// so a consequence of one of them (a later read of the table it freed, the free of the page it mlocked) is not
    /// reported again as a race of its own: a window reports only what is new. Exec numbers continue, so the state's
    /// timestamps keep their order; witnesses see only execs of the fork.
    /// </summary>
    internal ReplayEngine Fork() => Fork(shareFrozenPages: false);

    /// <summary>
    /// As <see cref="Fork()"/>; with <paramref name="shareFrozenPages"/> the copy reads this engine's pages and copies each
    /// one the first time it touches it (this engine must not run any more op: a window's start state, forked per schedule).
    /// A fork holds hundreds of thousands of pages of a real trace and a schedule touches a few hundred.
    /// </summary>
    internal ReplayEngine Fork(bool shareFrozenPages)
    {
        if (_frozenParent is not null)
        {
            // Its state is partly its parent's; one level is all a window needs.
            throw new InvalidOperationException("A fork of a frozen state cannot be forked again.");
        }
        var copy = new ReplayEngine(_profile, _arch)
        {
            _exec = _exec,
            _execBase = _exec,
            _frozenParent = shareFrozenPages ? this : _frozenParent,
            _programOps = _programOps,
            _blockedCount = _blockedCount,
            _warnedOnce = _warnedOnce,
            _mlockedPages = _mlockedPages,
            _priorInstances = shareFrozenPages ? FrozenPriorInstances() : PriorInstancesNow(),
        };
        if (!shareFrozenPages)
        {
            // This engine runs on: the copy keeps its own copy of the witness ring.
            copy._ring = (ExecRecord[])_ring.Clone();
            copy._execBase = _execBase;
        }
        LockObj Map(LockObj l) => copy.MapLock(l);
        if (shareFrozenPages)
        {
            // Tables are copied on first touch too: a real trace's state holds over a thousand (4 KiB of entries each).
            copy._tables = new Table?[_tables.Length];
            copy._parentTables = _tables;
        }
        else
        {
            copy._tables = new Table?[_tables.Length];
            for (int i = 0; i < _tables.Length; i++)
            {
                if (_tables[i] is { } t)
                {
                    copy._tables[i] = copy.CopyTable(t);
                }
            }
        }
        copy._mms = new MmState?[_mms.Length];
        for (int i = 0; i < _mms.Length; i++)
        {
            if (_mms[i] is not { } m)
            {
                continue;
            }
            var c = new MmState
            {
                Id = m.Id,
                Root = m.Root,
                MmapLock = Map(m.MmapLock),
                PageTableLock = Map(m.PageTableLock),
                TlbGen = m.TlbGen,
                FlushCount = m.FlushCount,
            };
            foreach (var v in m.Vmas)
            {
                c.Vmas.Add(new Vma { Start = v.Start, End = v.End, Flags = v.Flags, Rmap = v.Rmap, FlagsWriteExec = v.FlagsWriteExec, Lock = v.Lock is null ? null : Map(v.Lock) });
            }
            m.FlushRing.CopyTo(c.FlushRing, 0);
            foreach (var (k, v) in m.Deposits)
            {
                c.Deposits.Add(k, v);
            }
            copy._mms[i] = c;
        }
        copy._cpus = new CpuState?[_cpus.Length];
        for (int i = 0; i < _cpus.Length; i++)
        {
            if (_cpus[i] is not { } s)
            {
                continue;
            }
            var c = new CpuState
            {
                Id = s.Id,
                LoadedMm = s.LoadedMm,
                LazyMm = s.LazyMm,
                IrqDepth = s.IrqDepth,
                IrqStartExec = s.IrqStartExec,
                RcuDepth = s.RcuDepth,
                RcuStartExec = s.RcuStartExec,
                LastSyncExec = s.LastSyncExec,
            };
            foreach (var (k, v) in s.Tlb)
            {
                c.Tlb.Add(k, v);
            }
            foreach (var (k, v) in s.WalkCache)
            {
                c.WalkCache.Add(k, v);
            }
            // The per-mm counts decide whether a flush scans the caches at all: a fork without them would skip
            // every flush and keep stale entries.
            foreach (var (k, v) in s.TlbPerMm)
            {
                c.TlbPerMm.Add(k, v);
            }
            foreach (var (k, v) in s.WalkPerMm)
            {
                c.WalkPerMm.Add(k, v);
            }
            foreach (var (k, v) in s.SeenGen)
            {
                c.SeenGen.Add(k, v);
            }
            foreach (var (k, v) in s.SectionReached)
            {
                c.SectionReached.Add(k, v);
            }
            copy._cpus[i] = c;
        }
        copy._cpuList = [.. copy._cpus.Where(c => c is not null).Select(c => c!)];
        foreach (var t in _taskOrder)
        {
            var c = new TaskState
            {
                Tid = t.Tid,
                Comm = t.Comm,
                Micro = (Op[])t.Micro.Clone(),
                MicroCount = t.MicroCount,
                MicroPos = t.MicroPos,
                StepKind = t.StepKind,
                Blocked = t.Blocked,
                BlockedOn = t.BlockedOn,
                BlockStartExec = t.BlockStartExec,
                RegTable = t.RegTable,
                RegValue = t.RegValue,
                RegReadExec = t.RegReadExec,
                RegCheckExec = t.RegCheckExec,
                RegSkip = t.RegSkip,
                RegNotFound = t.RegNotFound,
                RegSync = t.RegSync,
                RegTryHeld = t.RegTryHeld,
                RegZapFound = t.RegZapFound,
                NestedSkips = t.NestedSkips,
                BatchAddExec = t.BatchAddExec,
                ObsTable = t.ObsTable,
                ObsIdx = t.ObsIdx,
                ObsValue = t.ObsValue,
                ObsSerial = t.ObsSerial,
                ObsWriter = t.ObsWriter,
                ObsReadExec = t.ObsReadExec,
                ObsWriteExec = t.ObsWriteExec,
                ObsLockExec = t.ObsLockExec,
                LastLocklessReadExec = t.LastLocklessReadExec,
                VmFlagsReadExec = t.VmFlagsReadExec,
            };
            foreach (var h in t.Held)
            {
                c.Held.Add(new HeldLock { Lock = Map(h.Lock), Write = h.Write, Exec = h.Exec });
            }
            foreach (var op in t.Deferred)
            {
                c.Deferred.Enqueue(op);
            }
            c.Gathered.AddRange(t.Gathered);
            c.BatchMask.CopyFrom(t.BatchMask);
            copy._tasks.Add(c.Tid, c);
            copy._taskOrder.Add(c);
        }
        if (shareFrozenPages && _parentPages is null)
        {
            copy._parentPages = _pages;
            // I4's end-of-trace check looks at every Mlocked page: the shared ones that are, as they are now.
            _frozenMlocked ??= [.. _pages.Where(p => p.Value.Allocated && p.Value.Mlocked).Select(p => p.Key).Order()];
            copy._parentMlocked = _frozenMlocked;
        }
        else
        {
            copy._forgotten = _forgotten.Clone();
            copy._pages.EnsureCapacity(_pages.Count + (_parentPages?.Count ?? 0));
            foreach (var (pfn, page) in _pages)
            {
                copy._pages.Add(pfn, CopyPage(page));
            }
            if (_parentPages is not null)
            {
                foreach (var (pfn, page) in _parentPages)
                {
                    copy._pages.TryAdd(pfn, CopyPage(page));
                }
            }
        }
        foreach (var (k, l) in _rmapLocks)
        {
            copy._rmapLocks.Add(k, Map(l));
        }
        foreach (var (k, l) in _pageLocks)
        {
            copy._pageLocks.Add(k, Map(l));
        }
        copy._rcuPending.AddRange(_rcuPending);
        foreach (var (k, v) in _ipis)
        {
            copy._ipis.Add(k, v);
        }
        return copy;
    }

    // Race instances reported before this engine was forked (by the engines it came from): checkers meeting one again
    // see PriorFinding and report nothing, as the engine they came from reports nothing new for a known instance.
    private IReadOnlySet<RaceInstance> _priorInstances = NoInstances;
    private static readonly HashSet<RaceInstance> NoInstances = [];
    // This engine's prior and own instances, computed once when it is first forked with shared pages (it is frozen then).
    private HashSet<RaceInstance>? _frozenPriorInstances;

    /// <summary>
    /// The finding index <see cref="AddRace"/> and <see cref="FindingOf"/> give for a race instance reported before the
    /// fork: not >= 0, so no checker amends it (its finding is the prefix's), and not -1, so none reports it anew.
    /// </summary>
    internal const int PriorFinding = -2;

    private HashSet<RaceInstance> PriorInstancesNow()
    {
        var all = new HashSet<RaceInstance>(_priorInstances);
        all.UnionWith(_instances.Keys);
        return all;
    }

    private HashSet<RaceInstance> FrozenPriorInstances() => _frozenPriorInstances ??= PriorInstancesNow();

    // Locks of the engine this one was forked from -> this engine's copies (identity matters: tables move with their lock).
    private readonly Dictionary<LockObj, LockObj> _lockMap = new(ReferenceEqualityComparer.Instance);
    // Tables read through from the frozen engine (copied on first touch).
    private Table?[]? _parentTables;

    private LockObj MapLock(LockObj l)
    {
        if (!_lockMap.TryGetValue(l, out var c))
        {
            c = new LockObj(l.Name, l.IsPtl)
            {
                Writer = l.Writer,
                Readers = l.Readers,
                Serial = l.Serial,
                AcquireExec = l.AcquireExec,
                ReleaseExec = l.ReleaseExec,
            };
            _lockMap.Add(l, c);
        }
        return c;
    }

    /// <summary>A fork's table <paramref name="id"/> from its frozen parent, copied into its own on first touch; null when there is none.</summary>
    private Table? CopyParentTable(int id)
    {
        if (_parentTables is null || (uint)id >= (uint)_parentTables.Length || _parentTables[id] is not { } shared)
        {
            return null;
        }
        if (id >= _tables.Length)
        {
            Array.Resize(ref _tables, Math.Max(id + 1, _tables.Length * 2));
        }
        var t = CopyTable(shared);
        _tables[id] = t;
        return t;
    }

    private Table CopyTable(Table t)
    {
        var c = new Table
        {
            Id = t.Id,
            Level = t.Level,
            Mm = t.Mm,
            State = t.State,
            LinkTable = t.LinkTable,
            LinkIdx = t.LinkIdx,
            LinkExec = t.LinkExec,
            UnlinkExec = t.UnlinkExec,
            FreeExec = t.FreeExec,
            LastWriteExec = t.LastWriteExec,
            LastWriteIdx = t.LastWriteIdx,
            LastWriteTid = t.LastWriteTid,
            Present = t.Present,
            Lock = t.Lock is null ? null : MapLock(t.Lock),
            SectionSerial = t.SectionSerial,
            SectionWriteExec = t.SectionWriteExec,
        };
        t.SectionWrites.CopyTo(c.SectionWrites, 0);
        if (t.SectionCleared is { } cleared)
        {
            c.SectionCleared = new Dictionary<int, ulong>(cleared);
        }
        c.CopyEntriesFrom(t);
        return c;
    }

    // Pages read through from the engine this one was forked from (copied on first touch), and those of them that were Mlocked.
    private PfnMap<PageState>? _parentPages;
    // The frozen engine a fork reads execs before its own from (witnesses, checkers looking back).
    private ReplayEngine? _frozenParent;
    private ulong[] _parentMlocked = [];
    // This engine's Mlocked pages, computed once when it is first forked with shared pages (it is frozen then).
    private ulong[]? _frozenMlocked;

    /// <summary>The page's state (a forked engine copies a shared page into its own on first touch).</summary>
    private bool TryPage(ulong pfn, [MaybeNullWhen(false)] out PageState page)
    {
        if (_pages.TryGetValue(pfn, out page))
        {
            return true;
        }
        if (_parentPages is not null && _parentPages.TryGetValue(pfn, out var shared))
        {
            page = CopyPage(shared);
            _pages.Add(pfn, page);
            return true;
        }
        if (_forgotten[pfn] == PfnState.Freed || (_parentPages is not null && _frozenParent!._forgotten[pfn] == PfnState.Freed))
        {
            // A free frame that nothing named: it reads back as the free page it was, with no history.
            _forgotten[pfn] = PfnState.Unknown;
            page = NewPage(allocated: false);
            _pages.Add(pfn, page);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Drops the state of a free frame that nothing names any more: no TLB entry, mapping, mlock, LRU or unevictable
    /// flag, reference beyond page_alloc's, or I4 finding waiting for its outcome (docs/mm-model.md, "Page frames").
    /// Its history would be cleared by its next page_alloc, so the engine keeps only the fact that it is free. (The one
    /// check that reads a free frame's history is I4 at a PG_mlocked set on it, itself a use of a freed page: its
    /// witness then lacks the frame's last unmap and map_dec.) Not in a fork that reads its pages through from a frozen engine:
    /// a dropped page would be read through again from the parent's older state.
    /// </summary>
    private void ForgetIfUnnamed(ulong pfn, PageState page)
    {
        if (!page.Allocated && page.TlbRefs == 0 && page.MapCount == 0 && page.PmdMapCount == 0 && page.RefCount == 1
            && !page.Mlocked && !page.Unevictable && !page.Lru && page.MlockFinding < 0 && _parentPages is null)
        {
            _pages.Remove(pfn);
            _forgotten[pfn] = PfnState.Freed;
            if (_pagePool.Count < PagePoolLimit)
            {
                page.Reuse(allocated: false);
                _pagePool.Push(page);
            }
        }
    }

    // Frame states dropped by ForgetIfUnnamed, reused for the next frame the engine meets: a frame that lived for
    // seconds of trace is in the GC's oldest generation, and letting it die there grew the heap between full
    // collections with the length of the trace. Nothing keeps a reference to a dropped state (checkers read the page
    // only in their callbacks; forks copy pages). Bounded so a burst of frees does not pin memory.
    private readonly Stack<PageState> _pagePool = new();
    private const int PagePoolLimit = 4096;

    private PageState NewPage(bool allocated)
    {
        if (_pagePool.TryPop(out var page))
        {
            page.Reuse(allocated);
            return page;
        }
        return new PageState { Allocated = allocated, RefCount = 1 };
    }

    /// <summary>A fork's pages for the end-of-trace checks: those it touched and the shared Mlocked ones.</summary>
    private IEnumerable<KeyValuePair<ulong, PageState>> ForkPages()
    {
        foreach (ulong pfn in _parentMlocked)
        {
            TryPage(pfn, out _);
        }
        return _pages;
    }

    private static PageState CopyPage(PageState p) => new()
    {
        Allocated = p.Allocated,
        Order = p.Order,
        RefCount = p.RefCount,
        MapCount = p.MapCount,
        PmdMapCount = p.PmdMapCount,
        Mlocked = p.Mlocked,
        Unevictable = p.Unevictable,
        Lru = p.Lru,
        TlbRefs = p.TlbRefs,
        AllocExec = p.AllocExec,
        LastUnmapExec = p.LastUnmapExec,
        UnmapWalkExec = p.UnmapWalkExec,
        UnmapLockExec = p.UnmapLockExec,
        LastUnmapTid = p.LastUnmapTid,
        MlockSetExec = p.MlockSetExec,
        // The finding it points at belongs to the prefix, which the fork does not report (nor its outcome).
        MlockFinding = p.MlockFinding == -1 ? -1 : PriorFinding,
        MlockClearExec = p.MlockClearExec,
        LastMapDecExec = p.LastMapDecExec,
    };
}
