using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// Exploring a window from the state a recorded prefix left (docs/exploration.md, "Real traces"): the engine is
/// forked once at the window's start and every schedule starts from a copy of it, as <c>mmtrace explore</c> does for
/// each exposure window of a lowered trace.
/// </summary>
public class WindowExploreTests
{
    /// <summary>The scenario's benign order split where a second task first runs: the prefix (one task's setup) and the window.</summary>
    private static (OpTrace Window, ReplayEngine Start) Split(OpTrace benign, KernelProfile profile, Arch arch)
    {
        var ops = benign.Ops;
        // The setup (address space, tables, pages) before the first op of a kernel path.
        int split = 0;
        while (split < ops.Length && ops[split].Kind is OpKind.MmCreate or OpKind.VmaCreate or OpKind.TableAlloc or OpKind.PageAlloc
            or OpKind.PteSet or OpKind.PmdPopulate or OpKind.PudPopulate or OpKind.CtxSwitch)
        {
            split++;
        }
        var start = new ReplayEngine(profile, arch);
        foreach (var task in benign.Tasks)
        {
            start.NameTask(task.Tid, task.Comm);
        }
        for (int i = 0; i < split; i++)
        {
            start.Execute(ops[i]);
        }
        var comms = benign.Tasks.ToDictionary(t => t.Tid, t => t.Comm);
        return (new OpTrace(ops[split..].ToArray(), comms), start);
    }

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var scenario in ScenarioLibrary.All.Where(s => !s.MaskedOn.Contains(Arch.X86) && s.BuildBenign().Tasks.Count > 1))
        {
            data.Add(scenario.Name, scenario.BuggyProfiles.First(p => p != "none"), true);
            data.Add(scenario.Name, "latest", false);
        }
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Window_FromForkedPrefix_ConfirmsUnderBuggyProfileAndRefutesUnderLatest(string name, string profile, bool buggy)
    {
        var scenario = ScenarioLibrary.Get(name);
        var kernel = KernelProfile.Parse(profile);
        var (window, start) = Split(scenario.BuildBenign(), kernel, Arch.X86);
        Skip.If(window.Tasks.Count < 2, $"{name}: one task after the split");

        var result = new Explorer(window, kernel, Arch.X86, new ExploreOptions { Bound = buggy ? 2 : 3 }, () => start.Fork(shareFrozenPages: true), []).Run();

        Assert.True(result.Exhaustive, result.Coverage());
        if (buggy)
        {
            Assert.Contains(result.Violations, v => v.Finding.Race == scenario.Race && v.Finding.Checker == scenario.Checker);
        }
        else
        {
            Assert.Empty(result.Violations);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Window_ReducedCone_FindsWhatTheWholeConeFinds(string name, string profile, bool buggy)
    {
        // The cone reduction (docs/exploration.md, "Cone reduction") runs a task's prefix into the start state when no
        // schedule reorders it against another task's conflicting ops. Every schedule of the whole window is then the
        // moved ops followed by a schedule of the rest, with no more preemptions: the reduced search reaches every race
        // instance the whole one reaches, with no more preemptions, and no other.
        var scenario = ScenarioLibrary.Get(name);
        var kernel = KernelProfile.Parse(profile);
        var (window, start) = Split(scenario.BuildBenign(), kernel, Arch.X86);
        Skip.If(window.Tasks.Count < 2, $"{name}: one task after the split");
        var options = new ExploreOptions { Bound = buggy ? 2 : 3 };

        var whole = new Explorer(window, kernel, Arch.X86, options, () => start.Fork(shareFrozenPages: true), []).Run();
        var split = ConeReduction.Reduce(window, kernel, Arch.X86, start, []);
        var reduced = split is null ? whole
            : new Explorer(new OpTrace(split.Rest, window.Tasks.ToDictionary(t => t.Tid, t => t.Comm)), kernel, Arch.X86, options, split.Start, split.Forced).Run();

        Assert.True(reduced.Exhaustive, reduced.Coverage());
        Assert.Equal(whole.Violations.Select(v => v.Key).Order(), reduced.Violations.Select(v => v.Key).Order());
        foreach (var v in reduced.Violations)
        {
            Assert.True(v.Preemptions <= whole.Violations.Single(w => w.Key == v.Key).Preemptions, $"{v.Key}: {v.Preemptions} preemptions reduced");
        }
    }

    [SkippableFact]
    public void Fork_RunsTheRestOfATraceExactlyAsTheEngineItCameFrom()
    {
        // Forked at every point of every scenario: a fork taken where a CPU still caches an mm's entries must flush
        // them as the original does (the per-mm cache counts travel with the fork).
        foreach (var scenario in ScenarioLibrary.All)
        foreach (int half in Enumerable.Range(1, scenario.Build().Ops.Length - 1))
        {
            var trace = scenario.Build();
            var kernel = KernelProfile.Parse(scenario.BuggyProfiles.First(p => p != "none"));
            var ops = trace.Ops;
            var original = new ReplayEngine(kernel, Arch.Arm64);
            foreach (var task in trace.Tasks)
            {
                original.NameTask(task.Tid, task.Comm);
            }
            for (int i = 0; i < half; i++)
            {
                original.Execute(ops[i]);
            }
            int before = original.Findings.Count;
            // As for a window: a deep copy the original runs on from, and forks of that frozen copy.
            var deep = original.Fork();
            var fork = deep.Fork(shareFrozenPages: true);
            var again = deep.Fork(shareFrozenPages: true);
            for (int i = half; i < ops.Length; i++)
            {
                original.Execute(ops[i]);
                fork.Execute(ops[i]);
                again.Execute(ops[i]);
            }
            // The forks report what happened after the fork, as the original does, and only that: a consequence of a race
            // instance the original reported before the fork point (a later read of the table it freed, the free of the
            // page it mlocked) amends that earlier finding there, and is no finding of the fork's.
            var expected = original.Finish().Findings.Skip(before).Select(Key).ToList();
            var forked = fork.Finish().Findings.Select(Key).ToList();
            Assert.True(expected.SequenceEqual(forked), $"{scenario.Name} forked after op {half} of {ops.Length} ({ops[half - 1].Kind}): [{string.Join("; ", forked)}], the engine it came from: [{string.Join("; ", expected)}]");
            Assert.Equal(forked, again.Finish().Findings.Select(Key).ToList());
        }

        static string Key(Finding f) => $"{f.Checker} {f.Race} {f.Class} mm{f.Mm} va{f.Va:x} pfn{f.Pfn:x}: {f.Message}";
    }

    [SkippableFact]
    public void ForcedOrders_KeepAWriteLockHandOverAndAWakeup()
    {
        var locker = new Op { Kind = OpKind.MmapLock, Tid = 1, Cpu = 0, Mm = 1, Seq = 10, Flags = OpFlags.Write };
        var unlocker = new Op { Kind = OpKind.MmapUnlock, Tid = 1, Cpu = 0, Mm = 1, Seq = 11 };
        var reader = new Op { Kind = OpKind.MmapLock, Tid = 2, Cpu = 1, Mm = 1, Seq = 12 };
        var readerUnlock = new Op { Kind = OpKind.MmapUnlock, Tid = 2, Cpu = 1, Mm = 1, Seq = 13 };
        var otherReader = new Op { Kind = OpKind.MmapLock, Tid = 3, Cpu = 1, Mm = 1, Seq = 14 };
        var woken = new Op { Kind = OpKind.MmapUnlock, Tid = 3, Cpu = 1, Mm = 1, Seq = 20 };
        Op[] cone = [locker, unlocker, reader, readerUnlock, otherReader, woken];

        var forced = RealTraceExplore.ForcedOrders(cone, [(Seq: 15, Waker: 2, Wakee: 3)]);

        // The reader took the lock the writer released: kept. Two readers in turn prove nothing: free. Task 3's op
        // after the wakeup stays after task 2's last op before it.
        Assert.Equal([(1, 2), (3, 5)], forced);
    }
}
