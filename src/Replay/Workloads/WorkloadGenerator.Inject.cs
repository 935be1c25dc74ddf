namespace Pipeline.Replay.Workloads;

internal sealed partial class WorkloadGenerator
{
    // Injected races take their frames from a range the workload never allocates from, 1M-aligned so that
    // THP head alignment is kept.
    private const ulong InjectPfnBase = 0x1_0000_0000UL;

    /// <summary>The scenario-library scenario that stands for each race id.</summary>
    internal static string ScenarioFor(string raceId) => raceId switch
    {
        "R1" => "r1-pmd",
        "R2" => "r2-anon",
        "R3" => "r3-pte",
        "R4" => "r4-truncate",
        "R5" => "r5-exec-stack",
        _ => "r6-retract",
    };

    /// <summary>
    /// Emits the minimal racy interleaving of <paramref name="raceId"/> — the scenario library's program, with its
    /// mm, tables, frames, rmap objects and tasks renamed to fresh ids and its CPUs mapped onto ours — while every
    /// CPU is between activities, so it shares nothing with the rest of the workload.
    /// </summary>
    private void Inject(string raceId)
    {
        var trace = ScenarioLibrary.Get(ScenarioFor(raceId)).Build();
        var mmMap = new Dictionary<int, int>();
        var tidMap = new Dictionary<int, int>();
        var cpuMap = new Dictionary<int, int>();
        int tableBase = _nextTable;
        int rmapBase = _nextRmap;
        ulong pfnBase = InjectPfnBase + ((ulong)_injectNext << 20);
        int maxTable = 0;
        int maxRmap = 0;
        var order = new int[_cpus.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = _rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        foreach (ref readonly var src in trace.Ops)
        {
            var op = src;
            if (op.Mm != 0)
            {
                if (!mmMap.TryGetValue(op.Mm, out int mm))
                {
                    mm = _nextMm++;
                    mmMap.Add(op.Mm, mm);
                }
                op.Mm = mm;
            }
            if (!tidMap.TryGetValue(op.Tid, out int tid))
            {
                tid = _nextTid++;
                tidMap.Add(op.Tid, tid);
            }
            op.Tid = tid;
            if (!cpuMap.TryGetValue(op.Cpu, out int cpu))
            {
                cpu = order[cpuMap.Count % order.Length];
                cpuMap.Add(op.Cpu, cpu);
            }
            op.Cpu = cpu;
            if (op.Table != 0)
            {
                maxTable = Math.Max(maxTable, op.Table);
                op.Table += tableBase;
            }
            if (op.Pfn != 0)
            {
                if (op.Pfn >= 1UL << 20)
                {
                    ThrowInternal($"scenario {ScenarioFor(raceId)} uses pfn 0x{op.Pfn:x}, beyond the 1M frames an injection may rename");
                }
                op.Pfn += pfnBase;
            }
            if (op.Has(OpFlags.HasValue))
            {
                op.Value = EntryValue.KindOf(op.Value) switch
                {
                    EntryKind.Table => EntryValue.Table((int)EntryValue.Payload(op.Value) + tableBase),
                    EntryKind.Leaf => EntryValue.Leaf((ulong)EntryValue.Payload(op.Value) + pfnBase),
                    EntryKind.Swap => EntryValue.Swap((ulong)EntryValue.Payload(op.Value) + pfnBase),
                    _ => op.Value,
                };
            }
            if (CarriesRmap(op.Kind) && op.Obj != 0)
            {
                maxRmap = Math.Max(maxRmap, op.Obj);
                op.Obj += rmapBase;
            }
            op.Seq = _emitted;
            _sink.Add(op, trace.CommOf(src.Tid));
            _emitted++;
            if (op.Kind == OpKind.CtxSwitch)
            {
                _cpus[op.Cpu].LoadedMm = op.Mm;
            }
        }
        // Spare ids run upwards from a step's spare: keep a margin so the workload never reuses them.
        _nextTable = tableBase + maxTable + 64;
        _nextRmap = rmapBase + maxRmap + 1;
    }

    private static bool CarriesRmap(OpKind kind) => kind is OpKind.RmapLock or OpKind.RmapUnlock or OpKind.VmaCreate
        or OpKind.MremapMovePmd or OpKind.MremapMovePud or OpKind.MovePtes or OpKind.TtuStart or OpKind.TtuEnd
        or OpKind.RetractStart or OpKind.RetractEnd or OpKind.IpiSend or OpKind.IpiHandle;
}
