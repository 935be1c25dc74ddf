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

    [Theory]
    [InlineData("none")]
    [InlineData("v5.10.46")]
    public void Footprints_IndependentOpsCommute_OnASplitWhoseWalkObservedAZapHoldingThePteLock(string profile)
    {
        // R3 with the zap written as primitives, as a recorded trace lowers it (a delayed rmap drops the mapcount after
        // the PTE lock): the zapper clears the entry under the PTE lock, the split's walk reads it locklessly and skips
        // it, and ttu_end's asserted mapcount_read finds 1. I3 judges that read against the section the walk observed
        // (is its writer still holding that PTE lock, the same acquisition?): with ttu_end first it reports, with the
        // zapper's ptl_unlock first it does not. Before, ttu_end's footprint was the rmap lock and the page and the
        // unlock's the PTE lock and its section, so the two were called independent and DPOR could take either order
        // for both.
        var b = new OpTraceBuilder();
        b.CreateMmWithPteTable("setup-100", 0);
        b.Op("setup-100", 0, "page_alloc", "pfn=0x5000");
        b.Op("setup-100", 0, "pte_set", "mm=1 va=0x201000 pfn=0x5000");
        b.Op("setup-100", 0, "map_inc", "pfn=0x5000");
        b.Op("zap-102", 2, "ctx_switch", "mm=1");
        b.Op("split-101", 1, "ctx_switch", "mm=0");
        b.Op("zap-102", 2, "ptl_lock", "mm=1 va=0x201000 level=pte");
        b.Op("zap-102", 2, "pte_clear", "mm=1 va=0x201000");
        b.Op("split-101", 1, "ttu_start", "pfn=0x5000 rmap=1 assert=1");
        b.Op("split-101", 1, "ttu_walk", "mm=1 va=0x201000 pfn=0x5000");
        b.Op("zap-102", 2, "ptl_unlock", "mm=1 va=0x201000 level=pte");
        b.Op("split-101", 1, "ttu_end", "pfn=0x5000 rmap=1 assert=1");
        b.Op("zap-102", 2, "map_dec", "pfn=0x5000");

        var report = Check(b.Load(), profile, StatesPerCase);

        Assert.True(report.Failures.Count == 0, $"{report.Failures.Count} independent pairs do not commute:\n" + string.Join("\n", report.Failures.Take(10)));
        Assert.True(report.Independent > 0);
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
