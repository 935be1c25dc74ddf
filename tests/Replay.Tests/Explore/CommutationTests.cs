using System.Globalization;
using Pipeline.Replay.Explore;
using Pipeline.Replay.Workloads;
using Xunit.Abstractions;

namespace Pipeline.Replay.Tests.Explore;

/// <summary>
/// The commutation oracle (docs/exploration.md, DPOR, "The commutation oracle"): at states a naive enumeration reaches,
/// every pair of enabled ops of different tasks that the footprints call independent is run in both orders from that
/// state, and both orders must run (neither disables the other), leave the same model state (<c>StateDigest</c>) and
/// report the same findings. DPOR's "no violation within K preemptions" rests on that.
/// </summary>
public sealed class CommutationTests(ITestOutputHelper output)
{
    private const int StatesPerCase = 3000;

    public static TheoryData<string, string, Arch> ScenarioCases()
    {
        var data = new TheoryData<string, string, Arch>();
        // Scenarios of one task have no pair to check.
        foreach (var scenario in ScenarioLibrary.All.Where(s => s.BuildBenign().Tasks.Count > 1))
        {
            foreach (var profile in scenario.BuggyProfiles.Concat(scenario.FixedProfiles).Append("latest").Append("none").Distinct())
            {
                foreach (var arch in new[] { Arch.X86, Arch.Arm64 })
                {
                    data.Add(scenario.Name, profile, arch);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ScenarioCases))]
    public void Footprints_IndependentOpsCommute_OnEveryScenario(string name, string profile, Arch arch)
    {
        var report = Check(ScenarioLibrary.Get(name).BuildBenign(), profile, StatesPerCase, arch);

        Assert.True(report.Failures.Count == 0, $"{name} under {profile} on {arch}: {report.Failures.Count} independent pairs do not commute:\n"
            + string.Join("\n", report.Failures.Take(10)));
        Assert.True(report.Independent > 0, $"{name} under {profile} on {arch}: no independent pair was checked");
    }

    public static TheoryData<string> Profiles() => new() { "latest", "none", "v5.13" };

    [Theory]
    [MemberData(nameof(Profiles))]
    public void Footprints_IndependentOpsCommute_OnSmallRandomPrograms(string profile)
    {
        var failures = new List<string>();
        long independent = 0;
        for (ulong seed = 1; seed <= 12; seed++)
        {
            var report = Check(DporPropertyTests.RandomProgram(seed), profile, 600);
            independent += report.Independent;
            failures.AddRange(report.Failures.Take(3).Select(f => $"seed {seed}: {f}"));
        }

        Assert.True(failures.Count == 0, $"under {profile}:\n{string.Join("\n", failures)}");
        Assert.True(independent > 0);
    }

    [Theory]
    [InlineData("latest", false)]
    [InlineData("latest", true)]
    [InlineData("none", true)]
    public void Footprints_IndependentOpsCommute_OnRandomWorkloads(string profile, bool contend)
    {
        var kernel = KernelProfile.Parse(profile);
        var failures = new List<string>();
        long independent = 0;
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var trace = RandomWorkload.Generate(new RandomWorkloadOptions { Cpus = 3, Ops = 80, Seed = seed, Contend = contend }.For(kernel));
            var report = Check(trace, profile, 1000);
            independent += report.Independent;
            failures.AddRange(report.Failures.Take(3).Select(f => $"seed {seed}: {f}"));
        }

        Assert.True(failures.Count == 0, $"under {profile}:\n{string.Join("\n", failures)}");
        Assert.True(independent > 0);
    }

    private CommuteReport Check(OpTrace trace, string profile, int states, Arch arch = Arch.X86)
    {
        var report = new CommuteReport { MaxStates = states };
        new Explorer(trace, KernelProfile.Parse(profile), arch, new ExploreOptions { Bound = 2, Strategy = ExploreStrategy.Naive, Budget = 5000 })
        {
            Commute = report,
        }.Run();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{profile}: {report.States} states, {report.Pairs} pairs, {report.Independent} independent, {report.Dependent} dependent of which {report.DependentCommuting} commute"));
        foreach (var (group, (pairs, commute)) in report.DependentBy.OrderByDescending(g => g.Value.Commute).ThenBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  DEP\t{pairs}\t{commute}\t{group}"));
        }
        return report;
    }
}
