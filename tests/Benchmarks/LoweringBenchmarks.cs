using BenchmarkDotNet.Attributes;
using Pipeline.Ingest.Text;
using Pipeline.Replay;
using Pipeline.Replay.Lowering;
using Pipeline.Storage;

namespace Pipeline.Benchmarks;

/// <summary>
/// Lowering + replay of a real-looking trace of about 1 M events: the recorded mmwork trace
/// (<c>shared/corpus/recorded/ftrace-text/mm_trace.txt</c>) repeated with shifted timestamps, pids, mm
/// pointers and pfns, so every copy is a new set of processes and pages. Target: ≥ 2 M events/s.
/// </summary>
[InProcess]
[MemoryDiagnoser]
public class LoweringBenchmarks
{
    private List<EventRow> _source = [];

    /// <summary>Events in the trace (a multiple of the corpus trace's 3,298).</summary>
    [Params(1_000_000)]
    public int Events { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var sink = new CopySink();
        using (var stream = File.OpenRead(FindCorpus("recorded/ftrace-text/mm_trace.txt")))
        {
            new FtraceTextReader().Read(stream, "mm_trace.txt", sink, new IngestDiagnostics());
        }
        _source = sink.Rows;
        var (result, _) = TraceLowering.LowerAndReplay(Repeat(_source, Events), KernelProfile.Latest, Arch.X86);
        if (result.Findings.Count != 0)
        {
            // The repeated corpus trace replays clean under the fixed kernel; a finding means the lowering is wrong.
            throw new InvalidOperationException("Lowered trace is not clean: " + result.Findings[0].Message);
        }
    }

    [Benchmark]
    public long LowerAndReplay()
    {
        var (result, _) = TraceLowering.LowerAndReplay(Repeat(_source, Events), KernelProfile.Latest, Arch.X86);
        return result.OpsExecuted;
    }

    [Benchmark]
    public long LowerOnly() => TraceLowering.Lower(Repeat(_source, Events), KernelProfile.Latest, out _).Count;

    /// <summary>
    /// Copies of <paramref name="source"/> until <paramref name="count"/> rows, each copy shifted in time, pids, mm
    /// pointers and pfns; streamed through one reused row, as the dataset reader does.
    /// </summary>
    public static IEnumerable<EventRow> Repeat(IReadOnlyList<EventRow> source, int count)
    {
        int pfn = Ordinal("pfn"), mm = Ordinal("mm"), nextPid = Ordinal("next_pid");
        long span = source[^1].TsNs - source[0].TsNs + 1000;
        var row = new EventRow();
        for (int i = 0; i < count; i++)
        {
            int copy = i / source.Count;
            row.CopyFrom(source[i % source.Count]);
            row.Seq = i;
            row.TsNs += copy * span;
            if (row.Pid > 0)
            {
                row.Pid += copy * 100_000;
            }
            if (row.Tgid is int tgid && tgid > 0)
            {
                row.Tgid = tgid + (copy * 100_000);
            }
            if (row.IsSet(pfn))
            {
                row.SetUInt64(pfn, row.GetUInt64(pfn) + ((ulong)copy << 24));
            }
            if (row.IsSet(mm))
            {
                row.SetUInt64(mm, row.GetUInt64(mm) + ((ulong)copy << 40));
            }
            if (row.IsSet(nextPid) && row.GetInt64(nextPid) > 0)
            {
                row.SetInt64(nextPid, row.GetInt64(nextPid) + (copy * 100_000));
            }
            yield return row;
        }
    }

    private static int Ordinal(string name) => EventSchema.Columns.Single(c => c.Name == name).Ordinal;

    private static string FindCorpus(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "shared", "corpus", relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException($"No shared/corpus/{relative} above {AppContext.BaseDirectory}.");
    }

    private sealed class CopySink : IEventSink
    {
        public List<EventRow> Rows { get; } = [];

        public void Write(EventRow row)
        {
            var copy = row.Clone();
            copy.Seq = Rows.Count;
            Rows.Add(copy);
        }
    }
}
