using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class DatasetCatalogTests
{
    private static void WriteTrace(string directory, string id, int events)
    {
        Directory.CreateDirectory(directory);
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            using var writer = new EventTableWriter(connection);
            var row = new EventRow();
            for (int i = 0; i < events; i++)
            {
                TestData.Fill(row, i);
                writer.Write(row);
                row.Clear();
            }
            writer.Complete();
            DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM events", Path.Combine(directory, DatasetFiles.EventsFile));
            new DatasetMeta { TraceId = id, Events = writer.Count, EventCounts = writer.SortedEventCounts() }.Write(directory);
        }
    }

    [SkippableFact]
    public void Resolve_SingleTraceDirectory_IdIsDirectoryName()
    {
        using var dir = new TempDirectory();
        WriteTrace(dir.Combine("my trace"), "my trace", 10);

        var traces = DatasetCatalog.Resolve([dir.Combine("my trace")]);

        Assert.Equal("my trace", Assert.Single(traces).Id);
        Assert.Equal(10, traces[0].Meta.Events);
    }

    [SkippableFact]
    public void Resolve_PartitionRoot_FindsEveryPartitionSorted()
    {
        using var dir = new TempDirectory();
        WriteTrace(dir.Combine("root", "trace=b"), "b", 3);
        WriteTrace(dir.Combine("root", "trace=a"), "a", 4);
        Directory.CreateDirectory(dir.Combine("root", "unrelated"));

        var traces = DatasetCatalog.Resolve([dir.Combine("root")]);

        Assert.Equal(["a", "b"], traces.Select(t => t.Id));
    }

    [SkippableFact]
    public void Resolve_DirectoryWithoutDataset_ErrorNamesPath()
    {
        using var dir = new TempDirectory();
        string bad = dir.Combine("empty");
        Directory.CreateDirectory(bad);

        var error = Assert.Throws<InvalidDataException>(() => DatasetCatalog.Resolve([bad]));

        Assert.Contains($"'{bad}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("neither a trace dataset", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Resolve_MissingPath_ErrorNamesPath()
    {
        using var dir = new TempDirectory();
        string missing = dir.Combine("nope");

        var error = Assert.Throws<InvalidDataException>(() => DatasetCatalog.Resolve([missing]));

        Assert.Contains($"'{missing}' does not exist", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Resolve_SameIdTwice_ErrorNamesBoth()
    {
        using var dir = new TempDirectory();
        WriteTrace(dir.Combine("x", "t"), "t", 1);
        WriteTrace(dir.Combine("y", "t"), "t", 1);

        var error = Assert.Throws<InvalidDataException>(() => DatasetCatalog.Resolve([dir.Combine("x", "t"), dir.Combine("y", "t")]));

        Assert.Contains("'t' appears twice", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void CreateViews_PathWithQuotes_StaysALiteralAndExtraTablesGetViews()
    {
        using var dir = new TempDirectory();
        string odd = dir.Combine("it's a \"trace\"; DROP");
        WriteTrace(odd, "odd", 7);
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetFiles.WriteParquetAtomic(connection, "SELECT 1 AS finding_id, 'R1' AS race", Path.Combine(odd, "findings.parquet"));
        }
        var traces = DatasetCatalog.Resolve([odd]);
        using var query = DuckDbConnection.OpenInMemory();

        var views = DatasetCatalog.CreateViews(query, traces);

        Assert.Equal(["events", "findings"], views);
        Assert.Equal(7L, query.Scalar("SELECT count(*) FROM events WHERE trace = ?", "it's a \"trace\"; DROP"));
        Assert.Equal("R1", query.Scalar("SELECT race FROM findings"));
    }

    /// <summary>
    /// A dataset whose events.parquet is damaged (a copy cut short, a disk full, another table written over it) is
    /// refused by the views every command reads through, with the file, the byte and what was expected; DuckDB's own
    /// errors ("No magic bytes found", "Referenced column "event" not found") named neither the dataset nor the fix.
    /// </summary>
    [SkippableTheory]
    [InlineData("empty", "has 0 bytes; expected a Parquet file")]
    [InlineData("cut", "expected the Parquet magic 'PAR1' that ends the file, found 0x")]
    [InlineData("footer-length", "footer length 4294967295 runs past the start of the")]
    [InlineData("footer-garbage", "the Parquet footer (")]
    [InlineData("other-table", "is not an events table: expected the columns seq, ts_ns, cpu, pid, tgid, comm, event, irq_flags, src_pos, found finding_id, race (missing seq,")]
    [InlineData("missing", "is missing")]
    [InlineData("directory", "is a directory")]
    public void CreateViews_DamagedEventsFile_ErrorNamesFileAndWhatIsWrong(string damage, string expected)
    {
        using var dir = new TempDirectory();
        string trace = dir.Combine("t");
        WriteTrace(trace, "t", 300);
        string events = Path.Combine(trace, DatasetFiles.EventsFile);
        byte[] bytes = File.ReadAllBytes(events);
        switch (damage)
        {
            case "empty":
                File.WriteAllBytes(events, []);
                break;
            case "cut":
                File.WriteAllBytes(events, bytes[..(bytes.Length / 2)]);
                break;
            case "footer-length":
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), uint.MaxValue);
                File.WriteAllBytes(events, bytes);
                break;
            case "footer-garbage":
                int footer = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(bytes.Length - 8));
                bytes.AsSpan(bytes.Length - 8 - footer, footer).Fill(0xFF);
                File.WriteAllBytes(events, bytes);
                break;
            case "other-table":
                using (var connection = DuckDbConnection.OpenInMemory())
                {
                    DatasetFiles.WriteParquetAtomic(connection, "SELECT 1 AS finding_id, 'R1' AS race", events);
                }
                break;
            case "missing":
                File.Delete(events);
                break;
            case "directory":
                File.Delete(events);
                Directory.CreateDirectory(events);
                break;
        }
        var traces = DatasetCatalog.Resolve([trace]);
        using var query = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<InvalidDataException>(() => DatasetCatalog.CreateViews(query, traces));

        Assert.StartsWith(events + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A damaged explorations or replay table (zero-length, cut short, a flipped footer length) is refused when the views
    /// are made, naming the file, the byte, and the command that writes it whole. Before, a zero-length file passed and
    /// a cut one failed every later query with DuckDB's "No magic bytes found at end of file", also a query of another view.
    /// </summary>
    [SkippableTheory]
    [InlineData("explorations", "empty", "has 0 bytes; expected a Parquet file (at least 12 bytes). Run mmtrace explore ")]
    [InlineData("explorations", "cut", "expected the Parquet magic 'PAR1' that ends the file, found 0x")]
    [InlineData("findings", "footer-length", "footer length 4294967295 runs past the start of the")]
    [InlineData("findings", "magic", "byte 0: expected the Parquet magic 'PAR1', found 0x58 0x58 0x58 0x58. Run mmtrace replay ")]
    public void CreateViews_DamagedOtherTable_ErrorNamesFileAndTheCommandThatWritesIt(string table, string damage, string expected)
    {
        using var dir = new TempDirectory();
        string trace = dir.Combine("t");
        WriteTrace(trace, "t", 300);
        string file = Path.Combine(trace, table + ".parquet");
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetFiles.WriteParquetAtomic(connection, "SELECT range AS window_index, 'R1' AS race FROM range(50)", file);
        }
        byte[] bytes = File.ReadAllBytes(file);
        switch (damage)
        {
            case "empty":
                bytes = [];
                break;
            case "cut":
                bytes = bytes[..(bytes.Length / 2)];
                break;
            case "footer-length":
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), uint.MaxValue);
                break;
            case "magic":
                "XXXX"u8.CopyTo(bytes);
                break;
        }
        File.WriteAllBytes(file, bytes);
        var traces = DatasetCatalog.Resolve([trace]);
        using var query = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<InvalidDataException>(() => DatasetCatalog.CreateViews(query, traces));

        Assert.StartsWith(file + ": ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }
}
