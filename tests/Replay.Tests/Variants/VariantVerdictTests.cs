using Pipeline.Replay.Explore;

namespace Pipeline.Replay.Tests.Variants;

/// <summary>
/// Hand-written op traces of race variants that are not in the scenario library (docs/validation.md, "Race variants
/// not in the library"): each file says in its header what a kernel maintainer expects, and these tests hold replay and
/// explore to it.
/// </summary>
public sealed class VariantVerdictTests
{
    internal static OpTrace Load(string file)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Variants", file);
        // The files carry '#' comment lines, as ftrace text does; the ingest reader skips them, TraceText does not.
        string text = string.Join('\n', File.ReadAllLines(path).Where(l => !l.TrimStart().StartsWith('#')));
        return OpTraceLoader.Load(TraceText.ToRows(text));
    }

    private static string Describe(IEnumerable<Finding> findings) => string.Join("\n", findings.Select(f => $"{f.Checker}/{f.Race}/{f.Class}: {f.Message}"));

    [Theory]
    [InlineData("v6.0")]
    [InlineData("none")]
    public void GupFastOnAnotherMm_DoesNotRaceWithTheCollapse(string profile)
    {
        var trace = Load("r2-gup-other-mm.txt");
        var kernel = KernelProfile.Parse(profile);

        var replay = ReplayEngine.Run(trace, kernel, Arch.X86);
        var explore = new Explorer(trace, kernel, Arch.X86, new ExploreOptions { Bound = 2 }).Run();

        Assert.True(replay.Findings.Count == 0, Describe(replay.Findings));
        Assert.True(explore.Exhaustive);
        Assert.True(explore.Violations.Count == 0, Describe(explore.Violations.Select(v => v.Finding)));
    }

    [Fact]
    public void TwoCollapses_OnlyTheTableGupFastReachedIsARace()
    {
        var trace = Load("r2-two-collapses.txt");

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
        var trace = Load("r2-irqoff-whole-walk.txt");
        var kernel = KernelProfile.Parse(profile);

        var replay = ReplayEngine.Run(trace, kernel, arch);
        var explore = new Explorer(trace, kernel, arch, new ExploreOptions { Bound = 2 }).Run();

        Assert.Equal(race, replay.Findings.Any(f => f.Checker == "I2" && f.Class == FindingClass.Race));
        Assert.DoesNotContain(replay.Findings, f => f.Class != FindingClass.Race);
        Assert.Equal(race, explore.Violations.Count > 0);
    }
}
