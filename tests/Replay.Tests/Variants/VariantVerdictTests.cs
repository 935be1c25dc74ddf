using Pipeline.Replay.Explore;

using Pipeline.Storage;

namespace Pipeline.Replay.Tests.Variants;

/// <summary>
/// Hand-written op traces of race variants that are not in the scenario library (docs/validation.md, "Race variants
/// not in the library"): each file says in its header what a kernel maintainer expects, and these tests hold replay and
/// explore to it.
/// </summary>
public sealed class VariantVerdictTests
{
    internal static OpTrace Load(string file) => OpTraceLoader.Load(Rows(file));

    /// <summary>The file's rows, each with its line in the file as its source position.</summary>
    private static List<EventRow> Rows(string file)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Variants", file);
        // The files carry '#' comment lines, as ftrace text does; the ingest reader skips them, TraceText does not
        // (blank lines keep the line numbers).
        string text = string.Join('\n', File.ReadAllLines(path).Select(l => l.TrimStart().StartsWith('#') ? "" : l));
        return TraceText.ToRows(text);
    }

    private static string Describe(IEnumerable<Finding> findings) => string.Join("\n", findings.Select(f => $"{f.Checker}/{f.Race}/{f.Class}: {f.Message}"));

    [Theory]
    [InlineData("v6.0")]
    [InlineData("none")]
    public void GupFastOnAnotherMm_DoesNotRaceWithTheCollapse(string profile) => AssertClean("v06-r2-gup-other-mm.txt", profile);

    /// <summary>No finding in replay, and none in any schedule within 2 preemptions; returns the exploration.</summary>
    private static ExploreResult AssertClean(string file, string profile)
    {
        var trace = Load(file);
        var kernel = KernelProfile.Parse(profile);

        var replay = ReplayEngine.Run(trace, kernel, Arch.X86);
        var explore = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }).Run();

        Assert.True(replay.Findings.Count == 0, Describe(replay.Findings));
        Assert.True(explore.Exhaustive);
        Assert.True(explore.Violations.Count == 0, Describe(explore.Violations.Select(v => v.Finding)));
        return explore;
    }

    [Fact]
    public void TwoCollapses_OnlyTheTableGupFastReachedIsARace()
    {
        var trace = Load("v09-r2-two-collapses.txt");

        var replay = ReplayEngine.Run(trace, KernelProfile.Parse("v6.0"), Arch.X86);

        var finding = Assert.Single(replay.Findings);
        Assert.Equal(("I2", "R2", FindingClass.Race), (finding.Checker, finding.Race, finding.Class));
        Assert.Contains("table 6 is deposited", finding.Message, StringComparison.Ordinal);
        Assert.Empty(ReplayEngine.Run(trace, KernelProfile.Parse("v6.1"), Arch.X86).Findings);
    }

    [Theory]
    [InlineData("v6.0", Arch.X86, true)]
    [InlineData("v6.0", Arch.Arm64, true)]
    [InlineData("v6.1", Arch.X86, false)]
    [InlineData("v6.1", Arch.Arm64, false)]
    public void IrqOffAcrossTheWholeWalk_RacesUntilTheIpiSync(string profile, Arch arch, bool race)
    {
        var trace = Load("v07-r2-irqoff-whole-walk.txt");
        var kernel = KernelProfile.Parse(profile);

        var replay = ReplayEngine.Run(trace, kernel, arch);
        var explore = new Explorer(trace, kernel, arch, new ExploreOptions { Bound = 2 }).Run();

        Assert.Equal(race, replay.Findings.Any(f => f.Checker == "I2" && f.Class == FindingClass.Race));
        Assert.DoesNotContain(replay.Findings, f => f.Class != FindingClass.Race);
        Assert.Equal(race, explore.Violations.Count > 0);
    }

    [Theory]
    [InlineData("v5.12", true)]
    [InlineData("none", true)]
    [InlineData("v5.13", false)]
    [InlineData("latest", false)]
    public void ThpMappedByTwoMms_SplitAssertsWhileTheChildsZapHoldsItsCount(string profile, bool race)
    {
        // The split's walk unmaps the parent's PMD itself after the child's zap cleared its own: the page's last unmap
        // is then the walker's, and the open zap section is known only by the leaf it cleared.
        var trace = Load("v13-r3-thp-two-mms.txt");
        var kernel = KernelProfile.Parse(profile);

        var replay = ReplayEngine.Run(trace, kernel, Arch.X86);
        var explore = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }).Run();

        Assert.DoesNotContain(replay.Findings, f => f.Class != FindingClass.Race);
        Assert.True(race == replay.Findings.Any(f => f.Checker == "I3"), Describe(replay.Findings));
        Assert.Equal(race, explore.Violations.Any(v => v.Finding.Checker == "I3"));
    }

    [Theory]
    [InlineData("bad-mremap-overlap.txt", 14, "mmop_mremap_move_pmd: old=0x7f1200000000 and new=0x7f1200000000 overlap")]
    [InlineData("bad-stack-shift-up.txt", 27, "mmop_exec_shift_stack: new=0x7fffbfdfd000 is not below old=0x7fffbfbfd000")]
    public void MoveTheKernelCannotMake_IsAMalformedOpNamingItsLine(string file, int line, string message)
    {
        var diagnostics = new IngestDiagnostics();

        var trace = OpTraceLoader.Load(Rows(file), diagnostics, file);

        var record = Assert.Single(diagnostics.MalformedSamples);
        Assert.Equal((file, (long)line, "line"), (record.File, record.Position, record.PositionKind));
        Assert.Contains(message, record.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(trace.Ops.ToArray(), op => op.Kind is OpKind.MremapMovePmd or OpKind.ExecShiftStack);
        var strict = Assert.Throws<TraceFormatException>(() => OpTraceLoader.Load(Rows(file)));
        Assert.Contains(message, strict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExploreOfATraceNoOrderCanRun_SaysNothingWasDecided()
    {
        // One task whose own program releases a lock it never took: every order stops there, so "no violation within
        // the bound" would claim a coverage the search never had.
        var trace = Load("bad-unlock-not-held.txt");

        var explore = new Explorer(trace, KernelProfile.Parse("latest"), Arch.X86, new ExploreOptions { Bound = 2 }).Run();

        Assert.Empty(explore.Violations);
        Assert.Equal(0, explore.DistinctTraces);
        Assert.StartsWith("no schedule within 2 preemptions runs to the end", explore.Coverage(), StringComparison.Ordinal);
        Assert.DoesNotContain("no violation", explore.Coverage(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("v6.1")]
    [InlineData("v6.6")]
    [InlineData("v6.11")]
    [InlineData("v6.12")]
    [InlineData("latest")]
    public void RetractOfAnotherPmd_WhileTheMoveAllocatesItsDestinationPmdTable_IsCleanUnderEveryProfile(string profile)
    {
        // v18: the move's destination lies in a 1G region without a PMD table; the step's alloc_new_pmd takes it from
        // spare=20 (before 7 December 2026: three inconsistent-input findings, "mm1 has no PMD table for 0x40200000").
        var explore = AssertClean("v18-r6-retract-other-pmd.txt", profile);

        Assert.True(explore.Refused == 0 && explore.Infeasible == 0, $"{explore.Refused} refused: {explore.RefusedExample}; {explore.Infeasible} infeasible: {explore.InfeasibleExample}");
        Assert.True(explore.DistinctTraces > 0);
    }
}
