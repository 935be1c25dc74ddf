using System.Text;
using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Perf;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// perf script ingest speed (target ≥ 1 M events/s). The input is built in memory by repeating the lines of
/// the recorded mm capture with increasing timestamps, so no large file is committed.
/// Run: dotnet run -c Release --project tests/Benchmarks -- --filter '*PerfReader*'
/// </summary>
[MemoryDiagnoser]
public class PerfReaderBenchmarks
{
    private byte[] _input = [];

    /// <summary>Events in the generated input.</summary>
    [Params(1_000_000)]
    public int Events { get; set; }

    /// <summary>Which corpus capture is repeated.</summary>
    [Params("perf_script_ns.txt", "perf_script_F_pid_tid.txt")]
    public string Source { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var lines = File.ReadAllLines(FindCorpus("recorded/perf/" + Source));
        var text = new StringBuilder(Events * 150);
        for (int i = 0; i < Events; i++)
        {
            // Shift the seconds so time keeps moving forward across repetitions, as in a long trace.
            var line = lines[i % lines.Length];
            int round = i / lines.Length;
            text.Append(round == 0 ? line : line.Replace("  724.", FormattableString.Invariant($"  {724 + round}."), StringComparison.Ordinal)).Append('\n');
        }
        _input = Encoding.UTF8.GetBytes(text.ToString());
    }

    [Benchmark]
    public long ReadPerfScript()
    {
        var sink = new CountingSink();
        new PerfScriptReader().Read(new MemoryStream(_input, writable: false), "bench", sink, new IngestDiagnostics());
        if (sink.Count != Events)
        {
            throw new InvalidOperationException($"Read {sink.Count} events, expected {Events}.");
        }
        return sink.Count;
    }

    private static string FindCorpus(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var root in new[] { Path.Combine(dir.FullName, "shared", "corpus"), Path.Combine(dir.FullName, "..", "shared", "corpus") })
            {
                var path = Path.Combine(root, relative);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }
        throw new FileNotFoundException($"No shared/corpus/{relative} above {AppContext.BaseDirectory}.");
    }

    private sealed class CountingSink : IEventSink
    {
        public long Count;

        public void Write(EventRow row) => Count++;
    }
}
