using System.Globalization;

namespace Pipeline.Replay;

public sealed partial class ReplayEngine
{
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
            $"seq {op.Seq.ToString(CultureInfo.InvariantCulture)} ({Name(op.Kind)}): {message}",
            "the op was not applied; replay continues with the model unchanged", null);
    }

    /// <summary>Records a finding with its witness built from the executed ops <paramref name="execs"/>.</summary>
    internal void AddFinding(string checker, string race, string cls, string severity, int mm, ulong va, ulong pfn,
        IEnumerable<long> execs, string message, string outcome, string? key)
    {
        if (key is not null && !_findingKeys.Add(key))
        {
            return;
        }
        var sorted = new SortedSet<long>();
        int lost = 0;
        foreach (long exec in execs)
        {
            if (exec < 0)
            {
                continue;
            }
            if (InWindow(exec))
            {
                sorted.Add(exec);
            }
            else
            {
                lost++;
            }
        }
        var steps = new List<WitnessStep>(sorted.Count);
        var cpus = new SortedDictionary<int, List<string>>();
        var seqs = new SortedSet<long>();
        foreach (long exec in sorted)
        {
            ref readonly var rec = ref Record(exec);
            var task = GetTask(rec.Op.Tid);
            steps.Add(new WitnessStep(steps.Count + 1, rec.Op.Cpu, rec.Op.Tid, rec.Op.Seq, Name(rec.Op.Kind), OpText.Describe(rec)));
            seqs.Add(rec.Op.Seq);
            if (!cpus.TryGetValue(rec.Op.Cpu, out var names))
            {
                names = [];
                cpus.Add(rec.Op.Cpu, names);
            }
            string name = $"{task.Comm}-{task.Tid.ToString(CultureInfo.InvariantCulture)}";
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }
        var columns = cpus.Select(kv => new WitnessColumn(kv.Key, $"CPU{kv.Key.ToString(CultureInfo.InvariantCulture)} ({string.Join(", ", kv.Value)})")).ToArray();
        if (lost > 0)
        {
            outcome += $" ({lost.ToString(CultureInfo.InvariantCulture)} earlier op(s) of the witness fell out of the {RingMask + 1}-op window)";
        }
        _findings.Add(new Finding
        {
            Checker = checker,
            Race = race,
            Class = cls,
            Severity = severity,
            Cpus = [.. cpus.Keys],
            Mm = mm,
            Va = va,
            Pfn = pfn,
            Seqs = [.. seqs],
            Message = message,
            Witness = new Witness(columns, steps, outcome),
        });
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
