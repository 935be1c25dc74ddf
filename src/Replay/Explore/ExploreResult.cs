using System.Globalization;

namespace Pipeline.Replay.Explore;

/// <summary>One distinct race instance an exploration reached, with its witness schedule.</summary>
public sealed class ExploreViolation
{
    internal ExploreViolation(string key, Finding finding, int preemptions, long foundInSchedule, Op[] schedule, IReadOnlyDictionary<int, string> comms)
    {
        Key = key;
        Finding = finding;
        Preemptions = preemptions;
        FoundInSchedule = foundInSchedule;
        Schedule = schedule;
        _comms = comms;
    }

    private readonly IReadOnlyDictionary<int, string> _comms;

    /// <summary>Identity of the race instance: checker, race, mm, page-aligned address and pfn.</summary>
    public string Key { get; }

    /// <summary>The finding as the engine made it in the witness schedule (its witness timeline included).</summary>
    public Finding Finding { get; }

    /// <summary>Preemptions of the witness schedule (the fewest among the schedules that reached this race).</summary>
    public int Preemptions { get; }

    /// <summary>1-based number of the schedule that first reached it with that many preemptions.</summary>
    public long FoundInSchedule { get; }

    /// <summary>The witness schedule: every program op in the order it was run.</summary>
    public IReadOnlyList<Op> Schedule { get; }

    // Ops that run before the schedule, in recorded order: the prefix a window of a trace was forked after (empty
    // for a whole-trace exploration).
    private Op[] _prefix = [];

    /// <summary>The witness schedule as an op trace (after the recorded prefix of its window, if any): replaying its
    /// line order from an empty model reproduces the finding.</summary>
    public OpTrace ToTrace() => new(_prefix.Length == 0 ? Schedule : [.. _prefix, .. Schedule], _comms);

    /// <summary>The same violation found in a window whose start state is what <paramref name="prefix"/> leaves.</summary>
    internal ExploreViolation WithPrefix(Op[] prefix) =>
        new(Key, Finding, Preemptions, FoundInSchedule, [.. Schedule], _comms) { _prefix = prefix };

    /// <summary>The same violation with <paramref name="leading"/> run before its schedule (a reduced cone's moved ops).</summary>
    internal ExploreViolation WithLeading(IReadOnlyList<Op> leading) =>
        new(Key, Finding, Preemptions, FoundInSchedule, [.. leading, .. Schedule], _comms) { _prefix = _prefix };

    /// <summary>The schedule as <c>tid:seq</c> pairs, one per program op (seq = the op's row id in the explored dataset).</summary>
    public string ScheduleText() =>
        string.Join(' ', Schedule.Select(op => string.Create(CultureInfo.InvariantCulture, $"{op.Tid}:{op.Seq}")));
}

/// <summary>What an exploration did and found.</summary>
public sealed class ExploreResult
{
    internal ExploreResult(ExploreOptions options, KernelProfile profile, Arch arch, int tasks, int programOps)
    {
        Options = options;
        Profile = profile;
        Arch = arch;
        Tasks = tasks;
        ProgramOps = programOps;
    }

    /// <summary>
    /// Several explorations (the windows of one trace) counted as one run: every count summed, the first example of
    /// each kind kept, the bound covered the least of the windows' (before, the sum said "stopped by --" with no reason
    /// and "no bound fully covered" when every window had covered bound 0). The caller sets what only it knows: <see cref="Exhaustive"/>, <see cref="Elapsed"/> and the
    /// <see cref="Violations"/>.
    /// </summary>
    internal static ExploreResult Sum(IReadOnlyCollection<ExploreResult> runs, ExploreOptions options, KernelProfile profile, Arch arch, int tasks, int programOps)
    {
        // What the windows together covered: the bound every window finished (an exhaustive one finished them all),
        // the alternatives left by the windows stopped at that bound, the shallowest of those, and why the first one
        // that stopped early stopped. The least bound is one pass over the runs, not one per run.
        int least = LeastBound(runs, options);
        var atLeast = runs.Where(r => Covered(r, options) == least).ToList();
        return new(options, profile, arch, tasks, programOps)
        {
            Schedules = runs.Sum(r => r.Schedules),
            Complete = runs.Sum(r => r.Complete),
            Pruned = runs.Sum(r => r.Pruned),
            Asleep = runs.Sum(r => r.Asleep),
            Rechecked = runs.Sum(r => r.Rechecked),
            Infeasible = runs.Sum(r => r.Infeasible),
            InfeasibleExample = runs.Select(r => r.InfeasibleExample).FirstOrDefault(x => x is not null),
            Deadlocked = runs.Sum(r => r.Deadlocked),
            DeadlockExample = runs.Select(r => r.DeadlockExample).FirstOrDefault(x => x is not null),
            Refused = runs.Sum(r => r.Refused),
            RefusedExample = runs.Select(r => r.RefusedExample).FirstOrDefault(x => x is not null),
            DistinctTraces = runs.Sum(r => r.DistinctTraces),
            Transitions = runs.Sum(r => r.Transitions),
            StoppedBy = runs.Select(r => r.StoppedBy).FirstOrDefault(x => x is not null),
            CompletedBound = least,
            PendingAlternatives = atLeast.Sum(r => r.PendingAlternatives),
            ShallowestPending = atLeast.Where(r => r.ShallowestPending >= 0).Select(r => r.ShallowestPending).DefaultIfEmpty(-1).Min(),
        };
    }

    // The bound a run covered whole (an exhaustive run every bound up to the option's), and the least over runs; the
    // alternatives summed are those of the runs stopped there, the ones "within that bound + 1 preemptions".
    private static int Covered(ExploreResult r, ExploreOptions options) => r.Exhaustive ? options.Bound : r.CompletedBound;

    private static int LeastBound(IReadOnlyCollection<ExploreResult> runs, ExploreOptions options) =>
        runs.Count == 0 ? -1 : runs.Min(r => Covered(r, options));

    /// <summary>The parameters.</summary>
    public ExploreOptions Options { get; }

    /// <summary>Kernel profile explored.</summary>
    public KernelProfile Profile { get; }

    /// <summary>Architecture explored.</summary>
    public Arch Arch { get; }

    /// <summary>Tasks (programs).</summary>
    public int Tasks { get; }

    /// <summary>Program ops over all tasks.</summary>
    public int ProgramOps { get; }

    /// <summary>Schedules run: every run from the start state, whether it went to the end (<see cref="Complete"/>, deadlocked
    /// included), was cut as infeasible, stopped where every task that could run was asleep, or stopped at a state whose
    /// continuations were already explored (<see cref="Pruned"/>).</summary>
    public long Schedules { get; internal set; }

    /// <summary>Schedules run to the end (every task finished, or every remaining one waited).</summary>
    public long Complete { get; internal set; }

    /// <summary>Schedules stopped where every task that could run was asleep: their remaining interleavings were covered
    /// by other schedules (DPOR's sleep sets).</summary>
    public long Asleep { get; internal set; }

    /// <summary>DPOR's stateful pruning (docs/exploration.md, "DPOR"): runs stopped at a state that an equivalent prefix
    /// already reached with the same running task, no more preemptions used and a smaller sleep set, whose continuations
    /// were therefore explored; and the replays of such prefixes in later rounds that pass on what those continuations
    /// grew into (<see cref="Rechecked"/>, not counted in <see cref="Schedules"/>).</summary>
    public long Pruned { get; internal set; }

    /// <summary>Prefixes pruned in an earlier round replayed in a later one to add the backtrack points of what the
    /// equivalent state's continuations grew into (their ops are in <see cref="Transitions"/>).</summary>
    public long Rechecked { get; internal set; }

    /// <summary>Schedules cut short because the model refused the op of every task that could still run (the state is a
    /// dead end of an earlier choice: the order cannot happen), or refused a backtrack alternative where no other was left.</summary>
    public long Infeasible { get; internal set; }

    /// <summary>The model's message for the first infeasible schedule (what the op contradicted), or null.</summary>
    public string? InfeasibleExample { get; internal set; }

    /// <summary>Primitive ops the model refused in the state they were tried in (docs/exploration.md, "Enabledness"): each
    /// was taken back (the model refuses without changing its state) and its task treated as not enabled there, so the
    /// schedule went on with another task instead of being cut.</summary>
    public long Refused { get; internal set; }

    /// <summary>The model's message for the first refused op, or null.</summary>
    public string? RefusedExample { get; internal set; }

    /// <summary>Schedules in which every remaining task waited.</summary>
    public long Deadlocked { get; internal set; }

    /// <summary>For the first deadlocked schedule: what each remaining task waited for, or null.</summary>
    public string? DeadlockExample { get; internal set; }

    /// <summary>Distinct Mazurkiewicz traces (equivalence classes of complete schedules under the independence relation) seen.</summary>
    public long DistinctTraces { get; internal set; }

    /// <summary>Program ops executed over all schedules.</summary>
    public long Transitions { get; internal set; }

    /// <summary>True when DPOR or naive search ran out of alternatives: every schedule within the bound was covered.</summary>
    public bool Exhaustive { get; internal set; }

    /// <summary>Why the search stopped early (<c>budget</c>, <c>time</c>; <c>memory</c>: the next bound's work list
    /// reached <see cref="ExploreOptions.WorkListBytes"/>), or null.</summary>
    public string? StoppedBy { get; internal set; }

    /// <summary>When stopped early: alternatives (backtrack points) still pending, and the shallowest depth holding one.</summary>
    public long PendingAlternatives { get; internal set; }

    /// <summary>The largest preemption bound whose schedules were all covered (-1: none; DPOR deepens 0, 1, …, K).</summary>
    public int CompletedBound { get; internal set; } = -1;

    /// <summary>When stopped early: the shallowest schedule position with an unexplored alternative (-1: none).</summary>
    public int ShallowestPending { get; internal set; } = -1;

    /// <summary>PCT: the per-run lower bound on the probability of hitting a given bug of depth d, 1/(n·k^(d-1)).</summary>
    public double PctRunProbability { get; internal set; }

    /// <summary>Wall time.</summary>
    public TimeSpan Elapsed { get; internal set; }

    /// <summary>Distinct violations in the order first found.</summary>
    public IReadOnlyList<ExploreViolation> Violations { get; internal set; } = [];

    /// <summary>One paragraph: what was covered and what it allows to say.</summary>
    public string Coverage()
    {
        var inv = CultureInfo.InvariantCulture;
        if (Options.Strategy == ExploreStrategy.Pct)
        {
            return string.Create(inv,
                $"{Schedules:N0} PCT runs (depth {Options.Bound + 1}, seed {Options.Seed}): each run finds a given bug of depth {Options.Bound + 1} with probability >= {PctRunProbability:G3} (1/(n*k^(d-1)), n={Tasks} tasks, k={ProgramOps} ops); "
                + $"{(Violations.Count == 0 ? "none found" : $"{Violations.Count} found")}{(StoppedBy is null ? "" : $", stopped by --{StoppedBy}")}");
        }
        if (Exhaustive && Violations.Count == 0 && DistinctTraces == 0 && Schedules > 0)
        {
            // Not "no violation": no order of the programs ran to the end, so nothing was judged.
            return string.Create(inv, $"no schedule within {Options.Bound} preemption{(Options.Bound == 1 ? "" : "s")} runs to the end: every order stops at an op the model refuses (inconsistent input) or deadlocks, so nothing was decided");
        }
        if (Exhaustive)
        {
            return Violations.Count == 0
                ? string.Create(inv, $"no violation within {Options.Bound} preemption{(Options.Bound == 1 ? "" : "s")} (every schedule within the bound covered: {DistinctTraces:N0} distinct interleaving{(DistinctTraces == 1 ? "" : "s")})")
                : string.Create(inv, $"every schedule within {Options.Bound} preemption{(Options.Bound == 1 ? "" : "s")} covered ({DistinctTraces:N0} distinct interleaving{(DistinctTraces == 1 ? "" : "s")})");
        }
        string done = CompletedBound < 0 ? "no bound fully covered" : string.Create(inv, $"every schedule within {CompletedBound} preemption{(CompletedBound == 1 ? "" : "s")} covered");
        return string.Create(inv,
            $"stopped by {(StoppedBy == "memory" ? "the work list's memory cap (--work-list-mb)" : "--" + StoppedBy)} after {Schedules:N0} schedules: {done}; {PendingAlternatives:N0} alternative{(PendingAlternatives == 1 ? "" : "s")} within {CompletedBound + 1} preemption{(CompletedBound == 0 ? "" : "s")} left unexplored (shallowest at op {ShallowestPending + 1} of the schedule); "
            + $"{(Violations.Count == 0 ? "no violation in the schedules covered" : "violations below are from the schedules covered")}");
    }
}
