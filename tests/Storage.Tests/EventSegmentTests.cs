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

    [SkippableFact]
    public void Write_RowsWrittenFieldByFieldWithRowsTakenBack_SameFileAsRowByRow()
    {
        // A parsing thread writes a line's fields straight into the segment's columns (BeginRow … EndRow), adds
        // other rows whole (Add), and takes back the last rows of a segment (TruncateTo) or a row it could not
        // finish (AbortRow): what is left must make the very file the rows written one by one make.
        using var dir = new TempDirectory();
        var options = new EventParquetOptions { RowGroupSize = 100, Threads = 2 };
        const int count = 2_000;

        using (var writer = new EventParquetWriter(dir.Combine("rows.parquet"), options))
        {
            var row = new EventRow();
            for (long i = 0; i < count; i++)
            {
                row.Clear();
                Direct.Fill(row, i);
                writer.Write(row);
            }
            writer.Complete();
        }
        using (var writer = new EventParquetWriter(dir.Combine("segments.parquet"), options))
        {
            var segment = new EventSegment(64);
            var junk = new EventRow();
            int[] sizes = [64, 1, 37, 50, 7];
            long next = 0;
            for (int s = 0; next < count; s++)
            {
                segment.Clear();
                int size = (int)Math.Min(sizes[s % sizes.Length], count - next);
                int taken = Math.Min(size, 4);
                for (int k = 0; k < size - taken; k++)
                {
                    Direct.Write(segment, next++);
                }
                // Rows that are taken back: written field by field, added whole (with stacks and numeric args), and
                // one begun but not finished.
                for (int k = 0; k < taken; k++)
                {
                    if (k % 2 == 0)
                    {
                        Direct.Write(segment, 100_000 + k);
                    }
                    else
                    {
                        junk.Clear();
                        Fill(junk, 11 * k);
                        segment.Add(junk);
                    }
                }
                segment.TruncateTo(size - taken);
                segment.BeginRow(1, 2, 3, 4, 5, "junk", "junk:junk", "d..1.");
                segment.SetText(EventSchemaField("prev_comm"), "junk");
                Assert.True(segment.TryAddArgUtf8(new ArgName("junk"), "junk"u8));
                segment.AbortRow();
                for (int k = 0; k < taken; k++)
                {
                    Direct.Write(segment, next++);
                }
                writer.Write(segment);
            }
            writer.Complete();
        }

        Assert.Equal(File.ReadAllBytes(dir.Combine("rows.parquet")), File.ReadAllBytes(dir.Combine("segments.parquet")));
    }

    private static int EventSchemaField(string name) =>
        EventSchema.TryGetField(name, out var column) ? column.Ordinal : throw new InvalidOperationException(name);

    /// <summary>Rows as a text parser makes them: header fields, typed numbers and texts, UTF-8 args and escaped string args.</summary>
    private static class Direct
    {
        private static readonly string[] s_comms = ["mmwork", "kworker/0:1", "a b-1"];
        private static readonly string[] s_events = ["kmem:mm_page_alloc", "exceptions:page_fault_user", "sched:sched_switch"];
        private static readonly ArgName s_page = new("page");
        private static readonly ArgName s_quoted = new("why \"so\"");

        public static void Fill(EventRow row, long i)
        {
            row.TsNs = 5_000 + (i * 7);
            row.SrcPos = i + 20_001;
            row.Cpu = (int)(i % 2);
            row.Pid = 4000 + (int)(i % 9);
            row.Tgid = i % 5 == 0 ? null : 4000;
            row.Comm = s_comms[i % s_comms.Length];
            row.Event = s_events[i % s_events.Length];
            row.IrqFlags = i % 3 == 0 ? null : "d..1.";
            foreach (var (ordinal, number, text) in Typed(i))
            {
                if (text is null)
                {
                    row.SetInt64(ordinal, number);
                }
                else
                {
                    row.SetText(ordinal, text);
                }
            }
            foreach (var (name, value) in Args(i))
            {
                if (!row.TryAddArgUtf8(name, System.Text.Encoding.UTF8.GetBytes(value)))
                {
                    row.AddArg(name.Name, value);
                }
            }
        }

        public static void Write(EventSegment segment, long i)
        {
            segment.BeginRow(5_000 + (i * 7), i + 20_001, (int)(i % 2), 4000 + (int)(i % 9), i % 5 == 0 ? null : 4000,
                s_comms[i % s_comms.Length], s_events[i % s_events.Length], i % 3 == 0 ? null : "d..1.");
            foreach (var (ordinal, number, text) in Typed(i))
            {
                if (text is null)
                {
                    segment.SetInt64(ordinal, number);
                }
                else
                {
                    segment.SetText(ordinal, text);
                }
            }
            foreach (var (name, value) in Args(i))
            {
                if (!segment.TryAddArgUtf8(name, System.Text.Encoding.UTF8.GetBytes(value)))
                {
                    segment.AddArg(name, value);
                }
            }
            segment.EndRow();
        }

        private static IEnumerable<(int Ordinal, long Number, string? Text)> Typed(long i)
        {
            switch (i % s_events.Length)
            {
                case 0:
                    yield return (EventSchemaField("pfn"), 0x58c38f + i, null);
                    yield return (EventSchemaField("order"), i % 4, null);
                    break;
                case 1:
                    yield return (EventSchemaField("address"), unchecked((long)(0x7fa3_1535_a000UL + ((ulong)i * 4096))), null);
                    yield return (EventSchemaField("ip"), 0x7fe3_9d58_c0ba, null);
                    break;
                default:
                    yield return (EventSchemaField("prev_comm"), 0, i % 2 == 0 ? "spin-thr 2" : "swapper/0");
                    yield return (EventSchemaField("prev_pid"), i, null);
                    break;
            }
        }

        private static IEnumerable<(ArgName Name, string Value)> Args(long i)
        {
            if (i % 5 == 4)
            {
                yield break;
            }
            yield return (s_page, $"0xffffea{i:x10}");
            if (i % 4 == 1)
            {
                yield return (s_quoted, "a \"quoted\" \\ value é");
            }
        }
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
