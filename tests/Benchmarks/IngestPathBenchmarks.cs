using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using Pipeline.Ingest;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// The whole write path, parser to committed dataset (events.parquet + meta.json), on ~1 M events:
/// ftrace text (the corpus mm_trace.txt repeated 300 times with shifted timestamps, 989,400 events, as
/// bench/ingest.sh builds /tmp/big.txt) and trace.dat (mm_v6_trimmed.dat's pages repeated 300 times, 989,400
/// events). Events/s = events / mean. <see cref="Threads"/> is the number of Parquet encoder threads (the
/// parser runs on the benchmark thread besides them).
/// </summary>
[Config(typeof(IngestPathBenchmarkConfig))]
public partial class IngestPathBenchmarks
{
    private const int Copies = 300;

    private string _directory = "";
    private string _text = "";
    private string _dat = "";

    /// <summary>Parquet encoder threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "mmtrace-ingest-bench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(_directory);
        _text = Path.Combine(_directory, "big.txt");
        WriteRepeatedText(BenchmarkCorpus.File("recorded", "ftrace-text", "mm_trace.txt"), _text, Copies);
        _dat = Path.Combine(_directory, "big.dat");
        File.WriteAllBytes(_dat, TraceDatSynthesizer.RepeatPages(File.ReadAllBytes(BenchmarkCorpus.File("recorded", "trace-cmd", "mm_v6_trimmed.dat")), Copies));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark]
    public long Text_ToParquet() => Ingest("ftrace", _text);

    [Benchmark]
    public long TraceDat_ToParquet() => Ingest("tracedat", _dat);

    private long Ingest(string format, string input)
    {
        string output = Path.Combine(_directory, "ds");
        using var dataset = DatasetWriter.Create(output, new DatasetWriterOptions { Threads = Threads });
        TraceWriter trace = dataset.BeginTrace();
        var diagnostics = new IngestDiagnostics();
        using (FileStream stream = File.OpenRead(input))
        {
            TraceIngestor.CreateReader(format).Read(stream, input, trace.Events, diagnostics);
        }
        long events = trace.Written.Count;
        trace.Complete(diagnostics, []);
        dataset.Commit();
        return events;
    }

    /// <summary>Each copy shifts the timestamps by 100 s, so the file stays in time order.</summary>
    private static void WriteRepeatedText(string source, string target, int copies)
    {
        string[] lines = [.. File.ReadAllLines(source).Where(l => !l.StartsWith('#'))];
        using var writer = new StreamWriter(target, append: false, new UTF8Encoding(false), 1 << 20);
        for (int copy = 0; copy < copies; copy++)
        {
            foreach (string line in lines)
            {
                writer.Write(Timestamp().Replace(line, m => string.Create(CultureInfo.InvariantCulture,
                    $"{long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + (copy * 100L)}.{m.Groups[2].Value}: "), 1));
                writer.Write('\n');
            }
        }
    }

    [GeneratedRegex(@"(\d+)\.(\d{6}): ")]
    private static partial Regex Timestamp();
}

/// <summary>One short job (launch 1, warmup 1, 3 iterations): each operation is a ~1 M-event ingest.</summary>
public sealed class IngestPathBenchmarkConfig : ManualConfig
{
    public IngestPathBenchmarkConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
