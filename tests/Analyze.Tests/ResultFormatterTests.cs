using Pipeline.Storage.DuckDb;

namespace Pipeline.Analyze.Tests;

/// <summary>Formats of real DuckDB results: values that need escaping, NULLs, lists, unsigned 64-bit numbers.</summary>
public sealed class ResultFormatterTests : IDisposable
{
    private const string Sql = """
        SELECT * FROM (VALUES
            (1, 'mm work-1', 18446744073709551615::UBIGINT, ['a', 'b,c'], 1.5::DOUBLE),
            (2, 'say "hi", twice', NULL, NULL, NULL),
            (3, E'two\nlines', 0::UBIGINT, [], -2.0::DOUBLE)
        ) AS t(id, comm, addr, frames, x) ORDER BY id
        """;

    private readonly DuckDbDatabase _database = DuckDbDatabase.Open();
    private readonly DuckDbConnection _connection;

    public ResultFormatterTests() => _connection = _database.Connect();

    [SkippableFact]
    public void Write_Csv_QuotesWhatNeedsQuotingAndLeavesNullsEmpty()
    {
        var text = Format(ResultFormat.Csv);

        Assert.Equal(
            "id,comm,addr,frames,x\n" +
            "1,mm work-1,18446744073709551615,\"[a, b,c]\",1.5\n" +
            "2,\"say \"\"hi\"\", twice\",,,\n" +
            "3,\"two\nlines\",0,[],-2\n",
            text);
    }

    [SkippableFact]
    public void Write_Json_KeepsTypes()
    {
        var text = Format(ResultFormat.Json);

        using var json = System.Text.Json.JsonDocument.Parse(text);
        var rows = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(18446744073709551615UL, rows[0].GetProperty("addr").GetUInt64());
        Assert.Equal("b,c", rows[0].GetProperty("frames")[1].GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, rows[1].GetProperty("addr").ValueKind);
        Assert.Equal("two\nlines", rows[2].GetProperty("comm").GetString());
    }

    [SkippableFact]
    public void Write_Table_AlignsColumnsAndCountsRows()
    {
        var lines = Format(ResultFormat.Table).Split('\n');

        Assert.StartsWith("id  comm", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("--  ", lines[1], StringComparison.Ordinal);
        // An address-like column prints in hex for people; --raw gives the stored value.
        Assert.Contains("0xffffffffffffffff", lines[2], StringComparison.Ordinal);
        Assert.Contains("NULL", lines[3], StringComparison.Ordinal);
        Assert.Contains(" 0x0 ", lines[5], StringComparison.Ordinal); // row 3 spans two lines (its comm has a newline)
        Assert.Equal("(3 rows)", lines[^2]);
        Assert.Contains("18446744073709551615", Format(ResultFormat.Table, raw: true).Split('\n')[2], StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Write_Table_HumanizesByteColumnsAndHexesAddressLists()
    {
        using var reader = _connection.Query(
            "SELECT 94371840::UBIGINT AS moved_bytes, 4095::BIGINT AS len, 1536::BIGINT AS pmd_bytes, " +
            "[4096, 8192]::UBIGINT[] AS va, 94241419781928::UBIGINT AS total");
        using var output = new StringWriter { NewLine = "\n" };
        ResultFormatter.Write(reader, ResultFormat.Table, output);
        var row = output.ToString().Split('\n')[2];

        Assert.Matches(@"^\s*90 MiB\s+3.99 KiB\s+1.5 KiB\s+\[0x1000, 0x2000\]\s+94241419781928$", row);
    }

    [SkippableFact]
    public void Write_Table_UnderFrenchCulture_UsesInvariantNumbers()
    {
        var saved = System.Globalization.CultureInfo.CurrentCulture;
        System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("fr-FR");
        try
        {
            Assert.Contains("1.5", Format(ResultFormat.Csv), StringComparison.Ordinal);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    private string Format(ResultFormat format, bool raw = false)
    {
        using var reader = _connection.Query(Sql);
        using var writer = new StringWriter { NewLine = "\n" };
        ResultFormatter.Write(reader, format, writer, raw);
        return writer.ToString();
    }

    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }
}
