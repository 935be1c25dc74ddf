using BenchmarkDotNet.Attributes;
using Pipeline.Replay;
using Pipeline.Replay.Workloads;

namespace Pipeline.Benchmarks;

/// <summary>
/// Random workload generation throughput (ops/s = Ops / mean time): the scheduler and model alone (counting
/// sink), the streamed ftrace text (<c>mmtrace synth random</c> to a null writer), and the in-memory trace.
/// dotnet run -c Release --project tests/Benchmarks -- --filter '*WorkloadBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class WorkloadBenchmarks
{
    private RandomWorkloadOptions _options = null!;

    /// <summary>Approximate ops per generated workload.</summary>
    [Params(100_000, 1_000_000)]
    public int Ops { get; set; }

    [GlobalSetup]
    public void Setup() => _options = new RandomWorkloadOptions { Cpus = 8, Ops = Ops, Seed = 1, Inject = ["R1", "R2"] };

    [Benchmark(Baseline = true)]
    public long GenerateToCountingSink() => RandomWorkload.Generate(_options, new CountingSink());

    [Benchmark]
    public long WriteText() => RandomWorkload.Write(_options, TextWriter.Null);

    [Benchmark]
    public int GenerateTrace() => RandomWorkload.Generate(_options).Count;

    private sealed class CountingSink : IOpSink
    {
        private long _count;

        public void Add(in Op op, string comm) => _count++;
    }
}
