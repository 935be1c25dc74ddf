using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Parquet;

namespace Pipeline.Storage.Tests;

/// <summary>
/// The reorder window of <see cref="EventParquetWriter"/>: events that arrive slightly late (perf's ordered-events
/// flush, per-CPU text merged by hand) are put in time order while streaming, without the whole-file sort; only
/// events later than the window leave the file for that sort. Small row groups (100 rows) make a window of one
/// held group plus the current one span a few hundred rows, so group boundaries are crossed on purpose.
/// </summary>
public sealed class ReorderWindowTests
{
    private const int Rows = 1_000;
    private const int GroupRows = 100;
    private const long Step = 1_337; // TestData.Fill: ts = 1e9 + i * 1337

    /// <summary>Rows 0..Rows-1 in index order, except that each key of <paramref name="delays"/> arrives right after the row its value names.</summary>
    private static List<long> Arrival(Dictionary<long, long> delays)
    {
        var order = new List<long>();
        for (long i = 0; i < Rows; i++)
        {
            if (!delays.ContainsKey(i))
            {
                order.Add(i);
            }
            foreach (var (late, after) in delays.Where(d => d.Value == i).OrderBy(d => d.Key))
            {
                order.Add(late);
            }
        }
        return order;
    }

    /// <summary>The rows as read back from <paramref name="path"/>, described (seq included when asked).</summary>
    private static string[] ReadBack(string path, bool withSeq)
    {
        using var connection = DuckDbConnection.OpenInMemory();
        return [.. EventReader.ReadEvents(connection, path).Select(r => Describe(r, withSeq))];
    }

    private static string Describe(EventRow row, bool withSeq)
    {
        string text = TestData.Describe(row);
        return withSeq ? text : text[(text.IndexOf(' ', StringComparison.Ordinal) + 1)..];
    }

    /// <summary>Every row as TestData (or <paramref name="fill"/>) makes it, in time order, with seq = its position.</summary>
    private static string[] Expected(bool withSeq, Action<EventRow, long>? fill = null)
    {
        fill ??= TestData.Fill;
        var row = new EventRow();
        var rows = new string[Rows];
        for (long i = 0; i < Rows; i++)
        {
            row.Clear();
            fill(row, i);
            row.Seq = i;
            rows[i] = Describe(row, withSeq);
        }
        return rows;
    }

    private static EventParquetWriter WriteInArrivalOrder(string path, IEnumerable<long> arrival, int reorderGroups = 1, Action<EventRow, long>? fill = null)
    {
        fill ??= TestData.Fill;
        var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = GroupRows, Threads = 2, ReorderGroups = reorderGroups });
        var row = new EventRow();
        foreach (long i in arrival)
        {
            row.Clear();
            fill(row, i);
            writer.Write(row);
        }
        writer.Complete();
        return writer;
    }

    /// <summary>A committed single-trace dataset at <paramref name="target"/> of the rows in arrival order.</summary>
    private static DatasetMeta WriteDataset(string target, IEnumerable<long> arrival)
    {
        using var writer = DatasetWriter.Create(target, new DatasetWriterOptions { RowGroupSize = GroupRows, Threads = 2 });
        TraceWriter trace = writer.BeginTrace();
        var row = new EventRow();
        foreach (long i in arrival)
        {
            row.Clear();
            TestData.Fill(row, i);
            trace.Events.Write(row);
        }
        DatasetMeta meta = trace.Complete(new IngestDiagnostics(), []);
        writer.Commit();
        return meta;
    }

    [SkippableFact]
    public void Write_FewLateEventsAcrossGroups_PutInPlaceCountedNoSortNeeded()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // Row 150 comes after row 230 (into the next group), 420 and 421 after 470, 777 after 790, 999 after none
        // but the last: four rows and one pair, each with args, typed fields and some with stacks (i % 11 == 0).
        var arrival = Arrival(new() { [150] = 230, [420] = 470, [421] = 470, [777] = 790 });

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival);

        Assert.Equal(new EventOrder(4, (230 - 150) * Step, 0, 0), writer.Order);
        Assert.True(writer.IsTimeOrdered);
        Assert.Equal(Expected(withSeq: true), ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_LateEventsWithNumericArgs_ArgsMoveWithTheirRows()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // A trace.dat's numeric args are printed by the encoder (EventRow.AddArg with a format), so a held group
        // holds some rows' args as JSON bytes and others' as numbers; moving late rows must keep each row's own.
        var unsigned32 = new ArgNumberFormat(ArgNumberStyle.Unsigned, 32);
        var signed = new ArgNumberFormat(ArgNumberStyle.Signed, 64);
        var pointer = new ArgNumberFormat(ArgNumberStyle.Hex, 64, "0x");
        void Fill(EventRow row, long i)
        {
            TestData.Fill(row, i);
            if (i % 3 != 0)
            {
                row.AddArg("mm_id", -i * 7919, unsigned32);
                row.AddArg("curr", -i, signed);
                if (i % 2 == 0)
                {
                    row.AddArg("member", "MM_ANONPAGES");
                }
                row.AddArg("mt", unchecked((long)(0xffff888000000000UL + ((ulong)i * 64))), pointer);
            }
        }
        var arrival = Arrival(new() { [150] = 230, [151] = 231, [420] = 470, [777] = 790 });

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival, fill: Fill);

        Assert.Equal(4, writer.Order.Reordered);
        string[] expected = Expected(withSeq: true, Fill);
        Assert.EndsWith("arg[mm_id]=4294959377 arg[curr]=-1 arg[mt]=0xffff888000000040", expected[1], StringComparison.Ordinal);
        Assert.Equal(expected, ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_LateEventsWithUtf8Args_ArgsMoveWithTheirRows()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // The text parsers' rows bring their args as JSON bytes (EventRow.TryAddArgUtf8), beside rows with string
        // and numeric args; moving late rows must keep each row's own.
        var pointer = new ArgNumberFormat(ArgNumberStyle.Hex, 64, "0x");
        void Fill(EventRow row, long i)
        {
            TestData.Fill(row, i);
            row.Args.Clear();
            if (i % 4 == 1)
            {
                row.AddArg("mt", unchecked((long)(0xffff888000000000UL + ((ulong)i * 64))), pointer);
            }
            else if (i % 4 != 0)
            {
                Assert.True(row.TryAddArgUtf8("page", System.Text.Encoding.ASCII.GetBytes($"0x{0xffffea0000000000UL + ((ulong)i * 64):x}")));
                row.AddArg("comm", i % 2 == 0 ? "caf\u00e9" : "sh");
                Assert.True(row.TryAddArgUtf8("order", System.Text.Encoding.ASCII.GetBytes($"{i % 10}")));
            }
        }
        var arrival = Arrival(new() { [150] = 230, [151] = 231, [420] = 470, [777] = 790 });

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival, fill: Fill);

        Assert.Equal(4, writer.Order.Reordered);
        string[] expected = Expected(withSeq: true, Fill);
        Assert.EndsWith("arg[page]=0xffffea0000000080 arg[comm]=caf\u00e9 arg[order]=2", expected[2], StringComparison.Ordinal);
        Assert.Equal(expected, ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_FewLateEvents_WindowRewritesOnlyTheRowsBetweenEachPlaceAndArrival()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // Row 150 arrives after 230: rows 151..230 and 150 change place (81 rows), the rest of the two held groups
        // (200 rows) stays where it is. Likewise 420 and 421 after 470 (51 rows) and 777 after 790 (14 rows).
        var arrival = Arrival(new() { [150] = 230, [420] = 470, [421] = 470, [777] = 790 });

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival);

        Assert.Equal(81 + 51 + 14, writer.RowsRewrittenByWindow);
        Assert.Equal(Expected(withSeq: true), ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_EveryRowShuffledWithinTheWindow_SameFileAsInOrder()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // Blocks of 60 rows in reverse order, their boundaries off the 100-row groups': every sort of the window
        // crosses a group boundary, moves rows with args, typed fields and stacks both ways and changes how many
        // packed values each group holds.
        var arrival = new List<long>();
        for (int block = 0; block < Rows; block += 60)
        {
            for (int i = Math.Min(block + 60, Rows) - 1; i >= block; i--)
            {
                arrival.Add(i);
            }
        }

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival);

        Assert.Equal(0L, writer.Order.BeyondWindow);
        Assert.Equal(Expected(withSeq: true), ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_InOrder_NothingCountedAndRowsUnchanged()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");

        using EventParquetWriter writer = WriteInArrivalOrder(path, Enumerable.Range(0, Rows).Select(i => (long)i));

        Assert.Equal(new EventOrder(0, 0, 0, 0), writer.Order);
        Assert.Equal(Expected(withSeq: true), ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_LateInTheLastPartialGroup_SortedAtComplete()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");

        using EventParquetWriter writer = WriteInArrivalOrder(path, Arrival(new() { [905] = 999 }));

        Assert.Equal(new EventOrder(1, (999 - 905) * Step, 0, 0), writer.Order);
        Assert.Equal(Expected(withSeq: true), ReadBack(path, withSeq: true));
    }

    [SkippableFact]
    public void Write_LaterThanTheWindow_CountedWithLatenessAndLeftForTheSort()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("events.parquet");
        // By the time row 10 arrives (after 450) groups 0-2 are encoded: it cannot be put in place.
        var arrival = Arrival(new() { [10] = 450, [600] = 640 });

        using EventParquetWriter writer = WriteInArrivalOrder(path, arrival);

        Assert.Equal(new EventOrder(1, (640 - 600) * Step, 1, (450 - 10) * Step), writer.Order);
        Assert.False(writer.IsTimeOrdered);
    }

    [SkippableFact]
    public void Complete_LaterThanTheWindow_WholeFileSortedMetaSaysByHowMuch()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");

        DatasetMeta meta = WriteDataset(target, Arrival(new() { [10] = 450, [600] = 640 }));

        Assert.Equal(new EventOrder(1, 40 * Step, 1, 440 * Step), meta.Order);
        Assert.Equal(meta.Order, DatasetMeta.Read(target).Order);
        string events = Path.Combine(target, DatasetFiles.EventsFile);
        using var connection = DuckDbConnection.OpenInMemory();
        Assert.Equal(0L, connection.Scalar(
            "SELECT count(*) FROM (SELECT ts_ns < lag(ts_ns) OVER (ORDER BY file_row_number) AS back FROM read_parquet(?, file_row_number = true)) WHERE back", events));
        // seq stays the row's position after the window (replay reads in seq order), so the rows are compared
        // without it; every ts is ten digits, so ordinal order is time order.
        Assert.Equal(Expected(withSeq: false), ReadBack(events, withSeq: false).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void Complete_LateWithinTheWindow_NoOrderSortNotRunMetaCounts()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");

        DatasetMeta meta = WriteDataset(target, Arrival(new() { [150] = 230 }));

        Assert.Equal(new EventOrder(1, 80 * Step, 0, 0), meta.Order);
        Assert.Equal(meta.Order, DatasetMeta.Read(target).Order);
        Assert.Equal(Expected(withSeq: true), ReadBack(Path.Combine(target, DatasetFiles.EventsFile), withSeq: true));
    }

    [SkippableFact]
    public void Meta_InOrderTrace_HasNoOrderEntry()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("run");

        WriteDataset(target, Enumerable.Range(0, Rows).Select(i => (long)i));

        Assert.DoesNotContain("\"order\"", File.ReadAllText(Path.Combine(target, DatasetMeta.FileName)), StringComparison.Ordinal);
        Assert.Null(DatasetMeta.Read(target).Order);
    }
}
