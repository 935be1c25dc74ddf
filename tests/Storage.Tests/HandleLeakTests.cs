using System.Globalization;
using Xunit.Abstractions;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

/// <summary>RSS is process-wide, so these run alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(HandleLeakTests), DisableParallelization = true)]
public sealed class HandleLeakCollection
{
}

[Collection(nameof(HandleLeakTests))]
public sealed class HandleLeakTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> s_oneThread = new(StringComparer.Ordinal) { ["threads"] = "1" };

    private static long RssKiB()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

    private static int OpenFileDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>Opens and closes database + connection 10,000 times (a DuckDB instance costs ~7 ms to start: about a minute).</summary>
    [SkippableFact]
    public void OpenClose_TenThousandCycles_RssAndDescriptorsStayFlat() => AssertFlat(10_000, () =>
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        using var connection = database.Connect();
        Assert.Equal(1, connection.Scalar("SELECT 1"));
    });

    [SkippableFact]
    public void OpenClose_ThreeHundredDatabaseCycles_RssAndDescriptorsStayFlat() => AssertFlat(300, () =>
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        using var connection = database.Connect();
        Assert.Equal(1, connection.Scalar("SELECT 1"));
    });

    [SkippableFact]
    public void Connect_TwoThousandCyclesWithQueryAndAppender_RssAndDescriptorsStayFlat()
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        AssertFlat(2_000, () =>
        {
            using var connection = database.Connect();
            // A temporary table lives and dies with its connection (a persistent one would keep DuckDB's
            // version info of deleted rows and grow a little by design).
            connection.Execute("CREATE TEMP TABLE t (a BIGINT, s VARCHAR)");
            using (var appender = connection.CreateAppender("t"))
            {
                appender.Append(1L).Append("a string longer than twelve bytes").EndRow();
            }
            using var reader = connection.Query("SELECT count(*) FROM t WHERE s = ?", "x");
            Assert.True(reader.Read());
        });
    }

    private void AssertFlat(int cycles, Action cycle)
    {
        for (int i = 0; i < Math.Min(cycles / 10, 500); i++)
        {
            cycle();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long rssBefore = RssKiB();
        int fdsBefore = OpenFileDescriptors();

        for (int i = 0; i < cycles; i++)
        {
            cycle();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long rssAfter = RssKiB();
        int fdsAfter = OpenFileDescriptors();

        output.WriteLine($"{cycles} cycles: RSS {rssBefore} -> {rssAfter} KiB, fds {fdsBefore} -> {fdsAfter}");
        Assert.True(rssAfter - rssBefore < 64 * 1024, $"RSS grew from {rssBefore} KiB to {rssAfter} KiB over {cycles} cycles.");
        Assert.InRange(fdsAfter, fdsBefore - 4, fdsBefore + 4);
    }
}
