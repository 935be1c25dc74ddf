namespace Pipeline.Replay;

/// <summary>A task of an op trace: thread id, name, and the CPU it runs on.</summary>
/// <param name="Tid">Thread id.</param>
/// <param name="Comm">Task name.</param>
/// <param name="Cpu">CPU of its first op.</param>
public sealed record TaskInfo(int Tid, string Comm, int Cpu);

/// <summary>
/// Per-task programs plus the observed order. <see cref="Ops"/> holds every op in observed (schedule)
/// order; each task's program is the subsequence with its tid, and the schedule is the sequence of tids.
/// Replaying with another <c>ISchedule</c> re-executes the same programs in another interleaving.
/// </summary>
public sealed class OpTrace
{
    private readonly Op[] _ops;
    private readonly TaskInfo[] _tasks;

    /// <summary>Creates a trace from ops in observed order and task names.</summary>
    public OpTrace(IEnumerable<Op> ops, IReadOnlyDictionary<int, string>? comms = null, long ignoredEvents = 0)
    {
        _ops = ops.ToArray();
        var seen = new Dictionary<int, TaskInfo>();
        var order = new List<TaskInfo>();
        foreach (ref readonly var op in _ops.AsSpan())
        {
            if (!seen.ContainsKey(op.Tid))
            {
                string comm = comms is not null && comms.TryGetValue(op.Tid, out var c) ? c : "task";
                var info = new TaskInfo(op.Tid, comm, op.Cpu);
                seen.Add(op.Tid, info);
                order.Add(info);
            }
        }
        _tasks = [.. order];
        IgnoredEvents = ignoredEvents;
    }

    /// <summary>Every op in observed order.</summary>
    public ReadOnlySpan<Op> Ops => _ops;

    /// <summary>Number of ops.</summary>
    public int Count => _ops.Length;

    /// <summary>Tasks in order of first appearance.</summary>
    public IReadOnlyList<TaskInfo> Tasks => _tasks;

    /// <summary>Events of the source that were not ops (counted by <see cref="OpTraceLoader"/>).</summary>
    public long IgnoredEvents { get; }

    /// <summary>The observed schedule: the tid of each op in order.</summary>
    public int[] Schedule()
    {
        var schedule = new int[_ops.Length];
        for (int i = 0; i < _ops.Length; i++)
        {
            schedule[i] = _ops[i].Tid;
        }
        return schedule;
    }

    /// <summary>The program of task <paramref name="tid"/>: its ops in order.</summary>
    public Op[] Program(int tid)
    {
        var program = new List<Op>();
        foreach (ref readonly var op in _ops.AsSpan())
        {
            if (op.Tid == tid)
            {
                program.Add(op);
            }
        }
        return [.. program];
    }

    /// <summary>Name of task <paramref name="tid"/>.</summary>
    public string CommOf(int tid)
    {
        foreach (var task in _tasks)
        {
            if (task.Tid == tid)
            {
                return task.Comm;
            }
        }
        return "task";
    }
}
