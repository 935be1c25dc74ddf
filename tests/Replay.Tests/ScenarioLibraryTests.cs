namespace Pipeline.Replay.Tests;

public class ScenarioLibraryTests
{
    // Which profile and architecture give which finding for each scenario is pinned by the reviewed golden
    // matrix (ScenarioMatrixTests), not derived from the library's own buggy/fixed lists.

    [SkippableTheory]
    [InlineData("r1-pmd", "v5.13", Arch.X86)]
    [InlineData("r2-file", "v6.0", Arch.Arm64)]
    [InlineData("r3-thp", "v5.12", Arch.X86)]
    [InlineData("r4-munlock", "v4.3", Arch.Arm64)]
    [InlineData("r5-exec-stack", "v6.6", Arch.X86)]
    [InlineData("r6-retract", "v6.11", Arch.Arm64)]
    public void Run_BuggyProfile_FindingHasAWitnessAndSeqs(string name, string profile, Arch arch)
    {
        var result = ReplayEngine.Run(ScenarioLibrary.Get(name).Build(), KernelProfile.Parse(profile), arch);

        var finding = Assert.Single(result.Findings);
        Assert.Equal(FindingClass.Race, finding.Class);
        Assert.NotEmpty(finding.Witness.Steps);
        Assert.NotEmpty(finding.Seqs);
        Assert.Empty(result.Unfinished);
    }

    [SkippableFact]
    public void Run_R1BatchedReclaim_MaskedOnX86OpenOnArm64()
    {
        var trace = ScenarioLibrary.Get("r1-pmd-reclaim").Build();
        var profile = KernelProfile.Parse("v5.13");

        var x86 = ReplayEngine.Run(trace, profile, Arch.X86);
        var arm64 = ReplayEngine.Run(trace, profile, Arch.Arm64);

        Assert.Empty(x86.Findings);
        var finding = Assert.Single(arm64.Findings);
        Assert.Equal("I1", finding.Checker);
        Assert.Equal([3], finding.Cpus.Where(c => c == 3));
        Assert.Equal(0x40201000UL, finding.Va);
        Assert.Equal(0x5000UL, finding.Pfn);
    }

    [SkippableFact]
    public void Run_R1UnbatchedMigration_OpenOnBothArchitectures()
    {
        var trace = ScenarioLibrary.Get("r1-pmd").Build();
        foreach (var arch in new[] { Arch.X86, Arch.Arm64 })
        {
            var finding = Assert.Single(ReplayEngine.Run(trace, KernelProfile.Parse("v5.13"), arch).Findings);
            Assert.Equal(Severity.Critical, finding.Severity);
            Assert.Contains("CPU3", finding.Message, StringComparison.Ordinal);
        }
    }

    [SkippableTheory]
    [InlineData("r1-pmd", "v5.13", "+rmap-locks-pmd-move", 0)]
    [InlineData("r1-pmd", "latest", "-rmap-locks-pmd-move", 1)]
    [InlineData("r2-anon", "latest", "-table-free-ipi-sync", 1)]
    [InlineData("r3-pte", "latest", "-ttu-sync", 1)]
    [InlineData("r4-truncate", "latest", "-mlock-under-ptl", 1)]
    [InlineData("r5-exec-stack", "v6.6", "+skip-pmd-move-on-overlap", 0)]
    [InlineData("r5-exec-stack", "v6.6", "+realign-pmd", 0)]
    [InlineData("r5-exec-stack", "latest", "-realign-pmd", 1)]
    [InlineData("r6-retract", "v6.11", "+pmd-recheck-under-locks", 0)]
    [InlineData("r6-retract", "latest", "-pmd-recheck-under-locks", 1)]
    public void Run_SingleFixToggled_FindingFollowsTheFix(string name, string profile, string fix, int expected)
    {
        var result = ReplayEngine.Run(ScenarioLibrary.Get(name).Build(), KernelProfile.Parse(profile, [fix]), Arch.X86);

        Assert.Equal(expected, result.Findings.Count);
    }

    [SkippableFact]
    public void Run_R5WithWarnOnOnce_MessageSaysWarnOnOnce()
    {
        var trace = ScenarioLibrary.Get("r5-exec-stack").Build();

        var before = Assert.Single(ReplayEngine.Run(trace, KernelProfile.Parse("none"), Arch.X86).Findings);
        var after = Assert.Single(ReplayEngine.Run(trace, KernelProfile.Parse("v5.8"), Arch.X86).Findings);

        Assert.Equal(Severity.Warning, after.Severity);
        Assert.Contains("WARN_ON fires", before.Witness.Outcome, StringComparison.Ordinal);
        Assert.Contains("WARN_ON_ONCE fires", after.Witness.Outcome, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Run_R1FixedSchedule_MremapWaitsForTheRmapWalk()
    {
        // Under the fix, the move must happen after the walker's rmap_unlock: the later access through the
        // new address sees the migration entry the walker left, not the page.
        var trace = ScenarioLibrary.Get("r1-pmd").Build();
        var engine = new ReplayEngine(KernelProfile.Latest, Arch.X86);
        foreach (var op in trace.Ops)
        {
            engine.Execute(op);
        }
        var result = engine.Finish();

        Assert.Empty(result.Findings);
        Assert.Equal(trace.Count, result.ProgramOps);
    }

    [SkippableFact]
    public void Run_OtherSchedule_WalkerFinishesFirst_NoRace()
    {
        var trace = ScenarioLibrary.Get("r1-pmd").Build();
        var order = trace.Tasks.Select(t => t.Tid).ToArray();
        var schedule = new List<int>();
        foreach (int tid in new[] { order[1], order[0], order[2] })
        {
            schedule.AddRange(Enumerable.Repeat(tid, trace.Program(tid).Length));
        }
        // Setup ops belong to the first task; run them first.
        schedule.Remove(order[0]);
        schedule.Insert(0, order[0]);

        var result = ReplayEngine.Run(trace, KernelProfile.None, Arch.X86, new ListSchedule(schedule));

        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Race);
    }

    [SkippableFact]
    public void Get_UnknownName_ListsScenarios()
    {
        var ex = Assert.Throws<ArgumentException>(() => ScenarioLibrary.Get("r9"));

        Assert.Contains("r1-pmd", ex.Message, StringComparison.Ordinal);
    }
}
