namespace Pipeline.Cli.Tests;

/// <summary><c>mmtrace query</c>: --read-only for SQL someone else wrote, and Ctrl-C stops a long query.</summary>
public sealed class QuerySafetyTests
{
    private const string Trace =
        "          a-1     [000] .....     1.000000: tlb_flush: pages:1 reason:local MM shootdown (3)\n" +
        "          a-1     [000] .....     1.000100: tlb_flush: pages:2 reason:local MM shootdown (3)\n";

    private static TempDir WithDataset()
    {
        var dir = new TempDir();
        File.WriteAllText(dir["t.txt"], Trace);
        Assert.Equal(0, Mmtrace.Run("ingest", dir["t.txt"], "-o", dir["ds"]).ExitCode);
        return dir;
    }

    [SkippableFact]
    public void ReadOnly_SelectsWork()
    {
        using var dir = WithDataset();

        var select = Mmtrace.Run("query", dir["ds"], "--read-only", "--sql", "WITH e AS (SELECT * FROM events) SELECT count(*) AS n FROM e", "--format", "csv");
        var named = Mmtrace.Run("query", dir["ds"], "--read-only", "--name", "event_counts", "--format", "csv");

        Assert.True(select.ExitCode == 0, select.ToString());
        Assert.Equal("n\n2\n", select.Stdout.Replace("\r", "", StringComparison.Ordinal));
        Assert.True(named.ExitCode == 0, named.ToString());
    }

    [SkippableTheory]
    [InlineData("COPY (SELECT 1 AS x) TO '{ds}/events.parquet' (FORMAT parquet, USE_TMP_FILE false)", "SELECT statements only")]
    [InlineData("SELECT 1; COPY (SELECT 1 AS x) TO '{ds}/events.parquet' (FORMAT parquet, USE_TMP_FILE false)", "SELECT statements only")]
    [InlineData("COPY (SELECT 1) TO '{dir}/out.csv'", "SELECT statements only")]
    [InlineData("SELECT * FROM read_csv('/etc/passwd', sep = ':')", "disabled by configuration")]
    [InlineData("SELECT * FROM read_text('{ds}/meta.json')", "disabled by configuration")]
    [InlineData("ATTACH '{dir}/x.duckdb' AS x", "SELECT statements only")]
    [InlineData("INSTALL httpfs", "SELECT statements only")]
    [InlineData("SET enable_external_access = true", "SELECT statements only")]
    public void ReadOnly_RefusesEverythingButReadingTheDataset(string sqlTemplate, string expected)
    {
        using var dir = WithDataset();
        byte[] before = File.ReadAllBytes(dir["ds/events.parquet"]);
        string sql = sqlTemplate.Replace("{ds}", dir["ds"], StringComparison.Ordinal).Replace("{dir}", dir.Path, StringComparison.Ordinal);

        var result = Mmtrace.Run("query", dir["ds"], "--read-only", "--sql", sql);

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains(expected, result.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(dir["ds/events.parquet"]));
        Assert.False(File.Exists(dir["out.csv"]));
        Assert.False(File.Exists(dir["x.duckdb"]));
    }

    [SkippableFact]
    public void CtrlC_StopsALongQuery()
    {
        using var dir = WithDataset();
        // Hours of work on any machine: it only ends if Ctrl-C stops it.
        using var child = new MmtraceChild("query", "query", dir["ds"], "--sql", "SELECT max(hash(range)) FROM range(100000000000000)");
        child.WaitPaused("query");
        child.Stdin.Close();
        // Let DuckDB get going (any moment works: before the query an interrupt is repeated until it lands).
        Thread.Sleep(1000);
        child.Interrupt(MmtraceChild.SigInt);

        var result = child.Finish();

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Contains("mmtrace: interrupted", result.Stderr, StringComparison.Ordinal);
    }
}
