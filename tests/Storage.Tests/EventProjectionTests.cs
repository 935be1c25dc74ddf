using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

/// <summary>Reading a subset of the columns of events.parquet (replay's projection).</summary>
public sealed class EventProjectionTests
{
    private const int Count = 2048 + 700;

    private static string WriteEvents(TempDirectory dir)
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var writer = new EventTableWriter(connection);
        var row = new EventRow();
        for (int i = 0; i < Count; i++)
        {
            TestData.Fill(row, i);
            writer.Write(row);
            row.Clear();
        }
        writer.Complete();
        string path = dir.Combine("events.parquet");
        DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM events ORDER BY ts_ns, seq", path);
        return path;
    }

    [SkippableFact]
    public void ReadEvents_Projection_ColumnsItNamesEqualAFullRead()
    {
        using var dir = new TempDirectory();
        string path = WriteEvents(dir);
        using var connection = DuckDbConnection.OpenInMemory();
        var projection = EventProjection.Of("tgid", "address", "error_code", "addr", "old_len", "reason", "args");
        string[] names = ["address", "error_code", "addr", "old_len", "reason"];

        static string Project(EventRow r, string[] names) =>
            $"{r.Seq} {r.TsNs} {r.Cpu} {r.Pid} {r.Tgid} {r.Comm} {r.Event} "
            + string.Join(" ", names.Select(n => n + "=" + (r.FindField(n) ?? "-")))
            + " " + string.Join(",", r.Args.Select(a => a.Key + ":" + a.Value));

        var full = EventReader.ReadEvents(connection, path).Select(r => Project(r, names)).ToList();
        var projected = EventReader.ReadEvents(connection, path, projection).Select(r => Project(r, names)).ToList();

        Assert.Equal(Count, projected.Count);
        Assert.Equal(full, projected);
        Assert.Contains(projected, p => p.Contains("address=", StringComparison.Ordinal) && !p.Contains("address=-", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void ReadEvents_MalformedArgs_ThrowWhenThatRowsArgsAreReadNamingFileAndSeq()
    {
        // Rows keep their args JSON and parse it when read (replay reads the args of a few events): a damaged value
        // must still fail with the file and the seq, at the read, and leave the other rows' args intact. Copied row
        // by row, args are kept (Clone parses them first).
        using var dir = new TempDirectory();
        string good = WriteEvents(dir);
        string path = dir.Combine("damaged.parquet");
        using var connection = DuckDbConnection.OpenInMemory();
        DatasetFiles.WriteParquetAtomic(connection,
            $"SELECT * REPLACE (CASE WHEN seq = 1234 THEN '{{\"a\": 7}}' ELSE args END AS args) FROM read_parquet({DatasetFiles.SqlLiteral(good)}) ORDER BY ts_ns, seq", path);
        var expected = EventReader.ReadEvents(connection, good).Where(r => r.Seq != 1234).Select(r => r.Clone()).ToList();

        var kept = new List<EventRow>();
        int rows = 0;
        foreach (EventRow row in EventReader.ReadEvents(connection, path, EventProjection.Of("args")))
        {
            rows++;
            if (row.Seq == 1234)
            {
                var e = Assert.Throws<InvalidDataException>(() => row.Args);
                Assert.Contains(path, e.Message, StringComparison.Ordinal);
                Assert.Contains("seq 1234", e.Message, StringComparison.Ordinal);
                Assert.Contains("value of 'a' is Number, expected a string", e.Message, StringComparison.Ordinal);
                continue;
            }
            kept.Add(row.Clone());
        }
        Assert.Equal(Count, rows);
        Assert.Equal(
            expected.Select(r => r.Seq + " " + string.Join(",", r.Args.Select(a => a.Key + ":" + a.Value))),
            kept.Select(r => r.Seq + " " + string.Join(",", r.Args.Select(a => a.Key + ":" + a.Value))));
        Assert.Contains(kept, r => r.Args.Count > 0);
    }

    [SkippableFact]
    public void ReadEvents_Projection_ReadingAColumnLeftOutThrowsNamingIt()
    {
        using var dir = new TempDirectory();
        string path = WriteEvents(dir);
        using var connection = DuckDbConnection.OpenInMemory();
        var projection = EventProjection.Of("addr");
        int pfn = Ordinal("pfn");
        int pages = Ordinal("pages");
        int gfp = Ordinal("gfp_flags");

        int rows = 0;
        foreach (EventRow row in EventReader.ReadEvents(connection, path, projection))
        {
            rows++;
            _ = row.IsSet(Ordinal("addr"));
            AssertNotLoaded("pfn", () => row.IsSet(pfn));
            AssertNotLoaded("pages", () => row.GetInt64(pages));
            AssertNotLoaded("pfn", () => row.GetUInt64(pfn));
            AssertNotLoaded("gfp_flags", () => row.GetText(gfp));
            AssertNotLoaded("pfn", () => row.FindField("pfn"));
            AssertNotLoaded("args", () => row.FindField("some_untyped_field"));
            AssertNotLoaded("args", () => row.Args);
            AssertNotLoaded("stack", () => row.Stack);
            AssertNotLoaded("tgid", () => row.Tgid);
            AssertNotLoaded("irq_flags", () => row.IrqFlags);
            AssertNotLoaded("src_pos", () => row.SrcPos);
        }
        Assert.Equal(Count, rows);
    }

    [SkippableFact]
    public void ReadEvents_Projection_ACopyKeepsWhatWasLoaded()
    {
        using var dir = new TempDirectory();
        string path = WriteEvents(dir);
        using var connection = DuckDbConnection.OpenInMemory();
        EventRow first = EventReader.ReadEvents(connection, path, EventProjection.Of("addr")).First().Clone();
        var copy = new EventRow();
        copy.CopyFrom(first);

        AssertNotLoaded("pfn", () => first.IsSet(Ordinal("pfn")));
        AssertNotLoaded("args", () => copy.Args);
        // A row a parser fills (or cleared for reuse) has every column.
        Assert.Null(new EventRow().Stack);
    }

    [SkippableFact]
    public void ReadEvents_ArgsOnlyOfSomeEvents_TheirRowsEqualAFullReadAndTheOthersThrow()
    {
        // Replay reads the args of a few rare events; the other rows are not given theirs, and reading them must fail
        // loudly rather than look like a row without args. The union of two consumers' projections keeps both sets.
        using var dir = new TempDirectory();
        string path = WriteEvents(dir);
        using var connection = DuckDbConnection.OpenInMemory();
        var projection = EventProjection.Of("addr", "args").WithArgsOnlyOf("sched:sched_switch")
            .Union(EventProjection.Of("args").WithArgsOnlyOf("syscalls:sys_enter_mremap"))
            .Union(EventProjection.Of("pfn"));
        Assert.Equal(["sched:sched_switch", "syscalls:sys_enter_mremap"], projection.ArgsEvents!.Order(StringComparer.Ordinal));
        Assert.Null(projection.Union(EventProjection.Of("args")).ArgsEvents);

        static string Args(EventRow r) => r.Seq + " " + string.Join(",", r.Args.Select(a => a.Key + ":" + a.Value));
        var full = EventReader.ReadEvents(connection, path)
            .Where(r => r.Event is "sched:sched_switch" or "syscalls:sys_enter_mremap").Select(Args).ToList();
        var withArgs = new List<string>();
        int others = 0;
        foreach (EventRow row in EventReader.ReadEvents(connection, path, projection))
        {
            if (row.Event is "sched:sched_switch" or "syscalls:sys_enter_mremap")
            {
                withArgs.Add(Args(row));
                Assert.Equal(row.Event == "sched:sched_switch" ? "120" : null, row.FindField("prev_prio"));
                continue;
            }
            others++;
            AssertNotLoaded("args", () => row.Args);
            AssertNotLoaded("args", () => row.FindField("prev_prio"));
            _ = row.IsSet(Ordinal("addr"));
        }
        Assert.Equal(full, withArgs);
        Assert.Equal(Count - full.Count, others);
        Assert.Contains(withArgs, a => a.Contains("quote\"key:line", StringComparison.Ordinal));
    }

    [Fact]
    public void Of_UnknownColumn_IsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => EventProjection.Of("addr", "no_such_column"));
        Assert.Contains("no_such_column", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Of_AlwaysHoldsTheRequiredHeaderColumns()
    {
        var projection = EventProjection.Of("pfn").Union(EventProjection.Of("order"));
        Assert.Equal(["seq", "ts_ns", "cpu", "pid", "comm", "event", "pfn", "order"], projection.Names);
        Assert.False(projection.Contains("args"));
        Assert.Equal(EventSchema.Columns.Count, EventProjection.All.Count);
    }

    private static int Ordinal(string name) => EventSchema.Columns.Single(c => c.Name == name).Ordinal;

    private static void AssertNotLoaded(string column, Func<object?> read)
    {
        var e = Assert.Throws<InvalidOperationException>(read);
        Assert.Contains($"Column {column} was not read", e.Message, StringComparison.Ordinal);
    }

    private static void AssertNotLoaded(string column, Func<bool> read) => AssertNotLoaded(column, () => (object?)read());
}
