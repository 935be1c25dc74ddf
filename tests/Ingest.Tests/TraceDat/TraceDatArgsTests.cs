using Pipeline.Ingest.Text;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Parquet;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// A trace.dat's numeric args reach events.parquet as numbers that the encoder prints into the args JSON
/// (<see cref="ArgNumberFormat"/>): read back, they are the values the kernel's own text of the same recording
/// prints, and the same text every other reader of the rows gets from <see cref="EventRow.Args"/>.
/// </summary>
public sealed class TraceDatArgsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tracedat-args-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>The rows of <paramref name="file"/> written to events.parquet by the events writer and read back.</summary>
    private List<EventRow> ThroughParquet(string file)
    {
        string path = Path.Combine(_directory, Path.GetFileName(file) + ".parquet");
        using (var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = 1_000, Threads = 2 }))
        {
            using var stream = File.OpenRead(file);
            new TraceDatReader().Read(stream, Path.GetFileName(file), writer, new IngestDiagnostics());
            writer.Complete();
        }
        using var connection = DuckDbConnection.OpenInMemory();
        return [.. EventReader.ReadEvents(connection, path).Select(r => r.Clone())];
    }

    [SkippableFact]
    public void Write_MmV7Full_NumericArgsEqualTheKernelTextsValues()
    {
        List<EventRow> dat = ThroughParquet(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_zstd_full.dat"));
        using var text = File.OpenRead(TraceDatCorpus.Recorded("ftrace-text", "mm_trace.txt"));
        var sink = new CollectingSink();
        new FtraceTextReader().Read(text, "mm_trace.txt", sink, new IngestDiagnostics());
        List<EventRow> kernel = sink.Rows;
        Assert.Equal(kernel.Count, dat.Count);

        int compared = 0;
        for (int i = 0; i < dat.Count; i++)
        {
            if (dat[i].Event != "kmem:rss_stat")
            {
                continue;
            }
            // The kernel prints "mm_id=%u curr=%d type=%s size=%ldB": the same numbers, size with its unit.
            var binary = dat[i].Args.ToDictionary(a => a.Key, a => a.Value);
            var printed = kernel[i].Args.ToDictionary(a => a.Key, a => a.Value);
            Assert.True(printed["mm_id"] == binary["mm_id"], $"row {i}: mm_id {binary["mm_id"]}, kernel {printed["mm_id"]}");
            Assert.True(printed["curr"] == binary["curr"], $"row {i}: curr {binary["curr"]}, kernel {printed["curr"]}");
            Assert.True(printed["size"] == binary["size"] + "B", $"row {i}: size {binary["size"]}, kernel {printed["size"]}");
            Assert.Equal(printed["type"], binary["member"]);
            compared++;
        }
        Assert.Equal(760, compared);
    }

    [SkippableTheory]
    [InlineData("mm_v7_zstd_full.dat")]
    [InlineData("instance_x86tsc_v7_zstd.dat")]
    [InlineData("mm_v6_trimmed.dat")]
    public void Write_CorpusTrace_ArgsJsonEqualsTheArgsReadersSee(string file)
    {
        string path = TraceDatCorpus.Recorded("trace-cmd", file);

        List<EventRow> written = ThroughParquet(path);
        var (rows, _, _) = TraceDatCorpus.Read(path);

        Assert.Equal(rows.Count, written.Count);
        Assert.Contains(rows, r => r.Args.Count > 1);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(rows[i].Args, written[i].Args);
        }
    }
}
