using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay.Triage;

/// <summary>A race scenario made from a report, and what replaying it showed.</summary>
/// <param name="Name">The library scenario it was made from.</param>
/// <param name="Trace">The instantiated op trace.</param>
/// <param name="Instantiated">Which report values went in (and which could not, and why).</param>
/// <param name="Profile">Profile it was replayed under (the report's kernel).</param>
/// <param name="Findings">Findings under <paramref name="Profile"/>.</param>
/// <param name="FixedProfile">The same kernel with the race's fix.</param>
/// <param name="FixedFindings">Findings under <paramref name="FixedProfile"/>.</param>
public sealed record ReportScenarioRun(
    string Name,
    OpTrace Trace,
    IReadOnlyList<string> Instantiated,
    KernelProfile Profile,
    IReadOnlyList<Finding> Findings,
    KernelProfile FixedProfile,
    IReadOnlyList<Finding> FixedFindings);

/// <summary>
/// Makes a scenario from a report: the race's op program from <see cref="ScenarioLibrary"/> with the reporting task
/// (pid, comm, CPU) and the page (pfn) of the report in place of the scenario's own, then replays it under the
/// report's kernel and under that kernel with the race's fix. Addresses stay the scenario's: a report prints kernel
/// addresses (KASAN's, the fault's), not the user virtual addresses the program maps, and the race needs its
/// PMD-aligned layout.
/// </summary>
public static class ReportScenario
{
    /// <summary>Instantiates and replays <paramref name="scenario"/> for <paramref name="crash"/> on x86.</summary>
    public static ReportScenarioRun Run(string scenario, RaceFacts race, CrashRecord crash, KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(race);
        ArgumentNullException.ThrowIfNull(crash);
        ArgumentNullException.ThrowIfNull(profile);
        var (trace, notes) = Instantiate(scenario, race, crash);
        var findings = ReplayEngine.Run(trace, profile, Arch.X86).Findings;
        KernelProfile fixedProfile = race.Fixed(profile);
        var fixedFindings = ReferenceEquals(fixedProfile, profile) ? findings : ReplayEngine.Run(trace, fixedProfile, Arch.X86).Findings;
        return new ReportScenarioRun(scenario, trace, notes, profile, findings, fixedProfile, fixedFindings);
    }

    /// <summary>The library scenario with the report's task and page in place of its own.</summary>
    public static (OpTrace Trace, IReadOnlyList<string> Notes) Instantiate(string scenario, RaceFacts race, CrashRecord crash)
    {
        ArgumentNullException.ThrowIfNull(race);
        ArgumentNullException.ThrowIfNull(crash);
        OpTrace template = ScenarioLibrary.Get(scenario).Build();
        var notes = new List<string>();
        Op[] ops = template.Ops.ToArray();
        var comms = template.Tasks.ToDictionary(t => t.Tid, t => t.Comm);
        int reporter = race.ReporterTid[scenario];
        int newTid = reporter;
        if (crash.Pid is int pid && pid > 0)
        {
            if (pid != reporter && comms.ContainsKey(pid))
            {
                notes.Add(Invariant($"pid {pid}: the scenario already has a task {pid}; kept {reporter}"));
            }
            else
            {
                newTid = pid;
                notes.Add(Invariant($"task {reporter} ({comms[reporter]}) -> pid {pid}"));
            }
        }
        else
        {
            notes.Add("the report prints no pid: the scenario's task id is kept");
        }
        string comm = comms[reporter];
        if (crash.Comm is { Length: > 0 } c)
        {
            comm = c;
            notes.Add($"comm {c}");
        }
        int oldCpu = template.Tasks.First(t => t.Tid == reporter).Cpu;
        int newCpu = crash.Cpu ?? oldCpu;
        if (crash.Cpu is int cpu)
        {
            notes.Add(Invariant($"cpu {cpu}"));
        }
        ulong oldPfn = race.VictimPfn.TryGetValue(scenario, out ulong v) ? v : 0;
        ulong newPfn = oldPfn;
        if (crash.PagePfn is ulong reportPfn && oldPfn != 0)
        {
            bool clash = reportPfn != oldPfn && ops.Any(o => o.Pfn == reportPfn);
            if (clash)
            {
                notes.Add(Invariant($"pfn 0x{reportPfn:x}: the scenario uses that frame for another page; kept 0x{oldPfn:x}"));
            }
            else
            {
                newPfn = reportPfn;
                notes.Add(Invariant($"pfn 0x{oldPfn:x} -> 0x{reportPfn:x}"));
            }
        }
        else if (oldPfn != 0)
        {
            notes.Add("the report prints no pfn: the scenario's page is kept");
        }
        for (int i = 0; i < ops.Length; i++)
        {
            ref Op op = ref ops[i];
            if (op.Tid == reporter)
            {
                op.Tid = newTid;
                op.Cpu = newCpu;
            }
            else if (op.Cpu == newCpu && newCpu != oldCpu)
            {
                // Another task ran on the report's CPU in the scenario: it takes the reporter's old CPU instead.
                op.Cpu = oldCpu;
            }
            if (oldPfn != 0 && op.Pfn == oldPfn)
            {
                op.Pfn = newPfn;
            }
        }
        comms.Remove(reporter);
        comms[newTid] = comm;
        return (new OpTrace(ops, comms), notes);
    }

    // "v5.13+ttu-sync" -> "v5.13": the longest profile name the adjusted name starts with.
    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
