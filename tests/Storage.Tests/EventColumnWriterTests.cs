using System.Globalization;
using Pipeline.Storage.Parquet;

namespace Pipeline.Storage.Tests;

/// <summary>
/// Rows a decoder writes straight into the columns (<see cref="EventColumnWriter"/>) must make the very file the same
/// rows filled into <see cref="EventRow"/>s and written one by one make: typed columns (set twice too), irq flags,
/// string and numeric args, row groups cut by count and by text bytes, late rows put in place by the same reorder
/// window, rows of either kind mixed, and a row taken back half-way leaving no trace.
/// </summary>
public sealed class EventColumnWriterTests
{
    private static readonly ArgNumberFormat s_pointer = new(ArgNumberStyle.Hex, 64, "0x");
    private static readonly ArgNumberFormat s_decimal = new(ArgNumberStyle.Unsigned, 64);
    private static readonly string[] s_events = ["tlb:tlb_flush", "exceptions:page_fault_user", "kmem:mm_page_alloc", "mmap_lock:mmap_lock_acquire_returned"];
    private static readonly string[] s_comms = ["mmwork", "kworker/0:1", "<idle>"];

    private static int Field(string name) => EventSchema.Columns.Single(c => c.Name == name).Ordinal;

    /// <summary>What a decoder does for one event, onto either kind of target.</summary>
    private interface ITarget
    {
        void SetInt64(int ordinal, long value);

        void SetText(int ordinal, string value);

        void SetBool(int ordinal, bool value);

        void AddArg(string name, string value);

        void AddArg(string name, long value, ArgNumberFormat format);
    }

    private sealed class RowTarget(EventRow row) : ITarget
    {
        public void SetInt64(int ordinal, long value) => row.SetInt64(ordinal, value);

        public void SetText(int ordinal, string value) => row.SetText(ordinal, value);

        public void SetBool(int ordinal, bool value) => row.SetBool(ordinal, value);

        public void AddArg(string name, string value) => row.AddArg(name, value);

        public void AddArg(string name, long value, ArgNumberFormat format) => row.AddArg(name, value, format);
    }

    private sealed class ColumnTarget(EventColumnWriter columns) : ITarget
    {
        public void SetInt64(int ordinal, long value) => columns.SetInt64(ordinal, value);

        public void SetText(int ordinal, string value) => columns.SetText(ordinal, value);

        public void SetBool(int ordinal, bool value) => columns.SetBool(ordinal, value);

        public void AddArg(string name, string value) => columns.AddArg(name, value);

        public void AddArg(string name, long value, ArgNumberFormat format) => columns.AddArg(name, value, format);
    }

    // Shaped like trace.dat's events: typed fields, a field set twice (len_in and len both go to len), a rendered
    // text column, an instance arg on some, numeric args printed by the encoder, and an event with no payload at all.
    private static void Fill(ITarget t, long i, string? big)
    {
        if (i % 5 == 0)
        {
            t.AddArg("instance", "bench");
        }
        switch (i % s_events.Length)
        {
            case 0:
                t.SetInt64(Field("pages"), -1);
                t.SetInt64(Field("reason"), i % 6);
                t.SetText(Field("status"), i % 2 == 0 ? "SCAN_SUCCEED" : "SCAN_PTE_NON_PRESENT");
                break;
            case 1:
                t.SetInt64(Field("address"), unchecked((long)(0x7f00_0000_0000UL + ((ulong)i * 4096))));
                t.SetInt64(Field("ip"), 0x7f00_1234_5678L);
                t.AddArg("error_code", 6 + (i % 3), s_pointer);
                break;
            case 2:
                t.SetInt64(Field("len"), 4096);
                t.SetInt64(Field("len"), 8192 + i);
                t.SetText(Field("gfp_flags"), "first");
                t.SetText(Field("gfp_flags"), i % 3 == 0 ? "GFP_KERNEL|__GFP_ZERO" : "2nd");
                t.AddArg("call_site", "do_anonymous_page");
                t.AddArg("pfn", 0x1000 + i, s_decimal);
                t.AddArg("migratetype", "0");
                break;
            default:
                if (i % 7 == 0)
                {
                    break;
                }
                t.SetBool(Field("write"), i % 2 == 0);
                t.AddArg("memcg_path", big is not null && i % 3 == 1 ? big + i.ToString(CultureInfo.InvariantCulture) : "/user.slice");
                break;
        }
    }

    private static long Ts(long i) => 1_000_000_000 + (i * 1_337);

    /// <summary>
    /// Writes rows 0..count-1 in <paramref name="arrival"/> order, each with the column writer unless
    /// <paramref name="asRow"/> says it goes as an <see cref="EventRow"/>; <paramref name="discardBefore"/> rows get a
    /// few values set and taken back before their real ones.
    /// </summary>
    private static EventParquetWriter Write(string path, IReadOnlyList<long> arrival, EventParquetOptions options, string? big,
        Func<long, bool> asRow, Func<long, bool> discardBefore)
    {
        var writer = new EventParquetWriter(path, options);
        var row = new EventRow();
        EventColumnWriter columns = writer.ColumnWriter;
        foreach (long i in arrival)
        {
            string ev = s_events[i % s_events.Length];
            string comm = s_comms[i % s_comms.Length];
            string? flags = i % 3 == 0 ? null : "d..1.";
            if (asRow(i))
            {
                row.Clear();
                Fill(new RowTarget(row), i, big);
                row.TsNs = Ts(i);
                row.Cpu = (int)(i % 4);
                row.SrcPos = i + 1;
                row.Pid = 1000 + (int)(i % 17);
                row.Comm = comm;
                row.Event = ev;
                row.IrqFlags = flags;
                writer.Write(row);
                continue;
            }
            if (discardBefore(i))
            {
                Fill(new ColumnTarget(columns), i + 1, big);
                columns.DiscardRow();
            }
            Fill(new ColumnTarget(columns), i, big);
            columns.EndRow(Ts(i), (int)(i % 4), i + 1, 1000 + (int)(i % 17), comm, ev, flags);
        }
        writer.Complete();
        return writer;
    }

    [SkippableFact]
    public void EndRow_ColumnsAndRowsMixedWithLateRows_SameFileAsRowByRow()
    {
        using var dir = new TempDirectory();
        var options = new EventParquetOptions { RowGroupSize = 100, Threads = 2 };
        var arrival = TestData.ArrivalWithLateRows();

        using EventParquetWriter rows = Write(dir.Combine("rows.parquet"), arrival, options, null, _ => true, _ => false);
        using EventParquetWriter columns = Write(dir.Combine("columns.parquet"), arrival, options, null, i => i % 11 == 3, i => i % 13 == 5);

        Assert.Equal((3L, 1L), (rows.Order.Reordered, rows.Order.BeyondWindow));
        Assert.Equal(rows.Order, columns.Order);
        Assert.Equal(rows.Count, columns.Count);
        Assert.Equal(rows.SortedEventCounts(), columns.SortedEventCounts());
        Assert.Equal(File.ReadAllBytes(dir.Combine("rows.parquet")), File.ReadAllBytes(dir.Combine("columns.parquet")));
    }

    [SkippableFact]
    public void EndRow_MegabyteArgs_GroupsCutAtTheSameRowsAsRowByRow()
    {
        using var dir = new TempDirectory();
        var options = new EventParquetOptions { Threads = 2 };
        string big = new('p', 1 << 20);
        var arrival = Enumerable.Range(0, 600).Select(i => (long)i).ToList();

        Write(dir.Combine("rows.parquet"), arrival, options, big, _ => true, _ => false).Dispose();
        Write(dir.Combine("columns.parquet"), arrival, options, big, _ => false, i => i % 4 == 3).Dispose();

        Assert.Equal(File.ReadAllBytes(dir.Combine("rows.parquet")), File.ReadAllBytes(dir.Combine("columns.parquet")));
    }

    [SkippableFact]
    public void Write_WhileAColumnRowIsOpen_RefusedAndTheFileStaysWhole()
    {
        using var dir = new TempDirectory();
        using var writer = new EventParquetWriter(dir.Combine("events.parquet"), new EventParquetOptions { Threads = 1 });
        EventColumnWriter columns = writer.ColumnWriter;
        columns.SetInt64(Field("pages"), 3);
        var row = new EventRow { Event = "tlb:tlb_flush", Comm = "x" };

        var write = Assert.Throws<InvalidOperationException>(() => writer.Write(row));
        var complete = Assert.Throws<InvalidOperationException>(writer.Complete);

        Assert.Contains("row is open", write.Message, StringComparison.Ordinal);
        Assert.Contains("row is open", complete.Message, StringComparison.Ordinal);
        columns.DiscardRow();
        writer.Write(row);
        columns.EndRow(5, 0, 1, 7, "x", "tlb:tlb_flush", null);
        writer.Complete();
        Assert.Equal(2, writer.Count);
        Assert.Throws<InvalidOperationException>(() => columns.EndRow(6, 0, 1, 7, "x", "tlb:tlb_flush", null));
    }
}
