using System.Buffers.Binary;
using System.Globalization;
using Pipeline.Ingest.TraceDat;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

namespace Pipeline.Ingest.Tests.TraceDat;

/// <summary>
/// A trace.dat read into the events writer with each CPU decoded on a worker thread and merged in runs
/// (<see cref="DecodeWorkers"/>) makes the very events.parquet, the same reports (lost events, corrupt pages,
/// damage, malformed records) and the same failures as the merge that decodes each record itself: on every recorded
/// trace.dat, on damaged ones, in strict mode, and with batches so small that every report meets a batch end.
/// </summary>
public sealed class DecodeWorkersTests
{
    private static readonly string[] s_files =
    [
        "trace-cmd/mm_v7_trimmed_zstd.dat",
        "trace-cmd/mm_v7_zstd_full.dat",
        "trace-cmd/mm_v6_trimmed.dat",
        "trace-cmd/instance_x86tsc_v7_zstd.dat",
        "trace-cmd/mm_v7_trimmed_nocomp.dat",
        "raw-pages/overrun_wrapped_v6.dat",
    ];

    public static TheoryData<string, int> FilesAndBatches()
    {
        var data = new TheoryData<string, int>();
        foreach (string file in s_files)
        {
            foreach (int batch in new[] { 0, 1, 7 })
            {
                data.Add(file, batch);
            }
        }
        return data;
    }

    /// <summary>
    /// Reads into an events writer; returns the file's bytes and what the read reported, or the failure's type and
    /// message.
    /// </summary>
    private static (byte[] File, string Report) Ingest(byte[] bytes, string name, bool workers, int batch = 0, bool strict = false, Func<byte[], Stream>? open = null)
    {
        string dir = Path.Combine(Path.GetTempPath(), "mmtrace-decode-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "events.parquet");
            var diagnostics = new IngestDiagnostics { Strict = strict };
            string report;
            using (var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = 1000, Threads = 2 }))
            using (Stream stream = open is null ? new MemoryStream(bytes, writable: false) : open(bytes))
            {
                try
                {
                    var reader = new TraceDatReader { DecodeOnWorkers = workers, DecodeBatchRecords = batch };
                    TraceDatSummary summary = reader.ReadDetailed(stream, name, writer, diagnostics);
                    writer.Complete();
                    string lost = string.Join(",", summary.LostEventsByCpu.Select(p => $"{p.Key}:{p.Value.Counted}+{p.Value.UncountedPages}"));
                    string samples = string.Join(" / ", diagnostics.MalformedSamples.Select(m => m.ToString()));
                    report = $"events {summary.EventCount} rows {writer.Count} | truncated {diagnostics.Truncated} | malformed {diagnostics.MalformedCount}: {samples} | lost {diagnostics.LostEvents} {lost}";
                }
                catch (Exception e) when (e is TraceFormatException or IOException)
                {
                    return ([], $"{e.GetType().Name}: {e.Message}");
                }
            }
            return (File.ReadAllBytes(path), report);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void AssertSame(byte[] bytes, string name, int batch = 0, bool strict = false)
    {
        var inline = Ingest(bytes, name, workers: false, strict: strict);
        var workers = Ingest(bytes, name, workers: true, batch, strict);

        Assert.Equal(inline.Report, workers.Report);
        Assert.Equal(inline.File, workers.File);
    }

    [SkippableTheory]
    [MemberData(nameof(FilesAndBatches))]
    public void Ingest_RecordedTraceDat_SameFileAndReportsAsDecodingOnTheMerge(string file, int batch)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded(file.Split('/')));

        AssertSame(bytes, Path.GetFileName(file), batch);
    }

    [SkippableFact]
    public void Ingest_OverrunTrace_LostEventsReportedAsWithoutWorkers()
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("raw-pages", "overrun_wrapped_v6.dat"));

        var workers = Ingest(bytes, "overrun.dat", workers: true, batch: 3);

        Assert.Matches(@"\| lost [1-9]", workers.Report);
        Assert.Equal(Ingest(bytes, "overrun.dat", workers: false).Report, workers.Report);
    }

    /// <summary>Damage in the chunks and pages of each CPU (bit flips) and files cut short, lenient and strict.</summary>
    [SkippableTheory]
    [InlineData("mm_v7_trimmed_zstd.dat", 0.25, 1, false)]
    [InlineData("mm_v7_trimmed_zstd.dat", 0.25, 1, true)]
    [InlineData("mm_v7_trimmed_zstd.dat", 0.55, 5, false)]
    [InlineData("mm_v7_zstd_full.dat", 0.40, 0, false)]
    [InlineData("mm_v6_trimmed.dat", 0.30, 2, false)]
    [InlineData("mm_v6_trimmed.dat", 0.30, 2, true)]
    [InlineData("mm_v6_trimmed.dat", 0.60, 1, false)]
    [InlineData("mm_v7_trimmed_nocomp.dat", 0.45, 3, false)]
    public void Ingest_BitFlipInCpuData_SameFileAndReports(string file, double at, int batch, bool strict)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", file));
        int offset = (int)(bytes.Length * at);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) ^ 0x5a5a5a5a);

        AssertSame(bytes, "damaged.dat", batch, strict);
    }

    /// <summary>
    /// Every third page of an uncompressed file with a commit (data size) past the page's end: corrupt pages on both
    /// CPUs, reported (and kept as samples) in the order the merge meets them, interleaved between the CPUs as their
    /// records are, also when the reports fall on batch ends.
    /// </summary>
    [SkippableTheory]
    [InlineData("mm_v6_trimmed.dat", 0)]
    [InlineData("mm_v6_trimmed.dat", 1)]
    [InlineData("mm_v6_trimmed.dat", 3)]
    [InlineData("mm_v7_trimmed_nocomp.dat", 5)]
    public void Ingest_CorruptPagesOnBothCpus_ReportsInMergeOrder(string file, int batch)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", file));
        int corrupted = 0;
        // Pages sit at 4 KiB boundaries: a plausible timestamp, then a commit within the page.
        for (int at = 0, page = 0; at + 4096 <= bytes.Length; at += 4096)
        {
            ulong commit = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at + 8));
            if (BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at)) > 1_000_000_000 && commit is > 0 and <= 4080 && page++ % 3 == 1)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at + 8), 0x7fff);
                corrupted++;
            }
        }

        var inline = Ingest(bytes, "corrupt.dat", workers: false);
        var workers = Ingest(bytes, "corrupt.dat", workers: true, batch);

        Assert.True(corrupted >= 6, $"{corrupted} pages found");
        Assert.Contains($"malformed {corrupted}:", inline.Report, StringComparison.Ordinal);
        Assert.Contains("CPU 0", inline.Report, StringComparison.Ordinal);
        Assert.Contains("CPU 1", inline.Report, StringComparison.Ordinal);
        Assert.Equal(inline.Report, workers.Report);
        Assert.Equal(inline.File, workers.File);
    }

    [SkippableTheory]
    [InlineData("mm_v7_trimmed_zstd.dat", 0.85)]
    [InlineData("mm_v7_zstd_full.dat", 0.60)]
    [InlineData("mm_v6_trimmed.dat", 0.97)]
    [InlineData("mm_v7_trimmed_nocomp.dat", 0.85)]
    public void Ingest_TruncatedFile_SameFileAndReports(string file, double keep)
    {
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", file));
        byte[] cut = bytes[..(int)(bytes.Length * keep)];

        foreach (int batch in new[] { 0, 2 })
        {
            AssertSame(cut, "cut.dat", batch);
        }
    }

    [SkippableFact]
    public void Ingest_DamagedChunks_ReportedWhereTheMergeMeetsThem()
    {
        // Both CPUs' first chunks damaged: each stream ends at once, so their reports come in CPU order before any row.
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat"));
        foreach (int offset in new[] { 12288 + 12, 24576 + 12 })
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(offset)) ^ 0x5a5a5a5a);
        }

        var workers = Ingest(bytes, "damaged.dat", workers: true, batch: 1);

        Assert.Contains("CPU 0", workers.Report, StringComparison.Ordinal);
        Assert.Contains("CPU 1", workers.Report, StringComparison.Ordinal);
        Assert.True(workers.Report.IndexOf("CPU 0", StringComparison.Ordinal) < workers.Report.IndexOf("CPU 1", StringComparison.Ordinal), workers.Report);
        Assert.Equal(Ingest(bytes, "damaged.dat", workers: false).Report, workers.Report);
    }

    [SkippableFact]
    public void Ingest_StreamFailsInCpuData_FailureReachesTheCaller()
    {
        // An I/O error on a worker is the caller's error, where the merge reaches that stream's next records.
        byte[] bytes = File.ReadAllBytes(TraceDatCorpus.Recorded("trace-cmd", "mm_v7_trimmed_zstd.dat"));
        Stream Failing(byte[] b) => new FailingStream(b, failAt: 24576 + 100);

        var workers = Task.Run(() => Ingest(bytes, "failing.dat", workers: true, batch: 4, open: Failing));
        Assert.True(workers.Wait(TimeSpan.FromMinutes(2)), "the merge waited for a worker that failed");

        Assert.Equal("IOException: disk gone", workers.Result.Report);
        Assert.Equal(Ingest(bytes, "failing.dat", workers: false, open: Failing).Report, workers.Result.Report);
    }
}
