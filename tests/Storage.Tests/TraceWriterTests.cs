using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

/// <summary>The dataset write path: rows stream through <see cref="Parquet.EventParquetWriter"/> into events.parquet.</summary>
public sealed class TraceWriterTests
{
    // Turns a hang into a failure; generous because a busy machine may take long for bounded work.
    private static readonly TimeSpan s_guard = TimeSpan.FromMinutes(10);

    private static string EventsParquet(string target) => Path.Combine(target, DatasetFiles.EventsFile);

    [SkippableFact]
    public void Complete_EveryColumnKind_RoundTripsThroughParquet()
    {
        // Several chunks (2048 rows each) and a partial last one.
        var (expected, actual) = WriteAndReadBack(5_000, adjust: null);

        Assert.Equal(expected, actual);
    }

    /// <summary>Writes <paramref name="rows"/> test rows through a dataset writer and reads them back from Parquet.</summary>
    private static (List<string> Expected, string[] Actual) WriteAndReadBack(long rows, Action<EventRow, long>? adjust)
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        var expected = new List<string>();
        using (var writer = DatasetWriter.Create(target))
        {
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            for (long i = 0; i < rows; i++)
            {
                TestData.Fill(row, i);
                adjust?.Invoke(row, i);
                trace.Events.Write(row);
                expected.Add(TestData.Describe(row));
                row.Clear();
            }
            trace.Complete(new IngestDiagnostics(), []);
            writer.Commit();
        }
        Assert.Equal(rows, Pipeline.Tests.Shared.ParquetNetOracle.AssertSameAsDuckDb(EventsParquet(target)));
        using var connection = DuckDbConnection.OpenInMemory();
        return (expected, [.. EventReader.ReadEvents(connection, EventsParquet(target)).Select(TestData.Describe)]);
    }

    [SkippableFact]
    public void Complete_NoEvents_EmptyParquetWithEveryColumn()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        using (var writer = DatasetWriter.Create(target))
        {
            TraceWriter trace = writer.BeginTrace();
            DatasetMeta meta = trace.Complete(new IngestDiagnostics(), []);
            Assert.Equal(0, meta.Events);
            writer.Commit();
        }
        using var connection = DuckDbConnection.OpenInMemory();

        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM read_parquet(?)", EventsParquet(target)));
        using DuckDbReader reader = connection.Query("SELECT * FROM read_parquet(?)", EventsParquet(target));
        Assert.Equal(EventSchema.Columns.Select(c => c.Name + " " + c.SqlType), Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetName(i) + " " + reader.GetTypeName(i)));
    }

    [SkippableFact]
    public void Complete_MillionRows_CountAndSumsExact()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        const long Rows = 1_000_000;
        int address = TestData.Field("address");
        using (var writer = DatasetWriter.Create(target))
        {
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            for (long i = 0; i < Rows; i++)
            {
                row.TsNs = 1_000 + i;
                row.Cpu = (int)(i & 3);
                row.Pid = 7;
                row.Comm = "stress-ng-mremap";
                row.Event = (i & 1) == 0 ? "exceptions:page_fault_user" : "tlb:tlb_flush";
                row.SrcPos = i + 1;
                if ((i & 1) == 0)
                {
                    row.SetUInt64(address, (ulong)i * 4096);
                }
                trace.Events.Write(row);
                row.Clear();
            }
            DatasetMeta meta = trace.Complete(new IngestDiagnostics(), []);
            Assert.Equal(Rows, meta.Events);
            Assert.Equal(Rows / 2, meta.EventCounts["tlb:tlb_flush"]);
            writer.Commit();
        }
        using var connection = DuckDbConnection.OpenInMemory();

        using DuckDbReader reader = connection.Query(
            "SELECT count(*), sum(seq)::BIGINT, sum(ts_ns)::BIGINT, sum(cpu)::BIGINT, count(address), sum(address)::BIGINT, count(DISTINCT comm), count(*) FILTER (WHERE event = 'tlb:tlb_flush') FROM read_parquet(?)",
            EventsParquet(target));
        Assert.True(reader.Read());

        Assert.Equal(Rows, reader.GetInt64(0));
        Assert.Equal((Rows - 1) * Rows / 2, reader.GetInt64(1));
        Assert.Equal((1_000 * Rows) + ((Rows - 1) * Rows / 2), reader.GetInt64(2));
        Assert.Equal(1_500_000L, reader.GetInt64(3));
        Assert.Equal(Rows / 2, reader.GetInt64(4));
        // sum of i*4096 over even i < 1e6 = 4096 * 2 * sum(k, k < 5e5).
        Assert.Equal(4096L * 2 * (499_999L * 500_000 / 2), reader.GetInt64(5));
        Assert.Equal(1L, reader.GetInt64(6));
        Assert.Equal(Rows / 2, reader.GetInt64(7));
    }

    [SkippableFact]
    public void Dispose_ProducerThrowsMidStream_NoParquetNoTemporaryNoHungThread()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");

        Task run = Task.Run(() =>
        {
            using var writer = DatasetWriter.Create(target);
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            // Past two row groups: encoder threads have groups in hand and the file has bytes.
            for (long i = 0; i < 300_000; i++)
            {
                TestData.Fill(row, i);
                trace.Events.Write(row);
                row.Clear();
                if (i == 250_000)
                {
                    throw new TraceFormatException("trace.txt", 250_001, "line", "expected an event line, found 'garbage'");
                }
            }
        });

        Assert.True(((IAsyncResult)run).AsyncWaitHandle.WaitOne(s_guard), "disposing the writer after a producer error hung");
        var error = Assert.Throws<AggregateException>(run.Wait);
        Assert.IsType<TraceFormatException>(error.InnerException);
        Assert.Empty(dir.Entries());
    }

    [SkippableFact]
    public void Dispose_CancelledFromAnotherThread_NoParquetNoTemporary()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        using var cancellation = new CancellationTokenSource();
        long written = 0;

        Task run = Task.Run(() =>
        {
            using var writer = DatasetWriter.Create(target);
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            for (long i = 0; ; i++)
            {
                cancellation.Token.ThrowIfCancellationRequested();
                TestData.Fill(row, i);
                trace.Events.Write(row);
                row.Clear();
                Volatile.Write(ref written, i + 1);
            }
        }, cancellation.Token);
        SpinWait.SpinUntil(() => Volatile.Read(ref written) > 250_000 || run.IsCompleted, s_guard);
        cancellation.Cancel();

        Assert.True(((IAsyncResult)run).AsyncWaitHandle.WaitOne(s_guard), "disposing the writer after cancellation hung");
        Assert.True(run.IsCanceled, $"expected cancellation, got {run.Status} {run.Exception?.InnerException}");
        Assert.Empty(dir.Entries());
    }

    [SkippableFact]
    public void Complete_OutOfOrderAcrossChunks_ParquetSortedByTsThenSeq()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");
        const int Rows = 10_000;
        // No reorder window: this is the whole-file sort's test (ReorderWindowTests covers the window).
        using (var writer = DatasetWriter.Create(target, new DatasetWriterOptions { ReorderGroups = 0 }))
        {
            TraceWriter trace = writer.BeginTrace();
            var row = new EventRow();
            for (int i = 0; i < Rows; i++)
            {
                // Two interleaved CPUs whose clocks disagree: every other event steps back in time.
                row.TsNs = (i % 2 == 0 ? 1_000_000 : 0) + (i / 2 * 10);
                row.Event = "tlb:tlb_flush";
                row.Comm = "a.out";
                trace.Events.Write(row);
                row.Clear();
            }
            Assert.False(trace.Written.IsTimeOrdered);
            trace.Complete(new IngestDiagnostics(), []);
            writer.Commit();
        }
        using var connection = DuckDbConnection.OpenInMemory();

        using DuckDbReader reader = connection.Query(
            """
            SELECT count(*), count(*) FILTER (WHERE ts_ns < prev_ts OR (ts_ns = prev_ts AND seq < prev_seq)), min(seq), max(seq)
            FROM (SELECT ts_ns, seq, lag(ts_ns) OVER w AS prev_ts, lag(seq) OVER w AS prev_seq
                  FROM read_parquet(?, file_row_number = true) WINDOW w AS (ORDER BY file_row_number))
            """,
            EventsParquet(target));
        Assert.True(reader.Read());

        Assert.Equal((long)Rows, reader.GetInt64(0));
        Assert.Equal(0L, reader.GetInt64(1));
        Assert.Equal(0L, reader.GetInt64(2));
        Assert.Equal(Rows - 1L, reader.GetInt64(3));
        Assert.Equal([Path.Combine("run"), Path.Combine("run", "events.parquet"), Path.Combine("run", "meta.json")], dir.Entries());
    }

    [SkippableFact]
    public void Complete_ManyDistinctLongNamesPerChunk_EveryValueIntact()
    {
        string[] comms = [.. Enumerable.Range(0, 300).Select(n => $"worker-thread-number-{n}")];

        // Interleaved names: runs are short and the per-chunk name cache sees collisions.
        var (expected, actual) = WriteAndReadBack(6_000, (row, i) => row.Comm = comms[(i * 7) % comms.Length]);

        Assert.Equal(expected, actual);
    }
}
