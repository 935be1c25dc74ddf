using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

/// <summary>The small-table writer (Parquet.Net): what DuckDB reads back from its files.</summary>
public sealed class ParquetTableTests
{
    private static ParquetTable Sample() => new ParquetTable()
        .Int64("id", [0L, 1, 2])
        .Int64("ret", [-22L, null, 4096])
        .UInt64("va", [0UL, ulong.MaxValue, 0x7f00_0000_0000])
        .UInt64("result", [null, 1UL, null])
        .Int32("pid", [1, -1, int.MaxValue])
        .Int32("level", [null, 2, null])
        .Boolean("undecided", [true, false, true])
        .String("reason", ["a 'quoted' reason", null, "é, ü and a comma"])
        .Int32List("cpus", [[1, 2, 3], [], null])
        .Int64List("seqs", [[long.MaxValue], null, []]);

    [SkippableFact]
    public void Write_EveryColumnKind_DuckDbReadsTypesValuesNullsAndLists()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("t.parquet");

        Sample().Write(path);

        using var connection = DuckDbConnection.OpenInMemory();
        using (var types = connection.Query("SELECT * FROM read_parquet(?) LIMIT 0", path))
        {
            Assert.Equal(
                ["id BIGINT", "ret BIGINT", "va UBIGINT", "result UBIGINT", "pid INTEGER", "level INTEGER", "undecided BOOLEAN", "reason VARCHAR", "cpus INTEGER[]", "seqs BIGINT[]"],
                Enumerable.Range(0, types.FieldCount).Select(i => types.GetName(i) + " " + types.GetTypeName(i)));
        }
        using var reader = connection.Query(
            "SELECT id, ret, va, result, pid, level, undecided, reason, CAST(cpus AS VARCHAR), CAST(seqs AS VARCHAR) FROM read_parquet(?) ORDER BY id", path);
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }
        Assert.Equal(
            [
                "0|-22|0|NULL|1|NULL|True|a 'quoted' reason|[1, 2, 3]|[9223372036854775807]",
                "1|NULL|18446744073709551615|1|-1|2|False|NULL|[]|NULL",
                "2|4096|139637976727552|NULL|2147483647|NULL|True|é, ü and a comma|NULL|[]",
            ],
            rows);
    }

    [SkippableFact]
    public void Write_NoRows_DuckDbReadsAnEmptyTableWithTheColumns()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("empty.parquet");

        new ParquetTable().Int64("seq", Array.Empty<long>()).String("reason", []).Int32List("cpus", []).Write(path);

        using var connection = DuckDbConnection.OpenInMemory();
        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM read_parquet(?)", path));
        Assert.Equal("INTEGER[]", connection.Scalar("SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet(?)) WHERE column_name = 'cpus'", path));
    }

    [SkippableFact]
    public void Column_CountDiffersFromTheOthers_NamesTheColumn()
    {
        var error = Assert.Throws<ArgumentException>(() => new ParquetTable().Int64("a", [1L, 2]).String("b", ["x"]));

        Assert.Contains("'b' has 1 values, the columns before it 2", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Write_ReplacesTheTargetAtomically_NoTemporaryLeft()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("t.parquet");
        new ParquetTable().Int64("a", [1L]).Write(path);

        Sample().Write(path);

        using var connection = DuckDbConnection.OpenInMemory();
        Assert.Equal(3L, connection.Scalar("SELECT count(*) FROM read_parquet(?)", path));
        Assert.Equal(["t.parquet"], dir.Entries());
    }
}
