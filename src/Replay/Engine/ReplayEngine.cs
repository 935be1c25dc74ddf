using System.Diagnostics.CodeAnalysis;
using Pipeline.Replay.Lowering;
using Pipeline.Storage;

namespace Pipeline.Replay;

/// <summary>Which task runs next: the replay schedule.</summary>
public interface ISchedule
{
    /// <summary>The next task to run one program op, or false when the schedule is over.</summary>
    bool TryNext(out int tid);
}

/// <summary>A schedule given as a list of task ids (the observed order, or any other interleaving).</summary>
public sealed class ListSchedule(IReadOnlyList<int> tids) : ISchedule
{
    private int _next;

    /// <inheritdoc />
    public bool TryNext(out int tid)
    {
        if (_next < tids.Count)
        {
            tid = tids[_next++];
            return true;
        }
        tid = 0;
        return false;
    }
}

/// <summary>The outcome of a replay.</summary>
public sealed class ReplayResult
{
    internal ReplayResult(IReadOnlyList<Finding> findings, long opsExecuted, long programOps, long findingsDropped, IReadOnlyList<string> unfinished)
    {
        Findings = findings;
        OpsExecuted = opsExecuted;
        ProgramOps = programOps;
        FindingsDropped = findingsDropped;
        Unfinished = unfinished;
    }

    /// <summary>Findings in the order they were made.</summary>
    public IReadOnlyList<Finding> Findings { get; }

    /// <summary>Primitive ops executed (kernel steps count as the primitives they expanded to).</summary>
    public long OpsExecuted { get; }

    /// <summary>Program ops (trace lines) consumed.</summary>
    public long ProgramOps { get; }

    /// <summary>Inconsistent-input findings beyond the cap, counted but not kept.</summary>
    public long FindingsDropped { get; }

    /// <summary>Tasks still waiting when the input ended (each also reported as an inconsistent finding).</summary>
    public IReadOnlyList<string> Unfinished { get; }

    /// <summary>All findings as a JSON array (deterministic).</summary>
    public string FindingsJson() => Finding.ToJson(Findings);
}

/// <summary>
/// Replays op traces through the page-table/TLB model of docs/mm-model.md §4 with the invariant checkers I1–I6.
/// Streaming: feed ops in schedule order with <see cref="Execute"/>, then call <see cref="Finish"/>. A task that
/// must wait (a lock another task holds, an IPI to a CPU with IRQs off, an RCU grace period) is parked with its
/// later ops queued; the others run on, and it resumes as soon as it can.
/// </summary>
public sealed partial class ReplayEngine
{
    private const int RingBits = 16;
    private const int RingMask = (1 << RingBits) - 1;
    private const int MaxInconsistent = 200;

    private readonly KernelProfile _profile;
    private readonly IChecker[] _checkers = Checkers.All;
    private readonly Arch _arch;
    // Grows by doubling up to 1 << RingBits: an engine that runs a short program (one explored schedule) does not
    // pay for the whole witness window.
    private ExecRecord[] _ring = new ExecRecord[256];
    private Table?[] _tables = new Table?[256];
    private MmState?[] _mms = new MmState?[16];
    private CpuState?[] _cpus = new CpuState?[8];
    private readonly Dictionary<int, TaskState> _tasks = [];
    private readonly List<TaskState> _taskOrder = [];
    private readonly PfnMap<PageState> _pages = new();
    // Free frames whose state was dropped because nothing named them (ForgetIfUnnamed): Freed, read back as free
    // pages. Two bits per frame in pages of 1024: bounded by the memory the trace touched, not by its length.
    private PfnStates _forgotten = new();
    private readonly Dictionary<int, LockObj> _rmapLocks = [];
    private readonly Dictionary<ulong, LockObj> _pageLocks = [];
    private readonly List<(int Table, long Exec)> _rcuPending = [];
    private readonly Dictionary<int, (ulong Mask, long Exec)> _ipis = [];
    private readonly Stack<long[]> _entryPool = new();
    // Entry arrays kept for reuse: enough for the tables a burst of faults links, not every table that ever emptied.
    private const int EntryPoolLimit = 256;
    private readonly List<Finding> _findings = [];
    private readonly Dictionary<RaceInstance, int> _instances = [];
    private readonly List<WitnessDraft> _drafts = [];
    private readonly List<string> _unfinished = [];
    private TaskState? _lastTask;
    private CpuState[] _cpuList = [];
    private long _exec;
    // The first exec this engine's ring holds: 0, or where a fork (ReplayEngine.Fork.cs) started.
    private long _execBase;
    private long _programOps;
    private int _blockedCount;
    private int _inconsistentCount;
    private long _findingsDropped;
    private bool _warnedOnce;
    private int _mlockedPages;

    /// <summary>Creates an engine for one kernel profile and architecture.</summary>
    public ReplayEngine(KernelProfile profile, Arch arch)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _profile = profile;
        _arch = arch;
    }

    /// <summary>The profile replayed.</summary>
    public KernelProfile Profile => _profile;

    /// <summary>The architecture replayed.</summary>
    public Arch Arch => _arch;

    /// <summary>Findings so far.</summary>
    public IReadOnlyList<Finding> Findings => _findings;

    /// <summary>Primitive ops executed so far.</summary>
    public long OpsExecuted => _exec;

    /// <summary>Replays <paramref name="trace"/> in its observed order, or in <paramref name="schedule"/>'s order.</summary>
    public static ReplayResult Run(OpTrace trace, KernelProfile profile, Arch arch, ISchedule? schedule = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var engine = new ReplayEngine(profile, arch);
        foreach (var task in trace.Tasks)
        {
            engine.NameTask(task.Tid, task.Comm);
        }
        if (schedule is null)
        {
            foreach (ref readonly var op in trace.Ops)
            {
                engine.Execute(op);
            }
            return engine.Finish();
        }
        var programs = new Dictionary<int, (Op[] Ops, int Next)>();
        foreach (var task in trace.Tasks)
        {
            programs[task.Tid] = (trace.Program(task.Tid), 0);
        }
        while (schedule.TryNext(out int tid))
        {
            if (programs.TryGetValue(tid, out var program) && program.Next < program.Ops.Length)
            {
                engine.Execute(program.Ops[program.Next]);
                programs[tid] = (program.Ops, program.Next + 1);
            }
        }
        // Whatever the schedule left out runs in task order so every program completes.
        foreach (var task in trace.Tasks)
        {
            var program = programs[task.Tid];
            for (int i = program.Next; i < program.Ops.Length; i++)
            {
                engine.Execute(program.Ops[i]);
            }
        }
        return engine.Finish();
    }

    /// <summary>Gives task <paramref name="tid"/> a name for witnesses.</summary>
    public void NameTask(int tid, string comm) => GetTask(tid).Comm = comm;

    /// <summary>Feeds the next op of the schedule.</summary>
    public void Execute(in Op op)
    {
        _programOps++;
        var task = _lastTask is { } last && last.Tid == op.Tid ? last : GetTask(op.Tid);
        _lastTask = task;
        if (task.Blocked || task.Deferred.Count > 0)
        {
            task.Deferred.Enqueue(op);
            return;
        }
        if (!OpSpec.IsKernelStep(op.Kind) && _blockedCount == 0)
        {
            // Fast path for a primitive: no expansion buffer unless it has to wait.
            task.StepKind = op.Kind;
            if (!ExecMicro(task, op))
            {
                task.MicroCount = 0;
                task.MicroPos = 0;
                task.Push(op);
                RunMicro(task);
            }
            if (_blockedCount > 0)
            {
                ResumeBlocked();
            }
            return;
        }
        RunProgramOp(task, op);
        if (_blockedCount > 0)
        {
            ResumeBlocked();
        }
    }

    /// <summary>Runs every queued op, reports tasks that can never continue and the quiescence checks.</summary>
    public ReplayResult Finish()
    {
        ResumeBlocked();
        foreach (var task in _taskOrder)
        {
            if (task.Blocked)
            {
                string text = $"{task.Comm}-{task.Tid} waits forever on {task.BlockedOn} ({task.Deferred.Count} later ops never ran)";
                _unfinished.Add(text);
                ref readonly var op = ref task.Micro[task.MicroPos];
                Inconsistent(op, $"{text}: the trace ends (or is missing the release) while the task must wait", []);
            }
        }
        foreach (var task in _taskOrder)
        {
            foreach (var (id, op) in task.Gathered)
            {
                if (GetTable(id) is { State: TableState.Gathered } t)
                {
                    Inconsistent(op, $"table {id} was handed to {task.Comm}-{task.Tid}'s mmu_gather (free=gather), but the task never flushed mm{t.Mm} afterwards, so tlb_finish_mmu never freed it", []);
                }
            }
        }
        foreach (var c in _checkers)
        {
            c.AtQuiescence(this);
        }
        return new ReplayResult(_findings.ToArray(), _exec, _programOps, _findingsDropped, _unfinished.ToArray());
    }

    private void RunProgramOp(TaskState task, in Op op)
    {
        task.MicroCount = 0;
        task.MicroPos = 0;
        task.StepKind = op.Kind;
        if (OpSpec.IsKernelStep(op.Kind))
        {
            Expand(task, op);
        }
        else
        {
            task.Push(op);
        }
        RunMicro(task);
    }

    private bool RunMicro(TaskState task)
    {
        while (task.MicroPos < task.MicroCount)
        {
            if (!ExecMicro(task, task.Micro[task.MicroPos]))
            {
                if (!task.Blocked)
                {
                    task.Blocked = true;
                    task.BlockStartExec = _exec;
                    _blockedCount++;
                }
                return false;
            }
            task.MicroPos++;
        }
        if (task.Blocked)
        {
            task.Blocked = false;
            task.BlockStartExec = -1;
            _blockedCount--;
        }
        return true;
    }

    private void ResumeBlocked()
    {
        bool progress = true;
        while (progress)
        {
            progress = false;
            foreach (var task in _taskOrder)
            {
                if (task.Blocked)
                {
                    int before = task.MicroPos;
                    if (RunMicro(task))
                    {
                        progress = true;
                    }
                    else if (task.MicroPos != before)
                    {
                        progress = true;
                    }
                }
                while (!task.Blocked && task.Deferred.Count > 0)
                {
                    var next = task.Deferred.Dequeue();
                    RunProgramOp(task, next);
                    progress = true;
                }
            }
        }
    }

    internal TaskState GetTask(int tid)
    {
        if (!_tasks.TryGetValue(tid, out var task))
        {
            task = new TaskState { Tid = tid };
            _tasks.Add(tid, task);
            _taskOrder.Add(task);
        }
        return task;
    }

    internal CpuState GetCpu(int cpu)
    {
        if ((uint)cpu >= EventSchema.MaxCpus)
        {
            ThrowCpu(cpu);
        }
        if (cpu >= _cpus.Length)
        {
            Array.Resize(ref _cpus, Math.Min(EventSchema.MaxCpus, Math.Max(cpu + 1, _cpus.Length * 2)));
        }
        if (_cpus[cpu] is { } known)
        {
            return known;
        }
        var created = new CpuState { Id = cpu };
        _cpus[cpu] = created;
        // Kept sorted by id: checkers iterate CPUs on hot paths and their order decides finding order.
        _cpuList = [.. _cpus.Where(c => c is not null).Select(c => c!)];
        return created;
    }

    /// <summary>Known CPUs in id order (an array: iterating it allocates nothing).</summary>
    internal CpuState[] Cpus => _cpuList;

    internal Table? GetTable(int id) => (uint)id < (uint)_tables.Length && _tables[id] is { } t ? t : CopyParentTable(id);

    internal MmState? GetMm(int id) => (uint)id < (uint)_mms.Length ? _mms[id] : null;

    internal PageState? GetPage(ulong pfn) => TryPage(pfn, out var page) ? page : null;

    /// <summary>Page frames whose state the engine holds: the allocated ones and the free ones something still names.</summary>
    internal int PageStateCount => _pages.Count;

    internal IEnumerable<MmState> Mms
    {
        get
        {
            foreach (var mm in _mms)
            {
                if (mm is not null)
                {
                    yield return mm;
                }
            }
        }
    }

    internal IEnumerable<KeyValuePair<ulong, PageState>> Pages => _parentPages is null ? _pages : ForkPages();

    internal ref readonly ExecRecord Record(long exec)
    {
        if (exec < _execBase && _frozenParent is { } parent)
        {
            // A fork reads the execs before it from the frozen engine it came from (ReplayEngine.Fork.cs).
            return ref parent.Record(exec);
        }
        return ref _ring[(exec - _execBase) & (_ring.Length - 1)];
    }

    internal bool InWindow(long exec) => exec >= 0 && exec < _exec && _exec - exec <= RingMask
        && (exec >= _execBase || (_frozenParent?.InWindow(exec) ?? false));

    [DoesNotReturn]
    private static void ThrowCpu(int cpu) =>
        throw new ArgumentOutOfRangeException(nameof(cpu), cpu, $"The replay model holds CPUs 0..{EventSchema.MaxCpus - 1} (Linux's largest NR_CPUS).");
}
