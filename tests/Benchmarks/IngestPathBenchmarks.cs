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
using Pipeline.Storage.DuckDb;

namespace Pipeline.Benchmarks;

/// <summary>
/// The whole write path, parser to committed dataset (events.parquet + meta.json), on ~1 M events:
/// ftrace text (the corpus mm_trace.txt repeated 300 times with shifted timestamps, 989,400 events, as
/// bench/ingest.sh builds /tmp/big.txt) and trace.dat (mm_v6_trimmed.dat's pages repeated 300 times, 989,400
/// events). Events/s = events / mean. <c>*_FillOnly</c> runs the parser and fills the chunks but drops them
/// (no DuckDB): the difference is DuckDB's Parquet writer. <see cref="Threads"/> is DuckDB's thread count.
/// </summary>
/// <remarks>
/// Measured on the shared 2-core box (load 6-11, so ±50 %): Text_ToParquet 0.94-1.56 s (0.6-1.05 M events/s),
/// TraceDat_ToParquet 0.72-1.03 s (1.0-1.4 M events/s), Text_FillOnly 0.33-0.68 s, TraceDat_FillOnly
/// 0.14-0.63 s. Threads=2 shows no consistent gain: the table function has one scanning thread, so one thread
/// runs the Parquet sink; DuckDB encodes row groups in parallel only for sources with batch indexes (tables,
/// Parquet), which C API table functions cannot provide. DuckDB's Parquet writer costs ~0.5 s CPU per million
/// rows of this 47-column schema on its own (table to Parquet, threads=1), which caps the path at ~2 M/s.
/// </remarks>
[Config(typeof(IngestPathBenchmarkConfig))]
public partial class IngestPathBenchmarks
{
    private const int Copies = 300;

    private string _directory = "";
    private string _text = "";
    private string _dat = "";

    /// <summary>DuckDB threads for the COPY.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "mmtrace-ingest-bench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(_directory);
        _text = Path.Combine(_directory, "big.txt");
        WriteRepeatedText(CorpusFile("recorded", "ftrace-text", "mm_trace.txt"), _text, Copies);
        _dat = Path.Combine(_directory, "big.dat");
        File.WriteAllBytes(_dat, TraceDatSynthesizer.RepeatPages(File.ReadAllBytes(CorpusFile("recorded", "trace-cmd", "mm_v6_trimmed.dat")), Copies));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark]
    public long Text_ToParquet() => Ingest("ftrace", _text, fillOnly: false);

    [Benchmark]
    public long Text_FillOnly() => Ingest("ftrace", _text, fillOnly: true);

    /// <summary>Parser, chunks and the table function's copy into DuckDB, consumed by <c>count(*)</c>: no Parquet.</summary>
    [Benchmark]
    public long Text_ScanOnly()
    {
        using var connection = DuckDbConnection.OpenInMemory(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["threads"] = Threads.ToString(CultureInfo.InvariantCulture),
        });
        using EventTableWriter writer = EventTableWriter.ForStream(connection, "scan");
        long counted = 0;
        writer.StartQuery(() => counted = (long)connection.Scalar("SELECT count(*) FROM scan()")!);
        using (FileStream stream = File.OpenRead(_text))
        {
            TraceIngestor.CreateReader("ftrace").Read(stream, _text, writer, new IngestDiagnostics());
        }
        writer.Complete();
        return counted;
    }

    [Benchmark]
    public long TraceDat_ToParquet() => Ingest("tracedat", _dat, fillOnly: false);

    [Benchmark]
    public long TraceDat_FillOnly() => Ingest("tracedat", _dat, fillOnly: true);

    private long Ingest(string format, string input, bool fillOnly)
    {
        string output = Path.Combine(_directory, "ds");
        using var dataset = DatasetWriter.Create(output, new DatasetWriterOptions { Threads = Threads });
        TraceWriter trace = dataset.BeginTrace();
        trace.EventTable.SkipNativeAppendForBenchmark = fillOnly;
        var diagnostics = new IngestDiagnostics();
        using (FileStream stream = File.OpenRead(input))
        {
            TraceIngestor.CreateReader(format).Read(stream, input, trace.Events, diagnostics);
        }
        long events = trace.EventTable.Count;
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

    private static string CorpusFile(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine([dir.FullName, "shared", "corpus", .. parts]);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"No shared/corpus/{string.Join('/', parts)} above {AppContext.BaseDirectory}.");
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
