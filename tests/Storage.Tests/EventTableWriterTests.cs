using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class EventTableWriterTests
{
    [SkippableFact]
    public void Write_ThenReadEvents_EveryFieldRoundTrips()
    {
        using var dir = new TempDirectory();
        const int count = 2048 + 500;
        var expected = new List<string>();
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            using var writer = new EventTableWriter(connection);
            var row = new EventRow();
            for (int i = 0; i < count; i++)
            {
                TestData.Fill(row, i);
                writer.Write(row);
                expected.Add(TestData.Describe(row));
                row.Clear();
            }
            writer.Complete();
            DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM events ORDER BY ts_ns, seq", dir.Combine("events.parquet"));
            Assert.Equal(count, writer.Count);
        }

        using var reader = DuckDbConnection.OpenInMemory();
        var actual = EventReader.ReadEvents(reader, dir.Combine("events.parquet")).Select(TestData.Describe).ToList();

        Assert.Equal(expected, actual);
    }

    [SkippableFact]
    public void Write_Args_AreAJsonObjectOfStringsDuckDbCanQuery()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var writer = new EventTableWriter(connection);
        var row = new EventRow { Event = "sched:sched_switch", Comm = "a" };
        row.AddArg("plain", "1");
        row.AddArg("quote\"key", "line\nbreak\t\"q\" \\ é 日本 \u0001");
        writer.Write(row);
        row.Clear();
        row.Event = "tlb:tlb_flush";
        writer.Write(row);
        writer.Complete();

        Assert.Equal("line\nbreak\t\"q\" \\ é 日本 \u0001", connection.Scalar("SELECT args->>'$.\"quote\\\"key\"' FROM events WHERE seq = 0"));
        Assert.Equal("1", connection.Scalar("SELECT args->>'plain' FROM events WHERE seq = 0"));
        Assert.Equal(true, connection.Scalar("SELECT args IS NULL AND stack IS NULL AND tgid IS NULL FROM events WHERE seq = 1"));
    }

    [SkippableFact]
    public void Write_AssignsSeqAndCountsEvents()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var writer = new EventTableWriter(connection);
        var row = new EventRow();
        for (int i = 0; i < 25; i++)
        {
            TestData.Fill(row, i);
            writer.Write(row);
            Assert.Equal(i, row.Seq);
            row.Clear();
        }
        writer.Complete();

        Assert.Equal(25, writer.Count);
        Assert.Equal(5, writer.EventCounts["sched:sched_switch"]);
        Assert.Equal(writer.EventCounts.Keys.Order(StringComparer.Ordinal), writer.SortedEventCounts().Keys);
        Assert.Equal((Int128)(24 * 25 / 2), connection.Scalar("SELECT sum(seq) FROM events"));
    }

    [SkippableFact]
    public void Dispose_WithoutComplete_DiscardsBufferedRows()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using (var writer = new EventTableWriter(connection))
        {
            var row = new EventRow();
            TestData.Fill(row, 1);
            writer.Write(row);
        }

        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM events"));
    }

    [SkippableFact]
    public void ReadEvents_FileSortedByTsButSeqOutOfTsOrder_ReturnsSeqOrder()
    {
        using var dir = new TempDirectory();
        string parquet = dir.Combine("events.parquet");
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            using var writer = new EventTableWriter(connection);
            var row = new EventRow();
            // Timestamps go backwards, as in a text trace whose CPUs were not merged by time.
            foreach (long ts in new long[] { 300, 100, 200, 100 })
            {
                row.TsNs = ts;
                row.Event = "tlb:tlb_flush";
                writer.Write(row);
                row.Clear();
            }
            writer.Complete();
            DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM events ORDER BY ts_ns, seq", parquet);
        }
        using var reader = DuckDbConnection.OpenInMemory();

        var rows = EventReader.ReadEvents(reader, parquet).Select(r => (r.Seq, r.TsNs)).ToList();

        Assert.Equal([(0L, 300L), (1L, 100L), (2L, 200L), (3L, 100L)], rows);
    }
}
