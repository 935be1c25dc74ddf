using Pipeline.Storage.Parquet;

namespace Pipeline.Storage.Tests;

/// <summary>
/// <see cref="EventSegment"/>s written to an <see cref="EventParquetWriter"/> must make the very file the same rows
/// written one by one make: row groups cut at the same rows (by count and by text bytes, inside a segment), late
/// rows put in place by the same reorder window, every kind of args and stacks carried along.
/// </summary>
public sealed class EventSegmentTests
{
    private static readonly ArgNumberFormat s_pointer = new(ArgNumberStyle.Hex, 64, "0x");

    // TestData's rows (typed fields, string args, stacks) plus parser-made UTF-8 args and numeric args.
    private static void Fill(EventRow row, long i)
    {
        TestData.Fill(row, i);
        if (i % 4 == 1)
        {
            row.AddArg("mt", unchecked((long)(0xffff888000000000UL + ((ulong)i * 64))), s_pointer);
        }
        else if (i % 4 == 2)
        {
            row.Args.Clear();
            Assert.True(row.TryAddArgUtf8("page", System.Text.Encoding.ASCII.GetBytes($"0x{0xffffea0000000000UL + ((ulong)i * 64):x}")));
            Assert.True(row.TryAddArgUtf8("order", System.Text.Encoding.ASCII.GetBytes($"{i % 10}")));
        }
    }

    /// <summary>Writes rows 0..count-1 in <paramref name="arrival"/> order, in segments of the sizes <paramref name="sizes"/> cycles through (0: one row alone).</summary>
    private static EventParquetWriter Write(string path, IReadOnlyList<long> arrival, int[]? sizes, EventParquetOptions options, Action<EventRow, long> fill)
    {
        var writer = new EventParquetWriter(path, options);
        var row = new EventRow();
        var segment = new EventSegment(64);
        int next = 0;
        int at = 0;
        while (at < arrival.Count)
        {
            int size = sizes is null ? 0 : sizes[next++ % sizes.Length];
            if (size == 0)
            {
                row.Clear();
                fill(row, arrival[at++]);
                writer.Write(row);
                continue;
            }
            segment.Clear();
            for (int k = 0; k < size && at < arrival.Count; k++)
            {
                row.Clear();
                fill(row, arrival[at++]);
                segment.Add(row);
            }
            writer.Write(segment);
        }
        writer.Complete();
        return writer;
    }

    [SkippableFact]
    public void Write_SegmentsMixedWithRows_SameFileAsRowByRow()
    {
        using var dir = new TempDirectory();
        var options = new EventParquetOptions { RowGroupSize = 100, Threads = 2 };
        var arrival = TestData.ArrivalWithLateRows();

        using EventParquetWriter rows = Write(dir.Combine("rows.parquet"), arrival, null, options, Fill);
        using EventParquetWriter segments = Write(dir.Combine("segments.parquet"), arrival, [64, 1, 0, 37, 64, 0, 0, 13, 35, 64, 7], options, Fill);

        Assert.Equal((3L, 1L), (rows.Order.Reordered, rows.Order.BeyondWindow));
        Assert.Equal(rows.Order, segments.Order);
        Assert.Equal(rows.Count, segments.Count);
        Assert.Equal(File.ReadAllBytes(dir.Combine("rows.parquet")), File.ReadAllBytes(dir.Combine("segments.parquet")));
    }

    [SkippableFact]
    public void Write_SegmentsOfMegabyteRows_GroupsCutAtTheSameRowsAsRowByRow()
    {
        using var dir = new TempDirectory();
        var options = new EventParquetOptions { Threads = 2 };
        string big = new('p', 1 << 20);
        void Fill(EventRow row, long i)
        {
            row.Event = "ftrace:print";
            row.Comm = "writer";
            row.TsNs = i;
            // Rows of 1 MiB and of a few bytes, so a group's 64 MiB of text ends inside a segment.
            row.AddArg("buf", i % 3 == 0 ? "short" : big + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var arrival = Enumerable.Range(0, 400).Select(i => (long)i).ToList();

        Write(dir.Combine("rows.parquet"), arrival, null, options, Fill).Dispose();
        Write(dir.Combine("segments.parquet"), arrival, [64, 50, 3], options, Fill).Dispose();

        Assert.Equal(File.ReadAllBytes(dir.Combine("rows.parquet")), File.ReadAllBytes(dir.Combine("segments.parquet")));
    }

    [Fact]
    public void Add_BeyondCapacity_Refused()
    {
        var segment = new EventSegment(2);
        var row = new EventRow();
        TestData.Fill(row, 1);
        segment.Add(row);
        segment.Add(row);

        var error = Assert.Throws<InvalidOperationException>(() => segment.Add(row));
        Assert.Contains("full (2 rows)", error.Message, StringComparison.Ordinal);
        segment.Clear();
        Assert.Equal(0, segment.Count);
    }
}
