using System.Globalization;
using Pipeline.Replay.Lowering;
using Pipeline.Replay.Workloads;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary><c>ops.parquet</c> as <see cref="LoweredOps.Writer"/> streams it: what DuckDB reads back, and what a failed write leaves.</summary>
public sealed class LoweredOpsWriterTests : IDisposable
{
    /// <summary>The columns and DuckDB types of ops.parquet (docs/schema.md), as the DuckDB-written file had them.</summary>
    private static readonly string[] s_schema =
    [
        "op_index BIGINT", "seq BIGINT", "op VARCHAR", "tid INTEGER", "cpu INTEGER", "mm INTEGER", "va UBIGINT", "new_va UBIGINT",
        "len UBIGINT", "pfn UBIGINT", "table_id INTEGER", "idx INTEGER", "obj INTEGER", "level VARCHAR", "flags UBIGINT", "fields VARCHAR",
    ];

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lowered-ops-" + Guid.NewGuid().ToString("N"));

    public LoweredOpsWriterTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Complete_WorkloadOverManyRowGroups_ReadsBackAsTheOpsInOrder()
    {
        // A realistic mix (faults, mremap PMD moves, reclaim, collapse, locks, flushes), over 9 row groups and a partial one.
        var ops = RandomWorkload.Generate(new RandomWorkloadOptions { Ops = 5_000, Seed = 7 }).Ops.ToArray();
        string path = Path.Combine(_dir, LoweredOps.FileName);

        using (var writer = new LoweredOps.Writer(path, rowGroupSize: 512))
        {
            foreach (var op in ops)
            {
                writer.Write(op);
            }
            writer.Complete();
        }

        Assert.Equal(s_schema, Describe(path));
        Assert.Equal([.. ops.Select(Expected)], Rows(path));
        Assert.Equal([LoweredOps.FileName], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Complete_NoOps_WritesAnEmptyTableWithTheColumns()
    {
        string path = Path.Combine(_dir, LoweredOps.FileName);

        using (var writer = new LoweredOps.Writer(path))
        {
            writer.Complete();
        }

        Assert.Equal(s_schema, Describe(path));
        Assert.Empty(Rows(path));
    }

    [Fact]
    public void Dispose_WithoutComplete_LeavesNoFileAndAnEarlierOneUntouched()
    {
        // What a cancelled replay does: ops streamed over several row groups, then the writer is disposed.
        string path = Path.Combine(_dir, LoweredOps.FileName);
        File.WriteAllText(path, "earlier");
        var ops = RandomWorkload.Generate(new RandomWorkloadOptions { Ops = 3_000, Seed = 3 }).Ops.ToArray();

        using (var writer = new LoweredOps.Writer(path, rowGroupSize: 256))
        {
            foreach (var op in ops)
            {
                writer.Write(op);
            }
        }

        Assert.Equal("earlier", File.ReadAllText(path));
        Assert.Equal([LoweredOps.FileName], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Complete_WhenTheFileCannotBePlaced_ThrowsAndLeavesNoPartialFile()
    {
        // A directory where the file should go: the rename fails after every row group was written.
        string path = Path.Combine(_dir, LoweredOps.FileName);
        Directory.CreateDirectory(path);
        var ops = RandomWorkload.Generate(new RandomWorkloadOptions { Ops = 2_000, Seed = 5 }).Ops.ToArray();

        using (var writer = new LoweredOps.Writer(path, rowGroupSize: 256))
        {
            foreach (var op in ops)
            {
                writer.Write(op);
            }
            Assert.ThrowsAny<IOException>(writer.Complete);
        }

        Assert.Empty(Directory.GetFiles(_dir));
        Assert.Empty(Directory.GetFileSystemEntries(path));
    }

    private static string Expected(Op op, int index) => string.Join("|",
        index.ToString(CultureInfo.InvariantCulture), op.Seq.ToString(CultureInfo.InvariantCulture), OpSpec.NameOf(op.Kind),
        op.Tid.ToString(CultureInfo.InvariantCulture), op.Cpu.ToString(CultureInfo.InvariantCulture), op.Mm.ToString(CultureInfo.InvariantCulture),
        op.Va.ToString(CultureInfo.InvariantCulture), op.NewVa.ToString(CultureInfo.InvariantCulture), op.Len.ToString(CultureInfo.InvariantCulture),
        op.Pfn.ToString(CultureInfo.InvariantCulture), op.Table.ToString(CultureInfo.InvariantCulture), op.Index.ToString(CultureInfo.InvariantCulture),
        op.Obj.ToString(CultureInfo.InvariantCulture), OpSpec.LevelName(op.Level), ((ulong)op.Flags).ToString(CultureInfo.InvariantCulture),
        OpTraceWriter.FormatFields(op));

    /// <summary>Every row in file order, columns joined by '|' (NULL as "NULL").</summary>
    private static List<string> Rows(string path)
    {
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        string columns = string.Join(", '|', ", LoweredOps.Columns.Select(c => $"coalesce(CAST({c} AS VARCHAR), 'NULL')"));
        using var reader = connection.Query($"SELECT concat({columns}) FROM read_parquet('{path.Replace("'", "''", StringComparison.Ordinal)}')");
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(0));
        }
        return rows;
    }

    private static List<string> Describe(string path)
    {
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        using var reader = connection.Query($"DESCRIBE SELECT * FROM read_parquet('{path.Replace("'", "''", StringComparison.Ordinal)}')");
        var columns = new List<string>();
        while (reader.Read())
        {
            columns.Add(reader.GetString(0) + " " + reader.GetString(1));
        }
        return columns;
    }
}
