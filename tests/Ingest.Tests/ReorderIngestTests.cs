using System.Globalization;
using System.Text;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Ingest.Tests;

/// <summary>
/// <c>mmtrace ingest</c> of text traces with a few events out of time order (a trace_pipe read racing the per-CPU
/// buffers, perf flushing its ordered-events queue early, two CPU files merged by hand): the reorder window puts
/// them in place while streaming, meta.json counts them with their lateness, and no whole-trace sort runs.
/// </summary>
public sealed class ReorderIngestTests : IDisposable
{
    // Past the text reader's first 20,000 lines, so the late lines also go through the parallel parse.
    private const int Lines = 30_000;
    private const long StepNs = 1_000; // 1 µs between events

    private readonly string _directory = Directory.CreateTempSubdirectory("reorder-ingest-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Event i of the trace in the given text format: two CPUs alternating, 1 µs apart.</summary>
    private static string Line(string format, long i)
    {
        long ns = 370_000_000_000 + (i * StepNs);
        string seconds = (ns / 1_000_000_000).ToString(CultureInfo.InvariantCulture);
        int cpu = (int)(i % 2);
        return format switch
        {
            "trace_pipe" => string.Create(CultureInfo.InvariantCulture,
                $"          mmwork-{8000 + cpu}    [{cpu:000}] d..1.   {seconds}.{ns / 1000 % 1_000_000:000000}: tlb_flush: pages:{i} reason:flush on task switch (0)"),
            "trace-cmd" => string.Create(CultureInfo.InvariantCulture,
                $"          mmwork-{8000 + cpu}  [{cpu:000}]  {seconds}.{ns / 1000 % 1_000_000:000000}: tlb_flush:            pages={i} reason=flush on task switch (0)"),
            "perf" => string.Create(CultureInfo.InvariantCulture,
                $"  mmwork {8000 + cpu}/{8000 + cpu} [{cpu:000}] {seconds}.{ns % 1_000_000_000:000000000}: tlb:tlb_flush: pages:{i} reason:flush on task switch (0)"),
            _ => throw new ArgumentOutOfRangeException(nameof(format)),
        };
    }

    [SkippableTheory]
    [InlineData("trace_pipe", "ftrace")]
    [InlineData("trace-cmd", "ftrace")]
    [InlineData("perf", "perf")]
    public void Run_FewLateEvents_PutInPlaceCountedInMeta(string textFormat, string detected)
    {
        // Event 1,000 is printed 40 events late, 25,000 and 25,001 (parallel-parse territory) 300 late.
        var late = new Dictionary<long, long> { [1_000] = 1_040, [25_000] = 25_300, [25_001] = 25_300 };
        var text = new StringBuilder();
        if (textFormat == "trace-cmd")
        {
            text.Append("cpus=2\n");
        }
        for (long i = 0; i < Lines; i++)
        {
            if (!late.ContainsKey(i))
            {
                text.Append(Line(textFormat, i)).Append('\n');
            }
            foreach (var (e, after) in late.Where(p => p.Value == i).OrderBy(p => p.Key))
            {
                text.Append(Line(textFormat, e)).Append('\n');
            }
        }
        string input = Path.Combine(_directory, "trace.txt");
        File.WriteAllText(input, text.ToString());
        string output = Path.Combine(_directory, "ds");

        var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [input], Output = output }));

        Assert.Equal(detected, summary.Format);
        Assert.Equal(Lines, summary.Events);
        Assert.Equal(new EventOrder(3, 300 * StepNs, 0, 0), summary.Order);
        Assert.Equal(summary.Order, DatasetMeta.Read(output).Order);
        using var connection = DuckDbConnection.OpenInMemory();
        // In seq order (what replay reads) and in file order, the events are 0, 1, 2, … by their pages field,
        // and seq is the file position.
        Assert.Equal(0L, connection.Scalar(
            "SELECT count(*) FROM read_parquet(?, file_row_number = true) WHERE pages IS DISTINCT FROM seq OR seq <> file_row_number",
            Path.Combine(output, DatasetFiles.EventsFile)));
        // src_pos still names the line each event came from: the late ones kept their late line numbers.
        long header = textFormat == "trace-cmd" ? 1 : 0;
        Assert.Equal(1_041 + header, connection.Scalar("SELECT src_pos FROM read_parquet(?) WHERE pages = 1000", Path.Combine(output, DatasetFiles.EventsFile)));
    }
}
