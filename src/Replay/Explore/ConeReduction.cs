namespace Pipeline.Replay.Explore;

/// <summary>
/// The reduction of a window's cone by the orders the trace forces (docs/exploration.md, "Cone reduction"): a prefix
/// of a cone task whose every op either is independent (by footprint) of every op of the other cone tasks, or comes
/// before each op it conflicts with in every feasible schedule (a feasibility need or a forced order, closed through
/// program order), is run once in recorded order as part of the start state instead of being interleaved. Every
/// schedule of the whole cone is equivalent (the same ops, every conflicting pair in the same order) to those ops
/// first and then a schedule of the rest, so exploring the rest from the state they leave loses no violation.
/// </summary>
internal static class ConeReduction
{
    /// <summary>The cone's ops split into those run into the start state (recorded order) and those explored.</summary>
    /// <param name="Moved">The ops run into the start state, in recorded order.</param>
    /// <param name="Rest">The ops explored, in recorded order.</param>
    /// <param name="Start">A fresh copy of the start state after the moved ops, one per schedule.</param>
    /// <param name="Forced">The forced orders between explored ops, as indices into <paramref name="Rest"/> (those whose
    /// earlier op moved hold in every schedule already).</param>
    internal sealed record Split(List<Op> Moved, List<Op> Rest, Func<ReplayEngine> Start, List<(int Before, int After)> Forced);

    /// <summary>
    /// Explores a window's <paramref name="cone"/> (recorded order) from <paramref name="start"/>, a copy of the model at
    /// the window's start that runs no op afterwards: reduced first when <paramref name="options"/> ask for it, and each
    /// violation's schedule then begins with the ops the reduction ran into the start state. Returns the result and how
    /// many ops moved.
    /// </summary>
    public static (ExploreResult Result, int MovedOps) Explore(List<Op> cone, IReadOnlyDictionary<int, string> comms,
        KernelProfile profile, Arch arch, ExploreOptions options, ReplayEngine start, IReadOnlyList<(int Before, int After)> forced,
        CancellationToken cancellationToken)
    {
        var trace = new OpTrace(cone, comms);
        var split = options.ReduceCone && options.Strategy != ExploreStrategy.Naive ? Reduce(trace, profile, arch, start, forced) : null;
        if (split is null)
        {
            return (new Explorer(trace, profile, arch, options, () => start.Fork(shareFrozenPages: true), forced).Run(cancellationToken), 0);
        }
        var result = new Explorer(new OpTrace(split.Rest, comms), profile, arch, options, split.Start, split.Forced).Run(cancellationToken);
        // The moved ops ran first, in recorded order, in every schedule: each witness is them, then the schedule.
        result.Violations = [.. result.Violations.Select(v => v.WithLeading(split.Moved))];
        return (result, split.Moved.Count);
    }

    /// <summary>
    /// Splits <paramref name="cone"/> (recorded order) whose schedules start from a fork of <paramref name="start"/>; the
    /// <paramref name="forced"/> orders are indices into the cone as for <see cref="Explorer"/>. Returns null when
    /// nothing moves, or when running the moved ops reports a finding (a schedule of the whole cone would report it:
    /// the window keeps it by not reducing).
    /// </summary>
    public static Split? Reduce(OpTrace cone, KernelProfile profile, Arch arch, ReplayEngine start,
        IReadOnlyList<(int Before, int After)> forced)
    {
        int n = cone.Tasks.Count;
        var ops = cone.Ops;
        var (programs, recordedTask, recordedLocal) = Programs(cone);
        var (need, link) = Feasibility.Analyze(cone, programs, recordedTask, recordedLocal, profile, arch, () => start.Fork(shareFrozenPages: true));
        foreach (var (before, after) in forced)
        {
            int t = recordedTask[after];
            if (t != recordedTask[before])
            {
                need[t][recordedLocal[after]] = [.. need[t][recordedLocal[after]], (recordedTask[before], recordedLocal[before] + 1)];
            }
        }
        // Happens-before in every feasible schedule: per op, how many ops of each task must have run before it
        // (needs and forced orders, closed through program order and through the needed ops' own requirements).
        var req = programs.Select(p => new int[p.Length][]).ToArray();
        for (int r = 0; r < ops.Length; r++)
        {
            int t = recordedTask[r];
            int l = recordedLocal[r];
            var v = l > 0 ? (int[])req[t][l - 1].Clone() : new int[n];
            v[t] = l;
            foreach (var (q, count) in need[t][l])
            {
                if (count > 0 && count - 1 < req[q].Length && req[q][count - 1] is { } before)
                {
                    for (int k = 0; k < n; k++)
                    {
                        v[k] = Math.Max(v[k], before[k]);
                    }
                }
                v[q] = Math.Max(v[q], count);
            }
            req[t][l] = v;
        }
        // Footprints in the recorded run (the state each op ran in there). The ops moved are those that conflict with
        // no op they are not ordered with, so no other schedule changes what they meet.
        var cpus = cone.Tasks.Select(x => x.Cpu).Concat(ops.ToArray().Select(o => o.Cpu)).Distinct().Order().ToArray();
        var footprints = programs.Select(p => new Footprint[p.Length]).ToArray();
        var engine = start.Fork(shareFrozenPages: true);
        foreach (var task in cone.Tasks)
        {
            engine.NameTask(task.Tid, task.Comm);
        }
        int findings = engine.Findings.Count;
        int inconsistent = engine.InconsistentCount;
        for (int r = 0; r < ops.Length; r++)
        {
            var fp = new Footprint();
            fp.Of(ops[r], engine, cpus);
            footprints[recordedTask[r]][recordedLocal[r]] = fp;
            engine.Execute(ops[r]);
        }
        if (engine.InconsistentCount != inconsistent)
        {
            // The model refuses an op of the recorded order: the run the footprints come from is not one to trust.
            return null;
        }
        // Where a task's prefix may end: outside every section it entered in the cone (a lock, an rmap walk, a
        // retract: the explorer resolves the ops inside a walk from the walk's start) and not between a lockless read
        // and the op of the same task that uses its table (the explorer follows the read's value in each schedule).
        var cut = new bool[n][];
        for (int t = 0; t < n; t++)
        {
            var p = programs[t];
            cut[t] = new bool[p.Length + 1];
            int depth = 0;
            int linkedUpTo = -1;
            cut[t][0] = true;
            for (int k = 0; k < p.Length; k++)
            {
                depth += OpTraceWindows.Nesting(p[k]);
                if (link[t][k] >= 0)
                {
                    linkedUpTo = Math.Max(linkedUpTo, k);
                }
                cut[t][k + 1] = depth <= 0;
            }
            // A read whose table a later op uses keeps that later op with it: no cut between them.
            for (int k = 0; k < p.Length; k++)
            {
                if (link[t][k] >= 0)
                {
                    for (int c = link[t][k] + 1; c <= k; c++)
                    {
                        cut[t][c] = false;
                    }
                }
            }
        }
        bool Before(int t, int k, int q, int m) => req[q][m][t] >= k + 1;
        bool Movable(int[] moved, int t, int k)
        {
            // Everything it needs is moved already.
            for (int q = 0; q < n; q++)
            {
                if (q != t && req[t][k][q] > moved[q])
                {
                    return false;
                }
            }
            var fp = footprints[t][k];
            for (int q = 0; q < n; q++)
            {
                if (q == t)
                {
                    continue;
                }
                for (int m = 0; m < programs[q].Length; m++)
                {
                    if (!fp.ConflictsWith(footprints[q][m]))
                    {
                        continue;
                    }
                    // A conflicting op already moved must come before it in every schedule, one not moved after it:
                    // either way the pair's order is the recorded one in every schedule.
                    if (m < moved[q] ? !Before(q, m, t, k) : !Before(t, k, q, m))
                    {
                        return false;
                    }
                }
            }
            return true;
        }
        // Per task, the moved prefix: grown while its next op is movable, committed at each cut; the ops past the last
        // cut are tried again in a later round (another task's moved ops may make them movable).
        var moved = new int[n];
        bool grew = true;
        while (grew)
        {
            grew = false;
            for (int t = 0; t < n; t++)
            {
                for (int k = moved[t]; k < programs[t].Length && Movable(moved, t, k);)
                {
                    k++;
                    if (cut[t][k])
                    {
                        moved[t] = k;
                        grew = true;
                    }
                }
            }
        }
        // No task may wait on a moved op after it ran an op that stays: the first op it keeps must need every moved op
        // that any of its later ops needs. A switch away from a task that waits is free in the whole cone and would
        // cost a preemption in the reduced one (the moved op has run there): with this, no schedule of the reduced
        // cone needs more preemptions than the schedule of the whole cone it stands for. Where it fails, the moved
        // prefix shrinks to what that first op needs, and the prefixes that needed more shrink with it.
        bool shrunk = true;
        while (shrunk)
        {
            shrunk = false;
            for (int x = 0; x < n; x++)
            {
                int first = moved[x];
                for (int k = first; k < programs[x].Length; k++)
                {
                    for (int q = 0; q < n; q++)
                    {
                        int allowed = first < programs[x].Length ? req[x][first][q] : moved[q];
                        if (q != x && Math.Min(req[x][k][q], moved[q]) > allowed)
                        {
                            moved[q] = LastCut(cut[q], allowed);
                            shrunk = true;
                        }
                    }
                }
            }
            // A moved op whose need is no longer moved is not movable any more.
            for (int t = 0; t < n; t++)
            {
                for (int k = 0; k < moved[t]; k++)
                {
                    if (Enumerable.Range(0, n).Any(q => q != t && req[t][k][q] > moved[q]))
                    {
                        moved[t] = LastCut(cut[t], k);
                        shrunk = true;
                        break;
                    }
                }
            }
        }
        if (moved.Sum() == 0)
        {
            return null;
        }
        var movedOps = new List<Op>();
        var rest = new List<Op>();
        var restIndex = new int[ops.Length];
        for (int r = 0; r < ops.Length; r++)
        {
            bool early = recordedLocal[r] < moved[recordedTask[r]];
            restIndex[r] = early ? -1 : rest.Count;
            (early ? movedOps : rest).Add(ops[r]);
        }
        var restForced = forced.Where(f => restIndex[f.Before] >= 0 && restIndex[f.After] >= 0)
            .Select(f => (restIndex[f.Before], restIndex[f.After])).ToList();
        // A full copy (a fork of a shared fork is not possible), run on through the moved ops, then shared per schedule.
        var frozen = start.Fork();
        foreach (var task in cone.Tasks)
        {
            frozen.NameTask(task.Tid, task.Comm);
        }
        foreach (var op in movedOps)
        {
            frozen.Execute(op);
        }
        if (frozen.Findings.Count != findings || frozen.InconsistentCount != inconsistent)
        {
            return null;
        }
        return new Split(movedOps, rest, () => frozen.Fork(shareFrozenPages: true), restForced);
    }

    // The largest cut of a task's program at or below k (0 always is one).
    private static int LastCut(bool[] cut, int k)
    {
        while (k > 0 && !cut[k])
        {
            k--;
        }
        return k;
    }

    /// <summary>A trace's per-task programs in task order, and each op's task and position in its program.</summary>
    internal static (Op[][] Programs, int[] RecordedTask, int[] RecordedLocal) Programs(OpTrace trace)
    {
        int n = trace.Tasks.Count;
        var index = new Dictionary<int, int>();
        for (int t = 0; t < n; t++)
        {
            index[trace.Tasks[t].Tid] = t;
        }
        var programs = Enumerable.Range(0, n).Select(_ => new List<Op>()).ToArray();
        var recordedTask = new int[trace.Count];
        var recordedLocal = new int[trace.Count];
        for (int i = 0; i < trace.Count; i++)
        {
            int t = index[trace.Ops[i].Tid];
            recordedTask[i] = t;
            recordedLocal[i] = programs[t].Count;
            programs[t].Add(trace.Ops[i]);
        }
        return (programs.Select(p => p.ToArray()).ToArray(), recordedTask, recordedLocal);
    }
}
