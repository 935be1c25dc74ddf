using Pipeline.Replay.Coverage;
using Pipeline.Replay.Workloads;

namespace Pipeline.Replay.Tests.Workloads;

/// <summary>
/// <c>synth random --contend</c>: the actors of R3 (a THP split's asserted unmap and MADV_DONTNEED zapping the THP)
/// and R6 (khugepaged's retract and a PMD-moving mremap of the range) are in the workload, on one mm, and the
/// recorded order is one the workload's kernel runs.
/// </summary>
public class ContendedWorkloadTests
{
    private static OpTrace Contended(ulong seed, string profile, int ops = 1000) =>
        RandomWorkload.Generate(new RandomWorkloadOptions { Cpus = 4, Ops = ops, Seed = seed, Contend = true }.For(KernelProfile.Parse(profile)));

    private static IReadOnlyList<RaceCoverage> CoverageOf(OpTrace trace)
    {
        var coverage = new OpCoverage();
        foreach (var op in trace.Ops.ToArray())
        {
            coverage.Observe(op);
        }
        return coverage.Build();
    }

    private static long Count(RaceCoverage race, string actor) => race.Actors.Single(a => a.Name == actor).Count;

    [SkippableFact]
    public void Contend_HoldsTheActorsOfR3AndR6OnOneMm()
    {
        // Before --contend split THPs, zapped them and retracted file tables, seeds 1-10 held no checked
        // try_to_unmap and no retract at all (docs/exploration.md, the actor table). Now 46 checked unmaps and 10
        // retracts: R3's two actors meet on one mm (coverage "checked") on 7 seeds, R6's on 2.
        var races = Enumerable.Range(1, 10).Select(s => CoverageOf(Contended((ulong)s, "none"))).ToList();
        var r3 = races.Select(c => c.Single(r => r.Race == "R3")).ToList();
        var r6 = races.Select(c => c.Single(r => r.Race == "R6")).ToList();

        Assert.True(r3.Sum(r => Count(r, CoverageRules.CheckedUnmap)) >= 20, $"{r3.Sum(r => Count(r, CoverageRules.CheckedUnmap))} checked unmaps");
        Assert.True(r6.Sum(r => Count(r, CoverageRules.Retract)) >= 5, $"{r6.Sum(r => Count(r, CoverageRules.Retract))} retracts");
        Assert.True(r3.Count(r => r.Verdict == CoverageVerdict.Checked) >= 5, $"R3 checked on {r3.Count(r => r.Verdict == CoverageVerdict.Checked)} seeds");
        Assert.True(r6.Count(r => r.Verdict == CoverageVerdict.Checked) >= 2, $"R6 checked on {r6.Count(r => r.Verdict == CoverageVerdict.Checked)} seeds");
        // Without --contend neither actor is generated: the default workload is unchanged (its tests pin it).
        var plain = CoverageOf(RandomWorkload.Generate(new RandomWorkloadOptions { Cpus = 4, Ops = 1000, Seed = 1 }));
        Assert.Equal(0, Count(plain.Single(r => r.Race == "R3"), CoverageRules.CheckedUnmap));
        Assert.Equal(0, Count(plain.Single(r => r.Race == "R6"), CoverageRules.Retract));
    }

    [SkippableTheory]
    [InlineData("none")]
    [InlineData("v4.3")]
    [InlineData("v5.13")]
    [InlineData("v6.6")]
    [InlineData("latest")]
    public void Contend_RecordedOrder_ReplaysCleanUnderItsProfileAndObeysLocking(string profile)
    {
        // The split's walk is written only when no zap holds or is about to take the PMD lock, the zap's page free
        // only after the split dropped its reference; a retract before v6.5 holds the mm's mmap_lock (its trylock
        // succeeded). So the recorded order is one the profile's kernel runs: no finding, nothing inconsistent.
        foreach (ulong seed in new ulong[] { 1, 2, 3, 4, 5 })
        {
            var trace = Contended(seed, profile, ops: 3000);
            var result = ReplayEngine.Run(trace, KernelProfile.Parse(profile), Arch.X86);

            Assert.True(result.Findings.Count == 0, $"seed {seed} under {profile}: {result.Findings.Count} findings, first: {result.Findings.FirstOrDefault()?.Message}");
            Assert.Empty(result.Unfinished);
            var errors = WorkloadLint.Check(trace);
            Assert.True(errors.Count == 0, $"seed {seed}: " + string.Join("\n", errors));
        }
    }
}
