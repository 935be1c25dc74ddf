using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class DatasetWriterTests
{
    private static DatasetMeta WriteTrace(TraceWriter trace, int events, long offset = 0)
    {
        var row = new EventRow();
        for (long i = 0; i < events; i++)
        {
            TestData.Fill(row, i + offset);
            trace.Events.Write(row);
            row.Clear();
        }
        var diagnostics = new IngestDiagnostics { Format = "ftrace", CpuCount = 4, Clock = "local", PointersHashed = true, LostEvents = 3 };
        diagnostics.Malformed("trace.txt", 17, "line", "expected 'comm-pid [cpu] ts: event:', found 'garbage'");
        return trace.Complete(diagnostics, [new DatasetSource("trace.txt", 1234, new string('a', 64))]);
    }

    private static void WriteDataset(string target, int events, long offset = 0)
    {
        using var writer = DatasetWriter.Create(target);
        using TraceWriter trace = writer.BeginTrace();
        WriteTrace(trace, events, offset);
        writer.Commit();
    }

    [SkippableFact]
    public void Commit_SingleTrace_WritesEventsParquetAndMetaOnly()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run1");

        WriteDataset(target, 5000);

        Assert.Equal(["run1", Path.Combine("run1", "events.parquet"), Path.Combine("run1", "meta.json")], dir.Entries());
        DatasetMeta meta = DatasetMeta.Read(target);
        Assert.Equal("run1", meta.TraceId);
        Assert.Equal(5000, meta.Events);
        Assert.Equal(1000, meta.EventCounts["tlb:tlb_flush"]);
        Assert.Equal(1, meta.MalformedCount);
        using var connection = DuckDbConnection.OpenInMemory();
        Assert.Equal(5000L, connection.Scalar("SELECT count(*) FROM read_parquet(?)", Path.Combine(target, "events.parquet")));
    }

    [SkippableFact]
    public void Commit_SameInputTwice_ByteIdenticalDatasets()
    {
        using var dir = new TempDirectory();

        WriteDataset(dir.Combine("a", "run"), 3000);
        WriteDataset(dir.Combine("b", "run"), 3000);

        Assert.Equal(TestData.Fingerprint(dir.Combine("a", "run")), TestData.Fingerprint(dir.Combine("b", "run")));
    }

    [SkippableFact]
    public void Dispose_WithoutCommit_LeavesNoDatasetAndNoTemporary()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run1");

        using (var writer = DatasetWriter.Create(target))
        {
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            TestData.Fill(row, 1);
            trace.Events.Write(row);
        }

        Assert.Empty(dir.Entries());
    }

    [SkippableFact]
    public void Create_ExceptionMidWrite_ExistingDatasetSurvivesByteIdentical()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run1");
        WriteDataset(target, 2000);
        string[] before = TestData.Fingerprint(target);

        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            using var writer = DatasetWriter.Create(target);
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            for (long i = 0; i < 10_000; i++)
            {
                TestData.Fill(row, i + 99);
                trace.Events.Write(row);
                row.Clear();
                if (i == 5_000)
                {
                    throw new InvalidOperationException("parser failed");
                }
            }
        });

        Assert.Equal("parser failed", error.Message);
        Assert.Equal(before, TestData.Fingerprint(target));
        Assert.Equal(["run1", Path.Combine("run1", "events.parquet"), Path.Combine("run1", "meta.json")], dir.Entries());
    }

    [SkippableFact]
    public void Commit_OverExistingDataset_ReplacesIt()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run1");
        WriteDataset(target, 2000);

        WriteDataset(target, 300, offset: 7);

        Assert.Equal(300, DatasetMeta.Read(target).Events);
        Assert.Equal(["run1", Path.Combine("run1", "events.parquet"), Path.Combine("run1", "meta.json")], dir.Entries());
    }

    [SkippableFact]
    public void Create_TargetIsNotADataset_RefusesAndNamesIt()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("home");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "notes.txt"), "precious");

        var error = Assert.Throws<IOException>(() => DatasetWriter.Create(target));

        Assert.Contains(target, error.Message, StringComparison.Ordinal);
        Assert.Contains("not a trace dataset", error.Message, StringComparison.Ordinal);
        Assert.Equal(["home", Path.Combine("home", "notes.txt")], dir.Entries());
    }

    [SkippableFact]
    public void Commit_IncompleteTrace_Throws()
    {
        using var dir = new TempDirectory();
        using var writer = DatasetWriter.Create(dir.Combine("x"));
        writer.BeginTrace("a");

        var error = Assert.Throws<InvalidOperationException>(() => writer.Commit());

        Assert.Contains("'a'", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void BeginTrace_BadId_Throws()
    {
        using var dir = new TempDirectory();
        using var writer = DatasetWriter.Create(dir.Combine("x"));

        Assert.Throws<ArgumentException>(() => writer.BeginTrace("../escape"));
    }

    [SkippableFact]
    public void Commit_Partitions_ViewsSpanAllTraces()
    {
        using var dir = new TempDirectory();
        string root = dir.Combine("runs");
        using (var writer = DatasetWriter.Create(root))
        {
            using (TraceWriter a = writer.BeginTrace("alpha"))
            {
                WriteTrace(a, 1200);
            }
            using (TraceWriter b = writer.BeginTrace("beta"))
            {
                WriteTrace(b, 345);
            }
            writer.Commit();
        }
        IReadOnlyList<TraceDataset> traces = DatasetCatalog.Resolve([root]);
        using var connection = DuckDbConnection.OpenInMemory();

        IReadOnlyList<string> views = DatasetCatalog.CreateViews(connection, traces);
        using var reader = connection.Query("SELECT trace, count(*) FROM events GROUP BY ALL ORDER BY trace");
        var counts = new List<(string, long)>();
        while (reader.Read())
        {
            counts.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        Assert.Equal(["events"], views);
        Assert.Equal(["alpha", "beta"], traces.Select(t => t.Id));
        Assert.Equal([("alpha", 1200L), ("beta", 345L)], counts);
        Assert.Equal("VARCHAR", connection.Query("SELECT * FROM events LIMIT 0").GetTypeName(0));
    }

    [SkippableFact]
    public void Commit_EventsOutOfTimeOrder_ParquetSortedByTsThenSeq()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        // No reorder window, so the whole-file sort runs (ReorderWindowTests covers the window).
        using (var writer = DatasetWriter.Create(target, new DatasetWriterOptions { ReorderGroups = 0 }))
        {
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            foreach (long ts in new long[] { 50, 10, 30, 10, 20 })
            {
                row.TsNs = ts;
                row.Event = "tlb:tlb_flush";
                trace.Events.Write(row);
                row.Clear();
            }
            trace.Complete(new IngestDiagnostics(), []);
            writer.Commit();
        }
        using var connection = DuckDbConnection.OpenInMemory();

        using var reader = connection.Query("SELECT string_agg(ts_ns || ':' || seq, ' ' ORDER BY file_row_number) FROM read_parquet(?, file_row_number = true)", Path.Combine(target, "events.parquet"));
        Assert.True(reader.Read());

        Assert.Equal("10:1 10:3 20:4 30:2 50:0", reader.GetString(0));
    }
}
