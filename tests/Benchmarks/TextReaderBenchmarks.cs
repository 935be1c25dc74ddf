using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// The ftrace text reader alone (the sink discards rows) on one million event lines made by repeating the
/// event lines of <c>recorded/ftrace-text/mm_trace.txt</c> with increasing timestamps. Run with
/// <c>dotnet run -c Release --project tests/Benchmarks -- --filter '*TextReader*' --inProcess</c>
/// (the out-of-process toolchain looks for a project named like the assembly). Measured on the 2-core
/// reference box: 175 ns and 37 B per event, i.e. about 5.7 million events/s.
/// </summary>
[MemoryDiagnoser]
public class TextReaderBenchmarks
{
    public const int Lines = 1_000_000;

    private byte[] _trace = [];

    [GlobalSetup]
    public void Setup() => _trace = Generate(Lines);

    [Benchmark(OperationsPerInvoke = Lines)]
    public long FtraceTextMillionLines()
    {
        var sink = new DiscardSink();
        new FtraceTextReader().Read(new MemoryStream(_trace, writable: false), "generated", sink, new IngestDiagnostics());
        return sink.Count;
    }

    /// <summary>Builds the generated trace in memory.</summary>
    public static byte[] Generate(int lines)
    {
        string source = File.ReadAllText(Path.Combine(FindCorpus(), "recorded", "ftrace-text", "mm_trace.txt"));
        var timestamp = new Regex(@"^(?<head>.*?\] \S+ +)(?<ts>\d+\.\d{6})(?<tail>: .*)$", RegexOptions.CultureInvariant);
        var templates = source.Split('\n')
            .Select(l => timestamp.Match(l))
            .Where(m => m.Success)
            .Select(m => (Head: m.Groups["head"].Value, Tail: m.Groups["tail"].Value))
            .ToArray();
        var sb = new StringBuilder(lines * 130);
        long us = 500_000_000;
        for (int i = 0; i < lines; i++)
        {
            var (head, tail) = templates[i % templates.Length];
            us += 1 + (i % 7);
            sb.Append(head)
                .Append((us / 1_000_000).ToString(CultureInfo.InvariantCulture).PadLeft(5))
                .Append('.')
                .Append((us % 1_000_000).ToString("D6", CultureInfo.InvariantCulture))
                .Append(tail)
                .Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static string FindCorpus()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException("shared/corpus not found above the benchmark binaries.");
    }

    private sealed class DiscardSink : IEventSink
    {
        public long Count;

        public void Write(EventRow row) => Count++;
    }
}
