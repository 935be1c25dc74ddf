using System.Globalization;
using BenchmarkDotNet.Attributes;
using Pipeline.Replay;
using Pipeline.Replay.Explore;

namespace Pipeline.Benchmarks;

/// <summary>
/// Schedule exploration of each scenario's benign schedule under <c>latest</c> (no violation, so every search runs to
/// the end of the bound): preemption-bounded DPOR (with its bound-safe sleep sets and stateful pruning, the default)
/// against the same search without stateful pruning, without sleep sets, and naive enumeration of every schedule within
/// the same bound. One benchmark operation is one whole exploration; the counts it covers (schedules run, run to the
/// end, stopped at an explored state, ops executed) are printed by the setup (schedules per second = schedules / time
/// per operation).
/// </summary>
[MemoryDiagnoser]
public class ExploreBenchmarks
{
    private OpTrace _trace = null!;
    private KernelProfile _profile = null!;

    /// <summary>The scenario.</summary>
    [ParamsSource(nameof(Scenarios))]
    public string Scenario { get; set; } = "";

    /// <summary>dpor, dpor-nocache (no stateful pruning), dpor-nosleep or naive.</summary>
    [Params("dpor", "dpor-nocache", "dpor-nosleep", "naive")]
    public string Search { get; set; } = "";

    /// <summary>Every scenario with more than one task.</summary>
    public static IEnumerable<string> Scenarios() =>
        ScenarioLibrary.All.Where(s => s.Build().Tasks.Count > 1).Select(s => s.Name);

    [GlobalSetup]
    public void Setup()
    {
        _trace = ScenarioLibrary.Get(Scenario).BuildBenign();
        _profile = KernelProfile.Latest;
        var result = Explore();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// explore {Scenario} {Search}: {result.Schedules} schedules ({result.Complete} to the end, {result.Pruned} stopped at an explored state, {result.Infeasible} infeasible), {result.Rechecked} pruned prefixes rechecked, {result.Refused} ops refused, {result.DistinctTraces} interleavings, {result.Transitions} ops run, {result.Violations.Count} violations"));
    }

    [Benchmark]
    public long Explore_Latest_Bound2() => Explore().Schedules;

    private ExploreResult Explore()
    {
        var options = new ExploreOptions { Bound = 2, Strategy = Search == "naive" ? ExploreStrategy.Naive : ExploreStrategy.Dpor };
        return new Explorer(_trace, _profile, Arch.X86, options) { SleepSets = Search != "dpor-nosleep", StateCache = Search != "dpor-nocache" }.Run();
    }
}
