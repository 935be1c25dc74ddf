using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>Where a decoded top-level field goes in the <see cref="EventRow"/>.</summary>
internal enum FieldTarget
{
    /// <summary>A typed payload column.</summary>
    Column,
    /// <summary>The <c>args</c> JSON object.</summary>
    Arg,
    /// <summary>Header pid (thread id): LTTng context <c>tid</c>, perf <c>perf_tid</c>.</summary>
    Tid,
    /// <summary>Thread id used only when no better source exists (<c>common_pid</c>, LTTng <c>vtid</c>).</summary>
    TidFallback,
    /// <summary>Header tgid: LTTng context <c>pid</c>, perf <c>perf_pid</c>.</summary>
    Tgid,
    /// <summary>Header cpu: perf <c>perf_cpu</c>, LTTng context <c>cpu_id</c>.</summary>
    Cpu,
    /// <summary>Header comm: LTTng context <c>procname</c>.</summary>
    Comm,
    /// <summary>Duplicates header information (<c>common_type</c>, <c>common_flags</c>...): decoded, not stored.</summary>
    Skip,
}

/// <summary>A top-level field of a context or payload struct and where its value goes.</summary>
internal sealed record CtfFieldPlan(CtfField Field, FieldTarget Target, int Ordinal, ColumnKind Kind, string Name)
{
    /// <summary>Plans every top-level field of <paramref name="structure"/>.</summary>
    /// <param name="structure">The context or payload struct.</param>
    /// <param name="canonicalEvent">Canonical event name ("" for the stream's event context).</param>
    /// <param name="isContext">Context fields name the current task; payload fields never do.</param>
    public static CtfFieldPlan[] Build(CtfStruct? structure, string canonicalEvent, bool isContext)
    {
        if (structure is null)
        {
            return [];
        }
        bool hasTid = structure.Find("_tid") is not null || structure.Find("tid") is not null;
        var plans = new List<CtfFieldPlan>();
        foreach (var field in structure.Fields)
        {
            string name = CtfEventNames.FieldName(field.Name, canonicalEvent);
            var target = (name, isContext) switch
            {
                ("tid", true) => FieldTarget.Tid,
                ("vtid", true) => hasTid ? FieldTarget.Arg : FieldTarget.TidFallback,
                ("pid", true) => FieldTarget.Tgid,
                ("procname", true) => FieldTarget.Comm,
                ("cpu_id", true) => FieldTarget.Cpu,
                ("perf_tid", _) => FieldTarget.Tid,
                ("perf_pid", _) => FieldTarget.Tgid,
                ("perf_cpu", _) => FieldTarget.Cpu,
                ("common_pid", _) => FieldTarget.TidFallback,
                ("common_type" or "common_flags" or "common_preempt_count", _) => FieldTarget.Skip,
                _ => EventSchema.TryGetField(name, out _) ? FieldTarget.Column : FieldTarget.Arg,
            };
            int ordinal = -1;
            var kind = ColumnKind.Text;
            if (target == FieldTarget.Column && EventSchema.TryGetField(name, out var column))
            {
                ordinal = column.Ordinal;
                kind = column.Kind;
            }
            plans.Add(new CtfFieldPlan(field, target, ordinal, kind, name));
        }
        return [.. plans];
    }
}

/// <summary>Reader state for one event class, built on first use.</summary>
internal sealed class CtfEventPlan(CtfEventClass eventClass)
{

    public CtfEventClass Class { get; } = eventClass;

    public string Canonical { get; private init; } = "";

    public SyscallRole Syscall { get; private init; }

    public string? LegacyExit { get; private init; }

    public bool IsSchedSwitch { get; private init; }

    public CtfFieldPlan[] Context { get; private init; } = [];

    public CtfFieldPlan[] Payload { get; private init; } = [];

    /// <summary>
    /// Payload (thread id, thread-group id) field pairs that tell which process a thread belongs to:
    /// LTTng's statedump lists every task at session start, sched_process_fork every new one.
    /// </summary>
    public (CtfField Tid, CtfField Tgid)[] ThreadGroups { get; private init; } = [];

    private static (CtfField, CtfField)[] FindThreadGroups(CtfEventClass eventClass, string canonical)
    {
        (string Tid, string Tgid)[] names = canonical switch
        {
            ":lttng_statedump_process_state" => [("_tid", "_pid")],
            "sched:sched_process_fork" => [("_parent_tid", "_parent_pid"), ("_child_tid", "_child_pid")],
            _ => [],
        };
        var pairs = new List<(CtfField, CtfField)>();
        foreach (var (tidName, tgidName) in names)
        {
            if (eventClass.Fields?.Find(tidName) is { Type: CtfInteger } tid && eventClass.Fields.Find(tgidName) is { Type: CtfInteger } tgid)
            {
                pairs.Add((tid, tgid));
            }
        }
        return [.. pairs];
    }

    public static CtfEventPlan For(CtfEventClass eventClass)
    {
        if (eventClass.Plan is CtfEventPlan plan)
        {
            return plan;
        }
        var (canonical, role, exit) = CtfEventNames.Map(eventClass.Name);
        plan = new CtfEventPlan(eventClass)
        {
            Canonical = canonical,
            Syscall = role,
            LegacyExit = exit,
            IsSchedSwitch = canonical == "sched:sched_switch",
            Context = CtfFieldPlan.Build(eventClass.Context, canonical, isContext: true),
            Payload = CtfFieldPlan.Build(eventClass.Fields, canonical, isContext: false),
            ThreadGroups = FindThreadGroups(eventClass, canonical),
        };
        eventClass.Plan = plan;
        return plan;
    }
}
