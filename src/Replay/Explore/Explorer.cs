using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using Pipeline.Replay.Workloads;

namespace Pipeline.Replay.Explore;

/// <summary>
/// Stateless model checking of an op trace's per-task programs (docs/exploration.md): every schedule is run from the
/// start in one <see cref="ReplayEngine"/> reset in between, one program op (a whole kernel step) per choice, a task that must wait
/// inside a step (lock, IPI, grace period) being disabled until the engine resumes it, exactly as replay does.
/// Preemption-bounded DPOR (Flanagan–Godefroid, POPL 2005, with the extra backtrack point at the preceding context
/// switch that bounded search needs, Coons–Musuvathi–McKinley, OOPSLA 2013, sleep sets restricted so as to keep the
/// bound's guarantee, and state matching: a run stops at a state an equivalent prefix already explored, the races of
/// what ran below that state adding their backtrack points as in Yang et al.'s stateful DPOR, SPIN 2008), the same
/// search without reduction, or PCT.
/// </summary>
public sealed partial class Explorer
{
    private readonly OpTrace _trace;
    private readonly KernelProfile _profile;
    private readonly Arch _arch;
    private readonly ExploreOptions _options;
    private readonly int _n;
    private readonly int[] _tids;
    private readonly Op[][] _programs;
    private readonly int[] _recordedTask;
    private readonly int[] _recordedLocal;
    private readonly Dictionary<int, string> _comms = [];
    private readonly List<Frame> _frames = [];
    private readonly Stack<Frame> _framePool = new();
    private readonly Footprint _pendingNext = new();
    private readonly Footprint _scratchFp = new();
    // What a step adds to the interleaving key (SignStep).
    private readonly Footprint _signFp = new();
    private readonly int[] _cpus;
    // Feasibility (docs/exploration.md): per task and op, the ops of other tasks that must have run first, as (task, count).
    private readonly (int Task, int Count)[][][] _need;
    // Re-resolution: a table-addressed op that used the table its own task's earlier lockless read returned.
    private readonly int[][] _link;
    // Per task and position: for each other task, how many of its ops the rest of this task's program needs run
    // (the largest count over its remaining ops' needs). A feasibility need is an enabling dependence the footprints
    // do not show, so tasks still waiting on each other's progress never sleep on each other.
    private readonly int[][][] _futureNeed;
    // Per task o and program position k: the other tasks with an op that needs o's op k (as the last of o's ops it waits
    // for), each with the latest such op. Running o's op k enables them; the search also tries them before it
    // (EnablingAlternatives).
    private readonly (int Task, int Last)[][][] _enables;
    private readonly long[][] _readValue;
    private readonly int[] _walkRmap;
    private readonly (int Mm, ulong Pfn, ulong From, ulong To)[] _walkMove;
    private readonly Op[] _current;

    // Per-run state, reused.
    // One engine for every schedule, reset between them.
    private ReplayEngine _engine;
    private readonly int[] _pos;
    private int _recorded;
    private readonly int[][] _clock;
    // The running task's clock before its op joined the clocks of what it conflicts with.
    private readonly int[] _before;
    private readonly int[] _neededCount;
    private readonly List<int[]> _vc = [];
    private readonly List<int> _transitionTask = [];
    private readonly Dictionary<long, Resource> _resources = [];
    private readonly Stack<Resource> _resourcePool = new();
    private readonly Footprint _fp = new();
    private readonly Footprint[] _pending;
    private readonly int[] _microBefore;
    private readonly int[] _firstAfter;
    private readonly List<Op> _schedule = [];
    private readonly HashSet<ulong> _traces = [];
    private ulong _signature;
    private readonly Dictionary<long, (ulong Hash, ulong Reads)> _sigState = [];
    private int _preemptions;
    private int _lastTask;
    private ulong _childSleep;
    private int _bound;
    // Frames left with alternatives beyond the current bound, with the choices that lead to each: the next round's starts.
    // A kept path whose Hit is set ends at a state pruned against an equivalent one: the next round replays it to add
    // the backtrack points of what that state's continuations grew into.
    // Each entry names its last frame (the path to it follows the frames' parents, so a kept path costs no copy) and, for
    // a pruned prefix, the choice there that led to the equivalent state.
    private List<Deferred> _deferred = [];
    private readonly HashSet<Frame> _deferredSet = new();
    private List<Deferred> _round = [];
    private int _roundNext;
    private readonly List<Frame> _pathScratch = [];
    // Frames kept for the next round since this one started, and whether they outgrew ExploreOptions.WorkListBytes: the
    // round then keeps no more, finishes, and the search stops there (a next round without the whole list would miss
    // what the dropped entries lead to).
    private long _keptFrames;
    private bool _workListFull;

    /// <summary>Frames kept for the next round since the current one started.</summary>
    internal long KeptFrames => _keptFrames;

    /// <summary>What a kept frame costs (the object, its work-list entry and set slot), counted against
    /// <see cref="ExploreOptions.WorkListBytes"/>.</summary>
    private const int KeptFrameBytes = 224;

    /// <summary>Sleep sets (Godefroid): a task whose next op is independent of the one chosen, and whose alternative was
    /// already explored here, is not tried again below — only where that keeps the preemption bound's guarantee
    /// (<see cref="ChildSleep"/>). On by default; off only to measure what they save (docs/benchmarks.md).</summary>
    internal bool SleepSets { get; init; } = true;

    /// <summary>Source sets (<see cref="AddAt"/>): a race adds no backtrack alternative where one already chosen is an
    /// initial of the reversal. On by default; off only to measure what it saves.</summary>
    internal bool SourceSets { get; init; } = true;

    /// <summary>Stateful pruning (docs/exploration.md, "DPOR"): a run that reaches a state an equivalent prefix already
    /// reached — same Mazurkiewicz trace, hence the same model state, the same running task, no more preemptions used,
    /// no fewer tasks asleep — stops there, and the races of the ops explored below that state with this prefix add
    /// their backtrack points. On by default for DPOR on programs of at most <see cref="MaxCachedProgramOps"/> ops;
    /// off only to measure what it saves.</summary>
    internal bool StateCache { get; init; } = true;

    /// <summary>Programs larger than this explore without state caching: each cached state keeps what ran below it, and
    /// a thousand-op program's states are too many (random workloads) for what they would save.</summary>
    internal const int MaxCachedProgramOps = 2000;

    /// <summary>Explored states whose summaries were dropped to keep the table under <see cref="ExploreOptions.StateCacheBytes"/>
    /// (forgetting a state loses only pruning: a run that would have stopped there goes on).</summary>
    internal long EvictedStates { get; private set; }

    /// <summary>The most the explored-state table (its summaries) held between two states it recorded, in bytes as
    /// <see cref="Summary.Bytes"/> counts them (a new state is counted, then the oldest are forgotten until it fits).</summary>
    internal long PeakStateCacheBytes { get; private set; }

    /// <summary>Called with each new interleaving's signature (<see cref="ExploreResult.DistinctTraces"/> counts them), the
    /// choices of the schedule that first reached it and its preemptions: tests compare the sets two searches reach.</summary>
    internal Action<ulong, int[], int>? OnNewTrace { get; init; }

    /// <summary>Test mode: every state that may be pruned against keeps the model's <see cref="ReplayEngine.StateDigest"/>,
    /// and each pruning checks that the state it stops in has the same (an equivalent prefix must leave the same model
    /// state; a different one means a footprint misses a dependence). Throws on a difference.</summary>
    internal bool VerifyPrunes { get; init; }

    /// <summary>Prunings whose state digest was checked (<see cref="VerifyPrunes"/>).</summary>
    internal long VerifiedPrunes { get; private set; }

    private bool _caching;
    private readonly Dictionary<ulong, Seen> _visited = [];
    // The same states by their key without the task that ran last (the latest recorded per key).
    private readonly Dictionary<ulong, Seen> _visitedAnyLast = [];
    // Recorded states, oldest first: the table forgets the oldest when it is over its cap.
    private readonly Queue<Seen> _visitedOrder = new();
    private long _cacheBytes;
    private readonly Stack<Summary> _summaryPool = new();
    // Arrays of grown and forgotten summaries, for the summaries that grow next (a quarter of the table's cap, at least
    // 1 MiB, at most 64 MiB).
    private SummaryArrays? _summaryArrays;
    private readonly Stack<Footprint?[]> _nextPool = new();
    // The Mazurkiewicz trace of the prefix run so far (the sum, over objects, of each object's access-order hash).
    private ulong _prefixSig;


    /// <summary>Complete schedules whose sequence of task choices an earlier one of the same run already ran (a search that
    /// restarts per bound runs the smaller bounds' schedules again; this one keeps its tree and runs none twice).</summary>
    internal long RepeatedSchedules { get; private set; }

    private readonly HashSet<ulong> _choiceSequences = [];

    /// <summary>Schedules abandoned because every enabled task was asleep (their interleavings were covered elsewhere).</summary>
    internal long SleepBlocked { get; private set; }

    private readonly Dictionary<string, ExploreViolation> _violations = new(StringComparer.Ordinal);
    private readonly List<string> _violationOrder = [];

    /// <summary>Prepares an exploration of <paramref name="trace"/>'s programs under <paramref name="profile"/>.</summary>
    /// <exception cref="ArgumentException">More than 64 tasks (explore a window of the trace instead).</exception>
    public Explorer(OpTrace trace, KernelProfile profile, Arch arch, ExploreOptions options)
        : this(trace, profile, arch, options, null, [])
    {
    }

    /// <summary>
    /// Prepares the exploration of a window of a real trace (<see cref="RealTraceExplore"/>): every schedule starts from
    /// <paramref name="start"/> (the state the recorded prefix left), and each pair of <paramref name="forced"/> (indices
    /// into <paramref name="trace"/>'s ops) is an order the recorded run proves, kept in every schedule.
    /// </summary>
    internal Explorer(OpTrace trace, KernelProfile profile, Arch arch, ExploreOptions options, Func<ReplayEngine>? start, IReadOnlyList<(int Before, int After)> forced)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        if (trace.Tasks.Count > 64)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The trace has {trace.Tasks.Count} tasks; exploration handles at most 64 at once (explore a window of the trace)."), nameof(trace));
        }
        if (options.Bound < 0)
        {
            throw new ArgumentException("The preemption bound must be 0 or more.", nameof(options));
        }
        _trace = trace;
        _profile = profile;
        _arch = arch;
        _options = options;
        _n = trace.Tasks.Count;
        _tids = trace.Tasks.Select(t => t.Tid).ToArray();
        var index = new Dictionary<int, int>();
        for (int i = 0; i < _n; i++)
        {
            index[_tids[i]] = i;
            _comms[_tids[i]] = trace.Tasks[i].Comm;
        }
        var programs = Enumerable.Range(0, _n).Select(_ => new List<Op>()).ToArray();
        _recordedTask = new int[trace.Count];
        _recordedLocal = new int[trace.Count];
        var ops = trace.Ops;
        for (int i = 0; i < ops.Length; i++)
        {
            int t = index[ops[i].Tid];
            _recordedTask[i] = t;
            _recordedLocal[i] = programs[t].Count;
            programs[t].Add(ops[i]);
        }
        _programs = programs.Select(p => p.ToArray()).ToArray();
        _pos = new int[_n];
        _clock = Enumerable.Range(0, _n).Select(_ => new int[_n]).ToArray();
        _before = new int[_n];
        _neededCount = new int[_n];
        _pending = Enumerable.Range(0, _n).Select(_ => new Footprint()).ToArray();
        _microBefore = new int[_n];
        _firstAfter = new int[_n];
        _cpus = trace.Tasks.Select(t => t.Cpu).Concat(_programs.SelectMany(p => p.Select(o => o.Cpu))).Distinct().Order().ToArray();
        _readValue = _programs.Select(p => new long[p.Length]).ToArray();
        _walkRmap = new int[_n];
        _walkMove = new (int, ulong, ulong, ulong)[_n];
        _current = new Op[_n];
        _engine = start?.Invoke() ?? new ReplayEngine(profile, arch);
        _start = start;
        (_need, _link) = Feasibility.Analyze(trace, _programs, _recordedTask, _recordedLocal, profile, arch, start);
        foreach (var (before, after) in forced)
        {
            int t = _recordedTask[after];
            int bt = _recordedTask[before];
            if (t != bt)
            {
                _need[t][_recordedLocal[after]] = [.. _need[t][_recordedLocal[after]], (bt, _recordedLocal[before] + 1)];
            }
        }
        _futureNeed = new int[_n][][];
        for (int t = 0; t < _n; t++)
        {
            int length = _programs[t].Length;
            var future = new int[length + 1][];
            future[length] = new int[_n];
            for (int k = length - 1; k >= 0; k--)
            {
                future[k] = (int[])future[k + 1].Clone();
                foreach (var (task, count) in _need[t][k])
                {
                    future[k][task] = Math.Max(future[k][task], count);
                }
            }
            _futureNeed[t] = future;
        }
        _enables = new (int Task, int Last)[_n][][];
        for (int o = 0; o < _n; o++)
        {
            var lists = new List<(int Task, int Last)>[_programs[o].Length];
            for (int t = 0; t < _n; t++)
            {
                for (int k = 0; k < _programs[t].Length; k++)
                {
                    foreach (var (task, count) in _need[t][k])
                    {
                        if (task == o && t != o)
                        {
                            var list = lists[count - 1] ??= [];
                            int at = list.FindIndex(e => e.Task == t);
                            if (at < 0)
                            {
                                list.Add((t, k));
                            }
                            else
                            {
                                list[at] = (t, k);
                            }
                        }
                    }
                }
            }
            _enables[o] = lists.Select(l => l?.ToArray() ?? []).ToArray();
        }
        _direction = options.Strategy == ExploreStrategy.Dpor ? RaceDirection.For(options.Race, _programs) : null;
        _glued = options.Strategy == ExploreStrategy.Dpor && options.GlueInvisibleOps ? GluedOps() : null;
    }

    // Per task, per program position: the op runs in the same step as the task's op before it (GluedOps).
    private readonly bool[][]? _glued;
    private readonly Footprint _glueFp = new();

    // Per task, per program position: a page_free that runs in its predecessor's step when, at that point of the
    // schedule, nothing can reach its frame (UnreachableFrees); null when there is none.
    private bool[][]? _conditional;

    // Per task, per program position: the op's step may take a conditional free with it (a chain of glued ops after the
    // op reaches one), so its footprint before it runs is not the step's: no sleep set is built on it.
    private bool[][]? _mayGlue;

    // Per frame a conditional free may glue: the leaf slots (table, index) that mapped it when the window started.
    private readonly Dictionary<ulong, List<(int Table, int Index)>> _startSlots = [];
    private readonly HashSet<ulong> _liveFrames = [];
    private readonly List<ulong> _chainFrames = [];

    /// <summary>Page frees glued where nothing can reach their frame, decided per schedule (<see cref="ExploreOptions.GlueUnreachableFrees"/>).</summary>
    internal int ConditionalFrees { get; private set; }

    /// <summary>How many times a conditional free ran in its predecessor's step, over every schedule run.</summary>
    internal long GluedFrees { get; private set; }

    /// <summary>Ops marked invisible (<see cref="ExploreOptions.GlueInvisibleOps"/>): each runs in its predecessor's step.</summary>
    internal int InvisibleOps { get; private set; }

    /// <summary><c>mmap_lock</c>/<c>mmap_unlock</c> ops of a lock no other task touches (<see cref="ExploreOptions.GlueOwnMmapLocks"/>),
    /// run in their predecessor's step as the invisible ops are.</summary>
    internal int OwnLockOps { get; private set; }

    /// <summary>
    /// The ops that no schedule can order differently against another task's op (docs/exploration.md, DPOR, "Invisible
    /// page ops" and "Switches that change nothing"), none of them its task's first op:
    /// a <c>page_alloc</c> or <c>page_free</c> of frame P when (1) no op of another task names a frame within 512 of P,
    /// and no earlier op of its own task but a page allocation or free does (nothing else maps it, reads it, or takes it
    /// as a huge page's part); (2) no leaf entry of the start state maps P and no CPU's TLB holds an entry of it, so with
    /// (1) no op can translate P in any schedule before the op runs, and the objects a page op touches (the page, the
    /// CPUs' usable entries of it) are touched by no other task;
    /// a <c>ctx_switch</c> into mm M on CPU c when its task's last switch before it is into M on c too, no other task
    /// switches on c and no op creates or destroys M: c runs M whenever it runs, so it changes nothing and reads only
    /// c's bit of M's cpumask, which no other task writes;
    /// an <c>mmap_lock</c> or <c>mmap_unlock</c> of mm M when no other task has an op that can touch M's mmap_lock
    /// (<see cref="OwnMmapLocks"/>): it touches only that lock, which no other task takes, tests or waits on;
    /// and for both, (3) no op of another task needs it (by the feasibility rules or a forced order), so running it
    /// earlier enables nothing earlier; (4) it needs nothing of another task that its task's earlier ops do not already
    /// need, so it can run as soon as its predecessor has. Null when there is none.
    /// </summary>
    private bool[][]? GluedOps()
    {
        const ulong near = 512;
        var named = new List<(ulong Pfn, int Task, int Local)>();
        for (int t = 0; t < _n; t++)
        {
            for (int k = 0; k < _programs[t].Length; k++)
            {
                var op = _programs[t][k];
                if (op.Pfn != 0)
                {
                    named.Add((op.Pfn, t, k));
                }
                if (op.Value != 0 && EntryValue.KindOf(op.Value) == EntryKind.Leaf)
                {
                    named.Add(((ulong)EntryValue.Payload(op.Value), t, k));
                }
            }
        }
        named.Sort();
        var keys = named.Select(x => x.Pfn).ToArray();
        // Per task, the counts of its ops that some op of another task needs exactly (the needed op is the count's last).
        var neededAt = Enumerable.Range(0, _n).Select(_ => new HashSet<int>()).ToArray();
        for (int t = 0; t < _n; t++)
        {
            foreach (var needs in _need[t])
            {
                foreach (var (q, count) in needs)
                {
                    if (q != t)
                    {
                        neededAt[q].Add(count);
                    }
                }
            }
        }
        // Per CPU, the tasks that switch on it; the mms some op creates or destroys.
        var switchers = new Dictionary<int, HashSet<int>>();
        var born = new HashSet<int>();
        for (int t = 0; t < _n; t++)
        {
            foreach (var op in _programs[t])
            {
                if (op.Kind == OpKind.CtxSwitch)
                {
                    (switchers.TryGetValue(op.Cpu, out var set) ? set : switchers[op.Cpu] = []).Add(t);
                }
                else if (op.Kind is OpKind.MmCreate or OpKind.MmDestroy)
                {
                    born.Add(op.Mm);
                }
            }
        }
        var glued = _programs.Select(p => new bool[p.Length]).ToArray();
        var ownLocks = _options.GlueOwnMmapLocks ? OwnMmapLocks() : [];
        var candidates = new List<ulong>();
        // Ops that may move a leaf entry to another slot without naming its frame (an mremap or exec stack move, in
        // whatever form the profile expands it): a frame a task of the window moves is not followed, so no conditional
        // free of the window is glued.
        bool relocates = _programs.Any(p => p.Any(o => o.Kind is OpKind.PteMove or OpKind.PmdMove or OpKind.PudMove
            or OpKind.MovePtes or OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.ExecShiftStack));
        // A 1 GiB leaf is named by its head, which may be far from the frame.
        var pudLeaves = Enumerable.Range(0, _n).SelectMany(t => _programs[t].Where(o => o.Kind == OpKind.PudSetHuge).Select(o => (Task: t, o.Pfn))).ToArray();
        var conditional = _options.GlueUnreachableFrees && !relocates ? _programs.Select(p => new bool[p.Length]).ToArray() : null;
        for (int t = 0; t < _n; t++)
        {
            var before = new int[_n];
            (int Cpu, int Mm) switched = (-1, 0);
            for (int k = 0; k < _programs[t].Length; k++)
            {
                var op = _programs[t][k];
                bool page = op.Kind is OpKind.PageAlloc or OpKind.PageFree && op.Pfn != 0;
                bool silent = op.Kind == OpKind.CtxSwitch && op.Mm != 0 && switched == (op.Cpu, op.Mm) && !born.Contains(op.Mm)
                    && switchers[op.Cpu].Count == 1;
                if (op.Kind == OpKind.CtxSwitch)
                {
                    switched = (op.Cpu, op.Mm);
                }
                bool ownLock = op.Kind is OpKind.MmapLock or OpKind.MmapUnlock && ownLocks.TryGetValue(op.Mm, out int holder) && holder == t;
                bool ok = k > 0 && (page || silent || ownLock) && !neededAt[t].Contains(k + 1);
                foreach (var (q, count) in _need[t][k])
                {
                    ok &= q == t || count <= before[q];
                }
                // For a page op: whether no other task names a frame within 512 of it (others), or none names it or
                // a frame of its 2 MiB block in an op that may cover it (block: a huge page that holds it is named by
                // its head, which is aligned; an order-0 page op names only its own frame), and whether its own ops
                // before it name it only as a page allocation or free (own: else its own store may map it, its own
                // clear unmap it, and only the state at that point of a schedule tells).
                bool others = ok;
                bool block = ok;
                bool own = ok;
                if (ok && page)
                {
                    ulong p = op.Pfn;
                    int i = Array.BinarySearch(keys, p >= near ? p - near + 1 : 0);
                    for (i = i < 0 ? ~i : i; block && i < named.Count && named[i].Pfn < p + near; i++)
                    {
                        var (pfn, q, m) = named[i];
                        if (q != t)
                        {
                            others = false;
                            // A page of another task is another page unless it is this one or may hold it: an order-0
                            // allocation or free of another frame does not.
                            block = pfn != p && (_programs[q][m] is { Kind: OpKind.PageAlloc or OpKind.PageFree, Value: 0 } || pfn >> 9 != p >> 9);
                        }
                        else
                        {
                            own &= m >= k || _programs[q][m].Kind is OpKind.PageAlloc or OpKind.PageFree;
                        }
                    }
                }
                if (others && own)
                {
                    glued[t][k] = true;
                    if (page)
                    {
                        candidates.Add(op.Pfn);
                    }
                }
                else if (block && conditional is not null && op.Kind == OpKind.PageFree)
                {
                    conditional[t][k] = !StoredBefore(t, k) && !pudLeaves.Any(x => x.Task != t && op.Pfn - x.Pfn < 512 * 512);
                }
                foreach (var (q, count) in _need[t][k])
                {
                    before[q] = Math.Max(before[q], count);
                }
            }
        }
        var translatable = new HashSet<ulong>();
        if (candidates.Count > 0)
        {
            _engine.TranslatableFrames([.. candidates.Distinct().Order()], translatable);
        }
        for (int t = 0; t < _n; t++)
        {
            for (int k = 0; k < glued[t].Length; k++)
            {
                if (glued[t][k] && _programs[t][k].Kind is OpKind.PageAlloc or OpKind.PageFree && translatable.Contains(_programs[t][k].Pfn))
                {
                    glued[t][k] = false;
                    // Mapped or cached when the window starts: a free of it may still glue where nothing reaches it.
                    if (conditional is not null && _programs[t][k].Kind == OpKind.PageFree)
                    {
                        conditional[t][k] = !StoredBefore(t, k) && !pudLeaves.Any(x => x.Task != t && _programs[t][k].Pfn - x.Pfn < 512 * 512);
                    }
                }
                if (glued[t][k] && _programs[t][k].Kind is OpKind.MmapLock or OpKind.MmapUnlock)
                {
                    OwnLockOps++;
                }
                else
                {
                    InvisibleOps += glued[t][k] ? 1 : 0;
                }
            }
        }
        if (conditional is not null)
        {
            UnreachableFrees(conditional, glued);
        }
        return InvisibleOps > 0 || OwnLockOps > 0 || ConditionalFrees > 0 ? glued : null;
    }

    /// <summary>
    /// The mms whose mmap_lock exactly one task of the program may touch (docs/exploration.md, DPOR, "Locks no other task
    /// takes"), with that task: the ops whose footprint can hold an mm's <c>MmLock</c> (<see cref="Footprint"/>) are its
    /// <c>mmap_lock</c>/<c>mmap_unlock</c>, per-VMA lock ops (which read it), 4.3's reclaim trylock
    /// (<c>ttu_mlock_set</c>/<c>ttu_mlock_page</c>), khugepaged's retract and the mm's creation and destruction. Such an op
    /// without an mm may touch any mm's lock: then there is none.
    /// </summary>
    private Dictionary<int, int> OwnMmapLocks()
    {
        var owner = new Dictionary<int, int>();
        var shared = new HashSet<int>();
        for (int t = 0; t < _n; t++)
        {
            foreach (var op in _programs[t])
            {
                if (op.Kind is not (OpKind.MmapLock or OpKind.MmapUnlock or OpKind.VmaLock or OpKind.VmaUnlock or OpKind.TtuMlockSet
                    or OpKind.TtuMlockPage or OpKind.RetractStart or OpKind.RetractEnd or OpKind.MmCreate or OpKind.MmDestroy))
                {
                    continue;
                }
                if (op.Mm == 0)
                {
                    return [];
                }
                if (!owner.TryAdd(op.Mm, t) && owner[op.Mm] != t)
                {
                    shared.Add(op.Mm);
                }
            }
        }
        foreach (int mm in shared)
        {
            owner.Remove(mm);
        }
        return owner;
    }

    /// <summary>Whether an op of task <paramref name="t"/> before its op <paramref name="k"/> stores a leaf entry that
    /// maps that op's frame (a huge leaf covers its range): the frame may then be mapped where the start state does not
    /// map it.</summary>
    private bool StoredBefore(int t, int k)
    {
        ulong pfn = _programs[t][k].Pfn;
        for (int m = 0; m < k; m++)
        {
            var op = _programs[t][m];
            if (op.Kind switch
            {
                OpKind.PteSet => op.Pfn == pfn,
                OpKind.PmdSetHuge => pfn - op.Pfn < 512,
                OpKind.PudSetHuge => pfn - op.Pfn < 512 * 512,
                _ => false,
            })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Keeps the conditional frees (docs/exploration.md, "Frees of pages unmapped and flushed in the window") and the
    /// slots of the start state that map their frames, which each schedule checks (<see cref="RunGlued"/>).
    /// </summary>
    private void UnreachableFrees(bool[][] conditional, bool[][] glued)
    {
        var frames = new List<ulong>();
        for (int t = 0; t < _n; t++)
        {
            for (int k = 0; k < conditional[t].Length; k++)
            {
                if (conditional[t][k])
                {
                    frames.Add(_programs[t][k].Pfn);
                    ConditionalFrees++;
                }
            }
        }
        if (ConditionalFrees == 0)
        {
            return;
        }
        _engine.LeafSlots([.. frames.Distinct().Order()], (pfn, table, index) =>
        {
            if (!_startSlots.TryGetValue(pfn, out var slots))
            {
                _startSlots[pfn] = slots = [];
            }
            slots.Add((table, index));
        });
        _conditional = conditional;
        _mayGlue = new bool[_n][];
        for (int t = 0; t < _n; t++)
        {
            int length = _programs[t].Length;
            var may = new bool[length];
            for (int k = length - 2; k >= 0; k--)
            {
                may[k] = conditional[t][k + 1] || (glued[t][k + 1] && may[k + 1]);
            }
            _mayGlue[t] = may;
        }
    }

    private readonly Func<ReplayEngine>? _start;

    // The window's race, when the alternatives it needs run first (DPOR only).
    private readonly RaceDirection? _direction;
    private readonly List<Deferred> _roundScratch = [];

    /// <summary>Runs the search.</summary>
    public ExploreResult Run(CancellationToken cancellationToken = default)
    {
        var result = new ExploreResult(_options, _profile, _arch, _n, _trace.Count);
        var clock = Stopwatch.StartNew();
        long budget = _options.Budget ?? (_options.Strategy == ExploreStrategy.Pct ? ExploreOptions.DefaultPctRuns : long.MaxValue);
        if (_options.Strategy == ExploreStrategy.Pct)
        {
            RunPct(result, budget, clock, cancellationToken);
        }
        else
        {
            RunSystematic(result, budget, clock, cancellationToken);
        }
        result.Elapsed = clock.Elapsed;
        result.DistinctTraces = _traces.Count;
        result.Violations = _violationOrder.Select(k => _violations[k]).ToArray();
        return result;
    }

    private bool OutOfTime(Stopwatch clock) => _options.Time is { } limit && clock.Elapsed >= limit;

    /// <summary>
    /// DPOR deepens the bound 0, 1, …, K (iterative context bounding, as CHESS does): a violation is first met in the
    /// round with the fewest preemptions that reaches it, so its witness has the fewest preemptions the search can give.
    /// The tree is kept between rounds: a frame left with alternatives the bound forbade is kept (with the path to it)
    /// and the next round starts from those frames only, so no schedule of an earlier round is run again. The naive
    /// baseline runs the bound K once.
    /// </summary>
    private void RunSystematic(ExploreResult result, long budget, Stopwatch clock, CancellationToken cancellationToken)
    {
        bool dpor = _options.Strategy == ExploreStrategy.Dpor;
        _bound = dpor ? 0 : _options.Bound;
        _deferred.Clear();
        _deferredSet.Clear();
        _round.Clear();
        _roundNext = 0;
        _visited.Clear();
        _visitedAnyLast.Clear();
        _visitedOrder.Clear();
        _cacheBytes = 0;
        _keptFrames = 0;
        _workListFull = false;
        _caching = dpor && StateCache && _trace.Count <= MaxCachedProgramOps;
        DropFrames(0);
        if (!RunBound(result, budget, clock, dpor, resume: false, cancellationToken))
        {
            return;
        }
        // The first round is done: a budget or time stop in a later one must say its bound was covered (the later rounds
        // record theirs below).
        result.CompletedBound = _bound;
        while (true)
        {
            // Whatever is still on the path was left too.
            DropFrames(0);
            if (_workListFull)
            {
                // Every schedule within this round's bound was covered; the next round's work list is incomplete.
                result.CompletedBound = _bound;
                result.Exhaustive = false;
                result.StoppedBy = "memory";
                foreach (var entry in _deferred)
                {
                    if (entry.Leaf is { } leaf)
                    {
                        result.PendingAlternatives += BitOperations.PopCount(leaf.Backtrack & ~leaf.Done & ~leaf.Sleep & ~leaf.Covered & leaf.Enabled);
                        result.ShallowestPending = result.ShallowestPending < 0 ? leaf.Depth : Math.Min(result.ShallowestPending, leaf.Depth);
                    }
                }
                return;
            }
            if (_bound >= _options.Bound || _deferred.Count == 0)
            {
                // Done with K, or no frame was left with an alternative the bound forbade: larger bounds hold
                // nothing more.
                result.CompletedBound = _options.Bound;
                result.Exhaustive = true;
                return;
            }
            _bound++;
            _keptFrames = 0;
            (_round, _deferred) = (_deferred, _round);
            _deferred.Clear();
            _deferredSet.Clear();
            if (_direction is not null)
            {
                DirectRound();
            }
            for (_roundNext = 0; _roundNext < _round.Count; _roundNext++)
            {
                var entry = _round[_roundNext];
                var hit = entry.Hit;
                if (hit?.Below is { } grown && grown.Version == entry.Version)
                {
                    // Nothing ran below the equivalent state since this prefix was pruned against it: no new race.
                    if (_bound < _options.Bound)
                    {
                        _deferred.Add(entry);
                    }
                    continue;
                }
                int length = Resume(entry);
                bool resume = true;
                if (entry.Partial)
                {
                    var state = _frames[length - 1];
                    if (hit!.Below is null)
                    {
                        // The table forgot the state that covered some of this one's continuations: they run from here.
                        state.Covered = 0;
                        state.Backtrack |= state.Enabled;
                    }
                    else
                    {
                        ReplayPrefix(length - 1, dpor, dpor && SleepSets);
                        result.Transitions += length - 1;
                        result.Rechecked++;
                        ApplyHit(hit, length - 1, state.Below, state);
                    }
                }
                else if (hit is not null)
                {
                    if (hit.Below is null)
                    {
                        // The table forgot the equivalent state (its cap): what its continuations grew into is not known,
                        // so this prefix is explored below as if it had never been pruned.
                        resume = false;
                    }
                    else
                    {
                        // A prefix pruned in an earlier round: the state it reached has grown continuations since (this
                        // round's extension of the equivalent state came first in the work list); their races with this
                        // prefix add backtrack points here, as if they had run below it.
                        ReplayPrefix(length, dpor, dpor && SleepSets);
                        result.Transitions += length;
                        result.Rechecked++;
                        ApplyHit(hit, length, length > 0 ? _frames[length - 1].Below : null);
                    }
                }
                if (!RunBound(result, budget, clock, dpor, resume, cancellationToken))
                {
                    return;
                }
                DropFrames(0);
            }
            _round.Clear();
            result.CompletedBound = _bound;
        }
    }

    /// <summary>
    /// Depth-first search over the current path: run a schedule, then the deepest alternative within the bound. With
    /// <paramref name="resume"/> the path is a frame kept from an earlier round and the search starts by backtracking.
    /// False when the budget or the time stopped it.
    /// </summary>
    private bool RunBound(ExploreResult result, long budget, Stopwatch clock, bool dpor, bool resume, CancellationToken cancellationToken)
    {
        bool run = !resume;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (run)
            {
                // A kept prefix whose equivalent state the table forgot starts with a whole run: the budget holds for it too.
                if (result.Schedules >= budget || OutOfTime(clock))
                {
                    Stop(result, budget, runPending: true);
                    return false;
                }
                RunOne(result, dpor, naive: !dpor);
            }
            // Backtrack: the deepest frame with an alternative inside the bound.
            int depth = _frames.Count - 1;
            int choice = -1;
            for (; depth >= 0; depth--)
            {
                ulong open = _frames[depth].Backtrack & ~_frames[depth].Done & ~_frames[depth].Sleep & ~_frames[depth].Covered & Allowed(_frames[depth]);
                if (open != 0)
                {
                    choice = Pick(_frames[depth], open);
                    break;
                }
            }
            if (depth < 0)
            {
                return true;
            }
            if (result.Schedules >= budget || OutOfTime(clock))
            {
                Stop(result, budget, runPending: false);
                return false;
            }
            DropFrames(depth + 1);
            var frame = _frames[depth];
            frame.Task = choice;
            frame.Done |= 1UL << choice;
            run = true;
        }
    }

    /// <summary>
    /// Moves to the front of the round's work list, shallowest first (in their order at equal depth), the kept states
    /// with an open race-directed alternative. Only states kept for their own alternatives move: a prefix pruned against
    /// an equivalent state stays behind it (that state's entry can only move further ahead), so it still sees what the
    /// state grew into this round.
    /// </summary>
    private void DirectRound()
    {
        static bool Directed(Deferred entry) =>
            entry.Hit is null && entry.Leaf is { } leaf && (leaf.Backtrack & ~leaf.Done & ~leaf.Sleep & ~leaf.Covered & leaf.Enabled & leaf.Directed) != 0;

        _roundScratch.Clear();
        _roundScratch.AddRange(_round.Where(Directed).OrderBy(e => e.Leaf!.Depth));
        if (_roundScratch.Count == 0)
        {
            return;
        }
        _roundScratch.AddRange(_round.Where(e => !Directed(e)));
        _round.Clear();
        _round.AddRange(_roundScratch);
        _roundScratch.Clear();
    }

    /// <summary>Puts a kept entry's path back on the frame stack: its frames, each with the choice that led to the next one
    /// (a pruned prefix's last frame with the choice that led to the equivalent state). Returns the path's length.</summary>
    private int Resume(Deferred entry)
    {
        _pathScratch.Clear();
        for (var f = entry.Leaf; f is not null; f = f.Parent)
        {
            _pathScratch.Add(f);
        }
        _pathScratch.Reverse();
        for (int d = 0; d < _pathScratch.Count; d++)
        {
            var frame = _pathScratch[d];
            if (d + 1 < _pathScratch.Count)
            {
                frame.Task = _pathScratch[d + 1].Via;
            }
            else if (entry.Hit is not null && !entry.Partial)
            {
                frame.Task = entry.LeafTask;
            }
            if (_caching)
            {
                // A recorded state's summary grows with what runs below it in this round; another frame's starts empty
                // (what it held was joined into its parent when it was popped).
                frame.Below = frame.Seen?.Below ?? RentSummary();
                frame.Below.OnPath = true;
            }
            _frames.Add(frame);
        }
        return _pathScratch.Count;
    }

    /// <summary>
    /// Test hook: runs <paramref name="sets"/> through a new summary, merging it into a second one (holding
    /// <paramref name="into"/>) after each <paramref name="mergeEvery"/> sets and clearing it then, as a dropped frame's
    /// summary goes into its parent's. Returns the second one's entries in order, its version and the bytes it counts.
    /// </summary>
    internal static (List<(long Key, ulong Readers, ulong Writers)> Entries, int Version, long Bytes) SummaryRun(
        IReadOnlyList<(long Key, ulong Readers, ulong Writers)> into, IReadOnlyList<(long Key, ulong Readers, ulong Writers)> sets, int mergeEvery)
    {
        var arrays = new SummaryArrays(1L << 20);
        var parent = new Summary(arrays);
        foreach (var (key, readers, writers) in into)
        {
            parent.Set(key, readers, writers);
        }
        var child = new Summary(arrays);
        for (int i = 0; i < sets.Count; i++)
        {
            child.Set(sets[i].Key, sets[i].Readers, sets[i].Writers);
            if ((i + 1) % mergeEvery == 0 || i == sets.Count - 1)
            {
                parent.AddAll(child);
                child.Clear();
            }
        }
        var entries = new List<(long, ulong, ulong)>();
        foreach (ref readonly var e in parent.Entries)
        {
            entries.Add((e.Key, e.Readers, e.Writers));
        }
        return (entries, parent.Version, parent.Bytes);
    }

    private Summary RentSummary()
    {
        if (_summaryPool.Count > 0)
        {
            return _summaryPool.Pop();
        }
        _summaryArrays ??= new SummaryArrays(Math.Clamp(_options.StateCacheBytes / 4, 1L << 20, 64L << 20));
        return new Summary(_summaryArrays);
    }

    private void ReturnSummary(Summary summary)
    {
        summary.OnPath = false;
        summary.Clear();
        _summaryPool.Push(summary);
    }

    /// <summary>Keeps the explored-state table within its cap: the oldest states are forgotten first. A forgotten state
    /// only prunes no more (a run that reaches it goes on), and a prefix pruned against it in an earlier round is explored
    /// again in the next one instead of being replayed against what the state grew into.</summary>
    private void Evict()
    {
        long cap = _options.StateCacheBytes;
        while (_cacheBytes > cap && _visitedOrder.Count > 0)
        {
            var old = _visitedOrder.Dequeue();
            if (old.Below is null)
            {
                continue;
            }
            if (_visited.TryGetValue(old.Key, out var current) && ReferenceEquals(current, old))
            {
                _visited.Remove(old.Key);
            }
            if (_visitedAnyLast.TryGetValue(old.KeyAnyLast, out current) && ReferenceEquals(current, old))
            {
                _visitedAnyLast.Remove(old.KeyAnyLast);
            }
            _cacheBytes -= old.Bytes;
            // A kept frame may still hold it while on the path: it goes back to the pool when that frame is popped.
            // Otherwise nothing holds it any more: its arrays serve the summaries that grow next.
            if (!old.Below.OnPath)
            {
                old.Below.Release();
            }
            old.Below = null;
            EvictedStates++;
        }
    }

    /// <summary>
    /// The budget or the time stopped the search before its next run: the result says so and counts what was left
    /// (<paramref name="runPending"/>: the run from the current path, which had not started, is one of them).
    /// </summary>
    private void Stop(ExploreResult result, long budget, bool runPending)
    {
        result.StoppedBy = result.Schedules >= budget ? "budget" : "time";
        result.Exhaustive = false;
        CountPending(result);
        if (runPending)
        {
            result.PendingAlternatives++;
            int depth = Math.Max(0, _frames.Count - 1);
            result.ShallowestPending = result.ShallowestPending < 0 ? depth : Math.Min(result.ShallowestPending, depth);
        }
    }

    private void CountPending(ExploreResult result)
    {
        for (int d = 0; d < _frames.Count; d++)
        {
            int open = BitOperations.PopCount(_frames[d].Backtrack & ~_frames[d].Done & ~_frames[d].Sleep & ~_frames[d].Covered & Allowed(_frames[d]));
            if (open > 0 && result.ShallowestPending < 0)
            {
                result.ShallowestPending = d;
            }
            result.PendingAlternatives += open;
        }
        // Frames kept for this round and not reached yet.
        for (int i = _roundNext + 1; i < _round.Count; i++)
        {
            if (_round[i].Leaf is not { } frame)
            {
                continue;
            }
            result.PendingAlternatives += BitOperations.PopCount(frame.Backtrack & ~frame.Done & ~frame.Sleep & ~frame.Covered & frame.Enabled);
            if (result.ShallowestPending < 0 || frame.Depth < result.ShallowestPending)
            {
                result.ShallowestPending = frame.Depth;
            }
        }
    }

    /// <summary>Tasks a frame may run without exceeding the bound.</summary>
    private ulong Allowed(Frame frame)
    {
        if (frame.Preemptions < _bound || frame.LastTask < 0 || !frame.LastEnabled)
        {
            return frame.Enabled;
        }
        return frame.Enabled & (1UL << frame.LastTask);
    }

    /// <summary>The alternative to run next among <paramref name="open"/> at a frame: a race-directed one first.</summary>
    private static int Pick(Frame frame, ulong open) =>
        BitOperations.TrailingZeroCount((open & frame.Directed) != 0 ? open & frame.Directed : open);

    private static int Cost(Frame frame, int task) => frame.LastTask >= 0 && frame.LastEnabled && task != frame.LastTask ? 1 : 0;

    private void Reset()
    {
        // A window's schedules each start from a fresh fork of the frozen start state; an op trace's reuse one
        // engine, reset (it keeps its memory).
        if (_start is not null)
        {
            _engine = _start();
        }
        else
        {
            _engine.Reset();
        }
        foreach (var task in _trace.Tasks)
        {
            _engine.NameTask(task.Tid, task.Comm);
        }
        Array.Clear(_pos);
        foreach (var c in _clock)
        {
            Array.Clear(c);
        }
        _transitionTask.Clear();
        foreach (var r in _resources.Values)
        {
            r.Reads.Clear();
            _resourcePool.Push(r);
        }
        _resources.Clear();
        _schedule.Clear();
        _sigState.Clear();
        _signature = 0;
        _prefixSig = 0;
        _recorded = 0;
        _preemptions = 0;
        _lastTask = -1;
        foreach (var values in _readValue)
        {
            Array.Clear(values);
        }
        Array.Clear(_walkRmap);
        Array.Clear(_walkMove);
    }

    /// <summary>The state reached, up to equivalence, apart from the task that ran last: the prefix's Mazurkiewicz trace
    /// (which fixes the model state when the footprints are right), each task's position and whether it is parked, and
    /// the violations met. A state's full key adds the task that ran last (what the next switch costs depends on it).</summary>
    private ulong StateKeyAnyLast()
    {
        ulong key = Mix(_prefixSig);
        for (int t = 0; t < _n; t++)
        {
            key += Mix(((ulong)(uint)t << 32) | ((uint)_pos[t] << 1) | (_engine.IsBlocked(_tids[t]) ? 1U : 0U));
        }
        // The violations the prefix met: a run stopped here reports none of them, so only a state whose explored run met
        // the same ones may stand for it. (A checker may see an order of ops the footprints call independent: under
        // r2's buggy profiles two orders of the same trace report different race instances.)
        foreach (var finding in _engine.Findings)
        {
            if (finding.Class == FindingClass.Race)
            {
                key += Mix(Fnv(finding.Checker) ^ Mix(Fnv(finding.Race) ^ Mix(((ulong)(uint)finding.Mm << 32) ^ (finding.Va & ~0xFFFUL) ^ Mix(finding.Pfn))));
            }
        }
        return key;
    }

    /// <summary>
    /// Tasks whose continuations from the current state (reached with <c>_lastTask</c> running last and <c>_preemptions</c>
    /// used) <paramref name="seen"/>, the same state reached with another task running last, did not cover within its
    /// preemptions: a continuation that starts with task t costs the first switch's price from either state, and the rest
    /// alike (the model state is the same), so t is covered when seen's remaining preemptions minus its switch to t are at
    /// least this one's minus its switch to t.
    /// </summary>
    private ulong Uncovered(Seen seen, ulong enabled)
    {
        int remaining = _bound - _preemptions;
        bool lastEnabled = _lastTask >= 0 && (enabled & (1UL << _lastTask)) != 0;
        ulong uncovered = 0;
        for (ulong rest = enabled; rest != 0; rest &= rest - 1)
        {
            int t = BitOperations.TrailingZeroCount(rest);
            int here = lastEnabled && t != _lastTask ? 1 : 0;
            int there = seen.LastEnabled && t != seen.Last ? 1 : 0;
            if (seen.Remaining - there < remaining - here)
            {
                uncovered |= 1UL << t;
            }
        }
        return uncovered;
    }

    /// <summary>States reached where an explored equivalent one (another task ran last) covered every continuation but
    /// those of the task that ran last, which alone were run from here.</summary>
    internal long PartialPrunes { get; private set; }

    /// <summary>Partial prunings whose state digest was checked (<see cref="VerifyPrunes"/>).</summary>
    internal long VerifiedPartialPrunes { get; private set; }

    private static ulong Fnv(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in text)
        {
            h = (h ^ c) * 1099511628211UL;
        }
        return h;
    }

    /// <summary>
    /// A run stopped at depth <paramref name="depth"/> in a state equivalent to <paramref name="seen"/>: every op run
    /// below that state may run below this one, so its races with this prefix add backtrack points as Flanagan–Godefroid's
    /// rule would have when it ran (Yang, Chen, Gopalakrishnan, Kirby, "Efficient Stateful Dynamic Partial Order
    /// Reduction", SPIN 2008, with a summary per state instead of their dependency graph). Over-approximated: every
    /// earlier access of an object the summary touches that does not happen before the task's current clock, not only
    /// the latest. The summary joins the parent state's; in a later round the prefix is replayed to add what the
    /// equivalent state's continuations grew into.
    /// </summary>
    private void ApplyHit(Seen seen, int depth, Summary? into, Frame? partial = null)
    {
        var below = seen.Below!;
        foreach (ref readonly var access in below.Entries)
        {
            if (!_resources.TryGetValue(access.Key, out var res))
            {
                continue;
            }
            for (ulong rest = access.Readers | access.Writers; rest != 0; rest &= rest - 1)
            {
                int u = BitOperations.TrailingZeroCount(rest);
                var clock = _clock[u];
                if (res.LastWrite >= 0 && Racing(res.LastWrite, u, clock) >= 0)
                {
                    Array.Copy(clock, _before, _n);
                    AddBacktrack(res.LastWrite, u, depth, NextLocal(u));
                }
                if ((access.Writers & (1UL << u)) != 0)
                {
                    foreach (int r in res.Reads)
                    {
                        if (Racing(r, u, clock) >= 0)
                        {
                            Array.Copy(clock, _before, _n);
                            AddBacktrack(r, u, depth, NextLocal(u));
                        }
                    }
                }
            }
        }
        if (depth > 0)
        {
            // Bounded DPOR's block-start point for races below this state: the task that ran last may go on below it
            // without a switch, so a race of one of its ops there with another task's op reverses at the start of its
            // block, which is above this state — on this prefix's path, not on the path the equivalent state was
            // explored on (measured: r1-pmd lost 2 of 117 interleavings to states reached with another task last).
            ulong tasks = 0;
            ulong ubit = 1UL << _frames[depth - 1].Task;
            foreach (ref readonly var access in below.Entries)
            {
                if ((access.Writers & ubit) != 0)
                {
                    tasks |= access.Readers | access.Writers;
                }
                else if ((access.Readers & ubit) != 0)
                {
                    tasks |= access.Writers;
                }
            }
            int c = depth - 1;
            while (c > 0 && _frames[c].LastTask == _frames[c].Task)
            {
                c--;
            }
            tasks &= ~(1UL << _frames[depth - 1].Task);
            for (ulong rest = tasks; rest != 0; rest &= rest - 1)
            {
                int w = BitOperations.TrailingZeroCount(rest);
                Array.Copy(_clock[w], _before, _n);
                AddAt(c, w, depth, NextLocal(w));
            }
        }
        into?.AddAll(below);
        if (_bound < _options.Bound && !_workListFull)
        {
            var leaf = depth > 0 ? _frames[depth - 1] : null;
            if (partial is not null)
            {
                // The state stays on the path (its last task's continuations run from it): the next round replays up to
                // it and adds what the equivalent state grew into to its own summary.
                _deferred.Add(new Deferred(partial, -1, seen, below.Version, Partial: true));
                Keep(partial);
            }
            else
            {
                _deferred.Add(new Deferred(leaf, leaf?.Task ?? -1, seen, below.Version));
                Keep(leaf);
            }
        }
    }

    /// <summary>Marks a frame and the path to it as kept for the next round (never reused from the pool). When the kept
    /// frames outgrow <see cref="ExploreOptions.WorkListBytes"/>, no more are kept: the round finishes (its bound is
    /// covered) and the search stops there, saying so. (Restarting the next round from the empty schedule instead keeps
    /// the violations but, measured, not every interleaving: bounded DPOR from scratch adds fewer alternatives.)</summary>
    private void Keep(Frame? frame)
    {
        for (; frame is not null && !frame.Kept; frame = frame.Parent)
        {
            frame.Kept = true;
            _keptFrames++;
        }
        if (_keptFrames * KeptFrameBytes > _options.WorkListBytes)
        {
            _workListFull = true;
        }
    }

    /// <summary>Ops that may park their task or resume a parked one: kernel steps, lock and unlock primitives, IRQ/RCU
    /// sections, IPIs and grace periods (OpKind lists them together, from mmap_lock to rcu_gp_end).</summary>
    private static bool MayBlockOrWake(OpKind kind) => OpSpec.IsKernelStep(kind) || (kind >= OpKind.MmapLock && kind <= OpKind.RcuGpEnd);

    private ulong EnabledMask()
    {
        ulong mask = 0;
        for (int t = 0; t < _n; t++)
        {
            // A trylock the trace shows succeeding waits while the lock is held (Feasibility rule 10): its failure
            // path runs other ops than the trace shows.
            if (_pos[t] < _programs[t].Length && !_engine.IsBlocked(_tids[t]) && Satisfied(_need[t][_pos[t]])
                && !_engine.RecordedTrylockWouldFail(_programs[t][_pos[t]], _tids[t]))
            {
                mask |= 1UL << t;
            }
        }
        return mask;
    }

    private bool Satisfied((int Task, int Count)[] need)
    {
        foreach (var (task, count) in need)
        {
            if (_pos[task] < count)
            {
                return false;
            }
        }
        return true;
    }

    private bool Unfinished()
    {
        for (int t = 0; t < _n; t++)
        {
            if (_pos[t] < _programs[t].Length || _engine.IsBlocked(_tids[t]))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The task whose op comes next in the recorded order (-1 when every op ran).</summary>
    private int RecordedNext()
    {
        while (_recorded < _recordedTask.Length && _pos[_recordedTask[_recorded]] > _recordedLocal[_recorded])
        {
            _recorded++;
        }
        return _recorded < _recordedTask.Length ? _recordedTask[_recorded] : -1;
    }

    /// <summary>One schedule: the frames' choices, then the default choice (recorded order within the bound) at new states.</summary>
    private void RunOne(ExploreResult result, bool dpor, bool naive)
    {
        Reset();
        result.Schedules++;
        _options.Progress?.Report(result.Schedules);
        int depth = 0;
        _childSleep = 0;
        bool sleep = dpor && SleepSets;
        while (true)
        {
            ulong enabled = EnabledMask();
            if (enabled == 0)
            {
                break;
            }
            int task;
            bool fresh = depth >= _frames.Count;
            if (!fresh)
            {
                var frame = _frames[depth];
                task = frame.Task;
                Debug.Assert((enabled & (1UL << task)) != 0, "replaying a prefix reaches the same states");
                if (frame.HasNext && frame.Next is null && depth == _frames.Count - 1)
                {
                    // A kept frame gave up its footprints when it was popped; the sleep set below the choice made here
                    // needs them, and the state is the one they were computed in.
                    FillNextFootprints(frame, frame.Enabled);
                }
            }
            else
            {
                if (naive && Commute is { } oracle && oracle.States < oracle.MaxStates)
                {
                    CheckCommutation(oracle, depth, enabled);
                }
                ulong key = 0;
                ulong keyAnyLast = 0;
                Seen? partial = null;
                ulong covered = 0;
                if (_caching)
                {
                    keyAnyLast = StateKeyAnyLast();
                    key = Mix(keyAnyLast ^ Mix((ulong)(_lastTask + 1)));
                    ulong asleep = sleep ? _childSleep & enabled : 0;
                    Seen? hit = null;
                    if (_visited.TryGetValue(key, out var seen) && seen.Remaining >= _bound - _preemptions && (seen.Sleep & ~asleep) == 0)
                    {
                        hit = seen;
                    }
                    else if (_visitedAnyLast.TryGetValue(keyAnyLast, out seen) && seen.Below is not null && (seen.Sleep & ~asleep) == 0)
                    {
                        ulong uncovered = Uncovered(seen, enabled);
                        if (uncovered == 0)
                        {
                            hit = seen;
                        }
                        else if (_lastTask >= 0 && uncovered == 1UL << _lastTask)
                        {
                            // Only continuing the task that ran last costs less here than from the explored state.
                            partial = seen;
                            covered = enabled & ~uncovered;
                        }
                    }
                    if (hit is not null || partial is not null)
                    {
                        var against = hit ?? partial!;
                        if (VerifyPrunes)
                        {
                            ulong digest = _engine.StateDigest();
                            if (digest != against.Digest)
                            {
                                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                                    $"Pruned at depth {depth} (choices {string.Join(" ", _frames.Select(f => f.Task))}) against an equivalent state whose model state differs: {digest:x16} against {against.Digest:x16}."));
                            }
                            if (hit is not null)
                            {
                                VerifiedPrunes++;
                            }
                            else
                            {
                                VerifiedPartialPrunes++;
                            }
                        }
                    }
                    if (hit is not null)
                    {
                        // An equivalent prefix reached this state with no more preemptions and explored what follows.
                        result.Pruned++;
                        result.Transitions += depth;
                        ApplyHit(hit, depth, depth > 0 ? _frames[depth - 1].Below : null);
                        return;
                    }
                }
                var frame = _framePool.Count > 0 ? _framePool.Pop() : new Frame();
                frame.Key = key;
                frame.KeyAnyLast = keyAnyLast;
                frame.Covered = covered;
                frame.Digest = VerifyPrunes && _caching ? _engine.StateDigest() : 0;
                frame.Round = _bound;
                frame.Depth = depth;
                frame.Parent = depth > 0 ? _frames[depth - 1] : null;
                frame.Via = depth > 0 ? _frames[depth - 1].Task : -1;
                frame.Seen = null;
                if (_caching)
                {
                    frame.Below = RentSummary();
                    frame.Below.OnPath = true;
                }
                frame.Enabled = enabled;
                frame.Preemptions = _preemptions;
                frame.Directed = _direction?.Directed(_lastTask, _pos, enabled) ?? 0;
                frame.LastTask = _lastTask;
                frame.LastEnabled = _lastTask >= 0 && (enabled & (1UL << _lastTask)) != 0;
                frame.Sleep = _childSleep & enabled;
                frame.HasNext = sleep;
                if (sleep)
                {
                    FillNextFootprints(frame, enabled);
                }
                if (partial is not null)
                {
                    // The explored state covers every continuation here but those that go on with the task that ran last:
                    // its races with this prefix add their backtrack points as for a stopped run, and what ran below it
                    // counts as below this state.
                    PartialPrunes++;
                    ApplyHit(partial, depth, frame.Below, frame);
                }
                if ((enabled & ~frame.Sleep & ~frame.Covered & Allowed(frame)) == 0)
                {
                    // Every task that may run here is asleep: this schedule's remaining interleavings were covered.
                    if (frame.Below is { } below)
                    {
                        // A partial pruning's summary is what runs below this state: it belongs to the parent's.
                        if (depth > 0)
                        {
                            _frames[depth - 1].Below?.AddAll(below);
                        }
                        ReturnSummary(below);
                        frame.Below = null;
                    }
                    _framePool.Push(frame);
                    SleepBlocked++;
                    result.Asleep++;
                    result.Transitions += depth;
                    return;
                }
                task = DefaultChoice(frame);
                frame.Task = task;
                frame.Done = 1UL << task;
                // A race-directed switch is an alternative whether or not a race between two ops added it: DPOR reverses
                // the latest race of the move (the walker's last op), and reaches the walker stopped right after its walk
                // only after every later reversal (docs/exploration.md, "Race-directed order"). More alternatives never
                // lose a schedule.
                frame.Backtrack = naive ? Allowed(frame) : (1UL << task) | frame.Directed;
                if (!naive && RecordedNext() is var recorded and >= 0 && recorded != task && (enabled & ~frame.Sleep & (1UL << recorded)) != 0)
                {
                    // The bound kept this schedule from following the recorded order here; with one more preemption it
                    // would, as a search restarted with the larger bound does.
                    frame.Backtrack |= 1UL << recorded;
                }
                _frames.Add(frame);
            }
            while (true)
            {
                var frame = _frames[depth];
                if (sleep)
                {
                    _childSleep = ChildSleep(frame, task);
                }
                int cost = Cost(frame, task);
                int last = _lastTask;
                _preemptions += cost;
                _lastTask = task;
                var outcome = Step(task, depth, dpor);
                if (outcome == StepOutcome.Ran)
                {
                    break;
                }
                // The model refused the op in this state: the task is not enabled here (docs/exploration.md,
                // "Enabledness"), and this run goes on with another choice at the same state. A refused primitive took
                // nothing (the engine checks before it applies); a step may have applied part of itself before the
                // refusal, so the state is rebuilt by running the prefix again.
                result.Refused++;
                result.RefusedExample ??= InconsistentMessage();
                bool rebuild = outcome == StepOutcome.Infeasible;
                if (rebuild)
                {
                    result.Transitions += depth + 1;
                }
                else
                {
                    _preemptions -= cost;
                    _lastTask = last;
                }
                ulong bit = 1UL << task;
                frame.Enabled &= ~bit;
                frame.Done |= bit;
                // LastEnabled stays: what a switch costs must not depend on which refusals this run happened to learn
                // (a refusal is known only once tried), or the same schedule would cost differently in different runs.
                if (naive)
                {
                    frame.Backtrack = Allowed(frame) | frame.Done;
                }
                else if (!fresh)
                {
                    // A backtrack alternative that turned out not to be enabled: Flanagan–Godefroid's fallback, every
                    // enabled task (the one that leads to the reversal is among them).
                    frame.Backtrack |= frame.Enabled;
                }
                ulong open = (fresh ? frame.Enabled & ~frame.Sleep & Allowed(frame) : frame.Backtrack & ~frame.Done & ~frame.Sleep & Allowed(frame)) & ~frame.Covered;
                if (open == 0)
                {
                    if (fresh && frame.Enabled != 0)
                    {
                        // What may still run here is asleep: covered elsewhere.
                        SleepBlocked++;
                        result.Asleep++;
                    }
                    else
                    {
                        // Every enabled task's op is refused here (fresh), or no alternative is left at the state this
                        // run was sent to: nothing more to run from here.
                        result.Infeasible++;
                        result.InfeasibleExample ??= InconsistentMessage();
                    }
                    result.Transitions += depth;
                    return;
                }
                task = fresh ? DefaultChoice(frame) : Pick(frame, open);
                frame.Task = task;
                frame.Done |= 1UL << task;
                if (fresh && !naive)
                {
                    frame.Backtrack |= 1UL << task;
                }
                if (rebuild)
                {
                    ReplayPrefix(depth, dpor, sleep);
                }
            }
            depth++;
        }
        result.Transitions += depth;
        Complete(result);
    }

    /// <summary>Brings the engine (and the happens-before bookkeeping) back to the state before frame
    /// <paramref name="depth"/>: reset, then the frames' choices again (deterministic, so the same states).</summary>
    private void ReplayPrefix(int depth, bool dpor, bool sleep)
    {
        Reset();
        _childSleep = 0;
        for (int d = 0; d < depth; d++)
        {
            var frame = _frames[d];
            int task = frame.Task;
            if (sleep)
            {
                _childSleep = ChildSleep(frame, task);
            }
            _preemptions += Cost(frame, task);
            _lastTask = task;
            var outcome = Step(task, d, dpor);
            Debug.Assert(outcome == StepOutcome.Ran, "replaying a prefix reaches the same states");
        }
    }

    /// <summary>What each unfinished task waits for: the lock or section it is parked on, or the ops of other tasks its
    /// next op needs first (feasibility).</summary>
    private string DeadlockMessage()
    {
        var parts = new List<string>();
        for (int t = 0; t < _n; t++)
        {
            if (_engine.IsBlocked(_tids[t]))
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{_tids[t]} parked in {OpSpec.NameOf(_current[t].Kind)} on {_engine.BlockedOn(_tids[t])}"));
            }
            else if (_pos[t] < _programs[t].Length)
            {
                var waits = _need[t][_pos[t]].Where(w => _pos[w.Task] < w.Count)
                    .Select(w => string.Create(CultureInfo.InvariantCulture, $"{_tids[w.Task]}'s op {w.Count} (at {_pos[w.Task]})"));
                parts.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{_tids[t]}'s op {_pos[t] + 1} ({OpSpec.NameOf(_programs[t][_pos[t]].Kind)}) needs {string.Join(", ", waits)}"));
            }
        }
        return string.Join("; ", parts);
    }

    private string InconsistentMessage()
    {
        var findings = _engine.Findings;
        return findings.Count > 0 && findings[^1].Class == FindingClass.Inconsistent ? findings[^1].Message : "an op the model refused";
    }

    private int DefaultChoice(Frame frame)
    {
        ulong awake = frame.Enabled & ~frame.Sleep & ~frame.Covered & Allowed(frame);
        int recorded = RecordedNext();
        if (recorded >= 0 && (awake & (1UL << recorded)) != 0)
        {
            return recorded;
        }
        if (frame.LastEnabled && (awake & (1UL << frame.LastTask)) != 0)
        {
            return frame.LastTask;
        }
        return BitOperations.TrailingZeroCount(awake);
    }

    /// <summary>Footprints of each enabled task's next op here, each joined with what parked steps may do when they
    /// resume, into the frame's (reused) footprints.</summary>
    private void FillNextFootprints(Frame frame, ulong enabled)
    {
        PendingFootprints();
        frame.Next ??= _nextPool.Count > 0 ? _nextPool.Pop() : new Footprint[_n];
        for (ulong rest = enabled; rest != 0; rest &= rest - 1)
        {
            int t = BitOperations.TrailingZeroCount(rest);
            NextFootprint(t, frame.Next[t] ??= new Footprint());
        }
    }

    /// <summary>What the parked tasks' steps may do when they resume, into <c>_pendingNext</c>.</summary>
    private void PendingFootprints()
    {
        _pendingNext.Clear();
        for (int b = 0; b < _n; b++)
        {
            if (_engine.IsBlocked(_tids[b]))
            {
                _scratchFp.Of(_current[b], _engine, _cpus);
                _pendingNext.AddAll(_scratchFp);
            }
        }
    }

    /// <summary>Task <paramref name="t"/>'s next op's footprint here, joined with <c>_pendingNext</c>
    /// (<see cref="PendingFootprints"/>), into <paramref name="fp"/>.</summary>
    private void NextFootprint(int t, Footprint fp)
    {
        var op = _programs[t][_pos[t]];
        fp.Of(op, _engine, _cpus);
        if (_link[t][_pos[t]] >= 0 && _engine.TableOwner(op.Table) is var owner and not 0)
        {
            // It may follow another table of the same mm in this schedule.
            fp.Add(Footprint.Obj.Tables, owner, write: false);
        }
        fp.AddAll(_pendingNext);
    }

    /// <summary>Frames from <paramref name="from"/> on are done with: back to the pool (with their footprints).</summary>
    private void DropFrames(int from)
    {
        for (int i = _frames.Count - 1; i >= from; i--)
        {
            var frame = _frames[i];
            if (_bound < _options.Bound && !_workListFull && (frame.Backtrack & ~frame.Done & ~frame.Sleep & ~frame.Covered & frame.Enabled & ~Allowed(frame)) != 0 && _deferredSet.Add(frame))
            {
                // Alternatives the bound forbids now: the next round starts here (the frame and the path to it are kept).
                // In the last round there is no next one.
                _deferred.Add(new Deferred(frame, -1, null, 0));
                Keep(frame);
            }
            if (frame.Below is { } below)
            {
                if (i > 0)
                {
                    _frames[i - 1].Below?.AddAll(below);
                }
                frame.Below = null;
                below.OnPath = false;
                if (frame.Round == _bound)
                {
                    // Everything below this state within this round's bound has been explored: later runs that reach
                    // an equivalent state may stop there.
                    // A state recorded before under the same key stays counted (and queued) until it is forgotten:
                    // prefixes pruned against it still hold it.
                    var seen = new Seen(frame.Key, frame.KeyAnyLast, frame.LastTask, frame.LastEnabled, _bound - frame.Preemptions, frame.Sleep, below, frame.Digest) { Bytes = below.Bytes };
                    _visited[frame.Key] = seen;
                    _visitedAnyLast[frame.KeyAnyLast] = seen;
                    _visitedOrder.Enqueue(seen);
                    _cacheBytes += seen.Bytes;
                    frame.Seen = frame.Kept ? seen : null;
                    Evict();
                    PeakStateCacheBytes = Math.Max(PeakStateCacheBytes, _cacheBytes);
                }
                else if (frame.Seen is { Below: { } recorded } seen && ReferenceEquals(recorded, below))
                {
                    // A state recorded in an earlier round grew continuations in this one.
                    long bytes = below.Bytes;
                    _cacheBytes += bytes - seen.Bytes;
                    seen.Bytes = bytes;
                    Evict();
                    PeakStateCacheBytes = Math.Max(PeakStateCacheBytes, _cacheBytes);
                }
                else
                {
                    ReturnSummary(below);
                }
            }
            if (frame.Kept)
            {
                // Kept for the next round: the footprints are recomputed if the frame becomes a choice point again, and
                // their objects serve the next new frame (a kept frame lives for the round; what it dropped would be
                // old-generation garbage that only a full collection returns).
                if (frame.Next is { } next)
                {
                    _nextPool.Push(next);
                    frame.Next = null;
                }
            }
            else
            {
                _framePool.Push(frame);
            }
        }
        _frames.RemoveRange(from, _frames.Count - from);
    }

    /// <summary>
    /// Sleep set below a frame when <paramref name="task"/> runs: asleep or already-explored tasks whose next op commutes
    /// with it. Under a preemption bound an explored alternative u may only sleep when every schedule it stands for
    /// (u moved to the front: u, task, …) costs no more preemptions than the schedule it prunes (task, …, u, …); moving u
    /// later never lowers the cost of what follows, so the test is on the frame alone: cost(last→u) + cost(u→task) ≤
    /// cost(last→task). That holds when u is the task that was running (u continuing then switching costs the one
    /// preemption that switching to task costs) or when u's op ends its program; otherwise u stays awake. The first case
    /// also needs the same tasks enabled afterwards in both orders, so it does not apply when either op may park its task
    /// or resume a parked one (<see cref="MayBlockOrWake"/>).
    /// </summary>
    private ulong ChildSleep(Frame frame, int task)
    {
        if (!frame.HasNext || frame.Next is null)
        {
            return 0;
        }
        if (_mayGlue is not null && _mayGlue[task][_pos[task]])
        {
            // The step may take a conditional free with it: its footprint is known only once it ran.
            return 0;
        }
        ulong sleeping = 0;
        var chosen = frame.Next[task]!;
        int direct = Cost(frame, task);
        for (ulong rest = (frame.Sleep | frame.Done) & ~(1UL << task) & frame.Enabled; rest != 0; rest &= rest - 1)
        {
            int u = BitOperations.TrailingZeroCount(rest);
            if (frame.Next[u] is not { } fp || fp.ConflictsWith(chosen) || (_mayGlue is not null && _mayGlue[u][_pos[u]])
                || _futureNeed[task][_pos[task]][u] > _pos[u] || _futureNeed[u][_pos[u]][task] > _pos[task])
            {
                continue;
            }
            if ((frame.Sleep & (1UL << u)) == 0)
            {
                // u ran here first: its subtree holds (u, task, …) only within the bound.
                int viaU = Cost(frame, u) + (_pos[u] + 1 < _programs[u].Length ? 1 : 0);
                if (viaU > direct)
                {
                    continue;
                }
                if (_pos[u] + 1 < _programs[u].Length && (MayBlockOrWake(_programs[u][_pos[u]].Kind) || MayBlockOrWake(_programs[task][_pos[task]].Kind)))
                {
                    // The cost argument needs the same tasks enabled along the rest of the schedule whether u runs
                    // first or later; an op that may park its task (a lock held elsewhere) or wake a parked one moves
                    // that. Measured: r1-pmd's "mremap parks on migration's rmap lock" interleavings (2 of 133) were
                    // lost without this test.
                    continue;
                }
            }
            sleeping |= 1UL << u;
        }
        return sleeping;
    }

    private enum StepOutcome
    {
        Ran,
        // A primitive the model refused without changing its state: taken back, the task is not enabled here.
        Refused,
        // Refused inside a kernel step, or with parked tasks moved: the schedule cannot go on.
        Infeasible,
    }

    /// <summary>Runs task <paramref name="task"/>'s next op as transition <paramref name="index"/>.</summary>
    private StepOutcome Step(int task, int index, bool dpor)
    {
        int local = _pos[task];
        var op = Resolve(task, local, out bool skip);
        _fp.Of(op, _engine, _cpus);
        ulong blocked = 0;
        for (int b = 0; b < _n; b++)
        {
            if (b != task && _engine.IsBlocked(_tids[b]))
            {
                blocked |= 1UL << b;
                _pending[b].Of(_current[b], _engine, _cpus);
                _microBefore[b] = _engine.MicroPosition(_tids[b]);
            }
        }
        int inconsistent = _engine.InconsistentCount;
        if (!skip)
        {
            _engine.Execute(op);
            _schedule.Add(op);
        }
        ulong resumed = 0;
        for (ulong rest = blocked; rest != 0; rest &= rest - 1)
        {
            int b = BitOperations.TrailingZeroCount(rest);
            if (!_engine.IsBlocked(_tids[b]) || _engine.MicroPosition(_tids[b]) != _microBefore[b])
            {
                resumed |= 1UL << b;
            }
        }
        bool refused = _engine.InconsistentCount != inconsistent;
        if (refused && resumed == 0 && !OpSpec.IsKernelStep(op.Kind) && !_engine.IsBlocked(_tids[task]))
        {
            // The engine refuses a primitive before applying it ("the model unchanged"): nothing of it happened.
            _schedule.RemoveAt(_schedule.Count - 1);
            return StepOutcome.Refused;
        }
        _current[task] = op;
        _pos[task]++;
        SignStep(task, op, resumed);
        for (ulong rest = resumed; rest != 0; rest &= rest - 1)
        {
            _fp.AddAll(_pending[BitOperations.TrailingZeroCount(rest)]);
        }
        Record(task, index, resumed, dpor);
        int ran = _pos[task] - 1;
        if (_caching)
        {
            _frames[index].Below?.Add(_fp, task);
        }
        if (_glued is not null && !refused)
        {
            RunGlued(task, index);
        }
        if (dpor)
        {
            for (int k = ran; k < _pos[task]; k++)
            {
                EnablingAlternatives(task, k, index);
            }
        }
        return refused ? StepOutcome.Infeasible : StepOutcome.Ran;
    }

    /// <summary>
    /// Runs the invisible page ops that follow <paramref name="task"/>'s op in the same step (docs/exploration.md, DPOR,
    /// "Invisible page ops"). Not when the op left the task parked: the page op then waits for its own turn, as without
    /// the reduction. One the model refuses is taken back and left to run as an op of its own, where the refusal is
    /// handled as any other. A conditional free runs with them when nothing can reach its frame now; its accesses are
    /// then the step's (races, clocks); where its frame can still be reached it waits for its own turn.
    /// </summary>
    private void RunGlued(int task, int index)
    {
        var glued = _glued![task];
        bool evaluated = false;
        while (_pos[task] < glued.Length && !_engine.IsBlocked(_tids[task]))
        {
            int k = _pos[task];
            bool conditional = _conditional is not null && _conditional[task][k];
            if (!glued[k] && !conditional)
            {
                return;
            }
            var op = _programs[task][k];
            if (op.Kind == OpKind.CtxSwitch && _engine.LoadedMm(op.Cpu) != op.Mm)
            {
                // Not the switch that changes nothing GluedOps found it to be (it cannot be: only the task's own ops
                // switch this CPU); it runs as a step of its own, where its races are seen.
                return;
            }
            if (conditional)
            {
                if (!evaluated)
                {
                    ReachableFrames(task, k);
                    evaluated = true;
                }
                if (_liveFrames.Contains(op.Pfn))
                {
                    // The free runs as a step of its own. What the step read to decide so is not part of its
                    // footprint: unreachability is stable (docs/exploration.md, "Frees of pages unmapped and flushed
                    // in the window"), so an op of another task that makes the frame unreachable after this step only
                    // moves the point where the free could glue, and the order where that op runs first reaches the
                    // same interleaving as this one with the free after that op.
                    return;
                }
            }
            _glueFp.Of(op, _engine, _cpus);
            int inconsistent = _engine.InconsistentCount;
            _engine.Execute(op);
            if (_engine.InconsistentCount != inconsistent)
            {
                return;
            }
            _schedule.Add(op);
            _current[task] = op;
            _pos[task]++;
            if (conditional)
            {
                GluedFrees++;
                RecordGlued(task, index, _glueFp);
            }
            else
            {
                // Its objects are touched by no other task: no race and no clock to join, but they are part of the
                // interleaving's and the state's identity (the same as when the op runs as a step of its own) and of
                // what ran below the frame.
                Sign(_glueFp, task);
            }
            if (_caching)
            {
                _frames[index].Below?.Add(_glueFp, task);
            }
        }
    }

    /// <summary>
    /// The frames of the conditional frees in the chain of glued ops from <paramref name="task"/>'s op
    /// <paramref name="from"/> on that something can still reach now (<see cref="_liveFrames"/>): a slot of the start
    /// state still maps it, or a CPU holds a TLB entry of it that is not dead (<see cref="ReplayEngine.LiveTlbEntries"/>).
    /// The chain runs only page allocations and frees, switches that change nothing and a task's own mmap_lock ops, which
    /// change neither, so one look serves it whole.
    /// </summary>
    private void ReachableFrames(int task, int from)
    {
        _liveFrames.Clear();
        _chainFrames.Clear();
        var program = _programs[task];
        for (int k = from; k < program.Length && (_glued![task][k] || _conditional![task][k]); k++)
        {
            if (_conditional![task][k])
            {
                _chainFrames.Add(program[k].Pfn);
            }
        }
        foreach (ulong pfn in _chainFrames)
        {
            if (_startSlots.TryGetValue(pfn, out var slots))
            {
                foreach (var (table, index) in slots)
                {
                    long e = _engine.EntryOf(table, index);
                    if (EntryValue.KindOf(e) == EntryKind.Leaf && pfn - (ulong)EntryValue.Payload(e) < 512UL * 512)
                    {
                        _liveFrames.Add(pfn);
                    }
                }
            }
        }
        _chainFrames.Sort();
        _engine.LiveTlbEntries([.. _chainFrames.Distinct()], pfn => _liveFrames.Add(pfn));
    }

    /// <summary>
    /// The op as the kernel would run it now (docs/exploration.md, "Operands"): a walker that uses the table its own
    /// lockless read returned follows what that read returns in this schedule (another table, or nothing: it stops);
    /// an rmap walk finds the page where a VMA of its rmap object maps it now, and the unmap that follows uses that address.
    /// </summary>
    private Op Resolve(int task, int local, out bool skip)
    {
        skip = false;
        var op = _programs[task][local];
        int link = _link[task][local];
        if (link >= 0)
        {
            long seen = _readValue[task][link];
            if (seen != EntryValue.Table(op.Table))
            {
                if (EntryValue.KindOf(seen) == EntryKind.Table)
                {
                    op.Table = (int)EntryValue.Payload(seen);
                }
                else
                {
                    // The walker saw no table there (none, a huge leaf, a swap entry): it does not descend.
                    skip = true;
                }
            }
        }
        switch (op.Kind)
        {
            case OpKind.EntryRead when op.Table == 0 && op.Mm != 0:
                _readValue[task][local] = _engine.EntryNow(op.Mm, op.Va, op.Level);
                break;
            case OpKind.TtuStart:
                _walkRmap[task] = op.Obj;
                _walkMove[task] = default;
                break;
            case OpKind.TtuWalk:
                {
                    _walkMove[task] = default;
                    long now = _engine.EntryNow(op.Mm, op.Va, op.Level);
                    ulong size = 1UL << (12 + (9 * (int)op.Level));
                    if (!(EntryValue.KindOf(now) == EntryKind.Leaf && (ulong)EntryValue.Payload(now) == op.Pfn)
                        && _engine.TryFindMapping(op.Mm, op.Pfn, _walkRmap[task], out ulong at) && at != (op.Va & ~(size - 1)))
                    {
                        ulong to = at | (op.Va & (size - 1));
                        _walkMove[task] = (op.Mm, op.Pfn, op.Va, to);
                        op.Va = to;
                    }
                    break;
                }
            case OpKind.TtuUnmap:
            case OpKind.TtuMlockCheck:
            case OpKind.TtuMlockSet:
            case OpKind.TtuMlockPage:
                {
                    var move = _walkMove[task];
                    if (move.Mm != 0 && move.Mm == op.Mm && move.Pfn == op.Pfn && move.From == op.Va)
                    {
                        op.Va = move.To;
                    }
                    break;
                }
            case OpKind.TtuEnd:
                _walkMove[task] = default;
                break;
            default:
                break;
        }
        return op;
    }

    /// <summary>
    /// Adds the step's accesses to the interleaving key. A lock primitive that parks its task (the lock is held
    /// elsewhere) has done nothing yet: its accesses enter the key where it completes, in the step that hands it the
    /// lock, after that step's own and under the parked task's item, so that parking and then being handed the lock has
    /// the key of taking it right after that step (the run's trace, in which a blocked lock is not a transition). Other
    /// parking ops (kernel steps part-way, IPI and grace-period waits) may have acted before they park: they keep their
    /// footprint at both points, the resumed part under the resuming task's item.
    /// </summary>
    private void SignStep(int task, in Op op, ulong resumed)
    {
        _signFp.Clear();
        if (!_engine.IsBlocked(_tids[task]) || !IsLockAcquire(op.Kind))
        {
            _signFp.AddAll(_fp);
        }
        ulong handed = 0;
        for (ulong rest = resumed; rest != 0; rest &= rest - 1)
        {
            int b = BitOperations.TrailingZeroCount(rest);
            if (!IsLockAcquire(_current[b].Kind))
            {
                _signFp.AddAll(_pending[b]);
            }
            else
            {
                handed |= 1UL << b;
            }
        }
        Sign(_signFp, task);
        for (ulong rest = handed; rest != 0; rest &= rest - 1)
        {
            int b = BitOperations.TrailingZeroCount(rest);
            Sign(_pending[b], b);
        }
    }

    private static bool IsLockAcquire(OpKind kind) =>
        kind is OpKind.MmapLock or OpKind.VmaLock or OpKind.RmapLock or OpKind.PtlLock or OpKind.PageLock;

    private void Sign(Footprint fp, int task)
    {
        for (int i = 0; i < fp.Count; i++)
        {
            Signature(fp.Key(i), fp.Write(i), task);
        }
    }

    /// <summary>Happens-before bookkeeping (vector clocks over the footprints) and, for DPOR, the races that add backtrack points.</summary>
    private void Record(int task, int index, ulong resumed, bool dpor)
    {
        var mine = _clock[task];
        Array.Copy(mine, _before, _n);
        int race = -1;
        // Clock arrays are kept across schedules: transition index i always uses the i-th.
        if (index == _vc.Count)
        {
            _vc.Add(new int[_n]);
        }
        int[] vc = _vc[index];
        Array.Copy(mine, vc, _n);
        race = Accesses(_fp, task, index, mine, vc, race);
        vc[task] = mine[task] + 1;
        Array.Copy(vc, mine, _n);
        for (ulong rest = resumed; rest != 0; rest &= rest - 1)
        {
            Join(_clock[BitOperations.TrailingZeroCount(rest)], vc);
        }
        _transitionTask.Add(task);
        if (dpor && race >= 0)
        {
            AddBacktrack(race, task, index, _pos[task] - 1);
        }
    }

    /// <summary>
    /// The accesses of a conditional free that ran in transition <paramref name="index"/>'s step (or what the step read to
    /// leave it out), recorded as the step's: races with other tasks' earlier accesses add backtrack points, their
    /// clocks join the step's.
    /// </summary>
    private void RecordGlued(int task, int index, Footprint fp)
    {
        int[] vc = _vc[index];
        int race = Accesses(fp, task, index, _before, vc, -1);
        Sign(fp, task);
        Array.Copy(vc, _clock[task], _n);
        if (race >= 0)
        {
            AddBacktrack(race, task, index, _pos[task] - 1);
        }
    }

    /// <summary>Records <paramref name="fp"/>'s accesses as transition <paramref name="index"/>'s (task's clock before it:
    /// <paramref name="mine"/>), joining the clocks of what they depend on into <paramref name="vc"/>; returns the latest
    /// racing transition (or <paramref name="race"/>).</summary>
    private int Accesses(Footprint fp, int task, int index, int[] mine, int[] vc, int race)
    {
        for (int i = 0; i < fp.Count; i++)
        {
            long key = fp.Key(i);
            bool write = fp.Write(i);
            if (!_resources.TryGetValue(key, out var res))
            {
                res = _resourcePool.Count > 0 ? _resourcePool.Pop() : new Resource();
                res.LastWrite = -1;
                _resources.Add(key, res);
            }
            if (res.LastWrite >= 0)
            {
                race = Math.Max(race, Racing(res.LastWrite, task, mine));
                Join(vc, _vc[res.LastWrite]);
            }
            if (write)
            {
                foreach (int r in res.Reads)
                {
                    race = Math.Max(race, Racing(r, task, mine));
                    Join(vc, _vc[r]);
                }
                res.Reads.Clear();
                res.LastWrite = index;
            }
            else
            {
                res.Reads.Add(index);
            }
        }
        return race;
    }

    /// <summary><paramref name="j"/> if it is another task's transition that does not happen before <paramref name="task"/>'s next op, else -1.</summary>
    private int Racing(int j, int task, int[] clock)
    {
        int other = _transitionTask[j];
        return other != task && _vc[j][other] > clock[other] ? j : -1;
    }

    private static void Join(int[] into, int[] from)
    {
        for (int i = 0; i < into.Length; i++)
        {
            if (from[i] > into[i])
            {
                into[i] = from[i];
            }
        }
    }

    /// <summary>The place of <paramref name="task"/>'s next op in its program, or -1 when it has none or is parked inside
    /// an op (whose rest may make the access): an access that a pruned run's summary holds for the task is made by that
    /// op or a later one, so that op's needs come first.</summary>
    private int NextLocal(int task) =>
        _pos[task] < _programs[task].Length && !_engine.IsBlocked(_tids[task]) ? _pos[task] : -1;

    /// <summary>
    /// <paramref name="task"/>'s op <paramref name="local"/>, run at frame <paramref name="j"/>, is the last one an op of another task waits
    /// for (a feasibility need): that task, if enabled here, is also tried here and at the start of this block. A need is
    /// an enabling dependence the footprints do not show: the op commutes with the waiting task's ops, so no race reverses
    /// them, and without a preemption bound every order is still reached. Under the bound it is not: with the waiting task
    /// run first, up to its op that waits, switching away from it is free (it is disabled), so schedules that preempt
    /// this task here reach interleavings within the bound that the orders DPOR explores need more preemptions for
    /// (docs/exploration.md, DPOR, "Enabling dependences under the bound").
    /// </summary>
    private void EnablingAlternatives(int task, int local, int j)
    {
        var enabled = _enables[task][local];
        if (enabled.Length == 0)
        {
            return;
        }
        int c = j;
        while (c > 0 && _frames[c].LastTask == _frames[c].Task)
        {
            c--;
        }
        foreach (var (t, last) in enabled)
        {
            if (_pos[t] <= last)
            {
                ulong bit = 1UL << t;
                _frames[j].Backtrack |= _frames[j].Enabled & bit;
                _frames[c].Backtrack |= _frames[c].Enabled & bit;
            }
        }
    }

    private void AddBacktrack(int j, int task, int index, int local = -1)
    {
        AddAt(j, task, index, local);
        // Bounded search: the reversal may need the switch to happen at the start of the block j belongs to.
        int c = j;
        while (c > 0 && _frames[c].LastTask == _frames[c].Task)
        {
            c--;
        }
        if (c != j)
        {
            AddAt(c, task, index, local);
        }
    }

    /// <summary>
    /// Flanagan–Godefroid's backtrack rule at frame <paramref name="j"/> for <paramref name="task"/>'s op at transition
    /// <paramref name="index"/>: the task itself when it was enabled there; else one enabled task with a transition after
    /// <paramref name="j"/> that happens before the op (running it first is the way towards the reversal); only when
    /// there is none, every enabled task. With <paramref name="local"/> (the op's place in its program, when the op ran
    /// at <paramref name="index"/>), "happens before" includes the feasibility needs of the task's ops from its next op
    /// at <paramref name="j"/> up to this one (docs/exploration.md, DPOR: "Needs pick the way towards a reversal").
    /// </summary>
    private void AddAt(int j, int task, int index, int local = -1)
    {
        var frame = _frames[j];
        int pick = -1;
        if ((frame.Enabled & (1UL << task)) != 0)
        {
            pick = task;
        }
        else
        {
            var needed = _neededCount;
            Array.Clear(needed);
            if (local >= 0)
            {
                // A task disabled at j waits for what its ops up to this one need (a feasibility need is an order every
                // explored schedule keeps, as a lock hand-over is): the needed ops of another task that ran after j come
                // before this op in every schedule that runs it, as the ops the clocks order before it do.
                int first = local;
                for (int k = j + 1; k < index; k++)
                {
                    if (_transitionTask[k] == task)
                    {
                        first--;
                    }
                }
                for (int l = Math.Max(first, 0); l <= local; l++)
                {
                    foreach (var (q, count) in _need[task][l])
                    {
                        needed[q] = Math.Max(needed[q], count);
                    }
                }
            }
            int o = _transitionTask[j];
            if (local >= 0 && needed[o] >= _vc[j][o])
            {
                // The op needs j's op itself (or a later op of its task): the two are never enabled together, so no
                // schedule reverses them (Flanagan–Godefroid race only ops that may be co-enabled), here or at the
                // start of j's block, which precedes j in the same task.
                return;
            }
            for (int k = j + 1; k < index; k++)
            {
                int q = _transitionTask[k];
                if (q != task && (frame.Enabled & (1UL << q)) != 0 && (_vc[k][q] <= _before[q] || _vc[k][q] <= needed[q]))
                {
                    pick = q;
                    break;
                }
            }
        }
        if (pick >= 0 && (frame.Backtrack & (1UL << pick)) != 0)
        {
            return;
        }
        if (SourceSets && pick != (frame.LastEnabled ? frame.LastTask : -1) && (frame.Backtrack & frame.Enabled & ~(1UL << frame.Task) & Initials(j, index)) != 0)
        {
            // Source sets (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014): an alternative already chosen here is an
            // initial of the reversal — a task whose first op after j that does not depend on j's op depends on no other
            // such op — so the schedules it explores include one equivalent to the reversal. Under the preemption bound
            // only when it costs no more to start with than the task the rule would add (that task is not the one that
            // was running).
            return;
        }
        frame.Backtrack |= pick >= 0 ? 1UL << pick : frame.Enabled;
    }

    /// <summary>Tasks whose first transition in (j, index) that does not happen after transition j has no such transition
    /// of another task happening before it: the initials of the sequence a reversal of j's race runs first. Happens-before
    /// is taken from the run's clocks, which over-approximate the reversed run's, so the set may be smaller, never
    /// larger, than the true one.</summary>
    private ulong Initials(int j, int index)
    {
        int tj = _transitionTask[j];
        int mark = _vc[j][tj];
        Array.Fill(_firstAfter, -1);
        ulong seen = 1UL << tj;
        for (int k = j + 1; k < index; k++)
        {
            int t = _transitionTask[k];
            if ((seen & (1UL << t)) != 0 || _vc[k][tj] >= mark)
            {
                continue;
            }
            seen |= 1UL << t;
            _firstAfter[t] = k;
        }
        ulong initials = 0;
        for (int p = 0; p < _n; p++)
        {
            int kp = _firstAfter[p];
            if (kp < 0)
            {
                continue;
            }
            bool first = true;
            for (int r = 0; r < _n && first; r++)
            {
                int kr = _firstAfter[r];
                if (r != p && kr >= 0 && kr < kp && _vc[kp][r] >= _vc[kr][r])
                {
                    first = false;
                }
            }
            if (first)
            {
                initials |= 1UL << p;
            }
        }
        return initials;
    }

    /// <summary>The Mazurkiewicz trace of a run: per object, the order of conflicting accesses (reads between two writes as a set).</summary>
    private void Signature(long key, bool write, int task)
    {
        ulong item = Mix(((ulong)(uint)task << 32) | (uint)_pos[task]);
        bool known = _sigState.TryGetValue(key, out var state);
        ulong old = known ? Mix((ulong)key ^ Mix(state.Hash ^ state.Reads)) : 0;
        if (write)
        {
            state.Hash = Mix(state.Hash ^ state.Reads ^ Mix(item + 1));
            state.Reads = 0;
        }
        else
        {
            state.Reads += item;
        }
        _sigState[key] = state;
        _prefixSig += Mix((ulong)key ^ Mix(state.Hash ^ state.Reads)) - old;
    }

    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>A schedule that ran to the end (DPOR's or PCT's): counted, then judged.</summary>
    private void Complete(ExploreResult result)
    {
        result.Complete++;
        var findings = new List<Finding>();
        if (Unfinished())
        {
            // Every remaining task waits: keep what was found before, skip the quiescence checks.
            result.Deadlocked++;
            result.DeadlockExample ??= DeadlockMessage();
            findings.AddRange(_engine.Findings);
        }
        else
        {
            findings.AddRange(_engine.Finish().Findings);
        }
        ulong choices = 0;
        foreach (var frame in _frames)
        {
            choices = Mix(choices ^ (ulong)frame.Task);
        }
        if (_options.Strategy != ExploreStrategy.Pct && !_choiceSequences.Add(choices))
        {
            RepeatedSchedules++;
        }
        foreach (var (key, state) in _sigState)
        {
            _signature += Mix((ulong)key ^ Mix(state.Hash ^ state.Reads));
        }
        if (_traces.Add(_signature))
        {
            OnNewTrace?.Invoke(_signature, _frames.Select(f => f.Task).ToArray(), _preemptions);
        }
        foreach (var finding in findings)
        {
            if (finding.Class != FindingClass.Race)
            {
                continue;
            }
            string key = string.Create(CultureInfo.InvariantCulture,
                $"{finding.Checker}|{finding.Race}|{finding.Mm}|{finding.Va & ~0xFFFUL:x}|{finding.Pfn:x}");
            if (_violations.TryGetValue(key, out var known) && known.Preemptions <= _preemptions)
            {
                continue;
            }
            if (known is null)
            {
                _violationOrder.Add(key);
            }
            _violations[key] = new ExploreViolation(key, finding, _preemptions, result.Schedules, [.. _schedule], _comms);
        }
    }

    /// <summary>PCT: random distinct priorities, d-1 random change points over the k steps; the highest-priority enabled task runs.</summary>
    private void RunPct(ExploreResult result, long runs, Stopwatch clock, CancellationToken cancellationToken)
    {
        int depth = _options.Bound + 1;
        int k = Math.Max(1, _trace.Count);
        result.PctRunProbability = 1.0 / (Math.Max(1, _n) * Math.Pow(k, depth - 1));
        var rng = new Prng(_options.Seed);
        var priority = new int[_n];
        var changes = new int[Math.Max(0, depth - 1)];
        for (long run = 0; run < runs; run++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (OutOfTime(clock))
            {
                result.StoppedBy = "time";
                return;
            }
            // Priorities d..d+n-1 in random order (Fisher–Yates); change point i lowers the running task to i.
            for (int t = 0; t < _n; t++)
            {
                priority[t] = depth + t;
            }
            for (int t = _n - 1; t > 0; t--)
            {
                int s = rng.Next(t + 1);
                (priority[t], priority[s]) = (priority[s], priority[t]);
            }
            for (int i = 0; i < changes.Length; i++)
            {
                changes[i] = rng.Next(k);
            }
            Reset();
            result.Schedules++;
            _options.Progress?.Report(result.Schedules);
            int step = 0;
            bool feasible = true;
            while (true)
            {
                ulong enabled = EnabledMask();
                if (enabled == 0)
                {
                    break;
                }
                int best = -1;
                for (ulong rest = enabled; rest != 0; rest &= rest - 1)
                {
                    int t = BitOperations.TrailingZeroCount(rest);
                    if (best < 0 || priority[t] > priority[best])
                    {
                        best = t;
                    }
                }
                for (int i = 0; i < changes.Length; i++)
                {
                    if (changes[i] == step)
                    {
                        priority[best] = i + 1;
                    }
                }
                // A change point may have lowered the task that was about to run: pick again. A task whose op the
                // model refuses here is not enabled: the next in priority runs instead.
                var outcome = StepOutcome.Refused;
                while (outcome == StepOutcome.Refused && enabled != 0)
                {
                    int task = -1;
                    for (ulong rest = enabled; rest != 0; rest &= rest - 1)
                    {
                        int t = BitOperations.TrailingZeroCount(rest);
                        if (task < 0 || priority[t] > priority[task])
                        {
                            task = t;
                        }
                    }
                    // Frames are not kept for PCT; Step needs none without DPOR.
                    outcome = Step(task, step, dpor: false);
                    if (outcome == StepOutcome.Refused)
                    {
                        result.Refused++;
                        result.RefusedExample ??= InconsistentMessage();
                        enabled &= ~(1UL << task);
                        continue;
                    }
                    if (_lastTask >= 0 && task != _lastTask && (enabled & (1UL << _lastTask)) != 0)
                    {
                        _preemptions++;
                    }
                    _lastTask = task;
                }
                if (outcome != StepOutcome.Ran)
                {
                    result.InfeasibleExample ??= InconsistentMessage();
                    feasible = false;
                    break;
                }
                step++;
            }
            result.Transitions += step;
            if (!feasible)
            {
                result.Infeasible++;
                continue;
            }
            Complete(result);
        }
    }

    private sealed class Frame
    {
        public int Task;
        public ulong Sleep;
        // Footprints of the enabled tasks' next ops (when HasNext), kept with the frame when it goes back to the pool.
        public Footprint?[]? Next;
        public bool HasNext;
        public ulong Enabled;
        public ulong Backtrack;
        public ulong Done;
        public int Preemptions;
        // Tasks whose run here stops the task that ran last inside a stretch the window's race needs (RaceDirection):
        // tried before the other alternatives.
        public ulong Directed;
        public int LastTask;
        public bool LastEnabled;
        // On the path to a frame kept for the next round: never reused.
        public bool Kept;
        // The frame before it on the path, and the choice made there that led here (a kept path is followed back).
        public Frame? Parent;
        public int Via;
        public int Depth;
        // The state as recorded in the explored-state table (kept frames only): its summary grows in later rounds.
        public Seen? Seen;
        // State caching: the state's key, the bound of the round that created the frame, and what ran below it.
        public ulong Key;
        public ulong KeyAnyLast;
        // Tasks whose continuations from here an explored equivalent state covers (the same state reached with another
        // task running last): never chosen here.
        public ulong Covered;
        public ulong Digest;
        public int Round;
        public Summary? Below;
    }

    /// <summary>A state whose continuations within <see cref="Remaining"/> preemptions were explored, the tasks asleep
    /// there, and what ran below it.</summary>
    private sealed class Seen(ulong key, ulong keyAnyLast, int last, bool lastEnabled, int remaining, ulong sleep, Summary below, ulong digest)
    {
        public ulong Key { get; } = key;
        public ulong KeyAnyLast { get; } = keyAnyLast;

        /// <summary>The task that ran last, and whether it could go on (what a first switch from the state costs).</summary>
        public int Last { get; } = last;
        public bool LastEnabled { get; } = lastEnabled;

        public int Remaining { get; } = remaining;
        public ulong Sleep { get; } = sleep;
        public ulong Digest { get; } = digest;

        /// <summary>What ran below; null once the table forgot the state.</summary>
        public Summary? Below { get; set; } = below;

        /// <summary>What the summary counted for when last accounted.</summary>
        public long Bytes { get; set; }
    }

    /// <summary>An entry of the next round's work list: the frame at its end (null: the empty path), the choice there for
    /// a pruned prefix, the state it was pruned against and that state's summary version then.</summary>
    private readonly record struct Deferred(Frame? Leaf, int LeafTask, Seen? Hit, int Version, bool Partial = false);

    /// <summary>
    /// Per object, the tasks whose ops read and wrote it below a state, in the order the objects were first added. A flat
    /// open-addressing map instead of a Dictionary: merging a dropped frame's summary into its parent's is most of what a
    /// deep backtrack costs (docs/exploration.md, "Summary merges"), and the dictionary spent it on two lookups per changed
    /// entry and on growing (and collecting) its arrays. The first-insertion order is kept because <see cref="ApplyHit"/>
    /// adds backtrack points in that order and source sets make the result depend on it; the capacity grows through the
    /// same primes as the dictionary's did, so <see cref="Bytes"/>, and with it what the state table forgets, is unchanged.
    /// </summary>
    private sealed class Summary(SummaryArrays arrays)
    {
        private Entry[] _entries = [];
        // Index into the entries plus one (0: empty), a power of two at least twice the capacity: linear probing.
        private int[] _slots = [];
        private int _shift = 64;

        public int Count { get; private set; }

        /// <summary>Held by a frame on the current path (it may grow again, so a forgotten state does not free it).</summary>
        public bool OnPath { get; set; }

        /// <summary>The entries in first-insertion order.</summary>
        public ReadOnlySpan<Entry> Entries => _entries.AsSpan(0, Count);

        /// <summary>Memory the summary holds, per slot of its capacity: an entry (24 bytes) and its two to four index
        /// slots (8 to 16 bytes), counted as 40 as they were for the dictionary this replaced, plus the objects.</summary>
        public long Bytes => (_entries.Length * 40L) + 160;

        public void Clear()
        {
            if (Count > 0)
            {
                Array.Clear(_slots);
                Count = 0;
            }
            Version = 0;
        }

        /// <summary>Changes whenever an access is added: a prefix pruned against this state needs a new look only then.</summary>
        public int Version { get; private set; }

        public void Add(Footprint fp, int task)
        {
            ulong bit = 1UL << task;
            for (int i = 0; i < fp.Count; i++)
            {
                Set(fp.Key(i), fp.Write(i) ? 0 : bit, fp.Write(i) ? bit : 0);
            }
        }

        public void AddAll(Summary other)
        {
            var entries = other._entries;
            for (int i = 0; i < other.Count; i++)
            {
                ref readonly var e = ref entries[i];
                Set(e.Key, e.Readers, e.Writers);
            }
        }

        /// <summary>Adds readers and writers of an object (nothing when both are empty, as before).</summary>
        public void Set(long key, ulong readers, ulong writers)
        {
            if ((readers | writers) == 0)
            {
                return;
            }
            if (Count > 0)
            {
                int mask = _slots.Length - 1;
                for (int s = Home(key); ; s = (s + 1) & mask)
                {
                    int at = _slots[s] - 1;
                    if (at < 0)
                    {
                        break;
                    }
                    ref var e = ref _entries[at];
                    if (e.Key == key)
                    {
                        if ((readers & ~e.Readers) != 0 || (writers & ~e.Writers) != 0)
                        {
                            e.Readers |= readers;
                            e.Writers |= writers;
                            Version++;
                        }
                        return;
                    }
                }
            }
            if (Count == _entries.Length)
            {
                Grow();
            }
            _entries[Count] = new Entry(key, readers, writers);
            Count++;
            Place(key, Count);
            Version++;
        }

        private int Home(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> _shift);

        private void Place(long key, int slot)
        {
            int mask = _slots.Length - 1;
            int s = Home(key);
            while (_slots[s] != 0)
            {
                s = (s + 1) & mask;
            }
            _slots[s] = slot;
        }

        /// <summary>The next capacity as the dictionary chose it: the first prime of its table, then the prime at least
        /// twice the count.</summary>
        private void Grow()
        {
            int capacity = PrimeCapacity(_entries.Length == 0 ? 0 : 2 * Count);
            var entries = arrays.RentEntries(capacity);
            _entries.AsSpan(0, Count).CopyTo(entries);
            arrays.Return(_entries, _slots);
            _entries = entries;
            int size = (int)BitOperations.RoundUpToPowerOf2((uint)capacity * 2);
            _slots = arrays.RentSlots(size);
            _shift = 64 - BitOperations.Log2((uint)size);
            for (int i = 0; i < Count; i++)
            {
                Place(_entries[i].Key, i + 1);
            }
        }

        /// <summary>Gives the arrays back to the pool: the summary is not used again.</summary>
        public void Release()
        {
            arrays.Return(_entries, _slots);
            _entries = [];
            _slots = [];
            Count = 0;
        }

        // HashHelpers' table of primes (System.Private.CoreLib), which Dictionary grows through.
        private static readonly int[] Primes =
        [
            3, 7, 11, 17, 23, 29, 37, 47, 59, 71, 89, 107, 131, 163, 197, 239, 293, 353, 431, 521, 631, 761, 919,
            1103, 1327, 1597, 1931, 2333, 2801, 3371, 4049, 4861, 5839, 7013, 8419, 10103, 12143, 14591,
            17519, 21023, 25229, 30293, 36353, 43627, 52361, 62851, 75431, 90523, 108631, 130363, 156437,
            187751, 225307, 270371, 324449, 389357, 467237, 560689, 672827, 807403, 968897, 1162687, 1395263,
            1674319, 2009191, 2411033, 2893249, 3471899, 4166287, 4999559, 5999471, 7199369,
        ];

        internal static int PrimeCapacity(int min)
        {
            foreach (int prime in Primes)
            {
                if (prime >= min)
                {
                    return prime;
                }
            }
            // Beyond the table: the next odd prime p with (p - 1) % 101 != 0, as HashHelpers.GetPrime computes it.
            for (int i = min | 1; i < int.MaxValue; i += 2)
            {
                if (IsPrime(i) && (i - 1) % 101 != 0)
                {
                    return i;
                }
            }
            return min;
        }

        private static bool IsPrime(int candidate)
        {
            int limit = (int)Math.Sqrt(candidate);
            for (int divisor = 3; divisor <= limit; divisor += 2)
            {
                if (candidate % divisor == 0)
                {
                    return false;
                }
            }
            return true;
        }

        public struct Entry(long key, ulong readers, ulong writers)
        {
            public readonly long Key = key;
            public ulong Readers = readers;
            public ulong Writers = writers;
        }
    }

    /// <summary>
    /// Entry and index arrays by length, from summaries that grew or were forgotten. A summary's capacity grows through
    /// the same sizes whichever summary it follows, so a grown or forgotten one's arrays fit the next that grows; without
    /// the pool each state's summary left every smaller array it grew through (and each forgotten state its own) to the
    /// collector, most of a deep window's CPU (docs/exploration.md, "Summary merges"). Beyond
    /// <paramref name="maxBytes"/> held, returned arrays are left to the collector.
    /// </summary>
    private sealed class SummaryArrays(long maxBytes)
    {
        private readonly Dictionary<int, Stack<Summary.Entry[]>> _entries = [];
        private readonly Dictionary<int, Stack<int[]>> _slots = [];
        private long _bytes;

        public Summary.Entry[] RentEntries(int length)
        {
            if (_entries.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                _bytes -= length * 24L;
                return stack.Pop();
            }
            return new Summary.Entry[length];
        }

        public int[] RentSlots(int length)
        {
            if (_slots.TryGetValue(length, out var stack) && stack.Count > 0)
            {
                _bytes -= length * 4L;
                var slots = stack.Pop();
                Array.Clear(slots);
                return slots;
            }
            return new int[length];
        }

        public void Return(Summary.Entry[] entries, int[] slots)
        {
            if (entries.Length == 0 || _bytes + (entries.Length * 24L) + (slots.Length * 4L) > maxBytes)
            {
                return;
            }
            _bytes += (entries.Length * 24L) + (slots.Length * 4L);
            Push(_entries, entries);
            Push(_slots, slots);
        }

        private static void Push<T>(Dictionary<int, Stack<T[]>> pool, T[] array)
        {
            if (!pool.TryGetValue(array.Length, out var stack))
            {
                pool[array.Length] = stack = new Stack<T[]>();
            }
            stack.Push(array);
        }
    }

    private sealed class Resource
    {
        public int LastWrite;
        public readonly List<int> Reads = [];
    }
}
