using System.Diagnostics;
using System.Globalization;
using Pipeline.Replay.Exposure;
using Pipeline.Replay.Lowering;
using Pipeline.Storage;

namespace Pipeline.Replay.Explore;

/// <summary>What the exploration of one exposure window concluded (docs/exploration.md, "Real traces").</summary>
public static class WindowVerdicts
{
    /// <summary>A feasible interleaving of the window's cone reaches the exposure's race under the profile.</summary>
    public const string Confirmed = "confirmed";

    /// <summary>Every feasible interleaving within the preemption bound was run and none reaches the race.</summary>
    public const string Refuted = "refuted";

    /// <summary>The budget or time ran out (or the cone was too large) before the bound was covered, and nothing reached the race.</summary>
    public const string Undecided = "undecided";
}

/// <summary>One exposure window of a real trace and what exploring its cone found.</summary>
public sealed class ExploredWindow
{
    /// <summary>Writes the window as a JSON object (replay's and explore's <c>windows</c> arrays).</summary>
    public void WriteJson(System.Text.Json.Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteNumber("window", Index);
        json.WriteString("checker", Exposure.Checker);
        json.WriteString("race", Exposure.Race);
        json.WriteNumber("mm", Exposure.Mm);
        json.WriteNumber("start_seq", StartSeq);
        json.WriteNumber("end_seq", EndSeq);
        json.WriteNumber("cone_tasks", ConeTasks);
        json.WriteNumber("cone_ops", ConeOps);
        json.WriteNumber("forced_orders", ForcedOrders);
        json.WriteNumber("schedules", Result?.Schedules ?? 0);
        json.WriteString("verdict", Verdict);
        json.WriteString("reason", Reason);
        if (RepeatOf is { } first)
        {
            json.WriteNumber("repeats_window", first);
        }
        else
        {
            json.WriteNull("repeats_window");
        }
        json.WriteString("exposure", Exposure.Message);
        json.WriteEndObject();
    }

    internal ExploredWindow(int index, Finding exposure, long startSeq, long endSeq, IReadOnlySet<int> actors)
    {
        Index = index;
        Exposure = exposure;
        StartSeq = startSeq;
        EndSeq = endSeq;
        Actors = actors;
    }

    /// <summary>0-based, in the order replay reports the exposures.</summary>
    public int Index { get; }

    /// <summary>False when <c>--window</c> left the window out (<see cref="ExploreOptions.OnlyWindows"/>): not explored, and
    /// not counted as undecided.</summary>
    public bool Selected { get; internal set; } = true;

    /// <summary>True when the window was past replay's cap on windows (<c>maxWindows</c>): undecided, not explored, and
    /// listed in one line with the others past the cap rather than one line each.</summary>
    public bool Capped { get; internal set; }

    /// <summary>The exposure finding the window comes from (class <c>exposure</c>).</summary>
    public Finding Exposure { get; }

    /// <summary>The seq of the window's first event (the state before it is the recorded prefix).</summary>
    public long StartSeq { get; }

    /// <summary>The seq of the window's last event.</summary>
    public long EndSeq { get; }

    /// <summary>The tasks of the exposure's events.</summary>
    public IReadOnlySet<int> Actors { get; }

    /// <summary>Tasks in the cone (the actors and every task that touched the window's mm inside the window).</summary>
    public int ConeTasks { get; internal set; }

    /// <summary>Ops of the cone (program ops explored).</summary>
    public int ConeOps { get; internal set; }

    /// <summary>Ops of the cone run into the start state by the cone reduction (<see cref="ConeReduction"/>), not interleaved.</summary>
    public int MovedOps { get; internal set; }

    /// <summary>Orders the trace proves beyond the op-trace rules: mmap_lock hand-overs and wakeups inside the cone.</summary>
    public int ForcedOrders { get; internal set; }

    /// <summary>The exploration (null when the cone was not explored: see <see cref="Reason"/>).</summary>
    public ExploreResult? Result { get; internal set; }

    /// <summary>
    /// The index of an earlier window whose search this window's would repeat exactly (same start state, ops, cone,
    /// race and search parameters), so it was not run again: <see cref="Result"/>, verdict and witness are that
    /// window's. Null when the window's own search ran.
    /// </summary>
    public int? RepeatOf { get; internal set; }

    /// <summary><see cref="WindowVerdicts"/>.</summary>
    public string Verdict { get; internal set; } = WindowVerdicts.Undecided;

    /// <summary>One sentence: why the verdict.</summary>
    public string Reason { get; internal set; } = "";

    /// <summary>For a confirmed window, the violation of the exposure's race with the fewest preemptions.</summary>
    public ExploreViolation? Witness { get; internal set; }
}

/// <summary>What exploring the exposure windows of one real trace did.</summary>
public sealed class RealTraceExploreResult
{
    internal RealTraceExploreResult(IReadOnlyList<ExploredWindow> windows, long events, long ops, TimeSpan elapsed)
    {
        Windows = windows;
        Events = events;
        Ops = ops;
        Elapsed = elapsed;
    }

    /// <summary>Every exposure window, each with its verdict.</summary>
    public IReadOnlyList<ExploredWindow> Windows { get; }

    /// <summary>Events of the trace.</summary>
    public long Events { get; }

    /// <summary>Ops the lowering made of them.</summary>
    public long Ops { get; }

    /// <summary>Wall time, the lowering passes included.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>One line per window: its race, span, verdict and why; the windows <c>--window</c> left out, one line at the end.</summary>
    public IEnumerable<string> VerdictLines()
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (var w in Windows.Where(w => w.Selected && !w.Capped))
        {
            yield return string.Create(inv,
                $"window {w.Index} {w.Exposure.Checker} {w.Exposure.Race} mm{w.Exposure.Mm} seq {w.StartSeq}..{w.EndSeq}: {w.Verdict.ToUpperInvariant()}: {w.Reason}; cone {w.ConeTasks} task{(w.ConeTasks == 1 ? "" : "s")}, {w.ConeOps:N0} op{(w.ConeOps == 1 ? "" : "s")}{(w.MovedOps > 0 ? $" ({w.MovedOps:N0} into the start state)" : "")}, {w.ForcedOrders} forced order{(w.ForcedOrders == 1 ? "" : "s")}");
        }
        if (Windows.FirstOrDefault(w => w.Capped) is { } capped)
        {
            int past = Windows.Count(w => w.Capped);
            yield return string.Create(inv, $"{past} other window{(past == 1 ? "" : "s")} {capped.Reason}");
        }
        if (Windows.FirstOrDefault(w => !w.Selected) is { } left)
        {
            int others = Windows.Count(w => !w.Selected);
            yield return string.Create(inv, $"{others} other window{(others == 1 ? "" : "s")} {left.Reason}");
        }
        // Searches the budget or the time cut short: say how to go on with them alone, rather than leave "undecided".
        var cut = Windows.Where(w => w.Selected && w.RepeatOf is null && w.Verdict == WindowVerdicts.Undecided
            && w.Result is { StoppedBy: "budget" or "time" }).ToList();
        if (cut.Count > 0)
        {
            bool byTime = cut.All(w => w.Result!.StoppedBy == "time");
            string larger = byTime ? "--time" : string.Create(inv, $"--budget (this run: {cut[0].Result!.Options.Budget:N0} schedules per window)");
            yield return string.Create(inv,
                $"to go on with the search{(cut.Count == 1 ? "" : "es")} the {(byTime ? "time" : "budget")} cut short: explore again with {string.Join(" ", cut.Select(w => $"--window {w.Index}"))} "
                + $"and a larger {larger}, or --strategy pct to sample {(cut.Count == 1 ? "it" : "them")} instead");
        }
    }

    /// <summary>Windows per verdict, e.g. <c>2 confirmed, 1 refuted</c>.</summary>
    public string Tally()
    {
        var parts = new[] { WindowVerdicts.Confirmed, WindowVerdicts.Refuted, WindowVerdicts.Undecided }
            .Select(v => (v, Windows.Count(w => w.Selected && !w.Capped && w.Verdict == v)))
            .Append(("not explored", Windows.Count(w => w.Capped)))
            .Append(("not selected", Windows.Count(w => !w.Selected))).Where(x => x.Item2 > 0)
            .Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Item2} {x.Item1}"));
        string text = string.Join(", ", parts);
        int repeats = Windows.Count(w => w.RepeatOf is not null);
        if (repeats > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" ({repeats} repeat{(repeats == 1 ? "s" : "")} an earlier window's search, explored once)");
        }
        return text.Length == 0 ? "no exposure window" : text;
    }
}

/// <summary>
/// Exploration of a real (lowered) trace, window by window (docs/exploration.md, "Real traces"): each exposure window
/// replay reports becomes a small program — the cone, the ops inside the window of its actors and of every task that
/// touched the same mm there — explored from the state the recorded prefix left (the engine is forked at the
/// window's first event, so no schedule replays the prefix), with the orders the trace proves kept. A window is
/// confirmed when a feasible interleaving reaches its race, refuted when none within the bound does.
/// </summary>
public static class RealTraceExplore
{
    /// <summary>Ops kept per window while the trace streams (the window is undecided beyond it).</summary>
    public const int MaxWindowOps = 50_000;

    /// <summary>Cone ops explored per window (the window is undecided beyond it).</summary>
    public const int MaxConeOps = 8_000;

    /// <summary>
    /// Schedules per window when no budget is given: bounded work per window, whatever the trace's size. 2,000 (as for
    /// op-trace windows) since 7 December 2026: ds1's R2 windows 78–83 need 1,216 to be refuted (docs/validation.md).
    /// </summary>
    public const long DefaultWindowBudget = 2_000;

    /// <summary>
    /// Explores every exposure window of a real trace. <paramref name="rows"/> opens the trace's events (seq order)
    /// and is called once or twice (once more per window whose witness is emitted, see <see cref="EmitSchedule"/>);
    /// <paramref name="exposures"/> are replay's exposure findings under <paramref name="profile"/>, or null to find
    /// them here with a lowering pass. <see cref="ExploreOptions.Budget"/> and <see cref="ExploreOptions.Time"/> apply per window.
    /// </summary>
    public static RealTraceExploreResult Run(Func<IEnumerable<EventRow>> rows, KernelProfile profile, Arch arch, ExploreOptions options,
        IReadOnlyList<Finding>? exposures = null, CancellationToken cancellationToken = default) =>
        Run(rows, profile, arch, options, exposures, int.MaxValue, cancellationToken);

    /// <summary>As above, exploring at most <paramref name="maxWindows"/> windows (the first ones in the order reported); the rest stay undecided.</summary>
    public static RealTraceExploreResult Run(Func<IEnumerable<EventRow>> rows, KernelProfile profile, Arch arch, ExploreOptions options,
        IReadOnlyList<Finding>? exposures, int maxWindows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        long findEvents = 0;
        long findOps = 0;
        if (exposures is null)
        {
            var finder = new TraceLowering(profile, new DiscardSink());
            foreach (var row in rows())
            {
                finder.Process(row);
            }
            finder.Finish();
            exposures = finder.Exposures;
            findEvents = finder.Statistics.Events;
            findOps = finder.OpCount;
        }
        var windows = new List<ExploredWindow>();
        foreach (var f in exposures)
        {
            if (f.Class != ExposureClass.Exposure || f.Seqs.Count == 0)
            {
                continue;
            }
            var actors = new HashSet<int>(f.Witness?.Steps.Select(s => s.Tid) ?? []);
            windows.Add(new ExploredWindow(windows.Count, f, f.Seqs.Min(), f.Seqs.Max(), actors));
        }
        options.CheckOnlyWindows(windows.Count, $"the trace's exposure windows under {profile.Name}");
        if (windows.Count == 0)
        {
            return new RealTraceExploreResult(windows, findEvents, findOps, clock.Elapsed);
        }
        var windowOptions = options with { Budget = options.Budget ?? DefaultWindowBudget };
        var explored = new List<ExploredWindow>();
        foreach (var w in windows)
        {
            if (w.Index >= maxWindows)
            {
                w.Reason = string.Create(CultureInfo.InvariantCulture,
                    $"not explored: only the first {maxWindows} windows are (mmtrace explore explores them all)");
                w.Capped = true;
            }
            else if (options.NotSelected(w.Index) is { } why)
            {
                w.Reason = why;
                w.Selected = false;
            }
            else
            {
                explored.Add(w);
            }
        }
        var sink = new WindowSink(explored, profile, arch, windowOptions, cancellationToken);
        var lowering = new TraceLowering(profile, sink);
        long events = 0;
        foreach (var row in rows())
        {
            events++;
            sink.OnRow(row);
            lowering.Process(row);
            if ((events & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        lowering.Finish();
        sink.CloseAll();
        return new RealTraceExploreResult(windows, events, lowering.OpCount, clock.Elapsed);
    }

    /// <summary>
    /// Writes the witness of a confirmed window as an op trace that reproduces it from an empty model: every op the
    /// lowering made before the window (the recorded prefix, in recorded order), then the witness schedule. Streams
    /// the trace once more; <paramref name="writer"/> gets one line per op.
    /// </summary>
    public static void EmitSchedule(Func<IEnumerable<EventRow>> rows, KernelProfile profile, ExploredWindow window, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(writer);
        if (window.Witness is not { } witness)
        {
            throw new InvalidOperationException("Only a confirmed window has a witness schedule.");
        }
        var sink = new PrefixWriter(writer, window.StartSeq);
        var lowering = new TraceLowering(profile, sink);
        foreach (var row in rows())
        {
            // Lowered through the window's end, so its tasks first seen inside it have their names; the sink
            // writes only the ops made before the window (the prefix the start state was forked from).
            if (row.Seq > window.EndSeq)
            {
                break;
            }
            sink.Closed = row.Seq >= window.StartSeq;
            lowering.Process(row);
        }
        foreach (var op in witness.Schedule)
        {
            sink.Write(op, force: true);
        }
    }

    /// <summary>Orders a real trace proves that the op-trace rules do not see (docs/exploration.md, "Real traces").</summary>
    internal static List<(int Before, int After)> ForcedOrders(IReadOnlyList<Op> cone, IReadOnlyList<(long Seq, int Waker, int Wakee)> wakeups)
    {
        var forced = new List<(int, int)>();
        // mmap_lock hand-over: a holder that took the lock after another task released it (one of the two a writer)
        // stays after that release. The sections' reads are not traced, so the trace cannot show the reversed order
        // would read the same.
        var lastRelease = new Dictionary<int, (int Index, int Tid, bool Write)>();
        var held = new Dictionary<(int Mm, int Tid), bool>();
        for (int i = 0; i < cone.Count; i++)
        {
            var op = cone[i];
            if (op.Kind == OpKind.MmapLock)
            {
                bool write = (op.Flags & OpFlags.Write) != 0;
                if (lastRelease.TryGetValue(op.Mm, out var r) && r.Tid != op.Tid && (r.Write || write))
                {
                    forced.Add((r.Index, i));
                }
                held[(op.Mm, op.Tid)] = write;
            }
            else if (op.Kind == OpKind.MmapUnlock)
            {
                bool write = held.Remove((op.Mm, op.Tid), out bool w) && w;
                lastRelease[op.Mm] = (i, op.Tid, write);
            }
        }
        // A wakeup: the wakee's first op after it follows the waker's last op before it.
        foreach (var (seq, waker, wakee) in wakeups)
        {
            int before = -1;
            int after = -1;
            for (int i = 0; i < cone.Count; i++)
            {
                if (cone[i].Tid == waker && cone[i].Seq <= seq)
                {
                    before = i;
                }
                if (cone[i].Tid == wakee && cone[i].Seq > seq)
                {
                    after = i;
                    break;
                }
            }
            if (before >= 0 && after >= 0 && waker != wakee)
            {
                forced.Add((before, after));
            }
        }
        return forced;
    }

    /// <summary>
    /// The tasks of the window outside <paramref name="cone"/> whose work an op of the cone needs by the feasibility
    /// rules (docs/exploration.md, "Feasibility"), found again for each task added: above all the freer of a pfn or table
    /// id that a cone op allocates again (rule 1). Left out, that op is refused in every schedule. *ds1 of the raceactors
    /// recordings, 6 December 2026, windows 78–83 under v5.13:* khugepaged's `page_alloc` of pfn 0x5fcad1, which a task
    /// outside the cone had freed inside the window, was refused in all 514 schedules, and the windows said refuted.
    /// Each task joins whole (its ops in the window), as the cone's own tasks do. <paramref name="start"/> is the window's
    /// start state, which runs no more ops: the analysis runs on a copy that shares its pages.
    /// </summary>
    public static HashSet<int> NeededTasks(IReadOnlyList<Op> window, IReadOnlySet<int> cone, ReplayEngine start, IReadOnlyDictionary<int, string> comms,
        KernelProfile profile, Arch arch)
    {
        var added = new HashSet<int>();
        if (window.All(op => cone.Contains(op.Tid)))
        {
            return added;
        }
        var trace = new OpTrace([.. window], comms);
        var (programs, recordedTask, recordedLocal) = ConeReduction.Programs(trace);
        var (need, _) = Feasibility.Analyze(trace, programs, recordedTask, recordedLocal, profile, arch, () => start.Fork(shareFrozenPages: true), cpuSlices: false);
        var kept = trace.Tasks.Select(t => cone.Contains(t.Tid)).ToArray();
        var work = new Queue<int>(Enumerable.Range(0, kept.Length).Where(t => kept[t]));
        while (work.TryDequeue(out int t))
        {
            foreach (var needs in need[t])
            {
                foreach (var (q, count) in needs)
                {
                    if (count > 0 && !kept[q])
                    {
                        kept[q] = true;
                        added.Add(trace.Tasks[q].Tid);
                        work.Enqueue(q);
                    }
                }
            }
        }
        return added;
    }

    /// <summary>The tasks of a window's cone: its actors and every task that touched <paramref name="mm"/> inside it.</summary>
    internal static HashSet<int> ConeTasks(IEnumerable<Op> window, int mm, IEnumerable<int> actors)
    {
        var tasks = new HashSet<int>(actors);
        if (mm != 0)
        {
            foreach (var op in window)
            {
                if (op.Mm == mm)
                {
                    tasks.Add(op.Tid);
                }
            }
        }
        return tasks;
    }

    // tasks: the window's ConeTasks (the caller keys repeated searches on them); the tasks the cone's ops need join it.
    private static void Explore(ExploredWindow w, List<Op> buffered, HashSet<int> tasks, bool overflow, ReplayEngine start, IReadOnlyDictionary<int, string> comms,
        IReadOnlyList<(long Seq, int Waker, int Wakee)> wakeups, KernelProfile profile, Arch arch, ExploreOptions options, CancellationToken cancellationToken)
    {
        var inv = CultureInfo.InvariantCulture;
        if (!overflow)
        {
            tasks.UnionWith(NeededTasks(buffered, tasks, start, comms, profile, arch));
        }
        var cone = buffered.Where(op => tasks.Contains(op.Tid)).ToList();
        w.ConeTasks = cone.Select(o => o.Tid).Distinct().Count();
        w.ConeOps = cone.Count;
        if (overflow)
        {
            w.Reason = string.Create(inv, $"the window holds more than {MaxWindowOps:N0} ops; not explored");
            return;
        }
        if (cone.Count == 0)
        {
            w.Reason = "the lowering made no op of the window's actors inside it: nothing to reorder";
            w.Verdict = WindowVerdicts.Refuted;
            return;
        }
        if (cone.Count > MaxConeOps || w.ConeTasks > 64)
        {
            w.Reason = string.Create(inv, $"the cone holds {cone.Count:N0} ops of {w.ConeTasks} tasks (at most {MaxConeOps:N0} ops of 64 tasks are explored); not explored");
            return;
        }
        var forced = ForcedOrders(cone, wakeups.Where(x => x.Seq >= w.StartSeq && x.Seq <= w.EndSeq).ToList());
        w.ForcedOrders = forced.Count;
        var (result, moved) = ConeReduction.Explore(cone, comms, profile, arch, options with { Race = w.Exposure.Race }, start, forced, cancellationToken);
        w.MovedOps = moved;
        w.Result = result;
        var same = result.Violations.Where(v => v.Finding.Race == w.Exposure.Race).OrderBy(v => v.Preemptions).FirstOrDefault();
        if (same is not null)
        {
            w.Verdict = WindowVerdicts.Confirmed;
            w.Witness = same;
            w.Reason = string.Create(inv,
                $"{same.Finding.Checker} {same.Finding.Race} reached {same.Preemptions} preemption{(same.Preemptions == 1 ? "" : "s")} away (schedule #{same.FoundInSchedule:N0} of {result.Schedules:N0})");
        }
        else if (result.Exhaustive && result.DistinctTraces == 0)
        {
            // Not one schedule ran to the end: the model refused an op in every order it tried, the recorded one
            // too, so "none reaches the race" would be a statement about nothing.
            w.Reason = string.Create(inv,
                $"no schedule of the window ran to the end ({result.Infeasible:N0} cut as infeasible, the rest stopped at the states they cut): {result.InfeasibleExample}");
        }
        else if (result.Exhaustive)
        {
            w.Verdict = WindowVerdicts.Refuted;
            w.Reason = string.Create(inv,
                $"no feasible interleaving within {options.Bound} preemption{(options.Bound == 1 ? "" : "s")} reaches {w.Exposure.Race} ({result.Schedules:N0} schedule{(result.Schedules == 1 ? "" : "s")}, {result.DistinctTraces:N0} distinct interleaving{(result.DistinctTraces == 1 ? "" : "s")})");
            if (w.Exposure.Race == "R4" && !cone.Exists(op => op.Kind == OpKind.TtuMlockCheck))
            {
                // R4 needs a walker's VM_LOCKED test and PG_mlocked set; the trace shows one only as a reclaimer's
                // putback onto the unevictable list (TraceLowering.Mlock.cs). A walker's free shows none.
                w.Reason += "; over the ops shown only: no reclaimer mlocked a page of the mm inside the window (no unevictable putback, so no try_to_unmap_one VM_LOCKED test to reorder)";
            }
            else if (w.Exposure.Race == "R1" && !cone.Exists(op => op.Kind == OpKind.TtuWalk))
            {
                // R1 needs a walker that found the table through the old PMD, a TLB fill through the new address after
                // the move, then the walker's flush of the old address only and its free. A lowered walker free is an
                // implied clear, flush and free with the table and address the recorded order gave it (nothing to
                // re-resolve), and a CPU's access to a page that is still mapped leaves no event: the fill is not there.
                w.Reason += "; over the ops shown only: the walker's frees keep the table and address of the recorded order (no try_to_unmap walk to re-resolve), and an access to a present page leaves no event, so no TLB fill through the moved range is there to reorder";
            }
        }
        else
        {
            w.Reason = string.Create(inv, $"{w.Exposure.Race} not reached in the schedules covered: {result.Coverage()}");
        }
    }

    /// <summary>Receives the lowered ops in recorded order: replays them and forks the model at each window's start.</summary>
    private sealed class WindowSink(List<ExploredWindow> windows, KernelProfile profile, Arch arch, ExploreOptions options, CancellationToken cancellationToken) : IOpSink
    {
        private readonly ReplayEngine _engine = new(profile, arch);
        private readonly Dictionary<int, string> _comms = [];
        private readonly List<(ExploredWindow Window, ReplayEngine Start, List<Op> Ops, bool Overflow)> _open = [];
        private readonly List<(long Seq, int Waker, int Wakee)> _wakeups = [];
        private readonly List<ExploredWindow> _byStart = [.. windows.OrderBy(w => w.StartSeq).ThenBy(w => w.Index)];
        private readonly Dictionary<(long, long, string, string, string), ExploredWindow> _searched = [];
        private int _next;

        public void OnRow(EventRow row)
        {
            if (row.Event is "sched:sched_wakeup" or "sched:sched_waking" or "sched:sched_wakeup_new"
                && windows.Any(w => row.Seq >= w.StartSeq && row.Seq <= w.EndSeq)
                && int.TryParse(row.FindField("pid"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int wakee))
            {
                _wakeups.Add((row.Seq, row.Pid, wakee));
            }
        }

        public void Task(int tid, string comm)
        {
            _engine.NameTask(tid, comm);
            _comms[tid] = comm;
        }

        public void Write(in Op op)
        {
            long seq = op.Seq;
            CloseEnded(seq);
            while (_next < _byStart.Count && _byStart[_next].StartSeq <= seq)
            {
                // The model as the recorded prefix left it: every schedule of the window starts from a fork of it.
                _open.Add((_byStart[_next], _engine.Fork(), [], false));
                _next++;
            }
            for (int i = 0; i < _open.Count; i++)
            {
                var w = _open[i];
                if (w.Ops.Count < MaxWindowOps)
                {
                    w.Ops.Add(op);
                }
                else if (!w.Overflow)
                {
                    _open[i] = w with { Overflow = true };
                }
            }
            _engine.Execute(op);
        }

        public void CloseAll()
        {
            CloseEnded(long.MaxValue);
            // A window whose start no op reached (its events lowered to nothing): nothing to reorder.
            for (; _next < _byStart.Count; _next++)
            {
                _byStart[_next].Verdict = WindowVerdicts.Refuted;
                _byStart[_next].Reason = "the lowering made no op inside the window: nothing to reorder";
            }
        }

        /// <summary>Explores the open windows that end before <paramref name="seq"/>, lowest index first, so that a
        /// repeated search is reported as a repeat of the lowest-numbered window that ran it.</summary>
        private void CloseEnded(long seq)
        {
            bool any = false;
            foreach (var o in _open)
            {
                any |= o.Window.EndSeq < seq;
            }
            if (!any)
            {
                return;
            }
            var closing = _open.Where(o => o.Window.EndSeq < seq).OrderBy(o => o.Window.Index).ToList();
            _open.RemoveAll(o => o.Window.EndSeq < seq);
            foreach (var (w, start, ops, overflow) in closing)
            {
                // Everything the search reads: the start state and the buffered ops follow from the window's first and
                // last seq (forked at, and closed at, the same op of this one stream; the task names are read at the
                // same op too), the forced orders from the wakeups between them, the cone from the tasks its mm and
                // actors give (the tasks the cone needs are found from those, the ops and the start state), the
                // verdict from the race; the options are the run's. Equal keys mean the same program and search.
                // Keyed on the actors instead, ds1's R2 windows 78-83 (one search) split into two.
                var tasks = ConeTasks(ops, w.Exposure.Mm, w.Actors);
                var key = (w.StartSeq, w.EndSeq, w.Exposure.Race, w.Exposure.Checker, string.Join(",", tasks.Order()));
                if (_searched.TryGetValue(key, out var first))
                {
                    w.RepeatOf = first.Index;
                    w.ConeTasks = first.ConeTasks;
                    w.ConeOps = first.ConeOps;
                    w.MovedOps = first.MovedOps;
                    w.ForcedOrders = first.ForcedOrders;
                    w.Result = first.Result;
                    w.Verdict = first.Verdict;
                    w.Witness = first.Witness;
                    w.Reason = string.Create(CultureInfo.InvariantCulture,
                        $"repeats window {first.Index}'s search (same start, ops, cone and race; explored once, schedules shared): {first.Reason}");
                    continue;
                }
                Explore(w, ops, tasks, overflow, start, _comms, _wakeups, profile, arch, options, cancellationToken);
                _searched.Add(key, w);
            }
        }
    }

    private sealed class DiscardSink : IOpSink
    {
        public void Task(int tid, string comm)
        {
        }

        public void Write(in Op op)
        {
        }
    }

    /// <summary>Writes the ops made before a window, then (forced) the witness schedule, as op-trace lines.</summary>
    private sealed class PrefixWriter(TextWriter writer, long startSeq) : IOpSink
    {
        private readonly Dictionary<int, string> _comms = [];
        private long _micros;

        /// <summary>The rows lowered now are the window's: their ops are not part of the prefix.</summary>
        public bool Closed { get; set; }

        public void Task(int tid, string comm) => _comms[tid] = comm;

        public void Write(in Op op) => Write(op, force: false);

        public void Write(in Op op, bool force)
        {
            if (!force && (Closed || op.Seq >= startSeq))
            {
                return;
            }
            writer.Write(OpTraceWriter.FormatLine(op, _comms.GetValueOrDefault(op.Tid, "task"), ++_micros));
            writer.Write('\n');
        }
    }
}
