using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class DuckDbConnectionTests
{
    [SkippableFact]
    public void Query_BadSql_ThrowsDuckDbExceptionWithParserMessage()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<DuckDbException>(() => connection.Query("SELEC 1 FROM nowhere"));

        Assert.Contains("Parser Error", error.Message, StringComparison.Ordinal);
        Assert.Contains("SELEC", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Execute_MissingTable_ThrowsCatalogError()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<DuckDbException>(() => connection.Execute("INSERT INTO missing VALUES (1)"));

        Assert.Contains("Catalog Error", error.Message, StringComparison.Ordinal);
        Assert.Contains("missing", error.Message, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("'; DROP TABLE t; --")]
    [InlineData("it's \"quoted\" \\ back\\slash")]
    [InlineData("Ünïcödé 日本語 🚀 ?$1 $2")]
    [InlineData("")]
    public void Execute_HostileParameter_StaysData(string hostile)
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (id BIGINT, s VARCHAR)");

        connection.Execute("INSERT INTO t VALUES (?, ?)", 1L, hostile);
        var back = connection.Scalar("SELECT s FROM t WHERE s = ?", hostile);
        var count = connection.Scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'");

        Assert.Equal(hostile, back);
        Assert.Equal(1L, count);
    }

    [SkippableFact]
    public void Query_BoundParametersOfEveryKind_RoundTrip()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        using var reader = connection.Query(
            "SELECT ?::BIGINT AS a, ?::INTEGER AS b, ?::UBIGINT AS c, ?::BOOLEAN AS d, ?::DOUBLE AS e, ?::VARCHAR AS f, ?::VARCHAR AS g, ?::BLOB AS h",
            long.MinValue, 42, ulong.MaxValue, true, 2.5, "x", null, new byte[] { 0, 1, 255 });

        Assert.True(reader.Read());
        Assert.Equal(long.MinValue, reader.GetInt64(0));
        Assert.Equal(42, reader.GetInt32(1));
        Assert.Equal(ulong.MaxValue, reader.GetUInt64(2));
        Assert.True(reader.GetBoolean(3));
        Assert.Equal(2.5, reader.GetDouble(4));
        Assert.Equal("x", reader.GetString(5));
        Assert.True(reader.IsNull(6));
        Assert.Equal(new byte[] { 0, 1, 255 }, reader.GetValue(7));
        Assert.False(reader.Read());
    }

    [SkippableFact]
    public void Query_WrongParameterCount_NamesBothCounts()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<ArgumentException>(() => connection.Query("SELECT ? + ?", 1L));

        Assert.Contains("Expected 2, got 1", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void GetValue_CommonTypes_BoxedByType()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        using var reader = connection.Query("""
            SELECT true, 1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UTINYINT, 6::USMALLINT, 7::UINTEGER,
                   18446744073709551615::UBIGINT, 170141183460469231731687303715884105727::HUGEINT, 1.5::FLOAT, 2.25::DOUBLE,
                   123.456::DECIMAL(9,3), -98765432109876.54321::DECIMAL(38,5), 'héllo', DATE '2024-02-29',
                   TIMESTAMP '2024-02-29 12:34:56.789', INTERVAL 3 DAY, [1, 2, NULL], ['a', NULL, 'ccccccccccccccccc'], NULL::INTEGER
            """);

        Assert.True(reader.Read());
        object?[] values = Enumerable.Range(0, reader.FieldCount).Select(reader.GetValue).ToArray();
        Assert.Equal(true, values[0]);
        Assert.Equal((sbyte)1, values[1]);
        Assert.Equal((short)2, values[2]);
        Assert.Equal(3, values[3]);
        Assert.Equal(4L, values[4]);
        Assert.Equal((byte)5, values[5]);
        Assert.Equal((ushort)6, values[6]);
        Assert.Equal(7u, values[7]);
        Assert.Equal(ulong.MaxValue, values[8]);
        Assert.Equal(Int128.MaxValue, values[9]);
        Assert.Equal(1.5f, values[10]);
        Assert.Equal(2.25, values[11]);
        Assert.Equal(123.456m, values[12]);
        Assert.Equal(-98765432109876.54321m, values[13]);
        Assert.Equal("héllo", values[14]);
        Assert.Equal("2024-02-29", values[15]);
        Assert.Equal("2024-02-29 12:34:56.789", values[16]);
        Assert.Equal("0 months 3 days 0 microseconds", values[17]);
        Assert.Equal(new List<object?> { 1, 2, null }, values[18]);
        Assert.Equal(new List<object?> { "a", null, "ccccccccccccccccc" }, values[19]);
        Assert.Null(values[20]);
        Assert.Equal("DECIMAL(9,3)", reader.GetTypeName(12));
        Assert.Equal("VARCHAR[]", reader.GetTypeName(19));
        Assert.Equal("INTEGER[]", reader.GetTypeName(18));
    }

    [SkippableFact]
    public void GetValue_UnsupportedType_NamesColumnAndType()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var reader = connection.Query("SELECT {'a': 1} AS s");
        Assert.True(reader.Read());

        var error = Assert.Throws<DuckDbException>(() => reader.GetValue(0));

        Assert.Contains("'s'", error.Message, StringComparison.Ordinal);
        Assert.Contains("STRUCT", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Query_LargeResult_StreamsEveryRowInOrder()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        using var reader = connection.Query("SELECT i FROM range(100000) t(i) ORDER BY i");
        long expected = 0;
        while (reader.Read())
        {
            Assert.Equal(expected++, reader.GetInt64(0));
        }

        Assert.Equal(100000, expected);
    }

    [SkippableFact]
    public void Execute_SeveralStatements_RunsAll()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        connection.Execute("CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1), (2); INSERT INTO a VALUES (3);");

        Assert.Equal((Int128)6, connection.Scalar("SELECT sum(x) FROM a"));
    }

    [SkippableFact]
    public void Prepare_ExecutedRepeatedly_BindsFreshValues()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (x BIGINT)");
        using var insert = connection.Prepare("INSERT INTO t VALUES ($1)");

        for (long i = 0; i < 10; i++)
        {
            insert.Execute(i);
        }

        Assert.Equal((Int128)45, connection.Scalar("SELECT sum(x) FROM t"));
    }

    [SkippableFact]
    public void GetInt64_HugeIntSum_ReadsWhenItFits()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var reader = connection.Query("SELECT sum(i), 170141183460469231731687303715884105727::HUGEINT FROM range(10) t(i)");
        Assert.True(reader.Read());

        Assert.Equal(45L, reader.GetInt64(0));
        Assert.Throws<OverflowException>(() => reader.GetInt64(1));
    }

    [SkippableFact]
    public void Scalar_NullParameterArray_BindsOneNull()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        Assert.Equal(true, connection.Scalar("SELECT ? IS NULL", null!));
    }

    [SkippableFact]
    public void Read_AfterLastRow_GettersExplain()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        using var reader = connection.Query("SELECT 1");
        Assert.True(reader.Read());
        Assert.False(reader.Read());

        var error = Assert.Throws<InvalidOperationException>(() => reader.GetInt64(0));

        Assert.Contains("past its last row", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_WithConfig_SettingsApply()
    {
        using var database = DuckDbDatabase.Open(null, new Dictionary<string, string>(StringComparer.Ordinal) { ["threads"] = "1", ["memory_limit"] = "256MiB" });
        using var connection = database.Connect();

        Assert.Equal(1L, connection.Scalar("SELECT current_setting('threads')"));
        Assert.Equal("256.0 MiB", connection.Scalar("SELECT current_setting('memory_limit')"));
    }

    [SkippableFact]
    public void Open_UnknownSetting_NamesIt()
    {
        var error = Assert.Throws<DuckDbException>(() => DuckDbDatabase.Open(null, new Dictionary<string, string>(StringComparer.Ordinal) { ["no_such_option"] = "1" }));

        Assert.Contains("no_such_option", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void WriteParquetAtomic_FailingQuery_LeavesTargetAndNoTemporary()
    {
        using var dir = new TempDirectory();
        string target = dir.Combine("x.parquet");
        using var connection = DuckDbConnection.OpenInMemory();
        DatasetFiles.WriteParquetAtomic(connection, "SELECT 1 AS a", target);
        byte[] before = File.ReadAllBytes(target);

        Assert.Throws<DuckDbException>(() => DatasetFiles.WriteParquetAtomic(connection, "SELECT error('boom') AS a", target));

        Assert.Equal(before, File.ReadAllBytes(target));
        Assert.Equal(["x.parquet"], dir.Entries());
    }
}
