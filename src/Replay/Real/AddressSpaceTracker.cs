using Pipeline.Storage;

namespace Pipeline.Replay.Real;

/// <summary>Transparent-hugepage "enabled" mode of the traced machine (/sys/kernel/mm/transparent_hugepage/enabled).</summary>
public enum ThpMode
{
    /// <summary>never: faults never install a huge PMD.</summary>
    Never,
    /// <summary>madvise: only VMAs with MADV_HUGEPAGE.</summary>
    Madvise,
    /// <summary>always: every anonymous VMA without MADV_NOHUGEPAGE.</summary>
    Always,
}

/// <summary>What the tracker counted while it read events.</summary>
public sealed class TrackerStatistics
{
    /// <summary>Events read.</summary>
    public long Events { get; internal set; }
    /// <summary>Address-space syscalls applied (successful, paired).</summary>
    public long SyscallsApplied { get; internal set; }
    /// <summary>Paired syscalls that failed (ret &lt; 0) and changed nothing.</summary>
    public long FailedSyscalls { get; internal set; }
    /// <summary>sys_exit_* without a matching sys_enter_* on the same thread (the enter was before the trace or lost).</summary>
    public long UnpairedExits { get; internal set; }
    /// <summary>sys_enter_* whose exit never came (trace ended, or the exit was lost).</summary>
    public long UnfinishedCalls { get; internal set; }
    /// <summary>User page faults at addresses known to be unmapped (they end in SIGSEGV or the state is wrong).</summary>
    public long FaultsOutsideVmas { get; internal set; }
    /// <summary>Threads merged into another thread's mm through the mm pointer of mmap_lock events.</summary>
    public long MmAliases { get; internal set; }
}

/// <summary>
/// Keeps, per process, the address space a real trace implies: VMAs from mmap/munmap/mremap/mprotect/madvise/
/// brk/mlock syscalls (enter/exit pairs per thread), page-table population per 2 MiB region from page faults,
/// and unknown state for everything that existed before the trace. Every completed mremap() is predicted
/// with <see cref="MremapPredictor"/> and reported through <see cref="MremapCompleted"/>.
/// Feed events in seq order; memory is bounded by the number of processes and their VMAs.
/// </summary>
public sealed class AddressSpaceTracker
{
    private const string SysEnter = "syscalls:sys_enter_";
    private const string SysExit = "syscalls:sys_exit_";
    private const string ThpFaultUnknown = "first fault in a THP-eligible region: huge or small page not traced (no kmem:mm_page_alloc)";
    private const string CollapseUnknown = "khugepaged collapsed some region of this mm (address not traced)";
    private const string PtReclaimUnknown = "MADV_DONTNEED may free an emptied PTE table (CONFIG_PT_RECLAIM, 6.14+)";

    private static readonly HashSet<string> s_handled = new(StringComparer.Ordinal)
    {
        "mremap", "mmap", "munmap", "mprotect", "pkey_mprotect", "madvise", "brk", "mlock", "mlock2", "munlock", "mlockall", "munlockall",
    };

    private static readonly int s_mm = ColumnOf("mm");
    private static readonly int s_ret = ColumnOf("ret");
    private static readonly int s_address = ColumnOf("address");
    private static readonly int s_errorCode = ColumnOf("error_code");

    /// <summary>The columns of events.parquet <see cref="Process"/> reads (<see cref="EventProjection"/>); args only of forks.</summary>
    public static EventProjection Columns { get; } = EventProjection.Of(
        "tgid", "mm", "ret", "address", "error_code", "addr", "len", "old_len", "new_len", "flags", "new_addr", "prot", "fd", "off",
        "start", "behavior", "brk", "order", "gfp_flags", "status", "args")
        .WithArgsOnlyOf("sched:sched_process_fork");

    private readonly PredictionProfile _profile;
    private readonly ThpMode _thp;
    private readonly Dictionary<int, ProcessState> _processes = [];
    private readonly Dictionary<int, int> _pidAlias = [];
    private readonly Dictionary<ulong, int> _mmOwner = [];
    private readonly Dictionary<int, PendingCall> _pending = [];
    private readonly Dictionary<int, (ProcessState Process, ulong Region)> _pendingFault = [];
    private MapsSnapshot? _seed;

    /// <summary>Creates a tracker.</summary>
    /// <param name="profile">Kernel behaviour for mremap predictions.</param>
    /// <param name="thp">THP mode of the traced machine (decides which first faults may install a huge PMD).</param>
    /// <param name="seed">Optional maps snapshot of one process at trace start.</param>
    public AddressSpaceTracker(PredictionProfile profile, ThpMode thp = ThpMode.Madvise, MapsSnapshot? seed = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _profile = profile;
        _thp = thp;
        _seed = seed;
    }

    /// <summary>Called for every completed (or, at <see cref="Finish"/>, unfinished) mremap().</summary>
    public Action<MremapCall, IReadOnlyList<MremapExtent>>? MremapCompleted { get; set; }

    /// <summary>Counters.</summary>
    public TrackerStatistics Statistics { get; } = new();

    /// <summary>The address space of the process <paramref name="pid"/> belongs to, if the tracker has one.</summary>
    public AddressSpace? SpaceOf(int pid) =>
        _processes.TryGetValue(_pidAlias.TryGetValue(pid, out int key) ? key : pid, out var p) ? p.Space : null;

    /// <summary>Consumes one event.</summary>
    public void Process(EventRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        Statistics.Events++;
        string ev = row.Event;
        if (row.Tgid is int tgid && tgid != row.Pid && tgid > 0)
        {
            _pidAlias[row.Pid] = tgid;
        }
        switch (ev)
        {
            case "exceptions:page_fault_user":
            case "exceptions:page_fault_kernel":
                OnFault(row);
                return;
            case "kmem:mm_page_alloc":
                OnPageAlloc(row);
                return;
            case "huge_memory:mm_collapse_huge_page":
            case "huge_memory:mm_khugepaged_collapse_file":
                OnCollapse(row);
                return;
            case "sched:sched_process_exec":
                OnExec(row);
                return;
            case "sched:sched_process_fork":
                OnFork(row);
                return;
            case "sched:sched_process_exit":
                OnProcessExit(row);
                return;
        }
        if (ev.StartsWith(SysEnter, StringComparison.Ordinal))
        {
            _pendingFault.Remove(row.Pid);
            OnEnter(row, ev[SysEnter.Length..]);
        }
        else if (ev.StartsWith(SysExit, StringComparison.Ordinal))
        {
            OnExit(row, ev[SysExit.Length..]);
        }
        else if (ev.StartsWith("mmap_lock:", StringComparison.Ordinal))
        {
            OnMmapLock(row);
        }
    }

    /// <summary>Reports calls whose exit never came (as undecided rows) and clears per-thread state.</summary>
    public void Finish()
    {
        foreach (var (pid, call) in _pending.OrderBy(p => p.Value.Seq))
        {
            Statistics.UnfinishedCalls++;
            if (call.Name == "mremap")
            {
                Report(pid, call, exit: null, prediction: null);
            }
        }
        _pending.Clear();
        _pendingFault.Clear();
    }

    private ProcessState ProcessOf(EventRow row) => ProcessOf(row.Tgid is int t && t > 0 ? t : row.Pid, row.Pid);

    private ProcessState ProcessOf(int tgidOrPid, int pid)
    {
        int key = _pidAlias.TryGetValue(pid, out int alias) ? alias : tgidOrPid;
        if (!_processes.TryGetValue(key, out var state))
        {
            AddressSpace space;
            if (_seed is not null && (_seed.Pid is null || _seed.Pid == key))
            {
                space = _seed.ToAddressSpace();
                _seed = null;
            }
            else
            {
                space = AddressSpace.CreateUnknown();
            }
            state = new ProcessState(key, space);
            _processes[key] = state;
        }
        return state;
    }

    private void OnEnter(EventRow row, string name)
    {
        if (!s_handled.Contains(name))
        {
            return;
        }
        if (_pending.ContainsKey(row.Pid))
        {
            // The previous enter on this thread never got its exit (lost events).
            Statistics.UnfinishedCalls++;
        }
        _pending[row.Pid] = new PendingCall(name, row.Seq, row.TsNs, Field(row, "addr"), Field(row, "len"), Field(row, "old_len"),
            Field(row, "new_len"), Field(row, "flags"), Field(row, "new_addr"), Field(row, "prot"), Signed(row, "fd"), Field(row, "off"),
            Field(row, "start"), Signed(row, "behavior"), Field(row, "brk"));
    }

    private void OnExit(EventRow row, string name)
    {
        if (!s_handled.Contains(name))
        {
            return;
        }
        if (!_pending.Remove(row.Pid, out var call) || call.Name != name)
        {
            Statistics.UnpairedExits++;
            return;
        }
        long ret = row.IsSet(s_ret) ? row.GetInt64(s_ret) : 0;
        var process = ProcessOf(row);
        if (IsError(ret))
        {
            Statistics.FailedSyscalls++;
            if (call.Name == "mremap")
            {
                var failed = MremapPredictor.PredictInPlace(process.Space, Request(call, ret), _profile);
                process.Space = failed.After;
                Report(row.Pid, call, row, failed);
            }
            return;
        }
        Statistics.SyscallsApplied++;
        var space = process.Space;
        switch (call.Name)
        {
            case "mremap":
                var prediction = MremapPredictor.PredictInPlace(space, Request(call, ret), _profile);
                process.Space = prediction.After;
                Report(row.Pid, call, row, prediction);
                break;
            case "mmap":
                ApplyMmap(space, call, unchecked((ulong)ret));
                break;
            case "munmap":
                space.Unmap(call.Addr, call.Addr + Page(call.Len));
                break;
            case "mprotect":
            case "pkey_mprotect":
                var access = (VmaAccess)(int)(call.Prot & 7);
                space.Modify(call.Start, call.Start + Page(call.Len), v => v with { Access = access });
                break;
            case "madvise":
                ApplyMadvise(space, call.Start, call.Start + Page(call.Len), call.Behavior);
                break;
            case "brk":
                ApplyBrk(process, unchecked((ulong)ret));
                break;
            case "mlock":
            case "mlock2":
                space.Modify(call.Start, call.Start + Page(call.Len), v => v with { Locked = true });
                // MLOCK_ONFAULT (1) locks without populating.
                if (call.Name == "mlock" || (call.Flags & 1) == 0)
                {
                    Populate(space, call.Start, call.Start + Page(call.Len));
                }
                break;
            case "munlock":
                space.Modify(call.Start, call.Start + Page(call.Len), v => v with { Locked = false });
                break;
            case "mlockall":
                // MCL_CURRENT (1) without MCL_ONFAULT (4) locks and populates what is mapped now.
                if ((call.Flags & 1) != 0)
                {
                    space.Modify(0, ulong.MaxValue, v => v with { Locked = true });
                    if ((call.Flags & 4) == 0)
                    {
                        foreach (var v in space.Vmas.ToList())
                        {
                            Populate(space, v.Start, v.End);
                        }
                    }
                }
                break;
            case "munlockall":
                space.Modify(0, ulong.MaxValue, v => v with { Locked = false });
                break;
        }
    }

    private static MremapRequest Request(PendingCall call, long ret) =>
        new(call.Addr, call.OldLen, call.NewLen, call.Flags, call.NewAddr, ret) { ConcurrentCollapse = call.ConcurrentCollapse };

    private void Report(int pid, PendingCall call, EventRow? exit, MremapPrediction? prediction)
    {
        var handler = MremapCompleted;
        if (handler is null)
        {
            return;
        }
        var extents = new List<MremapExtent>();
        if (prediction is not null)
        {
            for (int i = 0; i < prediction.Extents.Count; i++)
            {
                var e = prediction.Extents[i];
                extents.Add(new MremapExtent(call.Seq, i, e.OldStart, e.NewStart, e.Length, e.Path, e.Reason));
            }
        }
        long? ret = exit is null ? null : Signed(exit, "ret");
        string? undecided = prediction is null ? "sys_exit_mremap not in the trace" : prediction.UndecidedReason;
        var row = new MremapCall(
            call.TsNs, call.Seq, pid, call.Addr, call.OldLen, call.NewAddr, call.NewLen, call.Flags, ret,
            exit is null ? null : exit.TsNs - call.TsNs,
            prediction?.ResultAddr,
            prediction?.Count(MovePaths.NormalPud) ?? 0,
            prediction?.Count(MovePaths.NormalPmd) ?? 0,
            prediction?.Count(MovePaths.Pte) ?? 0,
            (prediction?.Count(MovePaths.HpagePmd) ?? 0) + (prediction?.Count(MovePaths.HpagePud) ?? 0),
            prediction?.MovedBytes ?? 0,
            prediction?.Alignment ?? MremapPredictor.AlignmentOf(call.Addr, call.NewAddr),
            prediction?.Realigned ?? false,
            prediction?.NeedRmapLocks ?? false,
            undecided is not null,
            undecided);
        handler(row, extents);
    }

    private void ApplyMmap(AddressSpace space, PendingCall call, ulong addr)
    {
        const ulong MapTypeMask = 0x0f;
        const ulong MapAnonymous = 0x20;
        const ulong MapLocked = 0x2000;
        const ulong MapPopulate = 0x8000;
        const ulong MapHugetlb = 0x40000;
        ulong len = Page(call.Len);
        ulong type = call.Flags & MapTypeMask;
        bool shared = type is 1 or 3;
        bool anon = (call.Flags & MapAnonymous) != 0 || call.Fd < 0;
        // Private anonymous memory gets vm_pgoff = addr >> PAGE_SHIFT (do_mmap); shared anonymous memory is a
        // shmem file of its own, which never merges.
        string? file = anon ? (shared ? $"shmem@{call.Seq}" : null) : $"fd:{call.Fd}";
        ulong pgoff = anon ? (shared ? 0 : addr >> AddressSpace.PageShift) : call.Off >> AddressSpace.PageShift;
        var vma = new Vma(addr, addr + len)
        {
            Access = (VmaAccess)(int)(call.Prot & 7),
            Shared = shared,
            File = file,
            PgoffPages = pgoff,
            Locked = (call.Flags & MapLocked) != 0,
            Special = (call.Flags & MapHugetlb) != 0,
        };
        space.Insert(vma, merge: !vma.Special);
        if ((call.Flags & (MapPopulate | MapLocked)) != 0)
        {
            Populate(space, addr, addr + len);
        }
    }

    private void ApplyMadvise(AddressSpace space, ulong start, ulong end, long behavior)
    {
        switch (behavior)
        {
            case 14: // MADV_HUGEPAGE
                space.Modify(start, end, v => v with { HugePage = HugePageAdvice.Huge });
                break;
            case 15: // MADV_NOHUGEPAGE
                space.Modify(start, end, v => v with { HugePage = HugePageAdvice.NoHuge });
                break;
            case 25: // MADV_COLLAPSE: success means every PMD-aligned region inside the range is now PMD-mapped.
                for (ulong r = AddressSpace.AlignUp(start, AddressSpace.PmdSize); r + AddressSpace.PmdSize <= end && r >= start; r += AddressSpace.PmdSize)
                {
                    space.SetPmd(r, PmdState.Huge);
                }
                break;
            case 4: // MADV_DONTNEED
            case 9: // MADV_REMOVE
                for (ulong r = start & AddressSpace.PmdMask; r < end && r >= (start & AddressSpace.PmdMask); r += AddressSpace.PmdSize)
                {
                    bool full = r >= start && r + AddressSpace.PmdSize <= end;
                    var st = space.GetPmd(r).State;
                    if (st == PmdState.Huge)
                    {
                        // zap_huge_pmd clears a fully covered THP; a partial range splits it first.
                        space.SetPmd(r, full ? PmdState.None : PmdState.Table);
                    }
                    else if (st == PmdState.Table && full)
                    {
                        space.SetPmd(r, PmdState.Unknown, PtReclaimUnknown);
                    }
                }
                break;
            case 22: // MADV_POPULATE_READ
            case 23: // MADV_POPULATE_WRITE
                Populate(space, start, end);
                break;
        }
    }

    private static void ApplyBrk(ProcessState process, ulong newBrk)
    {
        var space = process.Space;
        if (process.Brk is { } old)
        {
            ulong oldTop = AddressSpace.AlignUp(old, AddressSpace.PageSize);
            ulong newTop = AddressSpace.AlignUp(newBrk, AddressSpace.PageSize);
            if (newTop > oldTop)
            {
                // do_brk_flags() extends the heap VMA ending at the old break, or maps a new one.
                var heap = space.VmaEndingAt(oldTop);
                if (heap is not null)
                {
                    space.Replace(heap, heap with { End = newTop });
                }
                else
                {
                    space.Insert(new Vma(oldTop, newTop) { PgoffPages = oldTop >> AddressSpace.PageShift, Name = "[heap]" }, merge: true);
                }
            }
            else if (newTop < oldTop)
            {
                space.Unmap(newTop, oldTop);
            }
        }
        process.Brk = newBrk;
    }

    private bool ThpEligible(Vma vma, ulong region) =>
        vma.IsAnonymous && !vma.Shared && !vma.Special && vma.Start <= region && vma.End >= region + AddressSpace.PmdSize
        && vma.HugePage != HugePageAdvice.NoHuge
        && (_thp == ThpMode.Always || (_thp == ThpMode.Madvise && vma.HugePage == HugePageAdvice.Huge));

    private void Populate(AddressSpace space, ulong start, ulong end)
    {
        foreach (var vma in space.VmasIntersecting(start, end).ToList())
        {
            ulong s = Math.Max(start, vma.Start) & AddressSpace.PmdMask;
            ulong e = Math.Min(end, vma.End);
            for (ulong r = s; r < e && r >= s; r += AddressSpace.PmdSize)
            {
                if (space.GetPmd(r).State is PmdState.None or PmdState.Unknown)
                {
                    if (ThpEligible(vma, r))
                    {
                        space.SetPmd(r, PmdState.Unknown, ThpFaultUnknown);
                    }
                    else
                    {
                        space.SetPmd(r, PmdState.Table);
                    }
                }
            }
        }
    }

    private void OnFault(EventRow row)
    {
        ulong address = Field(row, s_address);
        // A kernel-mode fault on a user address (copy_to_user) populates user page tables just the same.
        if (address >= 0x0100_0000_0000_0000UL)
        {
            return;
        }
        _pendingFault.Remove(row.Pid);
        var process = ProcessOf(row);
        var space = process.Space;
        ulong region = address & AddressSpace.PmdMask;
        var vma = space.FindVma(address);
        var state = space.GetPmd(region);
        if (vma is null)
        {
            if (!space.UnknownIntersects(address, address + 1))
            {
                Statistics.FaultsOutsideVmas++;
                return;
            }
            if (state.State != PmdState.Huge)
            {
                space.SetPmd(region, PmdState.Table);
            }
            return;
        }
        bool write = (Field(row, s_errorCode) & 2) != 0;
        if (write && !vma.Shared && vma.AnonVma == 0)
        {
            // anon_vma_prepare() on the first write fault of a private VMA.
            space.Replace(vma, vma with { AnonVma = space.NewAnonVmaId() });
        }
        if (state.State is PmdState.Table or PmdState.Huge or PmdState.HugePud)
        {
            return;
        }
        if (state.State == PmdState.None && ThpEligible(vma, region))
        {
            space.SetPmd(region, PmdState.Unknown, ThpFaultUnknown);
            _pendingFault[row.Pid] = (process, region);
            return;
        }
        if (state.State == PmdState.Unknown && ThpEligible(vma, region))
        {
            return;
        }
        space.SetPmd(region, PmdState.Table);
    }

    private void OnPageAlloc(EventRow row)
    {
        if (!_pendingFault.Remove(row.Pid, out var fault))
        {
            return;
        }
        long order = Signed(row, "order");
        var gfp = Lowering.GfpFlags.Parse(row.FindField("gfp_flags") ?? "");
        if (order == 9)
        {
            fault.Process.Space.SetPmd(fault.Region, PmdState.Huge);
        }
        else if (order == 0 && gfp.HighUser)
        {
            fault.Process.Space.SetPmd(fault.Region, PmdState.Table);
        }
        else
        {
            // A page-table page of the same fault; keep waiting for the folio.
            _pendingFault[row.Pid] = fault;
        }
    }

    private void OnMmapLock(EventRow row)
    {
        if (!row.IsSet(s_mm))
        {
            return;
        }
        // Only a thread inside its own mm syscall certainly locks its own mm: khugepaged, /proc readers and
        // process_madvise lock other processes' mms.
        if (!_pending.ContainsKey(row.Pid))
        {
            return;
        }
        ulong mm = row.GetUInt64(s_mm);
        var process = ProcessOf(row);
        if (!_mmOwner.TryGetValue(mm, out int ownerKey))
        {
            _mmOwner[mm] = process.Key;
            process.Mms.Add(mm);
            return;
        }
        if (ownerKey == process.Key || row.Tgid is not null)
        {
            return;
        }
        // Another thread of an already known process: share its address space from now on.
        _pidAlias[row.Pid] = ownerKey;
        if (process.Key == row.Pid && !_pidAlias.ContainsValue(row.Pid))
        {
            _processes.Remove(row.Pid);
        }
        Statistics.MmAliases++;
    }

    private void OnCollapse(EventRow row)
    {
        if (!_mmOwner.TryGetValue(Field(row, "mm"), out int key) || !_processes.TryGetValue(key, out var process))
        {
            return;
        }
        string status = row.FindField("status") ?? "";
        bool succeeded = Lowering.TraceLowering.CollapseStatusSucceeded(status);
        bool ownCollapse = false;
        foreach (var (pid, call) in _pending)
        {
            int pk = _pidAlias.TryGetValue(pid, out int a) ? a : pid;
            if (pk != key)
            {
                continue;
            }
            if (call.Name == "madvise" && call.Behavior == 25 && pid == row.Pid)
            {
                ownCollapse = true;
            }
            if (call.Name == "mremap")
            {
                call.ConcurrentCollapse = true;
            }
        }
        if (!succeeded || ownCollapse)
        {
            return;
        }
        var space = process.Space;
        foreach (var vma in space.Vmas.ToList())
        {
            for (ulong r = AddressSpace.AlignUp(vma.Start, AddressSpace.PmdSize); r + AddressSpace.PmdSize <= vma.End && r >= vma.Start; r += AddressSpace.PmdSize)
            {
                if (ThpEligible(vma, r) && space.GetPmd(r).State == PmdState.Table)
                {
                    space.SetPmd(r, PmdState.Unknown, CollapseUnknown);
                }
            }
        }
    }

    private void OnExec(EventRow row)
    {
        var process = ProcessOf(row);
        // A new mm: the binary, interpreter and stack layout are not traced.
        process.Space = AddressSpace.CreateUnknown();
        process.Brk = null;
        ForgetMms(process);
    }

    private void OnFork(EventRow row)
    {
        if (!int.TryParse(row.FindField("child_pid"), System.Globalization.CultureInfo.InvariantCulture, out int child)
            || !int.TryParse(row.FindField("parent_pid"), System.Globalization.CultureInfo.InvariantCulture, out int parent))
        {
            return;
        }
        if (_processes.ContainsKey(child))
        {
            return;
        }
        var parentState = ProcessOf(parent, parent);
        var space = parentState.Space.Clone();
        // anon_vma_fork() gives the child's VMAs anon_vmas of their own; copy_page_range() copies tables only for
        // VMAs that need it (vma_needs_copy: anon with an anon_vma, pfnmap, uffd-wp), so file-only regions start empty.
        foreach (var v in space.Vmas.ToList())
        {
            if (v.AnonVma > 0)
            {
                space.Replace(v, v with { AnonVma = space.NewAnonVmaId() });
            }
            else if (v.AnonVma == 0)
            {
                for (ulong r = v.Start & AddressSpace.PmdMask; r < v.End && r >= (v.Start & AddressSpace.PmdMask); r += AddressSpace.PmdSize)
                {
                    if (space.GetPmd(r).State == PmdState.Table)
                    {
                        space.SetPmd(r, PmdState.Unknown, "after fork: copy_page_range skips VMAs without an anon_vma");
                    }
                }
            }
        }
        _processes[child] = new ProcessState(child, space) { Brk = parentState.Brk };
    }

    private void OnProcessExit(EventRow row)
    {
        _pending.Remove(row.Pid);
        _pendingFault.Remove(row.Pid);
        if (_pidAlias.Remove(row.Pid))
        {
            return;
        }
        if (_processes.Remove(row.Pid, out var process))
        {
            ForgetMms(process);
        }
    }

    private void ForgetMms(ProcessState process)
    {
        foreach (ulong mm in process.Mms)
        {
            _mmOwner.Remove(mm);
        }
        process.Mms.Clear();
    }

    private static bool IsError(long ret) => ret < 0 && ret > -4096;

    private static ulong Page(ulong len) => AddressSpace.AlignUp(len, AddressSpace.PageSize);

    private static int ColumnOf(string name) =>
        EventSchema.TryGetField(name, out var c) ? c.Ordinal : throw new InvalidOperationException($"The event schema has no column {name}.");

    private static ulong Field(EventRow row, string name) => Field(row, ColumnOf(name));

    private static ulong Field(EventRow row, int ordinal) => row.IsSet(ordinal) ? row.GetUInt64(ordinal) : 0;

    private static long Signed(EventRow row, string name)
    {
        int ordinal = ColumnOf(name);
        return row.IsSet(ordinal) ? row.GetInt64(ordinal) : 0;
    }

    private sealed class ProcessState(int key, AddressSpace space)
    {
        public int Key { get; } = key;
        public AddressSpace Space { get; set; } = space;
        public ulong? Brk { get; set; }
        public List<ulong> Mms { get; } = [];
    }

    private sealed class PendingCall(string name, long seq, long tsNs, ulong addr, ulong len, ulong oldLen, ulong newLen, ulong flags,
        ulong newAddr, ulong prot, long fd, ulong off, ulong start, long behavior, ulong brk)
    {
        public string Name { get; } = name;
        public long Seq { get; } = seq;
        public long TsNs { get; } = tsNs;
        public ulong Addr { get; } = addr;
        public ulong Len { get; } = len;
        public ulong OldLen { get; } = oldLen;
        public ulong NewLen { get; } = newLen;
        public ulong Flags { get; } = flags;
        public ulong NewAddr { get; } = newAddr;
        public ulong Prot { get; } = prot;
        public long Fd { get; } = fd;
        public ulong Off { get; } = off;
        public ulong Start { get; } = start;
        public long Behavior { get; } = behavior;
        public ulong Brk { get; } = brk;
        public bool ConcurrentCollapse { get; set; }
    }
}
