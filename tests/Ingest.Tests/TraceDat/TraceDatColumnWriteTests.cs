using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// A trace.dat decoded straight into the events writer's columns (<see cref="EventColumnWriter"/>, what
/// <c>mmtrace ingest</c> does) must give the very events.parquet, reports and failures that decoding into an
/// <see cref="EventRow"/> per event and writing the rows gives: on the recorded traces, and on damaged copies whose
/// records are skipped (unknown event id, payload shorter than its common fields), cut short (a field past the
/// payload's end), dropped (a timestamp beyond 2^63 ns) or whose pages are corrupt, in lenient and strict mode.
/// </summary>
public sealed class TraceDatColumnWriteTests
{
    /// <summary>Passes rows on and hides the writer's column writer, so the reader fills an <see cref="EventRow"/> per event.</summary>
    private sealed class RowsOnly(IEventSink inner) : IEventSink
    {
        public void Write(EventRow row) => inner.Write(row);
    }

    private static (byte[] File, string Report) Ingest(byte[] bytes, string name, bool columns, bool strict)
    {
        string path = Path.Combine(Path.GetTempPath(), $"s27-columns-{Guid.NewGuid():N}.parquet");
        try
        {
            var diagnostics = new IngestDiagnostics { Strict = strict };
            // Small groups, so a trace's rows cross many of them (and the writer's hand-overs).
            using var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = 1_000, Threads = 1 });
            string outcome;
            try
            {
                using var stream = new MemoryStream(bytes, writable: false);
                var summary = new TraceDatReader().ReadDetailed(stream, name, columns ? writer : new RowsOnly(writer), diagnostics);
                writer.Complete();
                string lost = string.Join(",", summary.LostEventsByCpu.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value.Counted}+{p.Value.UncountedPages}"));
                outcome = $"events {summary.EventCount}, written {writer.Count}, lost {diagnostics.LostEvents} {lost}";
            }
            catch (TraceFormatException e)
            {
                outcome = $"failed: {e.Message}";
            }
            string report = $"{outcome} | truncated {diagnostics.Truncated} | malformed {diagnostics.MalformedCount}: "
                + string.Join(" / ", diagnostics.MalformedSamples.Select(s => s.ToString()));
            writer.Dispose();
            return (File.Exists(path) ? File.ReadAllBytes(path) : [], report);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [SkippableTheory]
    [InlineData("trace-cmd", "mm_v7_zstd_full.dat")]
    [InlineData("trace-cmd", "mm_v7_trimmed_zstd.dat")]
    [InlineData("trace-cmd", "mm_v7_trimmed_nocomp.dat")]
    [InlineData("trace-cmd", "mm_v6_trimmed.dat")]
    [InlineData("trace-cmd", "instance_x86tsc_v7_zstd.dat")]
    [InlineData("raw-pages", "overrun_wrapped_v6.dat")]
    public void Read_RecordedTrace_SameFileAsRowByRow(string kind, string file)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded(kind, file));

        var rows = Ingest(bytes, file, columns: false, strict: false);
        var columns = Ingest(bytes, file, columns: true, strict: false);

        Assert.StartsWith("events ", rows.Report, StringComparison.Ordinal);
        Assert.NotEmpty(rows.File);
        Assert.Equal(rows.Report, columns.Report);
        Assert.Equal(rows.File, columns.File);
    }

    /// <summary>
    /// Bytes of the CPU data of an uncompressed v6 trace changed one at a time, spread over its records: event ids,
    /// lengths and time deltas go wrong in every way the decoder reports. Every variant must give the same file and
    /// the same report (or the same strict-mode failure) both ways, and together they must reach each report kind.
    /// </summary>
    [SkippableFact]
    public void Read_DamagedRecords_SameFileReportsAndFailuresAsRowByRow()
    {
        byte[] original = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat"));
        using var probe = new MemoryStream(original, writable: false);
        var (_, _, cpus) = TraceDatReader.InspectVersion6(probe);
        var reports = new List<string>();
        int variants = 0;
        foreach (var (_, offset, size) in cpus)
        {
            // Past each page's 16-byte header, in steps that fall on different bytes of different records.
            for (long at = offset + 16; at < offset + size && variants < 160; at += 397)
            {
                foreach (byte flip in new byte[] { 0xff, 0x80, 0x0f })
                {
                    byte[] bytes = (byte[])original.Clone();
                    bytes[at] ^= flip;
                    variants++;
                    foreach (bool strict in new[] { false, true })
                    {
                        var rows = Ingest(bytes, "damaged.dat", columns: false, strict);
                        var columns = Ingest(bytes, "damaged.dat", columns: true, strict);
                        Assert.Equal(rows.Report, columns.Report);
                        Assert.Equal(rows.File, columns.File);
                        reports.Add(rows.Report);
                    }
                }
            }
        }

        string all = string.Join("\n", reports);
        Assert.Contains("no format file for event id", all, StringComparison.Ordinal);
        Assert.Contains("lies outside the", all, StringComparison.Ordinal);
        Assert.Contains("corrupt page", all, StringComparison.Ordinal);
        Assert.Contains("failed: ", all, StringComparison.Ordinal);
    }

    private sealed class Reports : IProgress<IngestProgress>
    {
        public List<long> Events { get; } = [];

        public void Report(IngestProgress value) => Events.Add(value.Events);
    }

    /// <summary>
    /// Rows written through the column writer still drive the ingest's progress: a report at every 65,536 events and
    /// one with the total at the end, as rows written one by one gave.
    /// </summary>
    [SkippableFact]
    public void Ingest_TraceDatOfManyEvents_ProgressEvery64KiEventsAndTheTotal()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"s27-progress-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            // 25 copies of the 3,298-event trace's pages: 82,450 events.
            string input = Path.Combine(dir, "repeated.dat");
            File.WriteAllBytes(input, TraceDatSynthesizer.RepeatPages(File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v6_trimmed.dat")), 25));
            var reports = new Reports();

            var summary = Assert.Single(TraceIngestor.Run(new IngestOptions { Inputs = [input], Output = Path.Combine(dir, "ds") }, reports));

            Assert.Equal(82_450, summary.Events);
            Assert.Equal([65_536L, 82_450L], reports.Events);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
