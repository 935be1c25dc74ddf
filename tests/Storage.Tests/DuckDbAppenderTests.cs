using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class DuckDbAppenderTests
{
    private const string CreateAllTypes = "CREATE TABLE t (i BIGINT, u UBIGINT, n INTEGER, b BOOLEAN, s VARCHAR, l VARCHAR[])";

    private static readonly string s_megabyte = string.Concat(Enumerable.Repeat("0123456789abcdéf", 1 << 16));

    private sealed record Row(long? I, ulong? U, int? N, bool? B, string? S, string?[]? L);

    private static Row Expected(int k) => (k % 9) switch
    {
        0 => new Row(null, null, null, null, null, null),
        1 => new Row(long.MinValue, ulong.MaxValue, int.MinValue, false, "", []),
        2 => new Row(long.MaxValue, (1UL << 63) + (ulong)k, int.MaxValue, true, "twelve bytes", [null]),
        3 => new Row(-k, (ulong)k, -k, true, "thirteen byte", ["a", null, "ünïcödé 日本語 🚀"]),
        4 => new Row(k, 0, 0, false, "Grüße, 世界! 🚀🚀🚀 — a longer multi-byte string", [new string('x', 5000)]),
        5 => new Row(k, 1, 1, null, k % 2 == 0 ? s_megabyte : "short", null),
        6 => new Row(null, (ulong)k << 20, null, true, null, ["frame+0x1/0x2", "", "frame+0x3/0x4"]),
        7 => new Row(k * 1000L, null, k, false, "q'uo\"te\\", []),
        _ => new Row(0, 0, 0, true, "\u0001\t\n", ["x"]),
    };

    private const int RowCount = 2048 * 2 + 77;

    [SkippableFact]
    public void Append_EveryColumnType_RoundTripsThroughParquet()
    {
        using var dir = new TempDirectory();
        string parquet = dir.Combine("all.parquet");
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            connection.Execute(CreateAllTypes);
            using (var appender = connection.CreateAppender("t"))
            {
                for (int k = 0; k < RowCount; k++)
                {
                    Row row = Expected(k);
                    appender.BeginRow();
                    Append(appender, row.I);
                    Append(appender, row.U);
                    if (row.N is int n)
                    {
                        appender.Append(n);
                    }
                    else
                    {
                        appender.AppendNull();
                    }
                    if (row.B is bool b)
                    {
                        appender.Append(b);
                    }
                    else
                    {
                        appender.AppendNull();
                    }
                    appender.Append(row.S);
                    appender.Append(row.L);
                    appender.EndRow();
                }
                appender.Close();
            }
            DatasetFiles.WriteParquetAtomic(connection, "SELECT row_number() OVER () - 1 AS k, * FROM t", parquet);
        }

        using var reader = DuckDbConnection.OpenInMemory();
        using var rows = reader.Query("SELECT * EXCLUDE (k), k FROM read_parquet(?) ORDER BY k", parquet);
        Assert.Equal(["BIGINT", "UBIGINT", "INTEGER", "BOOLEAN", "VARCHAR", "VARCHAR[]"], Enumerable.Range(0, 6).Select(rows.GetTypeName));
        int count = 0;
        while (rows.Read())
        {
            int k = (int)rows.GetInt64(6);
            Assert.Equal(count, k);
            Row expected = Expected(k);
            Assert.Equal(expected.I, rows.IsNull(0) ? null : rows.GetInt64(0));
            Assert.Equal(expected.U, rows.IsNull(1) ? null : rows.GetUInt64(1));
            Assert.Equal(expected.N, rows.IsNull(2) ? null : rows.GetInt32(2));
            Assert.Equal(expected.B, rows.IsNull(3) ? null : rows.GetBoolean(3));
            Assert.Equal(expected.S, rows.IsNull(4) ? null : rows.GetString(4));
            Assert.Equal(expected.L, rows.IsNull(5) ? null : rows.GetStringList(5).ToArray());
            count++;
        }
        Assert.Equal(RowCount, count);
    }

    [SkippableFact]
    public void Append_TenMillionRows_CountAndSumExact()
    {
        const long n = 10_000_000;
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (a BIGINT, b UBIGINT)");
        using (var appender = connection.CreateAppender("t"))
        {
            for (long i = 0; i < n; i++)
            {
                appender.Append(i).Append((ulong)i * 3).EndRow();
            }
        }

        using var reader = connection.Query("SELECT count(*), sum(a), sum(b) FROM t");
        Assert.True(reader.Read());

        Assert.Equal(n, reader.GetInt64(0));
        Assert.Equal((Int128)(n * (n - 1) / 2), reader.GetValue(1));
        Assert.Equal((Int128)(3 * (n * (n - 1) / 2)), reader.GetValue(2));
    }

    [SkippableFact]
    public void Append_WrongType_NamesTableColumnExpectedAndFound()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute(CreateAllTypes);
        using var appender = connection.CreateAppender("t");

        var error = Assert.Throws<InvalidCastException>(() => appender.BeginRow().Append(1L).Append("text"));

        Assert.Contains("'t'", error.Message, StringComparison.Ordinal);
        Assert.Contains("'u'", error.Message, StringComparison.Ordinal);
        Assert.Contains("UBIGINT", error.Message, StringComparison.Ordinal);
        Assert.Contains("VARCHAR (string)", error.Message, StringComparison.Ordinal);
        appender.Discard();
    }

    [SkippableFact]
    public void EndRow_TooFewValues_NamesTheMissingColumn()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute(CreateAllTypes);
        using var appender = connection.CreateAppender("t");

        appender.BeginRow().Append(1L).Append(2UL);
        var error = Assert.Throws<InvalidOperationException>(appender.EndRow);

        Assert.Contains("Table 't' has 6 columns", error.Message, StringComparison.Ordinal);
        Assert.Contains("column 2 'n'", error.Message, StringComparison.Ordinal);
        appender.Discard();
    }

    [SkippableFact]
    public void Append_TooManyValues_Throws()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (a BIGINT)");
        using var appender = connection.CreateAppender("t");

        var error = Assert.Throws<InvalidOperationException>(() => appender.Append(1L).Append(2L));

        Assert.Contains("Table 't' has 1 columns, but value 2", error.Message, StringComparison.Ordinal);
        appender.Discard();
    }

    [SkippableFact]
    public void CreateAppender_MissingTable_ThrowsDuckDbException()
    {
        using var connection = DuckDbConnection.OpenInMemory();

        var error = Assert.Throws<DuckDbException>(() => connection.CreateAppender("nope"));

        Assert.Contains("nope", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Dispose_WithoutClose_WritesBufferedRows()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (a BIGINT)");
        using (var appender = connection.CreateAppender("t"))
        {
            appender.Append(7L).EndRow();
        }

        Assert.Equal(7L, connection.Scalar("SELECT a FROM t"));
    }

    [SkippableFact]
    public void Discard_BufferedRows_AreNotWritten()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (a BIGINT)");
        using (var appender = connection.CreateAppender("t"))
        {
            appender.Append(7L).EndRow();
            appender.Discard();
        }

        Assert.Equal(0L, connection.Scalar("SELECT count(*) FROM t"));
    }

    [SkippableFact]
    public void Close_ConstraintViolation_ThrowsDuckDbExceptionNamingTable()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (a BIGINT PRIMARY KEY)");
        using var appender = connection.CreateAppender("t");
        appender.Append(1L).EndRow();
        appender.Append(1L).EndRow();

        var error = Assert.Throws<DuckDbException>(appender.Close);

        Assert.Contains("table 't'", error.Message, StringComparison.Ordinal);
        Assert.Contains("onstraint", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Append_ListsLargerThanAChunk_RoundTrip()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE t (id BIGINT, l VARCHAR[])");
        string[] big = Enumerable.Range(0, 10_000).Select(i => $"frame_{i}+0x{i:x}/0x100").ToArray();
        using (var appender = connection.CreateAppender("t"))
        {
            for (long i = 0; i < 3000; i++)
            {
                appender.Append(i).Append(i % 1000 == 0 ? big : ["x", "y"]).EndRow();
            }
        }

        using var reader = connection.Query("SELECT len(l), l[10000], (SELECT sum(len(l)) FROM t) FROM t WHERE id = 2000");
        Assert.True(reader.Read());

        Assert.Equal(10_000L, reader.GetInt64(0));
        Assert.Equal(big[^1], reader.GetString(1));
        Assert.Equal(3 * 10_000 + 2997 * 2, reader.GetInt64(2));
    }

    private static void Append(DuckDbAppender appender, long? value)
    {
        if (value is long v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }

    private static void Append(DuckDbAppender appender, ulong? value)
    {
        if (value is ulong v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }
}
