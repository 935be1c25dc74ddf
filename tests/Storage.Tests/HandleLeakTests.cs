using System.Globalization;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

public sealed class HandleLeakTests
{
    private static readonly Dictionary<string, string> s_oneThread = new(StringComparer.Ordinal) { ["threads"] = "1" };

    private static long RssKiB()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

    private static int OpenFileDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>Opens and closes database + connection; a DuckDB instance costs ~7 ms to start, hence Heavy.</summary>
    [HeavyFact]
    [Trait("Category", "Heavy")]
    public void OpenClose_TenThousandCycles_RssAndDescriptorsStayFlat() => AssertFlat(10_000, () =>
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        using var connection = database.Connect();
        Assert.Equal(1, connection.Scalar("SELECT 1"));
    });

    [Fact]
    public void OpenClose_ThreeHundredDatabaseCycles_RssAndDescriptorsStayFlat() => AssertFlat(300, () =>
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        using var connection = database.Connect();
        Assert.Equal(1, connection.Scalar("SELECT 1"));
    });

    [Fact]
    public void Connect_TwoThousandCyclesWithQueryAndAppender_RssAndDescriptorsStayFlat()
    {
        using var database = DuckDbDatabase.Open(null, s_oneThread);
        using (var setup = database.Connect())
        {
            setup.Execute("CREATE TABLE t (a BIGINT, s VARCHAR)");
        }
        AssertFlat(2_000, () =>
        {
            using var connection = database.Connect();
            using (var appender = connection.CreateAppender("t"))
            {
                appender.Append(1L).Append("a string longer than twelve bytes").EndRow();
            }
            using var reader = connection.Query("SELECT count(*) FROM t WHERE s = ?", "x");
            Assert.True(reader.Read());
            connection.Execute("DELETE FROM t");
        });
    }

    private static void AssertFlat(int cycles, Action cycle)
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

        Assert.True(rssAfter - rssBefore < 64 * 1024, $"RSS grew from {rssBefore} KiB to {rssAfter} KiB over {cycles} cycles.");
        Assert.InRange(fdsAfter, fdsBefore - 4, fdsBefore + 4);
    }
}
