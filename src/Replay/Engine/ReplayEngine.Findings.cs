using System.Globalization;

namespace Pipeline.Replay;

/// <summary>
/// One race instance: the checker, the mm, the page (<c>'p'</c>) or table (<c>'t'</c>) it concerns and the
/// executed op that caused it. Each instance is reported once; what follows from it goes into its witness.
/// </summary>
internal readonly record struct RaceInstance(string Checker, int Mm, char Object, ulong Id, long Cause);

public sealed partial class ReplayEngine
{
    /// <summary>An op's name in messages: a move step's upper-table allocation is the <c>pte_alloc</c> micro-op at
    /// the level of the table it makes (<c>pmd_alloc</c>, <c>pud_alloc</c>, <c>p4d_alloc</c>).</summary>
    internal static string MicroName(in Op op) =>
        op.Kind == OpKind.PteAlloc && op.Level != Level.Pte ? $"{OpSpec.LevelName(op.Level)}_alloc" : Name(op.Kind);

    /// <summary>Reports input that contradicts itself or the model; never a race.</summary>
    internal void Inconsistent(in Op op, string message, long[] execs)
    {
        _inconsistentCount++;
        if (_inconsistentCount > MaxInconsistent)
        {
            _findingsDropped++;
            return;
        }
        AddFinding("input", "inconsistent", FindingClass.Inconsistent, Severity.Error, op.Mm, op.Va, op.Pfn, execs,
            $"seq {op.Seq.ToString(CultureInfo.InvariantCulture)} ({MicroName(op)}): {message}",
            "the op was not applied; replay continues with the model unchanged");
    }

    /// <summary>
    /// Records a race finding once per race instance (checker, mm, page or table, causing op): a checker that meets
    /// the same instance again (another CPU's stale entry for the same free, the outcome of a racy set) gets the
    /// index of the finding already made, so it can add what it saw with <see cref="AmendFinding"/>.
    /// </summary>
    internal int AddRace(in RaceInstance instance, string race, string severity, ulong va, ulong pfn,
        IEnumerable<long> execs, string message, string outcome)
    {
        if (_instances.TryGetValue(instance, out int known))
        {
            return known;
        }
        if (_priorInstances.Contains(instance))
        {
            return PriorFinding;
        }
        int index = AddFinding(instance.Checker, race, FindingClass.Race, severity, instance.Mm, va, pfn, execs, message, outcome);
        _instances.Add(instance, index);
        return index;
    }

    /// <summary>The outcome the finding at <paramref name="index"/> states so far.</summary>
    internal string FindingOutcome(int index) => _drafts[index].Outcome;

    /// <summary>The finding already made for <paramref name="instance"/>, <see cref="PriorFinding"/> when it was made before this engine was forked, or -1.</summary>
    internal int FindingOf(in RaceInstance instance) => _instances.TryGetValue(instance, out int index) ? index
        : _priorInstances.Contains(instance) ? PriorFinding : -1;

    /// <summary>Records a finding with its witness built from the executed ops <paramref name="execs"/>.</summary>
    internal int AddFinding(string checker, string race, string cls, string severity, int mm, ulong va, ulong pfn,
        IEnumerable<long> execs, string message, string outcome)
    {
        var draft = new WitnessDraft { Outcome = outcome };
        AppendSteps(draft, execs, long.MinValue);
        _drafts.Add(draft);
        _findings.Add(new Finding
        {
            Checker = checker,
            Race = race,
            Class = cls,
            Severity = severity,
            Cpus = [.. draft.Cpus.Keys],
            Mm = mm,
            Va = va,
            Pfn = pfn,
            Seqs = [.. draft.Seqs],
            Message = message,
            Witness = new Witness(draft.Columns(), draft.Steps.ToArray(), WithLost(outcome, draft.Lost)),
        });
        return _findings.Count - 1;
    }

    /// <summary>
    /// Adds the outcome of a race instance to the finding that reported its cause: the ops in
    /// <paramref name="execs"/> that come after the witness so far become its last steps, and
    /// <paramref name="outcome"/> replaces the predicted consequence with the observed one.
    /// </summary>
    internal void AmendFinding(int index, IEnumerable<long> execs, string outcome)
    {
        if (index < 0)
        {
            // A finding made before the fork: its outcome belongs to the prefix's report, not the window's.
            return;
        }
        var draft = _drafts[index];
        AppendSteps(draft, execs, draft.LastExec);
        draft.Outcome = outcome;
        var f = _findings[index];
        _findings[index] = f with
        {
            Cpus = [.. draft.Cpus.Keys],
            Seqs = [.. draft.Seqs],
            Witness = new Witness(draft.Columns(), draft.Steps.ToArray(), WithLost(outcome, draft.Lost)),
        };
    }

    private static string WithLost(string outcome, int lost) => lost == 0 ? outcome
        : outcome + $" ({lost.ToString(CultureInfo.InvariantCulture)} earlier op(s) of the witness fell out of the {RingMask + 1}-op window)";

    private void AppendSteps(WitnessDraft draft, IEnumerable<long> execs, long after)
    {
        var sorted = new SortedSet<long>();
        foreach (long exec in execs)
        {
            if (exec < 0 || exec <= after)
            {
                continue;
            }
            if (InWindow(exec))
            {
                sorted.Add(exec);
            }
            else
            {
                draft.Lost++;
            }
        }
        foreach (long exec in sorted)
        {
            ref readonly var rec = ref Record(exec);
            var task = GetTask(rec.Op.Tid);
            draft.Steps.Add(new WitnessStep(draft.Steps.Count + 1, rec.Op.Cpu, rec.Op.Tid, rec.Op.Seq, Name(rec.Op.Kind), OpText.Describe(rec)));
            draft.Seqs.Add(rec.Op.Seq);
            draft.LastExec = exec;
            if (!draft.Cpus.TryGetValue(rec.Op.Cpu, out var names))
            {
                names = [];
                draft.Cpus.Add(rec.Op.Cpu, names);
            }
            string name = $"{task.Comm}-{task.Tid.ToString(CultureInfo.InvariantCulture)}";
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }
    }

    /// <summary>A witness under construction: it can grow when the outcome of its race shows later.</summary>
    private sealed class WitnessDraft
    {
        public readonly List<WitnessStep> Steps = [];
        public readonly SortedDictionary<int, List<string>> Cpus = [];
        public readonly SortedSet<long> Seqs = [];
        public long LastExec = long.MinValue;
        public int Lost;
        public string Outcome = "";

        public WitnessColumn[] Columns() =>
            Cpus.Select(kv => new WitnessColumn(kv.Key, $"CPU{kv.Key.ToString(CultureInfo.InvariantCulture)} ({string.Join(", ", kv.Value)})")).ToArray();
    }

    /// <summary>Recent flushes of <paramref name="mm"/> after <paramref name="after"/>.</summary>
    internal IEnumerable<long> FlushesAfter(MmState mm, long after)
    {
        int n = Math.Min(mm.FlushCount, mm.FlushRing.Length);
        for (int i = 0; i < n; i++)
        {
            long exec = mm.FlushRing[(mm.FlushCount - 1 - i) & 7];
            if (exec > after)
            {
                yield return exec;
            }
        }
    }

    internal IEnumerable<TaskState> Tasks => _taskOrder;

    /// <summary>Up to <paramref name="max"/> recent executed ops of the same program op (a kernel step's primitives).</summary>
    internal IEnumerable<long> SameStepExecs(long seq, int tid, int max)
    {
        var found = new List<long>();
        for (long e = _exec - 1; e >= 0 && _exec - e <= 4096 && InWindow(e) && found.Count < max; e--)
        {
            ref readonly var rec = ref Record(e);
            if (rec.Op.Seq == seq && rec.Op.Tid == tid)
            {
                found.Add(e);
            }
            else if (rec.Op.Tid == tid && rec.Op.Seq < seq)
            {
                break;
            }
        }
        return found;
    }

    internal bool WarnOnceFired(bool set)
    {
        bool was = _warnedOnce;
        _warnedOnce |= set;
        return was;
    }

    internal long RcuQueuedExec(int table)
    {
        foreach (var (id, exec) in _rcuPending)
        {
            if (id == table)
            {
                return exec;
            }
        }
        return -1;
    }
}
