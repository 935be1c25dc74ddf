using Pipeline.Storage.DuckDb;
using Pipeline.Storage.Parquet;

namespace Pipeline.Storage.Tests;

/// <summary>
/// Our Parquet encoder, checked against DuckDB: every file is read back with <c>read_parquet</c> and compared,
/// row for row and column for column, with the same rows appended to a DuckDB table.
/// </summary>
public sealed class EventParquetWriterTests
{
    /// <summary>Writes the rows to a file and to a DuckDB table; returns rows only in one and only in the other.</summary>
    private static (long FileOnly, long TableOnly, long Rows) WriteBoth(string path, IEnumerable<EventRow> rows, EventParquetOptions options, DuckDbConnection connection)
    {
        // The table keeps arrival order, so the file must too: no reorder window here (ReorderWindowTests has it).
        using (var file = new EventParquetWriter(path, options with { ReorderGroups = 0 }))
        using (var table = new EventTableWriter(connection))
        {
            foreach (EventRow row in rows)
            {
                file.Write(row);
                table.Write(row);
            }
            file.Complete();
            table.Complete();
            Assert.Equal(table.Count, file.Count);
        }
        long fileOnly = (long)connection.Scalar("SELECT count(*) FROM (SELECT * FROM read_parquet(?) EXCEPT ALL SELECT * FROM events)", path)!;
        long tableOnly = (long)connection.Scalar("SELECT count(*) FROM (SELECT * FROM events EXCEPT ALL SELECT * FROM read_parquet(?))", path)!;
        long count = (long)connection.Scalar("SELECT count(*) FROM read_parquet(?)", path)!;
        Assert.Equal(count, Pipeline.Tests.Shared.ParquetNetOracle.AssertSameAsDuckDb(path));
        return (fileOnly, tableOnly, count);
    }

    private static IEnumerable<EventRow> Rows(long count, Action<EventRow, long> fill)
    {
        var row = new EventRow();
        for (long i = 0; i < count; i++)
        {
            row.Clear();
            fill(row, i);
            yield return row;
        }
    }

    [SkippableTheory]
    [InlineData(1_000, 1)]
    [InlineData(4_096, 3)]
    [InlineData(122_880, 2)]
    public void Write_RealisticRows_SameAsDuckDbTable(int rowGroupSize, int threads)
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(30_011, TestData.Fill),
            new EventParquetOptions { RowGroupSize = rowGroupSize, Threads = threads }, connection);

        Assert.Equal((0L, 0L, 30_011L), (fileOnly, tableOnly, rows));
    }

    [SkippableFact]
    public void Write_ExtremeValues_RoundTripExactly()
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        int address = TestData.Field("address");
        int ret = TestData.Field("ret");
        int write = TestData.Field("write");
        int status = TestData.Field("status");
        long[] stamps = [long.MinValue, long.MaxValue, 0, -1, long.MaxValue, long.MinValue + 1, 42];
        ulong[] addresses = [ulong.MaxValue, 0, 1UL << 63, (1UL << 63) - 1, 0xffff_8880_0000_0000UL];
        string big = new('x', 1 << 20);

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(700, (row, i) =>
        {
            // Deltas that overflow 64 bits, negative and huge values, empty and multi-byte text.
            row.TsNs = stamps[i % stamps.Length];
            row.SrcPos = i % 2 == 0 ? long.MaxValue - i : -i;
            row.Cpu = i % 3 == 0 ? int.MaxValue : int.MinValue + (int)i;
            row.Pid = (int)-i;
            row.Tgid = i % 4 == 0 ? null : int.MinValue;
            row.Comm = i % 5 == 0 ? "" : "ä-prozeß 日本";
            row.Event = i % 6 == 0 ? ":unknown_name" : "syscalls:sys_exit_mremap";
            row.IrqFlags = i % 7 == 0 ? "" : null;
            row.SetUInt64(address, addresses[i % addresses.Length]);
            if (i % 2 == 1)
            {
                row.SetInt64(ret, i % 3 == 0 ? long.MinValue : -14);
            }
            if (i % 3 != 2)
            {
                row.SetBool(write, i % 3 == 0);
            }
            if (i % 10 == 3)
            {
                row.SetText(status, i == 3 ? big : "SCAN_SUCCEED");
            }
            if (i % 9 == 0)
            {
                row.AddArg("k\"ey", "v\u0001\n");
            }
            row.Stack = (i % 8) switch
            {
                0 => [],
                1 => ["only"],
                2 => [.. Enumerable.Range(0, 100).Select(f => $"frame_{f}+0x{f:x}/0x100")],
                _ => null,
            };
        }), new EventParquetOptions { RowGroupSize = 64, Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 700L), (fileOnly, tableOnly, rows));
    }

    [SkippableFact]
    public void Write_NullFramesInStack_KeptAsNullElements()
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        string path = dir.Combine("e.parquet");
        using (var writer = new EventParquetWriter(path))
        {
            var row = new EventRow { Event = "ftrace:kernel_stack", Comm = "a", Stack = ["top", null!, "bottom"] };
            writer.Write(row);
            writer.Complete();
        }

        Assert.Equal("[top, NULL, bottom]", connection.Scalar("SELECT stack::VARCHAR FROM read_parquet(?)", path));
    }

    [SkippableFact]
    public void Write_RandomSparseColumns_SameAsDuckDbTable()
    {
        // Random presence, runs and values exercise every level and dictionary encoding path: all-null and all-set
        // groups, long runs, alternation, and dictionaries from 1 to thousands of entries (index widths 1 to 13 bits).
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        var random = new Random(20261122);
        int[] numeric = [.. EventSchema.Columns.Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && c.Kind != ColumnKind.Text).Select(c => c.Ordinal)];
        int[] texts = [.. EventSchema.Columns.Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && c.Kind == ColumnKind.Text).Select(c => c.Ordinal)];
        string[] names = [.. Enumerable.Range(0, 5000).Select(n => $"name-{n}")];

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(60_000, (row, i) =>
        {
            int phase = (int)(i / 7_000);
            row.TsNs = 1_000_000 + (i * random.Next(0, 3000));
            row.SrcPos = i + 1;
            row.Cpu = phase % 2 == 0 ? 0 : random.Next(64);
            row.Pid = random.Next(1, 1 << 22);
            row.Tgid = random.Next(4) == 0 ? null : row.Pid;
            row.Comm = names[phase switch { 0 => 0, 1 => random.Next(2), 2 => random.Next(300), _ => random.Next(names.Length) }];
            row.Event = names[random.Next(40)];
            row.IrqFlags = phase == 3 ? null : names[random.Next(3)];
            foreach (int c in numeric)
            {
                bool present = phase switch { 0 => false, 1 => true, 2 => (i / 100) % 2 == 0, _ => random.Next(3) == 0 };
                if (present)
                {
                    row.SetInt64(c, EventSchema.Columns[c].Kind == ColumnKind.Bool ? random.Next(2)
                        : EventSchema.Columns[c].Kind == ColumnKind.Int32 ? random.Next() : random.NextInt64(long.MinValue, long.MaxValue));
                }
            }
            foreach (int c in texts)
            {
                if (random.Next(phase + 2) == 0)
                {
                    row.SetText(c, names[random.Next(Math.Min(names.Length, (phase * 700) + 1))]);
                }
            }
            if (random.Next(3) == 0)
            {
                row.AddArg(names[random.Next(10)], names[random.Next(names.Length)]);
            }
        }), new EventParquetOptions { RowGroupSize = 7_000, Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 60_000L), (fileOnly, tableOnly, rows));
    }

    [SkippableFact]
    public void Write_ArgsListsRepeatingInterleaved_EachRowKeepsItsOwnArgs()
    {
        // A trace.dat buffer gives most events the same instance name (the same string instances) and some events
        // more fields: the encoder reuses the JSON of recent identical lists, which must never hand a row another
        // row's args, across row groups too (a group is 1,000 rows here).
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        var random = new Random(20261205);
        string[] keys = ["instance", "mm_id", "curr", "member", "size"];
        string[] values = [.. Enumerable.Range(0, 12).Select(n => $"value-{n}")];

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(25_000, (row, i) =>
        {
            TestData.Fill(row, i);
            row.Args.Clear();
            int kind = random.Next(8);
            if (kind == 0)
            {
                return;
            }
            row.AddArg(keys[0], values[kind % 3]);
            for (int k = 1; k < kind % 5; k++)
            {
                // Repeating instances (the pool) and fresh strings of the same text (equal, not identical).
                row.AddArg(keys[k], random.Next(2) == 0 ? values[random.Next(values.Length)] : $"value-{random.Next(values.Length)}");
            }
        }), new EventParquetOptions { RowGroupSize = 1_000, Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 25_000L), (fileOnly, tableOnly, rows));
    }

    [SkippableFact]
    public void Write_NumericArgs_JsonIsTheirPrintedText()
    {
        // Numeric args (a trace.dat's fields printed as %u, %ld, 0x%lx, ...) reach the file as numbers and are
        // printed by the encoder; the DuckDB table gets the same rows' args as strings (EventRow.Args prints them),
        // so any difference in digits, sign, width or escaping shows up as a row only in one of the two.
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        var random = new Random(20261206);
        ArgNumberFormat[] formats =
        [
            new(ArgNumberStyle.Signed, 8), new(ArgNumberStyle.Signed, 16), new(ArgNumberStyle.Signed, 32), new(ArgNumberStyle.Signed, 64),
            new(ArgNumberStyle.Unsigned, 8), new(ArgNumberStyle.Unsigned, 32), new(ArgNumberStyle.Unsigned, 64, smallAsIs: true),
            new(ArgNumberStyle.Signed, 32, smallAsIs: true), new(ArgNumberStyle.Hex, 64, "0x"), new(ArgNumberStyle.Hex, 16, "pfn "),
            new(ArgNumberStyle.HexUpper, 32, "", hexPrefixWhenNonZero: true), new(ArgNumberStyle.Hex, 64, "", hexPrefixWhenNonZero: true),
        ];
        long[] edges = [0, 1, -1, 127, 128, 255, 256, 1023, 1024, -1024, short.MinValue, ushort.MaxValue, int.MinValue, uint.MaxValue, long.MinValue, long.MaxValue];
        string[] keys = ["instance", "mm_id", "curr", "member", "size", "k\"ey"];

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(12_000, (row, i) =>
        {
            TestData.Fill(row, i);
            row.Args.Clear();
            int kind = (int)(i % 4);
            if (kind == 0)
            {
                row.AddArg(keys[0], "mmtrace-bench");
                return;
            }
            row.AddArg(keys[0], "mmtrace-bench");
            for (int k = 1; k < keys.Length; k++)
            {
                if (k == 3 || k == 5)
                {
                    row.AddArg(keys[k], k == 5 ? "v\u0001\"" : "MM_ANONPAGES");
                    continue;
                }
                long value = random.Next(3) == 0 ? edges[random.Next(edges.Length)] : random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64);
                row.AddArg(keys[k], value, formats[random.Next(formats.Length)]);
            }
        }), new EventParquetOptions { RowGroupSize = 1_000, Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 12_000L), (fileOnly, tableOnly, rows));
    }

    [SkippableFact]
    public void Write_Utf8Args_JsonSameAsFromStrings()
    {
        // The text parsers add plain values as UTF-8 (EventRow.TryAddArgUtf8): the row keeps their JSON and the
        // writer copies it. The DuckDB table reads the same rows' args as strings (EventRow.Args makes them), so a
        // byte of difference in quoting, separators or order shows up as a row only in one of the two. Rows mix
        // UTF-8 values with strings before and after them, refused values (quote, backslash, control, non-ASCII)
        // that go in as strings, keys that need escaping, and numeric args that come after UTF-8 ones.
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        var random = new Random(20261206);
        var hex = new ArgNumberFormat(ArgNumberStyle.Hex, 64, "0x");
        string[] keys = ["instance", "address", "k\"ey", "ip", "tab\there"];
        string[] values = ["0xffff888000001000", "", "MM_ANONPAGES", "spin-thr 2", "a\"b", "back\\slash", "bell\u0007", "caf\u00e9", "~} {", "\u007f"];

        var (fileOnly, tableOnly, rows) = WriteBoth(dir.Combine("e.parquet"), Rows(20_000, (row, i) =>
        {
            TestData.Fill(row, i);
            row.Args.Clear();
            int count = random.Next(5);
            for (int k = 0; k < count; k++)
            {
                string key = keys[random.Next(keys.Length)];
                string value = values[random.Next(values.Length)];
                switch (random.Next(6))
                {
                    case 0:
                        row.AddArg(key, value);
                        break;
                    case 1:
                        row.AddArg(key, random.NextInt64(), hex);
                        break;
                    default:
                        byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(value);
                        bool plain = value.All(c => c >= ' ' && c < '\u007f' && c != '"' && c != '\\');
                        bool numbersWaiting = !row.ArgNumbers.IsEmpty;
                        // Both ways in: the name as a string, or with its JSON made once (ArgName, as the parsers do).
                        bool taken = random.Next(2) == 0 ? row.TryAddArgUtf8(key, utf8) : row.TryAddArgUtf8(new ArgName(key), utf8);
                        if (!taken)
                        {
                            row.AddArg(key, value);
                        }
                        // Taken exactly when the bytes go into JSON as they are and no number waits to be printed.
                        Assert.Equal(plain && !numbersWaiting, taken);
                        break;
                }
            }
        }), new EventParquetOptions { RowGroupSize = 1_000, Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 20_000L), (fileOnly, tableOnly, rows));
    }

    [Fact]
    public void TryAddArgUtf8_ArgsReadBack_StringsInOrderAndRowWritesLikeStrings()
    {
        var row = new EventRow();
        row.AddArg("instance", "mmtrace");
        Assert.True(row.TryAddArgUtf8("page", "0xffffea0004d2c000"u8));
        Assert.False(row.TryAddArgUtf8("comm", "caf\u00e9"u8));
        row.AddArg("comm", "caf\u00e9");
        Assert.True(row.TryAddArgUtf8(new ArgName("or\"der"), "0"u8));
        Assert.True(row.HasArgsJson);
        Assert.Equal("\"instance\":\"mmtrace\",\"page\":\"0xffffea0004d2c000\",\"comm\":\"caf\u00e9\",\"or\\\"der\":\"0\"",
            System.Text.Encoding.UTF8.GetString(row.ArgsJsonMembers));

        EventRow copy = row.Clone();

        KeyValuePair<string, string>[] expected = [new("instance", "mmtrace"), new("page", "0xffffea0004d2c000"), new("comm", "caf\u00e9"), new("or\"der", "0")];
        Assert.Equal(expected, copy.Args);
        Assert.Equal(expected, row.Args);
        // Read (and so open to changes through the list): the strings are the args from now on.
        Assert.False(row.HasArgsJson);
        row.Clear();
        Assert.True(row.TryAddArgUtf8("x", "1"u8));
        Assert.Equal("\"x\":\"1\"", System.Text.Encoding.UTF8.GetString(row.ArgsJsonMembers));
        row.AddArg("n", 255, new ArgNumberFormat(ArgNumberStyle.Unsigned, 32));
        Assert.False(row.HasArgsJson);
        Assert.False(row.TryAddArgUtf8("y", "2"u8));
        Assert.Equal([new("x", "1"), new("n", "255")], row.Args);
    }

    [Fact]
    public void TryAddArgUtf8_EveryByteAtEveryPlace_TakenExactlyWhenJsonHoldsItAsIs()
    {
        // Values of 1 to 24 bytes (the short ones are tested word by word, the long ones by a vector search) with
        // one byte of every value at every place: a row or a segment takes the value as is exactly when JSON
        // holds that byte unescaped (printable ASCII but the quote and the backslash); else the parser must add
        // it as a string, which is escaped.
        var segment = new EventSegment(1);
        var name = new ArgName("v");
        for (int length = 1; length <= 24; length++)
        {
            for (int at = 0; at < length; at++)
            {
                for (int b = 0; b < 256; b++)
                {
                    byte[] value = new byte[length];
                    value.AsSpan().Fill((byte)'a');
                    value[at] = (byte)b;
                    bool plain = b is >= 0x20 and < 0x7F && b != '"' && b != '\\';
                    var row = new EventRow();
                    Assert.True(plain == row.TryAddArgUtf8(name, value), $"row: byte 0x{b:x2} at {at} of {length}");
                    segment.BeginRow(0, 0, 0, 1, null, "c", "e", null);
                    Assert.True(plain == segment.TryAddArgUtf8(name, value), $"segment: byte 0x{b:x2} at {at} of {length}");
                    segment.AbortRow();
                }
            }
        }
    }

    [SkippableFact]
    public void Complete_RowGroupsInWriteOrder_WithStatisticsDuckDbUses()
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        string path = dir.Combine("e.parquet");
        int address = TestData.Field("address");
        using (var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = 1_000, Threads = 3 }))
        {
            var row = new EventRow();
            for (long i = 0; i < 10_500; i++)
            {
                row.Clear();
                row.TsNs = 5_000 + (i * 10);
                row.Event = "exceptions:page_fault_user";
                row.Comm = "a";
                row.SetUInt64(address, ulong.MaxValue - (ulong)i);
                writer.Write(row);
            }
            writer.Complete();
        }

        // Eleven groups, in seq order in the file, with min/max that match their rows (unsigned for UBIGINT).
        Assert.Equal(11L, connection.Scalar("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)", path));
        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM read_parquet(?, file_row_number = true) WHERE seq <> file_row_number", path));
        Assert.Equal("5000 14990 1000", connection.Scalar(
            "SELECT concat_ws(' ', stats_min_value, stats_max_value, num_values) FROM parquet_metadata(?) WHERE path_in_schema = 'ts_ns' AND row_group_id = 0", path));
        Assert.Equal($"{ulong.MaxValue - 10_499} {ulong.MaxValue - 10_000}", connection.Scalar(
            "SELECT concat_ws(' ', stats_min_value, stats_max_value) FROM parquet_metadata(?) WHERE path_in_schema = 'address' AND row_group_id = 10", path));
        // A filter on ts_ns reads the rows it needs and counts right.
        Assert.Equal(100L, connection.Scalar("SELECT count(*) FROM read_parquet(?) WHERE ts_ns BETWEEN 60000 AND 60990", path));
    }

    [SkippableFact]
    public void Write_RowsWithMegabytePayloads_GroupsCutByBytesNotRows()
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        string path = dir.Combine("e.parquet");
        string big = new('p', 1 << 20);

        var (fileOnly, tableOnly, rows) = WriteBoth(path, Rows(300, (row, i) =>
        {
            row.Event = "ftrace:print";
            row.Comm = "writer";
            row.TsNs = i;
            row.AddArg("buf", big + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }), new EventParquetOptions { Threads = 2 }, connection);

        Assert.Equal((0L, 0L, 300L), (fileOnly, tableOnly, rows));
        // 64 MiB of text per group: about 64 rows of 1 MiB each, not all 300 in one 122,880-row group.
        long groups = (long)connection.Scalar("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(?)", path)!;
        Assert.InRange(groups, 4, 6);
    }

    [SkippableFact]
    public void Complete_SameRowsTwice_ByteIdenticalFiles()
    {
        using var dir = new TempDirectory();
        string[] paths = [dir.Combine("a.parquet"), dir.Combine("b.parquet")];
        for (int run = 0; run < 2; run++)
        {
            using var writer = new EventParquetWriter(paths[run], new EventParquetOptions { RowGroupSize = 2_000, Threads = run + 2 });
            foreach (EventRow row in Rows(25_000, TestData.Fill))
            {
                writer.Write(row);
            }
            writer.Complete();
        }

        Assert.Equal(File.ReadAllBytes(paths[0]), File.ReadAllBytes(paths[1]));
    }

    [SkippableFact]
    public void Complete_NoRows_FileWithEveryColumnAndNoRowGroups()
    {
        using var dir = new TempDirectory();
        using var connection = DuckDbConnection.OpenInMemory();
        string path = dir.Combine("e.parquet");
        using (var writer = new EventParquetWriter(path))
        {
            writer.Complete();
        }

        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM read_parquet(?)", path));
        using DuckDbReader reader = connection.Query("SELECT * FROM read_parquet(?)", path);
        Assert.Equal(EventSchema.Columns.Select(c => c.Name + " " + c.SqlType), Enumerable.Range(0, reader.FieldCount).Select(i => reader.GetName(i) + " " + reader.GetTypeName(i)));
    }

    [SkippableFact]
    public void Dispose_WithoutComplete_NoFileLeft()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("e.parquet");
        using (var writer = new EventParquetWriter(path, new EventParquetOptions { RowGroupSize = 500 }))
        {
            foreach (EventRow row in Rows(2_000, TestData.Fill))
            {
                writer.Write(row);
            }
        }

        Assert.Empty(dir.Entries());
    }

    [SkippableFact]
    public void Create_ExistingFile_RefusedAndKept()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("e.parquet");
        File.WriteAllText(path, "keep");

        Assert.Throws<IOException>(() => new EventParquetWriter(path));
        Assert.Equal("keep", File.ReadAllText(path));
    }
}
