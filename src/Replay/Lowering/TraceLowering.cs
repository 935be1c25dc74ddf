using System.Globalization;
using Pipeline.Replay.Coverage;
using Pipeline.Replay.Exposure;
using Pipeline.Replay.Real;
using Pipeline.Replay.Runner;
using Pipeline.Storage;

namespace Pipeline.Replay.Lowering;

/// <summary>
/// Lowers the tracepoint events of a real trace into the engine's ops (docs/lowering.md; docs/mm-model.md §5.1, collapse §5.3), in seq
/// order, streaming. VMAs and mremap predictions come from <see cref="AddressSpaceTracker"/>; page tables,
/// page frames, mmap_lock holders and the mm loaded on each CPU are mirrored in a shadow of what the engine
/// will hold, and an op is emitted only when the shadow says the engine accepts it: state from before the
/// trace is unknown, never contradicted. What the trace cannot show (TLB fills, unmaps before an untraced
/// free) is inserted as "may happen" and counted in <see cref="Statistics"/> (docs/lowering.md).
/// </summary>
public sealed partial class TraceLowering
{
    private const ulong UserTop = 0x0000_8000_0000_0000UL;
    private const ulong PmdSize = 1UL << 21;
    private const int MaxCpus = EventSchema.MaxCpus;

    private static readonly int s_address = Col("address");
    private static readonly int s_errorCode = Col("error_code");
    private static readonly int s_pfn = Col("pfn");
    private static readonly int s_order = Col("order");
    private static readonly int s_gfp = Col("gfp_flags");
    private static readonly int s_reason = Col("reason");
    private static readonly int s_mm = Col("mm");
    private static readonly int s_write = Col("write");
    private static readonly int s_success = Col("success");
    private static readonly int s_status = Col("status");
    private static readonly int s_nextPid = Col("next_pid");
    private static readonly int s_nextComm = Col("next_comm");
    private static readonly int s_addr = Col("addr");
    private static readonly int s_len = Col("len");
    private static readonly int s_start = Col("start");
    private static readonly int s_oldLen = Col("old_len");
    private static readonly int s_newLen = Col("new_len");
    private static readonly int s_newAddr = Col("new_addr");
    private static readonly int s_behavior = Col("behavior");
    private static readonly int s_fd = Col("fd");

    /// <summary>
    /// The columns of events.parquet the lowering reads, with the exposure detector and coverage it feeds (they see
    /// the lowering's view, never a row). A column missing here makes the first row that reads it throw
    /// (<see cref="EventProjection"/>); the tests replay every kind of event the lowering handles. The args of a row
    /// are read for the events named here only (fork, file collapse, LRU insertion, the page-cache events), so the
    /// args JSON of the others (<c>kmem:rss_stat</c>'s, unique per row) is never copied into a row.
    /// </summary>
    public static EventProjection Columns { get; } = EventProjection.Of(
        "tgid", "address", "error_code", "pfn", "order", "gfp_flags", "reason", "mm", "write", "success", "status", "next_pid",
        "next_comm", "addr", "len", "start", "old_len", "new_len", "new_addr", "behavior", "fd", "flags", "ret", "args")
        .WithArgsOnlyOf("sched:sched_process_fork", "huge_memory:mm_khugepaged_collapse_file", "pagemap:mm_lru_insertion",
            "filemap:mm_filemap_fault", "filemap:mm_filemap_add_to_page_cache", "filemap:mm_filemap_delete_from_page_cache",
            "migrate:set_migration_pte", "migrate:remove_migration_pte");
    private const long MadvPageout = 21;

    // MADV_COLLAPSE (6.1+): madvise_collapse() collapses each whole PMD of the range in the calling task.
    private const long MadvCollapse = 25;
    private const ulong ODirect = 0x4000;

    private static readonly string[] s_kernelThreads =
    [
        "kworker", "khugepaged", "kswapd", "kcompactd", "ksoftirqd", "migration/", "rcu_", "kthreadd", "swapper", "<idle>",
        "kdamond", "watchdog", "cpuhp", "idle_inject", "oom_reaper", "kauditd", "jbd2", "irq/", "kblockd", "writeback",
    ];

    private readonly KernelProfile _profile;
    private readonly AddressSpaceTracker _tracker;
    private readonly ExposureDetector _exposure;
    private readonly List<Op> _ops = [];
    private readonly IOpSink? _sink;
    private readonly Dictionary<int, string> _comms = [];
    private long _opCount;
    private readonly Dictionary<int, TaskInfo> _tasks = [];
    private readonly Dictionary<int, int> _processOf = [];
    private readonly Dictionary<int, ShadowMm> _mmOfProcess = [];
    private readonly Dictionary<ulong, ShadowMm> _mmOfPointer = [];
    /// <summary>Every mm made, by id: coverage names the process of the mms a race's actors met on.</summary>
    private readonly Dictionary<int, ShadowMm> _mmById = [];
    private readonly PfnMap<Mapping> _mapped = new();
    private readonly PfnStates _pages = new();
    private readonly int[] _loaded = new int[MaxCpus];
    private readonly int[] _current = new int[MaxCpus];
    private readonly int[] _currentMm = new int[MaxCpus];
    private int _highestCpu = -1;
    private EventRow _row = null!;
    private int _nextMm = 1;
    private int _nextTable = 1;
    private long _opsBefore;
    private readonly HashSet<string> _eventsSeen = new(StringComparer.Ordinal);
    private readonly HashSet<(int Process, long Fd)> _directFds = [];
    private bool _tgidKnown;

    /// <summary>Creates a lowering for <paramref name="profile"/> (mremap predictions and exposure rules follow it).</summary>
    /// <param name="profile">Kernel profile (mremap prediction rules and exposure rules).</param>
    /// <param name="sink">Where ops go as they are made (streaming); null keeps them for <see cref="Finish"/>.</param>
    /// <param name="thp">THP mode of the traced machine.</param>
    public TraceLowering(KernelProfile profile, IOpSink? sink = null, ThpMode thp = ThpMode.Madvise)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _profile = profile;
        _sink = sink;
        _tracker = new AddressSpaceTracker(DatasetReplay.ToPrediction(profile), thp) { MremapCompleted = OnMremapCompleted };
        _exposure = new ExposureDetector(profile);
    }

    /// <summary>Counters of what was lowered and skipped.</summary>
    public LoweringStatistics Statistics { get; } = new();

    /// <summary>
    /// Leaf arrays (512 entries each) the shadow tables of the live address spaces hold: a diagnostic of what the
    /// page tables cost per mapped region (a table without leaves shares one array of zeros).
    /// </summary>
    internal int LeafArrays()
    {
        int count = 0;
        var seen = new HashSet<ShadowMm>(ReferenceEqualityComparer.Instance);
        foreach (ShadowMm mm in _mmOfProcess.Values.Concat(_mmOfPointer.Values))
        {
            if (seen.Add(mm))
            {
                count += Count(mm.Root);
            }
        }
        return count;

        static int Count(ShadowTable t)
        {
            int n = t.HoldsLeaves ? 1 : 0;
            for (int i = 0; t.Children is { } children && i < SparseSlots<ShadowTable?>.Length; i++)
            {
                n += children[i] is { } child ? Count(child) : 0;
            }
            return n;
        }
    }

    /// <summary>Exposure windows found so far (class <c>exposure</c>).</summary>
    public IReadOnlyList<Finding> Exposures => _exposure.Findings;

    /// <summary>What the trace shows of each race's actors, and which actor ops were skipped or left undecided.</summary>
    public CoverageTracker Coverage { get; } = new();

    /// <summary>Event names the lowering has read (what the trace can show).</summary>
    public IReadOnlySet<string> EventsSeen => _eventsSeen;

    /// <summary>Ops emitted so far.</summary>
    public long OpCount => _opCount;

    /// <summary>Lowers every row of <paramref name="rows"/> (seq order) and returns the op trace.</summary>
    public static OpTrace Lower(IEnumerable<EventRow> rows, KernelProfile profile, out TraceLowering lowering)
    {
        ArgumentNullException.ThrowIfNull(rows);
        lowering = new TraceLowering(profile);
        foreach (var row in rows)
        {
            lowering.Process(row);
        }
        return lowering.Finish();
    }

    /// <summary>
    /// Lowers <paramref name="rows"/> and replays the ops as they are made (nothing kept but the engine's state);
    /// <paramref name="also"/> (e.g. the ops.parquet writer) sees every op too.
    /// </summary>
    public static (ReplayResult Result, TraceLowering Lowering) LowerAndReplay(IEnumerable<EventRow> rows, KernelProfile profile, Arch arch, IOpSink? also = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var engine = new ReplayEngine(profile, arch);
        var lowering = new TraceLowering(profile, new EngineSink(engine, also));
        foreach (var row in rows)
        {
            lowering.Process(row);
        }
        lowering.Finish();
        return (engine.Finish(), lowering);
    }

    // The last event names noted, by reference: readers hand out one string instance per name, and hashing the name
    // of every event into _eventsSeen was 2 % of the lowering + engine thread.
    private readonly string?[] _recentEvents = new string?[8];
    private int _recentNext;

    private void NoteEventSeen(string name)
    {
        foreach (string? recent in _recentEvents)
        {
            if (ReferenceEquals(recent, name))
            {
                return;
            }
        }
        _eventsSeen.Add(name);
        _recentEvents[_recentNext] = name;
        _recentNext = (_recentNext + 1) & 7;
    }

    /// <summary>Consumes one event (rows may be reused by the caller after the call).</summary>
    public void Process(EventRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        Statistics.Events++;
        _row = row;
        NoteEventSeen(row.Event);
        _opsBefore = _opCount;
        if ((uint)row.Cpu >= MaxCpus)
        {
            // Only an unknown CPU (-1: perf script without the cpu column) gets here; readers refuse ids >= NR_CPUS.
            Statistics.CpuOutOfRange++;
            return;
        }
        _highestCpu = Math.Max(_highestCpu, row.Cpu);
        var task = TaskOf(row);
        if (row.Tgid is int tgid && tgid > 0)
        {
            _processOf[row.Pid] = tgid;
            _tgidKnown = true;
        }
        FinishFaultUnlessPageAlloc(task, row.Event);
        _tracker.Process(row);
        switch (row.Event)
        {
            case "exceptions:page_fault_user":
            case "exceptions:page_fault_kernel":
                OnFault(task);
                break;
            case "kmem:mm_page_alloc":
                OnPageAlloc(task);
                break;
            case "kmem:mm_page_free":
            case "kmem:mm_page_free_batched":
                OnPageFree(task);
                break;
            case "mmap_lock:mmap_lock_acquire_returned":
                OnLockAcquired(task);
                break;
            case "mmap_lock:mmap_lock_released":
                OnLockReleased(task);
                break;
            case "tlb:tlb_flush":
                OnTlbFlush(task);
                break;
            case "sched:sched_switch":
                OnSchedSwitch();
                break;
            case "huge_memory:mm_collapse_huge_page_isolate":
                OnCollapseIsolate(task);
                break;
            case "huge_memory:mm_collapse_huge_page":
                OnCollapseDone(task);
                break;
            case "huge_memory:mm_khugepaged_collapse_file":
                OnCollapseFile(task);
                OnCollapseDone(task);
                break;
            case "mmap:exit_mmap":
                OnExitMmap();
                break;
            case "syscalls:sys_enter_munmap":
                StartZap(task, Field(s_addr), Field(s_len), keepTables: false);
                break;
            case "syscalls:sys_enter_madvise":
                // MADV_DONTNEED (4) and MADV_REMOVE (9) zap the range like munmap but keep the page tables.
                if (_row.IsSet(s_behavior) && _row.GetInt64(s_behavior) is 4 or 9)
                {
                    StartZap(task, Field(s_start), Field(s_len), keepTables: true);
                }
                else if (_row.IsSet(s_behavior) && _row.GetInt64(s_behavior) == MadvPageout)
                {
                    // reclaim_pages → shrink_folio_list → try_to_unmap on the range's folios, in this task.
                    task.Walking |= WalkContext.Pageout;
                }
                else if (_row.IsSet(s_behavior) && _row.GetInt64(s_behavior) == MadvCollapse)
                {
                    task.MadvCollapse = (Field(s_start), Field(s_len));
                }
                break;
            case "syscalls:sys_exit_munmap":
            case "syscalls:sys_exit_madvise":
                ZapMunmap(task);
                task.Munmap = null;
                task.MadvCollapse = null;
                task.Walking &= ~WalkContext.Pageout;
                break;
            case "syscalls:sys_enter_mlock":
            case "syscalls:sys_enter_mlock2":
            case "syscalls:sys_enter_munlock":
            case "syscalls:sys_enter_mlockall":
            case "syscalls:sys_enter_munlockall":
            case "syscalls:sys_enter_mmap":
                OnMlockEnter(task, row.Event["syscalls:sys_enter_".Length..]);
                break;
            case "syscalls:sys_exit_mlock":
            case "syscalls:sys_exit_mlock2":
            case "syscalls:sys_exit_munlock":
            case "syscalls:sys_exit_mlockall":
            case "syscalls:sys_exit_munlockall":
            case "syscalls:sys_exit_mmap":
                OnMlockExit(task, row.Event["syscalls:sys_exit_".Length..]);
                break;
            case "pagemap:mm_lru_insertion":
                OnLruInsertion(task);
                break;
            case "syscalls:sys_enter_execve":
            case "syscalls:sys_enter_execveat":
                OnExecEnter(task);
                break;
            case "syscalls:sys_exit_execve":
            case "syscalls:sys_exit_execveat":
                OnExecExit(task);
                break;
            case "sched:sched_process_exec":
                OnExecDone(task);
                break;
            case "sched:sched_process_exit":
                task.Exiting = true;
                OnProcessExit(task);
                break;
            case "sched:sched_process_fork":
                OnFork(task);
                break;
            case "syscalls:sys_enter_openat":
            case "syscalls:sys_enter_openat2":
            case "syscalls:sys_enter_open":
                task.OpenFlags = Field(s_flags);
                break;
            case "syscalls:sys_exit_openat":
            case "syscalls:sys_exit_openat2":
            case "syscalls:sys_exit_open":
                OnOpenExit(task);
                break;
            case "syscalls:sys_enter_close":
                _directFds.Remove((ProcessKey(task.Tid), _row.IsSet(s_fd) ? _row.GetInt64(s_fd) : -1));
                break;
            case "filemap:mm_filemap_fault":
                OnFileFault(task);
                break;
            case "filemap:mm_filemap_add_to_page_cache":
                OnPageCacheAdd(task);
                break;
            case "filemap:mm_filemap_delete_from_page_cache":
                OnPageCacheDelete();
                break;
            case "syscalls:sys_enter_vmsplice":
                LocklessWalker(task);
                break;
            case "syscalls:sys_enter_read":
            case "syscalls:sys_enter_pread64":
            case "syscalls:sys_enter_readv":
            case "syscalls:sys_enter_preadv":
            case "syscalls:sys_enter_preadv2":
            case "syscalls:sys_enter_write":
            case "syscalls:sys_enter_pwrite64":
            case "syscalls:sys_enter_writev":
            case "syscalls:sys_enter_pwritev":
            case "syscalls:sys_enter_pwritev2":
                if (_row.IsSet(s_fd) && _directFds.Contains((ProcessKey(task.Tid), _row.GetInt64(s_fd))))
                {
                    // O_DIRECT I/O pins the user buffer with pin_user_pages_fast: a GUP-fast walk of the mm.
                    LocklessWalker(task);
                }
                break;
            case "migrate:set_migration_pte":
                OnSetMigrationPte(task);
                break;
            case "migrate:remove_migration_pte":
                OnRemoveMigrationPte(task);
                break;
            case "syscalls:sys_enter_mremap":
                StartMremapZaps(task);
                if (MmOfTask(task) is { } m)
                {
                    _exposure.OnMremapEnter(m.Id, Ev(task, "sys_enter_mremap"));
                }
                break;
            default:
                OnOther(task, row.Event);
                break;
        }
        if (row.Event != "sched:sched_switch")
        {
            // Any other event shows its task on the CPU (IRQ-context events show the interrupted task, which is as good).
            Running(task);
        }
        if (_opCount > _opsBefore)
        {
            Statistics.LoweredEvents++;
        }
    }

    /// <summary>Ends the lowering and returns the ops kept (none when they were streamed to a sink) as a trace for <see cref="ReplayEngine"/>.</summary>
    public OpTrace Finish()
    {
        foreach (var task in _tasks.Values)
        {
            task.PendingFault = null;
            EndExec(task, undecided: task.Exec is { StackPending: true });
        }
        _tracker.Finish();
        _exposure.Finish();
        Statistics.Ops = _opCount;
        return new OpTrace(_ops, _comms, 0);
    }

    // ---- tasks, processes, mms

    // The task of the previous event: runs of one task's events are the common case, and two dictionary lookups per
    // event (task, then comm) were ~2 % of the lowering + engine thread. A task is never removed from _tasks or
    // replaced in it, so the cached one stays the pid's.
    private TaskInfo? _lastTask;

    private TaskInfo TaskOf(EventRow row)
    {
        TaskInfo? cached = _lastTask;
        bool known = cached is not null && cached.Tid == row.Pid;
        TaskInfo task;
        if (known)
        {
            task = cached!;
        }
        else
        {
            known = _tasks.TryGetValue(row.Pid, out var found);
            task = found ?? new TaskInfo(row.Pid);
            if (!known)
            {
                _tasks[row.Pid] = task;
            }
            _lastTask = task;
        }
        // A task in _tasks always has its comm in _comms (both are set together, here and at sched_switch).
        if (!known || task.Comm != row.Comm)
        {
            task.Comm = row.Comm;
            task.Kernel = IsKernelThread(row.Pid, row.Comm);
            _comms[row.Pid] = row.Comm;
            _sink?.Task(row.Pid, row.Comm);
        }
        return task;
    }

    private static bool IsKernelThread(int pid, string comm)
    {
        if (pid <= 0)
        {
            return true;
        }
        foreach (string prefix in s_kernelThreads)
        {
            if (comm.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    private int ProcessKey(int pid) => _processOf.TryGetValue(pid, out int key) ? key : pid;

    /// <summary>
    /// The process owning mm <paramref name="mm"/> and its name: when the mm was torn down (exit, or the exec that left
    /// it: a reused pid or a later exec renames the task, not the mm's process), else its last name in the trace; null
    /// for an mm no process was found to own.
    /// </summary>
    public MmProcess? ProcessOfMm(int mm) =>
        _mmById.TryGetValue(mm, out var shadow) && shadow.Owner != 0
            ? new MmProcess(mm, shadow.Owner, shadow.OwnerCommAtExit ?? OwnerComm(shadow))
            : null;

    private string OwnerComm(ShadowMm mm) => _tasks.TryGetValue(mm.Owner, out var task) ? task.Comm : "";

    /// <summary>The mm of a user task (created on first use); null for kernel threads.</summary>
    private ShadowMm? MmOfTask(TaskInfo task)
    {
        if (task.Kernel)
        {
            return null;
        }
        int key = ProcessKey(task.Tid);
        if (!_mmOfProcess.TryGetValue(key, out var mm))
        {
            mm = CreateMm(key, task);
            _mmOfProcess[key] = mm;
        }
        return mm;
    }

    /// <summary>Whether <paramref name="task"/> is a user task of <paramref name="mm"/> (looked up, never created).</summary>
    private bool IsTaskOf(TaskInfo task, ShadowMm mm) =>
        !task.Kernel && _mmOfProcess.TryGetValue(ProcessKey(task.Tid), out var own) && ReferenceEquals(own, mm);

    private ShadowMm CreateMm(int owner, TaskInfo task)
    {
        var root = new ShadowTable(_nextTable++, Level.Pgd, 0);
        var mm = new ShadowMm(_nextMm++, root, owner);
        root.Mm = mm;
        _mmById[mm.Id] = mm;
        var op = NewOp(OpKind.MmCreate, task);
        op.Mm = mm.Id;
        op.Table = root.Id;
        Emit(op);
        return mm;
    }

    /// <summary>The mm an mmap_lock/huge_memory event names by pointer: bound on first use to the user task's own mm.</summary>
    private ShadowMm MmOfPointer(ulong pointer, TaskInfo task)
    {
        if (_mmOfPointer.TryGetValue(pointer, out var bound))
        {
            if (!task.Kernel && bound.Owner != 0 && ProcessKey(task.Tid) != bound.Owner && !_tgidKnown)
            {
                // Another thread of that process without a tgid in the trace: it shares the mm from now on, and the file
                // table too (a thread that opened an O_DIRECT file before its first mmap_lock still reads it afterwards).
                int before = ProcessKey(task.Tid);
                _processOf[task.Tid] = bound.Owner;
                if (before == task.Tid)
                {
                    MoveDirectFds(before, bound.Owner);
                }
            }
            else if (!task.Kernel && bound.Owner == 0 && !_mmOfProcess.ContainsKey(ProcessKey(task.Tid)))
            {
                // A pointer first named by another task (a kernel thread, or the parent's dup_mmap at fork) turns out to
                // be this process' mm: it becomes the process' own.
                bound.Owner = ProcessKey(task.Tid);
                _mmOfProcess[bound.Owner] = bound;
            }
            return bound;
        }
        if (!task.Kernel && HoldsMmapLock(task))
        {
            // The task holds an mmap_lock and takes this one nested: only fork's dup_mmap does that (mmap_write_lock of
            // the parent's mm, then mmap_write_lock_nested of the child's new one). This pointer is the child's mm, whoever
            // the lowering thinks the task's own mm is; binding it to that would let the child's exit_mmap (or exec)
            // destroy or replace the parent's mm. (Without the nesting, a new pointer is the task's own mm after an exec
            // the trace did not show, and rebinds as before.)
            var child = CreateMm(0, task);
            BindPointer(child, pointer);
            task.ForkChildMm = child;
            return child;
        }
        var own = task.Kernel ? null : ExecMmFor(task) ?? MmOfTask(task)!;
        var mm = own ?? CreateMm(0, task);
        BindPointer(mm, pointer);
        return mm;
    }

    private void BindPointer(ShadowMm mm, ulong pointer)
    {
        if (mm.Pointer != 0)
        {
            _mmOfPointer.Remove(mm.Pointer);
        }
        mm.Pointer = pointer;
        _mmOfPointer[pointer] = mm;
    }

    /// <summary>Whether <paramref name="task"/> holds an mmap_lock (its latest acquisition, not yet released).</summary>
    private static bool HoldsMmapLock(TaskInfo task) =>
        task.LockedMm is { } held && held.HolderIndex(task.Tid) >= 0;

    /// <summary>
    /// sched_process_fork fires in the parent after copy_process. Without CLONE_VM, dup_mmap gave the child a new mm, the
    /// one the parent locked nested just before: the child (a new thread group, tgid = its pid) runs it from now on. With
    /// CLONE_VM (a thread, vfork) there was no dup_mmap: a thread joins its tgid's mm, a vfork child gets one at first use.
    /// The child's pid is new, so whatever the lowering still keeps under that number belongs to a dead process.
    /// </summary>
    private void OnFork(TaskInfo parent)
    {
        if (!int.TryParse(_row.FindField("child_pid"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int child) || child <= 0)
        {
            return;
        }
        var copy = parent.ForkChildMm;
        parent.ForkChildMm = null;
        _mmOfProcess.Remove(child);
        _processOf.Remove(child);
        if (_tasks.TryGetValue(child, out var reused))
        {
            reused.Exiting = false;
        }
        if (copy is not null && _mmOfPointer.TryGetValue(copy.Pointer, out var bound) && ReferenceEquals(bound, copy) && copy.Owner == 0)
        {
            copy.Owner = child;
            _mmOfProcess[child] = copy;
            _processOf[child] = child;
            Statistics.ForkMms++;
        }
    }

    /// <summary>
    /// A user task runs on its CPU. The engine hears of it (ctx_switch) only when an op needs it: a TLB fill, or a
    /// traced sched_switch to a task whose mm exists. A CPU the engine still believes runs another mm is never
    /// flushed for this one, which can only drop findings, never invent one (docs/lowering.md).
    /// </summary>
    private void Running(TaskInfo task)
    {
        int cpu = _row.Cpu;
        // A kernel thread runs no user code of any mm (the mm stays loaded lazily).
        int mm = !task.Kernel && _mmOfProcess.TryGetValue(ProcessKey(task.Tid), out var known) ? known.Id : 0;
        if (_current[cpu] == task.Tid && _currentMm[cpu] == mm)
        {
            return;
        }
        _current[cpu] = task.Tid;
        _currentMm[cpu] = mm;
        _exposure.OnRunning(cpu, mm, Ev(task, task.Kernel ? "kernel thread runs" : "runs"));
    }

    /// <summary>Makes the engine's CPU of the current op run <paramref name="mm"/>.</summary>
    private void EnsureLoaded(TaskInfo task, ShadowMm mm, bool implied)
    {
        int cpu = _row.Cpu;
        if (_loaded[cpu] == mm.Id)
        {
            return;
        }
        var op = NewOp(OpKind.CtxSwitch, task);
        op.Mm = mm.Id;
        Emit(op);
        _loaded[cpu] = mm.Id;
        if (implied)
        {
            Statistics.ImpliedSwitches++;
        }
    }

    private void OnSchedSwitch()
    {
        if (!_row.IsSet(s_nextPid))
        {
            return;
        }
        int next = (int)_row.GetInt64(s_nextPid);
        string comm = _row.GetText(s_nextComm) ?? "";
        if (!_tasks.TryGetValue(next, out var task))
        {
            task = new TaskInfo(next) { Comm = comm, Kernel = IsKernelThread(next, comm) };
            _tasks[next] = task;
            _comms[next] = comm;
            _sink?.Task(next, comm);
        }
        int cpu = _row.Cpu;
        _current[cpu] = next;
        _currentMm[cpu] = 0;
        if (task.Kernel)
        {
            // Lazy TLB: a kernel thread keeps the previous mm loaded, but no user code (GUP-fast) runs.
            _exposure.OnRunning(cpu, 0, Ev(task, "kernel thread switched in"));
            return;
        }
        if (_mmOfProcess.TryGetValue(ProcessKey(next), out var mm))
        {
            EnsureLoaded(task, mm, implied: false);
        }
        _currentMm[cpu] = mm?.Id ?? 0;
        _exposure.OnRunning(cpu, mm?.Id ?? 0, Ev(task, "switched in"));
    }

    // ---- faults and pages

    private void OnFault(TaskInfo task)
    {
        ulong address = Field(s_address);
        if (address >= UserTop || task.Kernel)
        {
            return;
        }
        OnExecFault(task, address);
        var mm = MmOfTask(task)!;
        ulong error = Field(s_errorCode);
        // x86 page-fault error code (arch/x86/include/asm/trap_pf.h): bit 0 P, the fault was a protection violation on
        // a present entry; bit 1 W, a write.
        task.PendingFault = new PendingFault(mm, address & ~4095UL, (error & 2) != 0, _row.Seq, (error & 1) != 0);
    }

    /// <summary>
    /// A fault's data page comes as the next mm_page_alloc of the same task; anything else ends it, except the fault's
    /// own taking of the mmap_lock: before per-VMA locks (x86 6.4, 0bff0aaea03e) every user fault, and since then a fault
    /// whose VMA lock could not be had, takes <c>mmap_read_lock</c> after <c>page_fault_user</c> fired and allocates
    /// under it (lock_mm_and_find_vma, then handle_mm_fault), so start_locking and acquire_returned come between the
    /// fault and its page; the release comes after it. Only that lock: see <see cref="IsFaultsOwnLock"/>.
    /// </summary>
    private void FinishFaultUnlessPageAlloc(TaskInfo task, string ev)
    {
        if (task.PendingFault is not { } fault || ev == "kmem:mm_page_alloc" || ev == "kmem:rss_stat" || ev == "filemap:mm_filemap_fault")
        {
            return;
        }
        if (IsFaultsOwnLock(fault, ev, out bool acquired))
        {
            if (acquired)
            {
                task.PendingFault = fault with { Locked = true };
            }
            return;
        }
        task.PendingFault = null;
        if (fault.Present)
        {
            // The access hit a present entry (a write to a write-protected PTE: write notification of a clean shared
            // file page, dirty tracking, a COW page without a copy): handle_mm_fault made it writable in place, mapped
            // nothing new, and the retried access fills the TLB. The fill walks the tables as they are when it runs, so
            // in a schedule where the entry maps another page (the page a walker has not yet unmapped) it fills that
            // one: emitted whatever the shadow maps now (docs/lowering.md).
            Fill(task, fault.Mm, fault.Va);
            Statistics.PresentFaultFills++;
            _exposure.OnFill(fault.Mm.Id, fault.Va, fault.Mm.Find(fault.Va, Level.Pte) is { } table && table.Leaves![ShadowTable.IndexOf(fault.Va, Level.Pte)] != 0, Ev(task, string.Create(CultureInfo.InvariantCulture, $"write-protect fault at 0x{fault.Va:x}: fills its TLB through the moved range")));
            return;
        }
        var pte = fault.Mm.Find(fault.Va, Level.Pte);
        var pmd = fault.Mm.Find(fault.Va, Level.Pmd);
        int pmdIdx = ShadowTable.IndexOf(fault.Va, Level.Pmd);
        bool mapped = (pte is not null && pte.Leaves![ShadowTable.IndexOf(fault.Va, Level.Pte)] != 0)
            || (pmd is not null && pmd.Leaves![pmdIdx] != 0);
        if (mapped)
        {
            // A fault on a mapped page (write-protect, spurious): the retried access may fill the TLB.
            Fill(task, fault.Mm, fault.Va);
            return;
        }
        Statistics.FaultsWithoutPage++;
    }

    /// <summary>
    /// Whether the current mmap_lock event is the pending fault's own <c>mmap_read_lock</c>: a read-side start or
    /// acquisition (a failed trylock first, as do_user_addr_fault tries one) of the fault's mm, before the fault holds
    /// it. A write lock, the lock of an mm bound to another process (a GUP of it: process_vm_readv, /proc/pid/mem,
    /// ptrace) or a second acquisition is not the fault's: the fault returned without a page event and the task went
    /// on (on 6.4+ a fault handled under its VMA lock takes no mmap_lock), so a page allocated then is not the fault's.
    /// <paramref name="acquired"/>: the event is the fault's successful acquisition.
    /// </summary>
    private bool IsFaultsOwnLock(PendingFault fault, string ev, out bool acquired)
    {
        acquired = false;
        if (fault.Locked || ev is not ("mmap_lock:mmap_lock_start_locking" or "mmap_lock:mmap_lock_acquire_returned")
            || (_row.IsSet(s_write) && _row.GetBool(s_write))
            || (_row.IsSet(s_mm) && _mmOfPointer.TryGetValue(_row.GetUInt64(s_mm), out var bound) && !ReferenceEquals(bound, fault.Mm)))
        {
            return false;
        }
        acquired = ev == "mmap_lock:mmap_lock_acquire_returned" && !(_row.IsSet(s_success) && !_row.GetBool(s_success));
        return true;
    }

    /// <summary>Frames in a buddy block of <paramref name="order"/> (an order outside 0..10 is taken as one frame).</summary>
    private static ulong PagesInBlock(long order) => order is > 0 and <= 10 ? 1UL << (int)order : 1;

    private void OnPageAlloc(TaskInfo task)
    {
        ulong pfn = Field(s_pfn);
        long order = _row.IsSet(s_order) ? _row.GetInt64(s_order) : 0;
        string gfp = _row.GetText(s_gfp) ?? "";
        if (_pages[pfn] == PfnState.Allocated)
        {
            Statistics.AllocsOfAllocated++;
        }
        else
        {
            for (ulong p = pfn; p < pfn + PagesInBlock(order); p++)
            {
                if (_mapped.TryGetValue(p, out var stale))
                {
                    // The model maps a frame the allocator hands out as free (a file fault mapped it through a page-cache
                    // entry whose delete was lost, after its free): the kernel unmapped it before freeing it, untraced.
                    // page_alloc resets the engine's mapcount, so a later unmap of the old entry would map_dec it below zero.
                    Unmap(task, stale, flush: true);
                    Statistics.MappedAtAlloc++;
                }
            }
            var op = NewOp(OpKind.PageAlloc, task);
            op.Pfn = pfn;
            op.Value = order;
            Emit(op);
            _pages[pfn] = PfnState.Allocated;
        }
        var flags = GfpFlags.Parse(gfp);
        NoteExecAlloc(task, pfn, order, flags);
        if (order == 9 && flags.TransHuge && task.PendingFault is null)
        {
            // khugepaged / MADV_COLLAPSE allocate the huge page before taking mmap_lock for write.
            task.HugePage = pfn;
            return;
        }
        if (task.PendingFault is not { } fault || flags.Kernel)
        {
            // Page-table pages (GFP_KERNEL_ACCOUNT|__GFP_ZERO) of the fault: its data page comes next.
            return;
        }
        if (fault.Present && gfp.Length > 0 && !flags.HighUser)
        {
            // A fault on a present entry allocates a data page only to copy it (COW: GFP_HIGHUSER_MOVABLE). Anything else
            // is the handler's own: ext4's page_mkwrite allocates GFP_NOFS pages (journal, extent tree) while it makes a
            // shared file page writable, which before was mapped in place of the file page.
            Statistics.PresentFaultOtherAllocs++;
            return;
        }
        task.PendingFault = null;
        if (order == 9)
        {
            MapHuge(task, fault, pfn);
        }
        else if (order == 0)
        {
            MapPte(task, fault, pfn);
        }
    }

    private void MapPte(TaskInfo task, PendingFault fault, ulong pfn)
    {
        var mm = fault.Mm;
        var pmd = EnsurePath(task, mm, fault.Va, Level.Pmd);
        int pmdIdx = ShadowTable.IndexOf(fault.Va, Level.Pmd);
        if (pmd.Leaves![pmdIdx] != 0)
        {
            Statistics.HugeFaultsSkipped++;
            return;
        }
        var pte = EnsurePath(task, mm, fault.Va, Level.Pte);
        int idx = ShadowTable.IndexOf(fault.Va, Level.Pte);
        if (pte.Leaves![idx] != 0)
        {
            // Copy-on-write or a replaced page: the old mapping goes (ptep_clear_flush) before the new one is set.
            Unmap(task, new Mapping(mm, pte, idx), flush: true);
        }
        if (_mapped.TryGetValue(pfn, out var elsewhere))
        {
            Unmap(task, elsewhere, flush: true);
            Statistics.ImpliedUnmaps++;
        }
        var set = NewOp(OpKind.PteSet, task);
        set.Mm = mm.Id;
        set.Va = fault.Va;
        set.Pfn = pfn;
        set.Level = Level.Pte;
        if (fault.Write)
        {
            set.Flags |= OpFlags.WriteAccess;
        }
        Emit(set);
        pte.SetLeaf(idx, pfn + 1);
        pte.Present++;
        _mapped[pfn] = new Mapping(mm, pte, idx);
        var inc = NewOp(OpKind.MapInc, task);
        inc.Pfn = pfn;
        Emit(inc);
        MlockIfLockedVma(task, new Mapping(mm, pte, idx));
        Fill(task, mm, fault.Va);
        Statistics.FaultsMapped++;
    }

    private void MapHuge(TaskInfo task, PendingFault fault, ulong pfn)
    {
        var mm = fault.Mm;
        ulong va = fault.Va & ~(PmdSize - 1);
        var pmd = EnsurePath(task, mm, va, Level.Pmd);
        int idx = ShadowTable.IndexOf(va, Level.Pmd);
        if (pmd.Children![idx] is not null || pmd.Leaves![idx] != 0 || _mapped.ContainsKey(pfn))
        {
            Statistics.HugeFaultsSkipped++;
            return;
        }
        SetHuge(task, mm, pmd, idx, va, pfn);
        Fill(task, mm, fault.Va);
        Statistics.FaultsMapped++;
    }

    private void SetHuge(TaskInfo task, ShadowMm mm, ShadowTable pmd, int idx, ulong va, ulong pfn)
    {
        var set = NewOp(OpKind.PmdSetHuge, task);
        set.Mm = mm.Id;
        set.Va = va;
        set.Pfn = pfn;
        set.Level = Level.Pmd;
        Emit(set);
        pmd.SetLeaf(idx, pfn + 1);
        pmd.Present++;
        _mapped[pfn] = new Mapping(mm, pmd, idx);
        var inc = NewOp(OpKind.MapInc, task);
        inc.Pfn = pfn;
        inc.Level = Level.Pmd;
        Emit(inc);
    }

    /// <summary>The access that faulted is retried and may fill the TLB of its CPU (fills are never traced).</summary>
    private void Fill(TaskInfo task, ShadowMm mm, ulong va)
    {
        EnsureLoaded(task, mm, implied: true);
        var fill = NewOp(OpKind.TlbFill, task);
        fill.Mm = mm.Id;
        fill.Va = va;
        Emit(fill);
    }

    private void OnPageFree(TaskInfo task)
    {
        ulong pfn = Field(s_pfn);
        long order = _row.IsSet(s_order) ? _row.GetInt64(s_order) : 0;
        PfnState state = _pages[pfn];
        if (state == PfnState.Freed)
        {
            // The batched path reports the pfn in mm_page_free_batched and again in mm_page_free.
            Statistics.DuplicateFrees++;
            return;
        }
        if (state == PfnState.Unknown)
        {
            Statistics.FreesOfUntracedPages++;
        }
        if (task.HugePage == pfn)
        {
            // A collapse that failed (or gave up) frees the huge page it allocated: a later collapse must not use it.
            task.HugePage = null;
        }
        if (task.Munmap is not null)
        {
            ZapMunmap(task);
        }
        for (ulong p = pfn; p < pfn + PagesInBlock(order); p++)
        {
            if (_mapped.TryGetValue(p, out var mapping))
            {
                if (IsRmapWalker(task))
                {
                    // Reclaim, migration or compaction freed a page it had unmapped through the rmap (try_to_unmap_one / try_to_migrate_one).
                    Coverage.Actor("R1", CoverageRules.RmapWalker, mapping.Mm.Id, _row.Seq);
                    if (_mlocked.Contains(p))
                    {
                        Coverage.Actor("R4", CoverageRules.MlockedWalker, mapping.Mm.Id, _row.Seq);
                    }
                }
                // A task past its sched_process_exit frees in its own teardown (exit_mmap's zap): a page another mm
                // maps in the model is one they shared since a fork (copied PTEs the lowering does not make), whose
                // other mapping went by a path the trace does not show (a COW break in kernel mode, copy_to_user):
                // the exiting task dropped the last reference. Not a zap of that mm, and no walker.
                bool otherMm = !task.Kernel && !IsRmapWalker(task) && !IsTaskOf(task, mapping.Mm) && !task.Exiting;
                ulong va = mapping.Va;
                if (otherMm && mapping.Table.Level == Level.Pte && !_mlocked.Contains(p))
                {
                    // A task of another mm frees a page this mm maps: a truncation or hole punch of a shared file
                    // (unmap_mapping_range), whose zap walks this mm's tables without its mmap_lock.
                    ZapOfAnotherMm(task, mapping);
                    Coverage.Actor("R1", CoverageRules.FileZapper, mapping.Mm.Id, _row.Seq);
                    Statistics.ZapsOfAnotherMm++;
                }
                else
                {
                    // The kernel unmapped and flushed the page before freeing it (exit, MADV_DONTNEED, reclaim …) without a traced event.
                    Unmap(task, mapping, flush: true);
                    Statistics.ImpliedUnmaps++;
                }
                if (IsRmapWalker(task) || (!IsTaskOf(task, mapping.Mm) && !task.Exiting))
                {
                    // A task of the page's own mm outside any rmap walk freed it through its own zap: exit_mmap's
                    // unmap_vmas (before the exit_mmap event), munmap or MADV_DONTNEED, which hold mmap_lock or run
                    // when no mremap or munlock of the mm can. Not reclaim: no window of this mm counts it.
                    _exposure.OnWalkerFree(mapping.Mm.Id, va, Ev(task, "frees a page of mm" + mapping.Mm.Id.ToString(CultureInfo.InvariantCulture)));
                }
            }
        }
        var op = NewOp(OpKind.PageFree, task);
        op.Pfn = pfn;
        op.Value = order;
        Emit(op);
        _pages[pfn] = PfnState.Freed;
    }

    /// <summary>
    /// The zap of a page of another mm by a truncation or hole punch: unmap_mapping_range visits each VMA of the file's
    /// i_mmap tree under i_mmap_rwsem (read), computes the address of the file offset through that VMA as it is then
    /// (vma_address), walks the mm's tables from its PGD to the PTE, clears it under the PTE lock and flushes that
    /// address (zap_page_range_single). So it is lowered as the rmap walk the engine re-resolves per schedule
    /// (<c>ttu_start</c> / <c>ttu_walk</c> / <c>ttu_unmap</c> / <c>ttu_end</c>, docs/exploration.md "Operands"): a walk
    /// that runs before a PMD move keeps the PTE table it found and flushes the old address, one that runs after it
    /// finds the page where the move put it. The rmap object is the mm's (the one the lowered PMD moves lock).
    /// </summary>
    /// <remarks>With <paramref name="migrate"/>, try_to_migrate_one's walk: the PTE becomes a migration entry (set_migration_pte).</remarks>
    private void ZapOfAnotherMm(TaskInfo task, Mapping m, bool migrate = false)
    {
        ulong pfn = m.Table.Leaves![m.Index] - 1;
        var start = NewOp(OpKind.TtuStart, task);
        start.Pfn = pfn;
        start.Obj = m.Mm.Id;
        Emit(start);
        foreach (var kind in (ReadOnlySpan<OpKind>)[OpKind.TtuWalk, OpKind.TtuUnmap])
        {
            var op = NewOp(kind, task);
            op.Mm = m.Mm.Id;
            op.Va = m.Va;
            op.Pfn = pfn;
            op.Level = Level.Pte;
            if (migrate && kind == OpKind.TtuUnmap)
            {
                op.Flags |= OpFlags.Migrate;
            }
            Emit(op);
        }
        var end = NewOp(OpKind.TtuEnd, task);
        end.Pfn = pfn;
        end.Obj = m.Mm.Id;
        Emit(end);
        m.Table.ClearLeaf(m.Index);
        _mapped.Remove(pfn);
    }

    /// <summary>Clears one mapped entry (PTE or huge PMD), drops the mapcount and, with <paramref name="flush"/>, flushes that address.</summary>
    private void Unmap(TaskInfo task, Mapping m, bool flush)
    {
        ulong pfn = m.Table.Leaves![m.Index] - 1;
        ulong va = m.Va;
        var clear = NewOp(m.Table.Level == Level.Pte ? OpKind.PteClear : OpKind.PmdClear, task);
        clear.Mm = m.Mm.Id;
        clear.Table = m.Table.Id;
        clear.Index = m.Index;
        clear.Level = m.Table.Level;
        if (m.Table.Level != Level.Pte)
        {
            clear.Table = 0;
            clear.Index = 0;
            clear.Va = va;
        }
        Emit(clear);
        m.Table.ClearLeaf(m.Index);
        _mapped.Remove(pfn);
        var dec = NewOp(OpKind.MapDec, task);
        dec.Pfn = pfn;
        dec.Level = m.Table.Level;
        Emit(dec);
        ClearMlocked(task, pfn);
        if (flush)
        {
            Flush(task, m.Mm, va, ShadowTable.SizeOf(m.Table.Level), all: false, tables: false);
        }
        if (m.Table.Level == Level.Pmd && m.Mm.Deposits.Remove(va, out var deposited))
        {
            // zap_huge_pmd withdraws the deposited PTE table and frees it.
            var free = NewOp(OpKind.TableFree, task);
            free.Table = deposited.Id;
            free.Sub = (byte)FreeMode.Now;
            Emit(free);
        }
    }

    private void Flush(TaskInfo task, ShadowMm mm, ulong va, ulong len, bool all, bool tables)
    {
        var op = NewOp(OpKind.TlbFlush, task);
        op.Mm = mm.Id;
        op.Va = va;
        op.Len = len;
        if (all)
        {
            op.Flags |= OpFlags.All;
            op.Va = 0;
            op.Len = 0;
        }
        if (tables)
        {
            op.Flags |= OpFlags.FreedTables;
        }
        Emit(op);
    }

    /// <summary>Makes sure the tables down to <paramref name="level"/> exist for <paramref name="va"/> (table_alloc + populate).</summary>
    private ShadowTable EnsurePath(TaskInfo task, ShadowMm mm, ulong va, Level level)
    {
        var t = mm.Root;
        while (t.Level > level)
        {
            int idx = ShadowTable.IndexOf(va, t.Level);
            var child = t.Children![idx];
            if (child is null)
            {
                var childLevel = t.Level - 1;
                ulong span = ShadowTable.SizeOf(t.Level);
                child = new ShadowTable(_nextTable++, childLevel, va & ~(span - 1)) { Mm = mm };
                var alloc = NewOp(OpKind.TableAlloc, task);
                alloc.Table = child.Id;
                alloc.Level = childLevel;
                Emit(alloc);
                var link = NewOp(t.Level switch
                {
                    Level.Pgd => OpKind.PgdPopulate,
                    Level.P4d => OpKind.P4dPopulate,
                    Level.Pud => OpKind.PudPopulate,
                    _ => OpKind.PmdPopulate,
                }, task);
                link.Mm = mm.Id;
                link.Va = va & ~(span - 1);
                link.Table = child.Id;
                Emit(link);
                t.Children[idx] = child;
                t.Present++;
            }
            t = child;
        }
        return t;
    }

    // ---- mmap_lock

    private void OnLockAcquired(TaskInfo task)
    {
        if (!_row.IsSet(s_mm) || (_row.IsSet(s_success) && !_row.GetBool(s_success)))
        {
            return;
        }
        bool write = _row.IsSet(s_write) && _row.GetBool(s_write);
        var mm = MmOfPointer(_row.GetUInt64(s_mm), task);
        int held = mm.HolderIndex(task.Tid);
        if (held >= 0)
        {
            if (mm.Holders[held].Write && !write)
            {
                // mmap_write_downgrade() emits acquire_returned write=false with no start_locking.
                Statistics.Downgrades++;
                Emit(LockOp(OpKind.MmapUnlock, task, mm, false));
                Emit(LockOp(OpKind.MmapLock, task, mm, false));
                mm.Holders[held] = (task.Tid, false);
                if (task.Munmap is not null)
                {
                    // munmap zaps under the downgraded (read) lock.
                    ZapMunmap(task);
                }
            }
            else
            {
                Statistics.LockConflicts++;
            }
            return;
        }
        if (mm.Holders.Count > 0 && (write || mm.Holders.Exists(static h => h.Write)))
        {
            Statistics.LockConflicts++;
            return;
        }
        Emit(LockOp(OpKind.MmapLock, task, mm, write));
        mm.Holders.Add((task.Tid, write));
        task.LockedMm = mm;
        task.LastLockedMm = mm;
        if (write && task.Kernel)
        {
            // khugepaged takes mmap_lock for write only to collapse (docs/mm-model.md §5.3); the window opens here.
            _exposure.OnCollapseBegin(mm.Id, Ev(task, "mmap_lock write (collapse)"));
        }
        else if (write)
        {
            // An mremap in progress in this task moves tables only from here on (ignored when none is).
            _exposure.OnMremapLocked(Ev(task, "mmap_lock write (mremap)"));
        }
    }

    private void OnLockReleased(TaskInfo task)
    {
        if (!_row.IsSet(s_mm))
        {
            return;
        }
        if (!_mmOfPointer.TryGetValue(_row.GetUInt64(s_mm), out var mm) || mm.HolderIndex(task.Tid) is var held && held < 0)
        {
            Statistics.UnlocksWithoutLock++;
            return;
        }
        bool wasWrite = mm.Holders[held].Write;
        mm.Holders.RemoveAt(held);
        Emit(LockOp(OpKind.MmapUnlock, task, mm, false));
        if (ReferenceEquals(task.LockedMm, mm))
        {
            task.LockedMm = null;
        }
        if (wasWrite && task.Kernel && !task.Collapsing)
        {
            _exposure.OnCollapseEnd(Ev(task, "mmap_lock released"), collapsed: false);
        }
    }

    private Op LockOp(OpKind kind, TaskInfo task, ShadowMm mm, bool write)
    {
        var op = NewOp(kind, task);
        op.Mm = mm.Id;
        if (write)
        {
            op.Flags |= OpFlags.Write;
        }
        return op;
    }

    // ---- TLB flushes

    private void OnTlbFlush(TaskInfo task)
    {
        long reason = _row.IsSet(s_reason) ? _row.GetInt64(s_reason) : -1;
        if (reason is not (3 or 4))
        {
            task.LastWasRemoteSend = false;
            Statistics.FlushesWithoutOp++;
            return;
        }
        if (reason == 3 && task.LastWasRemoteSend)
        {
            // The local part of the flush whose IPIs were just sent (reason 4 then 3): one flush op covers both.
            task.LastWasRemoteSend = false;
            Statistics.FlushesWithoutOp++;
            return;
        }
        task.LastWasRemoteSend = reason == 4;
        var mm = task.LockedMm ?? MmOfTask(task);
        if (mm is null)
        {
            Statistics.FlushesUnknownMm++;
            return;
        }
        if (task.Munmap is not null)
        {
            ZapMunmap(task);
        }
        // The range is not traced: flush the whole mm (more than the kernel did, so it can hide a stale entry but never invent one).
        Flush(task, mm, 0, 0, all: true, tables: false);
        Statistics.FlushesLowered++;
    }

    // ---- munmap

    /// <summary>A call that zaps [addr, addr+len) began; the zap is lowered at its first flush or free, or at its exit.</summary>
    private static void StartZap(TaskInfo task, ulong addr, ulong len, bool keepTables)
    {
        task.Munmap = (addr, AlignUp(len, 4096));
        task.MunmapZapped = false;
        task.ZapKeepsTables = keepTables;
    }

    /// <summary>munmap(): zap the mapped entries of the range, flush it, free the PTE tables it covers entirely.</summary>
    private void ZapMunmap(TaskInfo task)
    {
        if (task.Munmap is not { } range || task.MunmapZapped)
        {
            return;
        }
        task.MunmapZapped = true;
        var mm = MmOfTask(task);
        if (mm is null || range.Len == 0)
        {
            return;
        }
        if (task.ZapKeepsTables)
        {
            Statistics.MadviseZaps++;
        }
        else
        {
            Statistics.Munmaps++;
        }
        Coverage.Actor("R3", CoverageRules.Zap, mm.Id, _row.Seq);
        ulong start = range.Addr & ~4095UL;
        ulong end = start + range.Len;
        if (end < start || end > UserTop)
        {
            end = UserTop;
        }
        var freeTables = new List<(ShadowTable Pmd, int Idx, ShadowTable Table, ulong Va)>();
        for (ulong region = start & ~(PmdSize - 1); region < end; region += PmdSize)
        {
            var pmd = mm.Find(region, Level.Pmd);
            if (pmd is null)
            {
                region = AlignUp(region + 1, ShadowTable.SizeOf(Level.Pud)) - PmdSize;
                continue;
            }
            int pmdIdx = ShadowTable.IndexOf(region, Level.Pmd);
            bool full = region >= start && region + PmdSize <= end;
            if (pmd.Leaves![pmdIdx] != 0 && full)
            {
                Unmap(task, new Mapping(mm, pmd, pmdIdx), flush: false);
                continue;
            }
            if (pmd.Children![pmdIdx] is not { } pte)
            {
                continue;
            }
            ulong from = Math.Max(start, region);
            ulong to = Math.Min(end, region + PmdSize);
            for (ulong va = from; va < to && pte.Present > 0; va += 4096)
            {
                int idx = ShadowTable.IndexOf(va, Level.Pte);
                if (pte.Leaves![idx] != 0)
                {
                    Unmap(task, new Mapping(mm, pte, idx), flush: false);
                }
            }
            if (full && !task.ZapKeepsTables)
            {
                freeTables.Add((pmd, pmdIdx, pte, region));
            }
        }
        // free_pgtables clears the PMD entries and hands the tables to the mmu_gather; tlb_finish_mmu then
        // flushes (freed_tables) and frees them.
        foreach (var (pmd, idx, table, va) in freeTables)
        {
            var clear = NewOp(OpKind.PmdClear, task);
            clear.Mm = mm.Id;
            clear.Va = va;
            clear.Level = Level.Pmd;
            Emit(clear);
            pmd.Children![idx] = null;
            pmd.Present--;
            var free = NewOp(OpKind.TableFree, task);
            free.Table = table.Id;
            free.Sub = (byte)FreeMode.Gather;
            Emit(free);
            foreach (ulong leaf in table.Leaves!)
            {
                if (leaf != 0)
                {
                    _mapped.Remove(leaf - 1);
                }
            }
        }
        Flush(task, mm, start, end - start, all: false, tables: freeTables.Count > 0);
        if (!task.ZapKeepsTables)
        {
            RemoveVmas(task, mm, start, end);
        }
        if (task.QueuedZap is { } next)
        {
            // An mremap's second unmap (a FIXED shrink: the target, then the source's tail), under the same lock hold.
            task.QueuedZap = null;
            StartZap(task, next.Addr, next.Len, keepTables: false);
            ZapMunmap(task);
        }
    }

    // ---- mremap

    /// <summary>Whether the shadow of <paramref name="mm"/> holds a page table or a huge mapping in [start, end).</summary>
    private static bool HoldsAnyTable(ShadowMm mm, ulong start, ulong end)
    {
        for (ulong region = start & ~(PmdSize - 1); region < end; region += PmdSize)
        {
            if (mm.Find(region, Level.Pmd) is not { } pmd)
            {
                region = AlignUp(region + 1, ShadowTable.SizeOf(Level.Pud)) - PmdSize;
                continue;
            }
            int idx = ShadowTable.IndexOf(region, Level.Pmd);
            if (pmd.Leaves![idx] != 0 || pmd.Children![idx] is not null)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The unmaps an mremap makes before it moves anything: with MREMAP_FIXED, mremap_to() unmaps the whole target first
    /// (do_munmap: its pages zapped, the PTE tables it covers freed, so a PMD move can land there), unless the call is
    /// refused for its arguments before that; a shrink then unmaps the source's tail.
    /// </summary>
    private void StartMremapZaps(TaskInfo task)
    {
        ulong addr = Field(s_addr);
        ulong oldLen = AlignUp(Field(s_oldLen), 4096);
        ulong newLen = AlignUp(Field(s_newLen), 4096);
        ulong flags = Field(s_flags);
        ulong newAddr = Field(s_newAddr);
        bool shrinks = newLen < oldLen && newLen > 0;
        if ((flags & MremapRequest.Fixed) != 0 && newLen > 0 && newAddr < UserTop && newLen <= UserTop - newAddr
            && !MremapPredictor.RefusedBeforeUnmap(addr, oldLen, newAddr, newLen, (flags & MremapRequest.DontUnmap) != 0)
            && MmOfTask(task) is { } mm && HoldsAnyTable(mm, newAddr, newAddr + newLen))
        {
            // (A target the model holds nothing of needs no zap: do_munmap of an empty range neither zaps nor flushes.)
            StartZap(task, newAddr, newLen, keepTables: false);
            task.QueuedZap = shrinks ? ((addr & ~4095UL) + newLen, oldLen - newLen) : null;
        }
        else if (shrinks)
        {
            // A shrink unmaps the tail first (do_vmi_munmap), before anything moves.
            StartZap(task, (addr & ~4095UL) + newLen, oldLen - newLen, keepTables: false);
        }
    }

    private void OnMremapCompleted(MremapCall call, IReadOnlyList<MremapExtent> extents)
    {
        if (!_tasks.TryGetValue(call.Pid, out var task) || MmOfTask(task) is not { } mm)
        {
            return;
        }
        ZapMunmap(task);
        task.Munmap = null;
        task.QueuedZap = null;
        ulong oldStart = call.OldAddr & ~4095UL;
        ForgetLocked(task, mm, oldStart, oldStart + AlignUp(call.OldLen, 4096));
        if (call.ResultAddr is { } result)
        {
            ForgetLocked(task, mm, result, result + AlignUp(call.NewLen, 4096));
        }
        if (call.Undecided && call.Ret is >= 0
            && (extents.Count == 0 || (!_profile.Has(KernelFix.RmapLocksPmdMove) && extents.Any(e => e.Path is MovePaths.NormalPmd or MovePaths.NormalPud))))
        {
            // Undecided matters when nothing was predicted, or when need_rmap_locks (copy_vma's merge) decides whether a
            // PMD move takes the rmap locks under this profile.
            MoverGap("mremap whose moves the prediction cannot decide: " + call.UndecidedReason, call.Seq);
        }
        int normalPmd = 0;
        foreach (var e in extents)
        {
            switch (e.Path)
            {
                case MovePaths.NormalPmd:
                    normalPmd++;
                    LowerPmdMove(task, mm, e, call.NeedRmapLocks);
                    break;
                case MovePaths.Pte:
                    LowerPteMove(task, mm, e, call.NeedRmapLocks);
                    break;
                case MovePaths.HpagePmd or MovePaths.HpagePud:
                    // move_huge_pmd/pud moves a huge entry whole under both page-table locks and flushes before it drops
                    // them: no rmap walker can find the page half-moved, so it is none of R1's (or R6's) movers, whose
                    // race is move_normal_pmd/pud moving a PTE/PMD table without the rmap locks. Not lowered: say so.
                    Statistics.MremapExtentsSkipped++;
                    MoverNote(e.Path + " extent: a huge page moved whole (move_huge_pmd/pud under both page-table locks, not R1's table move); not lowered, so the model keeps it at the old address", call.Seq);
                    break;
                default:
                    if (e.Path != MovePaths.Skipped)
                    {
                        Statistics.MremapExtentsSkipped++;
                        MoverGap(e.Path + " extent not lowered (PUD-level table moves are not modelled)", call.Seq);
                    }
                    break;
            }
        }
        _exposure.OnMremapExit(Ev(task, "sys_exit_mremap"), normalPmd, call.NeedRmapLocks,
            [.. extents.Where(e => e.Path is MovePaths.NormalPmd or MovePaths.Pte).Select(e => (e.OldStart, e.NewStart, e.Length))]);
    }

    private void LowerPmdMove(TaskInfo task, ShadowMm mm, MremapExtent e, bool needRmapLocks)
    {
        var oldPmd = mm.Find(e.OldStart, Level.Pmd);
        int oldIdx = ShadowTable.IndexOf(e.OldStart, Level.Pmd);
        if (oldPmd?.Children![oldIdx] is not { } table)
        {
            Statistics.MremapExtentsSkipped++;
            MoverGap("NORMAL_PMD extent whose source table the model never saw populated (mapped before the trace, or faults/allocations not traced)", _row.Seq);
            return;
        }
        var newPmd = EnsurePath(task, mm, e.NewStart, Level.Pmd);
        int newIdx = ShadowTable.IndexOf(e.NewStart, Level.Pmd);
        if (newPmd.Children![newIdx] is not null || newPmd.Leaves![newIdx] != 0)
        {
            // The destination is populated: the kernel WARNs and falls back to move_ptes.
            LowerPteMove(task, mm, e, needRmapLocks);
            return;
        }
        var op = NewOp(OpKind.MremapMovePmd, task);
        op.Mm = mm.Id;
        op.Va = e.OldStart;
        op.NewVa = e.NewStart;
        op.Obj = mm.Id;
        if (needRmapLocks)
        {
            op.Flags |= OpFlags.NeedRmapLocks;
        }
        Emit(op);
        Coverage.Actor("R1", CoverageRules.PmdMover, mm.Id, _row.Seq);
        Coverage.Actor("R6", CoverageRules.PmdMover, mm.Id, _row.Seq);
        oldPmd.Children[oldIdx] = null;
        oldPmd.Present--;
        newPmd.Children[newIdx] = table;
        newPmd.Present++;
        table.Base = e.NewStart & ~(PmdSize - 1);
        Statistics.MremapExtentsLowered++;
    }

    private void LowerPteMove(TaskInfo task, ShadowMm mm, MremapExtent e, bool needRmapLocks)
    {
        var src = mm.Find(e.OldStart, Level.Pte);
        if (src is null || src.Present == 0)
        {
            Statistics.MremapExtentsSkipped++;
            return;
        }
        var newPmd = EnsurePath(task, mm, e.NewStart, Level.Pmd);
        int newIdx = ShadowTable.IndexOf(e.NewStart, Level.Pmd);
        if (newPmd.Leaves![newIdx] != 0)
        {
            Statistics.MremapExtentsSkipped++;
            return;
        }
        var dst = newPmd.Children![newIdx];
        var op = NewOp(OpKind.MovePtes, task);
        op.Mm = mm.Id;
        op.Va = e.OldStart;
        op.NewVa = e.NewStart;
        op.Len = e.Length;
        op.Obj = mm.Id;
        if (needRmapLocks)
        {
            op.Flags |= OpFlags.NeedRmapLocks;
        }
        if (dst is null)
        {
            dst = new ShadowTable(_nextTable++, Level.Pte, e.NewStart & ~(PmdSize - 1)) { Mm = mm };
            op.Table = dst.Id;
            newPmd.Children[newIdx] = dst;
            newPmd.Present++;
        }
        Emit(op);
        for (ulong off = 0; off < e.Length; off += 4096)
        {
            int from = ShadowTable.IndexOf(e.OldStart + off, Level.Pte);
            int to = ShadowTable.IndexOf(e.NewStart + off, Level.Pte);
            ulong leaf = src.Leaves![from];
            if (leaf == 0)
            {
                continue;
            }
            src.ClearLeaf(from);
            if (dst.Leaves![to] != 0)
            {
                _mapped.Remove(dst.Leaves[to] - 1);
                dst.Present--;
            }
            dst.SetLeaf(to, leaf);
            dst.Present++;
            _mapped[leaf - 1] = new Mapping(mm, dst, to);
        }
        Statistics.MremapExtentsLowered++;
    }

    // ---- collapse (docs/mm-model.md §5.3)

    private void OnCollapseIsolate(TaskInfo task)
    {
        string status = _row.GetText(s_status) ?? "";
        ulong pfn = Field(s_pfn);
        if (!CollapseStatusSucceeded(status))
        {
            // __collapse_huge_page_isolate gave up (e.g. not_suitable_page_count): the PMD was put back, nothing
            // changed. Said once per attempt, so the collapse's own failed status that follows is not counted again.
            CollapseFailed(task, "huge_memory:mm_collapse_huge_page_isolate", status);
            return;
        }
        task.Collapsing = true;
        bool known = _mapped.TryGetValue(pfn, out var m);
        bool byRange = false;
        if (!known && CollapseOfMadviseRange(task) is { } located)
        {
            m = located;
            known = byRange = true;
        }
        if (!known)
        {
            // A page of the range that compaction or memory offlining migrated is mapped by its remap, which only the
            // per-PTE migration events show (not in the default mm set: their volume, docs/recording.md).
            Coverage.Want("R2", MigrationRemapEvents);
        }
        string? skip = !known ? "collapse whose scan_pfn the model does not map (its PTEs were set before the trace, or by a migration whose remap was not recorded or not paired: record migrate:set_migration_pte and migrate:remove_migration_pte; or their faults/allocations were not traced)"
            : m.Table.Level != Level.Pte ? "collapse whose scan_pfn the model maps by a huge PMD"
            : task.HugePage is null ? "collapse without a traced order-9 GFP_TRANSHUGE allocation by the collapsing task"
            : task.LockedMm is { } locked && !ReferenceEquals(locked, m.Mm) ? "collapse whose scan_pfn the model maps in another mm than the one locked"
            : null;
        if (skip is not null)
        {
            CollapseSkipped(skip);
            return;
        }
        ulong huge = task.HugePage!.Value;
        var mm = m.Mm;
        var table = m.Table;
        ulong va = table.Base;
        var pmd = mm.Find(va, Level.Pmd);
        int pmdIdx = ShadowTable.IndexOf(va, Level.Pmd);
        if (pmd is null || !ReferenceEquals(pmd.Children![pmdIdx], table) || _mapped.ContainsKey(huge))
        {
            CollapseSkipped(_mapped.ContainsKey(huge) ? "collapse whose huge page the model still maps elsewhere" : "collapse whose PTE table the model has not linked in its PMD");
            return;
        }
        if (byRange)
        {
            Statistics.CollapsesByMadviseRange++;
        }
        task.HugePage = null;
        if (task.LockedMm is null)
        {
            _exposure.OnCollapseBegin(mm.Id, Ev(task, "collapse isolates"));
        }
        var rmapLock = NewOp(OpKind.RmapLock, task);
        rmapLock.Obj = mm.Id;
        rmapLock.Flags = OpFlags.Write;
        Emit(rmapLock);
        var flush = NewOp(OpKind.CollapseFlush, task);
        flush.Mm = mm.Id;
        flush.Va = va;
        Emit(flush);
        pmd.Children[pmdIdx] = null;
        pmd.Present--;
        var rmapUnlock = NewOp(OpKind.RmapUnlock, task);
        rmapUnlock.Obj = mm.Id;
        Emit(rmapUnlock);
        for (int i = 0; i < 512 && table.Present > 0; i++)
        {
            if (table.Leaves![i] == 0)
            {
                continue;
            }
            // __collapse_huge_page_copy: each small page is unmapped from the (now unlinked) table.
            var clear = NewOp(OpKind.PteClear, task);
            clear.Table = table.Id;
            clear.Index = i;
            Emit(clear);
            ulong old = table.Leaves[i] - 1;
            table.ClearLeaf(i);
            _mapped.Remove(old);
            var dec = NewOp(OpKind.MapDec, task);
            dec.Pfn = old;
            Emit(dec);
            ClearMlocked(task, old);
        }
        var deposit = NewOp(OpKind.TableDeposit, task);
        deposit.Mm = mm.Id;
        deposit.Va = va;
        deposit.Table = table.Id;
        Emit(deposit);
        mm.Deposits[va] = table;
        SetHuge(task, mm, pmd, pmdIdx, va, huge);
        Statistics.Collapses++;
        Coverage.Actor("R2", CoverageRules.Collapse, mm.Id, _row.Seq);
    }

    /// <summary>
    /// The PTE table a collapse isolates when its scan_pfn is not one the model maps, from the task's MADV_COLLAPSE call:
    /// madvise_collapse() scans the whole PMDs of [start, start + len) in order, in the calling task's mm, so a range
    /// that covers exactly one PMD names the table. A page of it that a migration moved (compaction, memory offlining:
    /// the mm set records the migration brackets, not the per-PTE remap) is why the pfn is unknown; the table is still
    /// the model's. Null for khugepaged (no range), a range of several PMDs, or a PMD the model has no PTE table for.
    /// </summary>
    private Mapping? CollapseOfMadviseRange(TaskInfo task)
    {
        if (task.MadvCollapse is not { } range || MmOfTask(task) is not { } mm)
        {
            return null;
        }
        ulong start = AlignUp(range.Start, PmdSize);
        ulong end = (range.Start + range.Len) & ~(PmdSize - 1);
        if (end <= start || end - start != PmdSize || mm.Find(start, Level.Pmd) is not { } pmd
            || pmd.Children?[ShadowTable.IndexOf(start, Level.Pmd)] is not { Level: Level.Pte, Present: > 0 } table)
        {
            return null;
        }
        int first = Array.FindIndex(table.Leaves!, leaf => leaf != 0);
        return new Mapping(mm, table, first);
    }

    /// <summary>
    /// A khugepaged status field: the symbol (<c>succeeded</c>) or, in raw output (<c>trace-cmd report -R</c>), the
    /// number of <c>enum scan_result</c>, where SCAN_SUCCEED is 1.
    /// </summary>
    internal static bool CollapseStatusSucceeded(string status) =>
        status.Contains("succeeded", StringComparison.Ordinal) || status == "1";

    private void CollapseFailed(TaskInfo task, string tracepoint, string status)
    {
        task.CollapseFailureSaid = true;
        Statistics.CollapsesFailed++;
        Coverage.Note("R2", $"collapse that the kernel gave up ({tracepoint} status={(status.Length == 0 ? "?" : status)}): no table changed", _row.Seq);
    }

    private void CollapseSkipped(string reason)
    {
        Statistics.CollapsesSkipped++;
        Coverage.Gap("R2", reason, _row.Seq);
    }

    /// <summary>collapse_file (file or shmem THP) ends in retract_page_tables, which is not lowered (docs/coverage.md).</summary>
    private void OnCollapseFile(TaskInfo task)
    {
        string? result = null;
        foreach (var arg in _row.Args)
        {
            if (arg.Key == "result")
            {
                result = arg.Value;
            }
        }
        if (result is not null && result != "succeeded" && result != "1")
        {
            return;
        }
        int mm = _row.IsSet(s_mm) ? MmOfPointer(_row.GetUInt64(s_mm), task).Id : 0;
        Coverage.Actor("R6", CoverageRules.Retract, mm, _row.Seq);
        Coverage.Gap("R6", "file collapse: retract_page_tables not lowered (the trace names only the scanned mm, not every mm mapping the file, and file-page mappings are not lowered)", _row.Seq);
        Coverage.Gap("R2", "file collapse (collapse_file → retract_page_tables) not lowered", _row.Seq);
    }

    private void MoverGap(string reason, long seq)
    {
        Coverage.Gap("R1", reason, seq);
        Coverage.Gap("R6", reason, seq);
    }

    private void MoverNote(string text, long seq)
    {
        Coverage.Note("R1", text, seq);
        Coverage.Note("R6", text, seq);
    }

    // ---- coverage: rmap walkers and lockless walkers

    /// <summary>Whether a free by <paramref name="task"/> of a page mapped in some mm is an rmap walker's (reclaim, migration, compaction).</summary>
    private static bool IsRmapWalker(TaskInfo task) =>
        task.Walking != WalkContext.None
        || (task.Kernel && (task.Comm.StartsWith("kswapd", StringComparison.Ordinal) || task.Comm.StartsWith("kcompactd", StringComparison.Ordinal)
            || task.Comm.StartsWith("migration/", StringComparison.Ordinal)));

    private void LocklessWalker(TaskInfo task)
    {
        if (MmOfTask(task) is { } mm)
        {
            Coverage.Actor("R2", CoverageRules.LocklessWalker, mm.Id, _row.Seq);
        }
    }

    /// <summary>The O_DIRECT fds noted under process key <paramref name="from"/> are the process <paramref name="to"/>'s.</summary>
    private void MoveDirectFds(int from, int to)
    {
        var moved = _directFds.Where(d => d.Process == from).ToList();
        foreach (var d in moved)
        {
            _directFds.Remove(d);
            _directFds.Add((to, d.Fd));
        }
    }

    private void OnOpenExit(TaskInfo task)
    {
        long fd = _row.IsSet(s_ret) ? _row.GetInt64(s_ret) : -1;
        if (fd >= 0 && (task.OpenFlags & ODirect) != 0)
        {
            _directFds.Add((ProcessKey(task.Tid), fd));
        }
        else if (fd >= 0)
        {
            _directFds.Remove((ProcessKey(task.Tid), fd));
        }
        task.OpenFlags = 0;
    }

    private void OnCollapseDone(TaskInfo task)
    {
        string status = _row.GetText(s_status) ?? "";
        bool ok = CollapseStatusSucceeded(status);
        if (!ok && !task.Collapsing && !task.CollapseFailureSaid && _row.Event == "huge_memory:mm_collapse_huge_page")
        {
            // Failed before isolation (allocation, charge, revalidation): no table was touched.
            CollapseFailed(task, "huge_memory:mm_collapse_huge_page", status);
        }
        task.CollapseFailureSaid = false;
        task.Collapsing = false;
        _exposure.OnCollapseEnd(Ev(task, "mm_collapse_huge_page " + status), ok);
    }

    // ---- exit, reclaim, migration

    private void OnExitMmap()
    {
        var task = _tasks[_row.Pid];
        ShadowMm? mm;
        if (_row.IsSet(s_mm))
        {
            // The raw event's mm field (the maple tree field mt is &mm->mm_mt, inside the same mm_struct).
            if (!_mmOfPointer.Remove(_row.GetUInt64(s_mm), out mm))
            {
                return;
            }
        }
        else if (task.LockedMm is { } held && held.HolderIndex(task.Tid) is >= 0 and var at && held.Holders[at].Write)
        {
            // The text form prints only the maple tree ("mt_mod %p, DESTROY"), hashed: it names no pointer the locks name.
            // exit_mmap fires under mmap_write_lock(mm) (free_pgtables … __mt_destroy), so the mm the task holds for write
            // is the one it destroys.
            mm = held;
            if (_mmOfPointer.TryGetValue(held.Pointer, out var bound) && ReferenceEquals(bound, held))
            {
                _mmOfPointer.Remove(held.Pointer);
            }
        }
        else
        {
            Statistics.ExitMmapsUnknownMm++;
            return;
        }
        if (mm.Owner != 0)
        {
            mm.OwnerCommAtExit = OwnerComm(mm);
        }
        NoteExecExitMmap(task, mm);
        MunlockAtExit(task, mm);
        DropMappings(mm.Root);
        DropMigrationsOf(mm);
        var op = NewOp(OpKind.MmDestroy, task);
        op.Mm = mm.Id;
        Emit(op);
        for (int cpu = 0; cpu <= _highestCpu; cpu++)
        {
            if (_loaded[cpu] == mm.Id)
            {
                _loaded[cpu] = 0;
            }
        }
        if (mm.Owner != 0 && _mmOfProcess.TryGetValue(mm.Owner, out var own) && ReferenceEquals(own, mm))
        {
            _mmOfProcess.Remove(mm.Owner);
        }
        foreach (var t in _tasks.Values)
        {
            if (ReferenceEquals(t.LockedMm, mm))
            {
                t.LockedMm = null;
            }
            if (ReferenceEquals(t.LastLockedMm, mm))
            {
                t.LastLockedMm = null;
            }
            if (ReferenceEquals(t.ForkChildMm, mm))
            {
                t.ForkChildMm = null;
            }
            if (t.PendingFault?.Mm == mm)
            {
                t.PendingFault = null;
            }
        }
        Statistics.MmDestroyed++;
    }

    private void DropMappings(ShadowTable t)
    {
        if (t.Leaves is { } leaves)
        {
            foreach (ulong leaf in leaves)
            {
                if (leaf != 0)
                {
                    _mapped.Remove(leaf - 1);
                }
            }
        }
        if (t.Children is { } children)
        {
            for (int i = 0; i < SparseSlots<ShadowTable?>.Length; i++)
            {
                if (children[i] is { } child)
                {
                    DropMappings(child);
                }
            }
        }
    }

    private void OnOther(TaskInfo task, string ev)
    {
        switch (ev)
        {
            // A task inside these frees the pages its rmap walk unmapped: the walker actor of R1 and R4.
            case "migrate:mm_migrate_pages_start":
                task.Walking |= WalkContext.Migrate;
                break;
            case "migrate:mm_migrate_pages":
                task.Walking &= ~WalkContext.Migrate;
                EndMigrations(task);
                break;
            case "compaction:mm_compaction_begin":
                task.Walking |= WalkContext.Compact;
                break;
            case "compaction:mm_compaction_end":
                task.Walking &= ~WalkContext.Compact;
                break;
        }
        if (ev.StartsWith("vmscan:", StringComparison.Ordinal))
        {
            switch (ev)
            {
                case "vmscan:mm_vmscan_kswapd_wake":
                case "vmscan:mm_vmscan_direct_reclaim_begin":
                case "vmscan:mm_vmscan_memcg_reclaim_begin":
                case "vmscan:mm_vmscan_node_reclaim_begin":
                    if (ev != "vmscan:mm_vmscan_kswapd_wake")
                    {
                        task.Walking |= WalkContext.Reclaim;
                    }
                    _exposure.OnReclaimInterval(true, Ev(task, ev));
                    break;
                case "vmscan:mm_vmscan_kswapd_sleep":
                case "vmscan:mm_vmscan_direct_reclaim_end":
                case "vmscan:mm_vmscan_memcg_reclaim_end":
                case "vmscan:mm_vmscan_node_reclaim_end":
                    task.Walking &= ~WalkContext.Reclaim;
                    _exposure.OnReclaimInterval(false, Ev(task, ev));
                    break;
                default:
                    _exposure.OnReclaim(0, Ev(task, ev));
                    break;
            }
        }
        else if (ev.StartsWith("migrate:", StringComparison.Ordinal) || ev.StartsWith("thp:", StringComparison.Ordinal))
        {
            _exposure.OnReclaim(0, Ev(task, ev));
        }
    }

    // ---- helpers

    private Op NewOp(OpKind kind, TaskInfo task) => new()
    {
        Kind = kind,
        Seq = _row.Seq,
        Tid = task.Tid,
        Cpu = _row.Cpu,
    };

    private void Emit(in Op op)
    {
        _opCount++;
        if (_sink is null)
        {
            _ops.Add(op);
        }
        else
        {
            _sink.Write(op);
        }
    }

    private ExposureEvent Ev(TaskInfo task, string text) =>
        new(_row.Seq, _row.TsNs, _row.Cpu, task.Tid, task.Comm, text);

    private ulong Field(int ordinal) => _row.IsSet(ordinal) ? _row.GetUInt64(ordinal) : 0;

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);

    private static int Col(string name) =>
        EventSchema.TryGetField(name, out var c) ? c.Ordinal : throw new InvalidOperationException($"The event schema has no column {name}.");

    /// <summary>A user fault waiting for its page; <c>Locked</c>: it has taken its mmap_read_lock.</summary>
    private readonly record struct PendingFault(ShadowMm Mm, ulong Va, bool Write, long Seq, bool Present, bool Locked = false);

    private sealed class TaskInfo(int tid)
    {
        public readonly int Tid = tid;
        public string Comm = "";
        public bool Kernel;
        public PendingFault? PendingFault;
        public ShadowMm? LockedMm;
        /// <summary>The mm of the task's latest mmap_lock acquisition (cleared when that mm is destroyed).</summary>
        public ShadowMm? LastLockedMm;
        /// <summary>The child mm this task's dup_mmap locked (nested) for the fork whose sched_process_fork comes next.</summary>
        public ShadowMm? ForkChildMm;
        public bool LastWasRemoteSend;
        public ulong? HugePage;
        public bool Collapsing;
        /// <summary>The current collapse attempt's failure was already noted (at its isolate event).</summary>
        public bool CollapseFailureSaid;
        public (ulong Addr, ulong Len)? Munmap;

        /// <summary>A second unmap that follows <see cref="Munmap"/> in the same call (an mremap's).</summary>
        public (ulong Addr, ulong Len)? QueuedZap;

        /// <summary>Past its sched_process_exit: what it frees now is its own mm's teardown.</summary>
        public bool Exiting;
        /// <summary>The range of the task's MADV_COLLAPSE call in progress.</summary>
        public (ulong Start, ulong Len)? MadvCollapse;
        public bool MunmapZapped;
        public bool ZapKeepsTables;
        public MlockCall? Mlock;
        public ExecState? Exec;
        public WalkContext Walking;
        public (PendingFault Fault, (string Dev, string Ino, ulong Index) Key)? PendingFileFault;
        public ulong OpenFlags;
    }

    /// <summary>Where a task is when it frees pages: inside an rmap walker (docs/coverage.md).</summary>
    [Flags]
    private enum WalkContext
    {
        None = 0,
        Reclaim = 1,
        Migrate = 2,
        Compact = 4,
        Pageout = 8,
    }
}
