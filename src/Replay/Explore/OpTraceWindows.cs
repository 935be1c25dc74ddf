using System.Diagnostics;
using System.Globalization;

namespace Pipeline.Replay.Explore;

/// <summary>One window of an op trace: two actors of a race on one mm, and the recorded ops around them.</summary>
/// <param name="Race">The race whose actors meet (R1: a PMD/PUD move and an rmap walker; R2: a collapse and GUP-fast; …).</param>
/// <param name="Mm">The mm both actors touch.</param>
/// <param name="Start">Index (recorded order) of the window's first op; the ops before it are the start state.</param>
/// <param name="End">Index of its last op.</param>
/// <param name="Actors">The tasks of the two actor ops.</param>
public sealed record OpTraceWindow(string Race, int Mm, int Start, int End, IReadOnlySet<int> Actors)
{
    /// <summary>Tasks of the cone (the actors and every task that touched the mm inside the window).</summary>
    public int ConeTasks { get; internal set; }

    /// <summary>Ops of the cone.</summary>
    public int ConeOps { get; internal set; }

    /// <summary>Ops of the cone run into the start state by the cone reduction (<see cref="ConeReduction"/>), not interleaved.</summary>
    public int MovedOps { get; internal set; }

    /// <summary>The window's exploration (null: not explored, see <see cref="Skipped"/>).</summary>
    public ExploreResult? Result { get; internal set; }

    /// <summary>Why the window was not explored, or null.</summary>
    public string? Skipped { get; internal set; }
}

/// <summary>
/// Exploration of an op trace by windows (docs/exploration.md, "Windows of op traces"), as real traces are explored
/// by exposure windows: a whole 1,000-op workload has a schedule space whose 0-preemption round alone no budget
/// finishes, and the race actors it holds meet only in schedules with preemptions inside one activity (an mremap's
/// move, a collapse). So each pair of actors of a race on one mm, at most <see cref="MaxPairDistance"/> recorded
/// ops apart, becomes a window: the recorded ops from <see cref="Margin"/> before the first actor to
/// <see cref="Margin"/> after the second, restricted to the cone (the actors' tasks and every task touching the mm
/// there), explored exhaustively to the bound from the state the recorded prefix leaves (the engine forked there).
/// Feasibility is the op-trace rules over the cone. A violation's emitted schedule is the prefix in recorded order
/// followed by the witness, so it replays from an empty model.
/// </summary>
public static class OpTraceWindows
{
    /// <summary>Largest distance (recorded ops) between two actors that form a window.</summary>
    public const int MaxPairDistance = 300;

    /// <summary>Recorded ops kept before the first actor and after the second.</summary>
    public const int Margin = 24;

    /// <summary>Windows explored per trace (the first ones in recorded order).</summary>
    public const int MaxWindows = 64;

    /// <summary>Recorded ops after a window's end searched for the ends of its tasks' open critical sections.</summary>
    public const int MaxTail = 400;

    /// <summary>+1 for an op that enters a critical section (a lock, an IRQ-off or RCU section, an rmap walk), -1 for one that leaves it.</summary>
    internal static int Nesting(in Op op) => op.Kind switch
    {
        OpKind.MmapLock or OpKind.VmaLock or OpKind.RmapLock or OpKind.PtlLock or OpKind.PageLock or OpKind.IrqDisable
            or OpKind.RcuLock or OpKind.TtuStart or OpKind.RetractStart => 1,
        OpKind.MmapUnlock or OpKind.VmaUnlock or OpKind.RmapUnlock or OpKind.PtlUnlock or OpKind.PageUnlock or OpKind.IrqEnable
            or OpKind.RcuUnlock or OpKind.TtuEnd or OpKind.RetractEnd => -1,
        _ => 0,
    };

    /// <summary>Schedules per window when no budget is given.</summary>
    public const long DefaultWindowBudget = 2_000;

    /// <summary>The two actor roles of each race an op trace can show, by op (role 0 or 1; -1 when the op is neither).</summary>
    internal static int Role(string race, in Op op, bool assertingWalk) => race switch
    {
        "R1" => op.Kind is OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.PmdMove or OpKind.PudMove ? 0
            : op.Kind == OpKind.TtuWalk ? 1 : -1,
        "R2" => op.Kind == OpKind.CollapseFlush ? 0 : op.Kind == OpKind.EntryRead && op.Has(OpFlags.Lockless) ? 1 : -1,
        // R3's walker is split_huge_page's checked unmap: the ttu_walk inside a ttu_start that asserts its result
        // (the ttu_start names no mm; its walk names the mm and address of the mapping it visits).
        "R3" => op.Kind == OpKind.ZapClear ? 0 : op.Kind == OpKind.TtuWalk && assertingWalk ? 1 : -1,
        "R4" => op.Kind is OpKind.TtuMlockCheck or OpKind.TtuMlockSet ? 0
            : op.Kind == OpKind.VmFlagsWrite && ((VmFlags)op.Sub & VmFlags.Locked) != 0 && !op.Has(OpFlags.Write) || op.Kind == OpKind.MmDestroy ? 1 : -1,
        "R6" => op.Kind == OpKind.RetractStart ? 0
            : op.Kind is OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.PmdMove or OpKind.PudMove ? 1 : -1,
        _ => -1,
    };

    private static readonly string[] s_races = ["R1", "R2", "R3", "R4", "R6"];

    /// <summary>The windows of a trace: one per pair of actors of a race on one mm, of different tasks, close enough.</summary>
    public static List<OpTraceWindow> Find(OpTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var ops = trace.Ops;
        var windows = new List<OpTraceWindow>();
        var seen = new HashSet<(string, int, int, int)>();
        foreach (var race in s_races)
        {
            // Per mm, the recent actors of each role (index, task).
            var recent = new Dictionary<int, List<(int Index, int Tid, int Role)>>();
            // Tasks inside an rmap walk whose ttu_start asserts (split_huge_page's unmap).
            var asserting = new HashSet<int>();
            for (int i = 0; i < ops.Length; i++)
            {
                if (ops[i].Kind == OpKind.TtuStart)
                {
                    if (ops[i].Has(OpFlags.Assert))
                    {
                        asserting.Add(ops[i].Tid);
                    }
                    else
                    {
                        asserting.Remove(ops[i].Tid);
                    }
                }
                int role = Role(race, ops[i], asserting.Contains(ops[i].Tid));
                int mm = ops[i].Mm;
                if (role < 0 || mm == 0)
                {
                    continue;
                }
                if (!recent.TryGetValue(mm, out var list))
                {
                    list = [];
                    recent.Add(mm, list);
                }
                list.RemoveAll(a => i - a.Index > MaxPairDistance);
                foreach (var a in list)
                {
                    if (a.Role != role && a.Tid != ops[i].Tid)
                    {
                        int start = Math.Max(0, a.Index - Margin);
                        int end = Math.Min(ops.Length - 1, i + Margin);
                        if (seen.Add((race, mm, start, end)))
                        {
                            windows.Add(new OpTraceWindow(race, mm, start, end, new HashSet<int> { a.Tid, ops[i].Tid }));
                        }
                    }
                }
                list.Add((i, ops[i].Tid, role));
            }
        }
        // Windows of one race on one mm that overlap are one window (their union): the same actors would be explored twice.
        var merged = new List<OpTraceWindow>();
        foreach (var w in windows.OrderBy(w => w.Race, StringComparer.Ordinal).ThenBy(w => w.Mm).ThenBy(w => w.Start))
        {
            if (merged.Count > 0 && merged[^1] is var last && last.Race == w.Race && last.Mm == w.Mm && w.Start <= last.End
                && Math.Max(last.End, w.End) - last.Start <= MaxPairDistance + (2 * Margin))
            {
                merged[^1] = last with { End = Math.Max(last.End, w.End), Actors = new HashSet<int>(last.Actors.Concat(w.Actors)) };
            }
            else
            {
                merged.Add(w);
            }
        }
        return [.. merged.OrderBy(w => w.Start).ThenBy(w => w.Race, StringComparer.Ordinal).ThenBy(w => w.Mm)];
    }

    /// <summary>
    /// Explores every window of <paramref name="trace"/> (at most <see cref="MaxWindows"/>); <see cref="ExploreOptions.Budget"/>
    /// applies per window (default <see cref="DefaultWindowBudget"/>). Returns the windows and one result summing
    /// them, whose violations (one per race instance, the fewest preemptions kept) replay from an empty model.
    /// </summary>
    public static (List<OpTraceWindow> Windows, ExploreResult Result) Run(OpTrace trace, KernelProfile profile, Arch arch,
        ExploreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var windows = Find(trace);
        options.CheckOnlyWindows(windows.Count, "the op trace's windows");
        var windowOptions = options with { Budget = options.Budget ?? DefaultWindowBudget };
        var comms = trace.Tasks.ToDictionary(t => t.Tid, t => t.Comm);
        var ops = trace.Ops.ToArray();
        var engine = new ReplayEngine(profile, arch);
        foreach (var task in trace.Tasks)
        {
            engine.NameTask(task.Tid, task.Comm);
        }
        int replayed = 0;
        var runs = new List<ExploreResult>();
        var best = new Dictionary<string, ExploreViolation>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int k = 0; k < windows.Count; k++)
        {
            var w = windows[k];
            if (k >= MaxWindows)
            {
                w.Skipped = string.Create(CultureInfo.InvariantCulture, $"not explored: only the first {MaxWindows} windows are");
                continue;
            }
            if (options.NotSelected(k) is { } why)
            {
                w.Skipped = why;
                continue;
            }
            cancellationToken.ThrowIfCancellationRequested();
            // The model as the recorded prefix leaves it; windows are in start order, so the prefix replays once.
            for (; replayed < w.Start; replayed++)
            {
                engine.Execute(ops[replayed]);
            }
            var tasks = RealTraceExplore.ConeTasks(new ArraySegment<Op>(ops, w.Start, w.End - w.Start + 1), w.Mm, w.Actors);
            // A cone task still inside a critical section at the window's end runs on to the end of it (at most
            // MaxTail ops more): cut there, it would keep the lock and leave the tasks waiting for it parked, a
            // deadlock of the window, not of the kernel.
            // exit_mmap of a kernel before v4.4 munlocks with no lock held (the mm has no users): from its VM_LOCKED
            // clear to mm_destroy it is a section too, or a window cut inside it ends with pages still Mlocked whose
            // VMA is no longer VM_LOCKED, a finding of the cut, not of the schedule.
            var inside = new Dictionary<int, int>();
            var unlockedExit = new HashSet<int>();
            void Enter(in Op op)
            {
                int depth = inside.GetValueOrDefault(op.Tid);
                if (op.Kind == OpKind.VmFlagsWrite && ((VmFlags)op.Sub & VmFlags.Locked) != 0 && !op.Has(OpFlags.Write) && depth == 0
                    && unlockedExit.Add(op.Tid))
                {
                    depth++;
                }
                else if (op.Kind == OpKind.MmDestroy && unlockedExit.Remove(op.Tid))
                {
                    depth--;
                }
                inside[op.Tid] = depth + Nesting(op);
            }
            // The window's ops and its tail (below), by index in recorded order, with each op's task's lock depth before it.
            var span = new List<int>();
            var depthBefore = new List<int>();
            for (int i = 0; i <= w.End; i++)
            {
                if (i >= w.Start)
                {
                    span.Add(i);
                    depthBefore.Add(inside.GetValueOrDefault(ops[i].Tid));
                }
                if (i == w.Start)
                {
                    // A task inside a critical section when the window starts (a fault between its flag_set and
                    // its pte_set, a zap between clear and finish) finishes it inside the window: left out of the
                    // cone, its section stays half done, and the state the window ends in is one no schedule of the
                    // kernel reaches (random workload seed 6 under --contend: app2's fault of a VM_LOCKED page had set
                    // Mlocked before an R3 window of another mm and mapped the page inside it; without its ops the
                    // window ended with the page Mlocked and unmapped, an I4 that replayed under latest too).
                    foreach (var (tid, depth) in inside)
                    {
                        if (depth > 0)
                        {
                            tasks.Add(tid);
                        }
                    }
                }
                Enter(ops[i]);
            }
            // The ops each task still inside a critical section at the window's end runs on to its end (per task: a
            // task's own ops decide it): the tail, kept for the cone's tasks and for the needed ops below.
            for (int i = w.End + 1; i < ops.Length && i <= w.End + MaxTail; i++)
            {
                if (inside.GetValueOrDefault(ops[i].Tid) > 0)
                {
                    span.Add(i);
                    depthBefore.Add(inside[ops[i].Tid]);
                    Enter(ops[i]);
                }
            }
            // The ops of tasks outside the cone that an op of the cone needs (by the feasibility rules, in the recorded
            // run of the window and its tail) are part of the window too, up to the needed op or the end of the critical
            // section around it. khugepaged, in the cone of one mm's window, goes on to collapse another mm whose pages
            // threads outside the cone mapped. Without their ops it waited for ever on the per-VMA lock one of them held
            // when the window started (seed 10: 197 of 373 window schedules deadlocked), and once that lock was
            // released, its unmap of their pages was refused (150 of 1,021). The freer of a pfn or table id that a cone
            // op allocates again is one such need (rule 1: a re-creation follows the destruction before it, and the
            // grace period that releases a table freed with free=rcu): seed 3 under --contend, app1's page_free
            // 0x100000 (mm 1) inside an R3 window of mm 3 whose fault allocates 0x100000 again cut all 1,331 of the
            // window's schedules when app1 was left out; seed 8, app2's fault in the tail of an R2 window of mm 4 takes
            // table 21 again, which app1's MADV_DONTNEED inside the window withdrew from its THP's deposit and freed
            // (801 of 2,000 cut).
            var needed = Needed(engine, ops, span, tasks, depthBefore, comms, profile, arch);
            // A task outside the cone that holds, in the start state, a lock a cone task takes inside the window runs up
            // to its release of it: left out, it would hold the lock for ever and the cone task park on it. *Seed 18
            // (none):* a thread of mm 1 holds the PTE lock of table 26 when the R1 window of mm 2 starts, and kswapd, a
            // cone task, later re-checks an mlocked page of that table under its lock (11 of 325 window schedules
            // deadlocked, and the recorded order itself before the needed ops were in).
            foreach (var (tid, last) in LockHolders(engine, ops, w, tasks, needed, trace.Tasks))
            {
                needed[tid] = Math.Max(last, needed.GetValueOrDefault(tid, -1));
            }
            var cone = new List<Op>();
            foreach (int i in span)
            {
                if (tasks.Contains(ops[i].Tid) || needed.TryGetValue(ops[i].Tid, out int last) && i <= last)
                {
                    cone.Add(ops[i]);
                }
            }
            w.ConeTasks = tasks.Count + needed.Count;
            w.ConeOps = cone.Count;
            if (w.ConeTasks > 64)
            {
                w.Skipped = string.Create(CultureInfo.InvariantCulture, $"the cone holds {w.ConeTasks} tasks (at most 64 are explored)");
                continue;
            }
            // The engine runs on to the next window: the cone starts from a copy of it.
            var (result, moved) = ConeReduction.Explore(cone, comms, profile, arch, windowOptions with { Race = w.Race }, engine.Fork(), [], cancellationToken);
            w.MovedOps = moved;
            w.Result = result;
            runs.Add(result);
            foreach (var v in result.Violations)
            {
                var whole = v.WithPrefix(ops.AsSpan(0, w.Start).ToArray());
                if (!best.TryGetValue(v.Key, out var known))
                {
                    order.Add(v.Key);
                    best.Add(v.Key, whole);
                }
                else if (v.Preemptions < known.Preemptions)
                {
                    best[v.Key] = whole;
                }
            }
        }
        var sum = ExploreResult.Sum(runs, windowOptions, profile, arch, windows.Select(w => w.ConeTasks).DefaultIfEmpty(0).Max(), windows.Sum(w => w.ConeOps));
        sum.Exhaustive = windows.Count <= MaxWindows && runs.Count == windows.Count && runs.All(r => r.Exhaustive);
        sum.Elapsed = clock.Elapsed;
        sum.Violations = [.. order.Select(key => best[key])];
        return (windows, sum);
    }

    /// <summary>
    /// The tasks outside <paramref name="cone"/> whose ops in <paramref name="span"/> (a window's ops and its tail, by
    /// index in recorded order) an op of the cone needs (docs/exploration.md, the feasibility rules but the CPU slices'
    /// order, over the recorded run of every task's ops there: what an op saw of other tasks' work), directly or
    /// through ops added here; each with the index of the last op it runs: the needed op, or the end of the critical
    /// section around it (<paramref name="depthBefore"/>: the task's lock depth before each op of the span), so no cone
    /// task waits for ever on a lock it keeps.
    /// </summary>
    private static Dictionary<int, int> Needed(ReplayEngine start, Op[] ops, List<int> span, HashSet<int> cone, List<int> depthBefore,
        IReadOnlyDictionary<int, string> comms, KernelProfile profile, Arch arch)
    {
        var window = new OpTrace(span.Select(i => ops[i]).ToArray(), comms);
        int n = window.Tasks.Count;
        var (programArrays, recordedTask, recordedLocal) = ConeReduction.Programs(window);
        // Per task, the position in the span of each of its ops.
        var at = programArrays.Select(p => new int[p.Length]).ToArray();
        for (int i = 0; i < window.Count; i++)
        {
            at[recordedTask[i]][recordedLocal[i]] = i;
        }
        var (need, _) = Feasibility.Analyze(window, programArrays, recordedTask, recordedLocal, profile, arch, () => start.Fork(), cpuSlices: false);
        var kept = Enumerable.Range(0, n).Select(t => cone.Contains(window.Tasks[t].Tid) ? programArrays[t].Length : 0).ToArray();
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int t = 0; t < n; t++)
            {
                for (int k = 0; k < kept[t]; k++)
                {
                    foreach (var (q, count) in need[t][k])
                    {
                        if (count <= kept[q])
                        {
                            continue;
                        }
                        // On to where that task holds no lock.
                        int upTo = count;
                        while (upTo < programArrays[q].Length && depthBefore[at[q][upTo]] > 0)
                        {
                            upTo++;
                        }
                        kept[q] = upTo;
                        changed = true;
                    }
                }
            }
        }
        var extra = new Dictionary<int, int>();
        for (int t = 0; t < n; t++)
        {
            if (!cone.Contains(window.Tasks[t].Tid) && kept[t] > 0)
            {
                extra[window.Tasks[t].Tid] = span[at[t][kept[t] - 1]];
            }
        }
        return extra;
    }

    /// <summary>
    /// The tasks outside <paramref name="cone"/> that hold, when window <paramref name="w"/> starts (the state of
    /// <paramref name="start"/>), a lock that a task of the cone, an op of <paramref name="needed"/> or a task added here
    /// takes inside the window; each with the index of its op that released the last such lock (the window's end if it
    /// holds one on). Found by running the window's ops in recorded order on a copy of the start state.
    /// </summary>
    private static Dictionary<int, int> LockHolders(ReplayEngine start, Op[] ops, OpTraceWindow w, HashSet<int> cone,
        Dictionary<int, int> needed, IReadOnlyList<TaskInfo> tasks)
    {
        var holders = new Dictionary<int, int>();
        var heldAtStart = new Dictionary<int, HashSet<string>>();
        var held = new List<(string Lock, bool Write)>();
        foreach (var task in tasks)
        {
            held.Clear();
            start.HeldLocks(task.Tid, held);
            if (!cone.Contains(task.Tid) && held.Count > 0)
            {
                heldAtStart.Add(task.Tid, held.Select(h => h.Lock).ToHashSet(StringComparer.Ordinal));
            }
        }
        if (heldAtStart.Count == 0)
        {
            return holders;
        }
        // Per op of the window: the locks it acquired (by any task: a parked task resumes inside another's op), and
        // for each candidate the op at which it released each lock it held at the start.
        var probe = start.Fork();
        probe.Acquisitions = [];
        var acquired = new List<(int Index, int Tid, string Lock)>();
        var released = heldAtStart.ToDictionary(kv => kv.Key, _ => new Dictionary<string, int>(StringComparer.Ordinal));
        for (int i = w.Start; i <= w.End; i++)
        {
            probe.Execute(ops[i]);
            foreach (var (tid, name, _, _) in probe.Acquisitions)
            {
                acquired.Add((i, tid, name));
            }
            probe.Acquisitions.Clear();
            foreach (var (tid, names) in heldAtStart)
            {
                held.Clear();
                probe.HeldLocks(tid, held);
                foreach (var name in names)
                {
                    if (!released[tid].ContainsKey(name) && !held.Exists(h => h.Lock == name))
                    {
                        released[tid][name] = i;
                    }
                }
            }
        }
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var (tid, names) in heldAtStart)
            {
                int last = -1;
                foreach (var (index, taker, name) in acquired)
                {
                    if (taker != tid && names.Contains(name)
                        && (cone.Contains(taker) || needed.TryGetValue(taker, out int upTo) && index <= upTo
                            || holders.TryGetValue(taker, out upTo) && index <= upTo))
                    {
                        last = Math.Max(last, released[tid].GetValueOrDefault(name, w.End));
                    }
                }
                if (last >= 0 && (!holders.TryGetValue(tid, out int known) || known < last))
                {
                    holders[tid] = last;
                    changed = true;
                }
            }
        }
        return holders;
    }

    /// <summary>One line per window: race, mm, span, cone, and what its exploration covered.</summary>
    public static IEnumerable<string> Lines(IEnumerable<OpTraceWindow> windows, OpTrace trace)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(trace);
        var inv = CultureInfo.InvariantCulture;
        var ops = trace.Ops.ToArray();
        return windows.Select((w, i) => string.Create(inv,
            $"window {i} {w.Race} mm{w.Mm} seq {ops[w.Start].Seq}..{ops[w.End].Seq}: cone {w.ConeTasks} task{(w.ConeTasks == 1 ? "" : "s")}, {w.ConeOps:N0} op{(w.ConeOps == 1 ? "" : "s")}{(w.MovedOps > 0 ? $" ({w.MovedOps:N0} into the start state)" : "")}; ")
            + (w.Result is { } r
                ? string.Create(inv, $"{r.Schedules:N0} schedules, {r.Violations.Count} violation{(r.Violations.Count == 1 ? "" : "s")} ({string.Join(", ", r.Violations.Select(v => $"{v.Finding.Checker} {v.Finding.Race}"))}); {r.Coverage()}")
                : w.Skipped ?? ""));
    }
}
