using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage.Tests;

/// <summary>Replay runs on disk (<c>replay=PROFILE@ARCH/</c>) and how the views pick them.</summary>
public sealed class ReplayRunsTests
{
    private static readonly DateTimeOffset s_t0 = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    /// <summary>A run holding one finding row with <paramref name="race"/>, committed at <paramref name="at"/>.</summary>
    private static ReplayRun WriteRun(string dataset, string profile, string arch, string race, DateTimeOffset at, TraceScope? scope = null)
    {
        string staging = ReplayRuns.BeginRun(dataset);
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetFiles.WriteParquetAtomic(connection, $"SELECT 0::BIGINT AS finding_id, '{profile}' AS profile, '{race}' AS race, [3::BIGINT] AS seqs", Path.Combine(staging, "findings.parquet"));
        }
        return ReplayRuns.Commit(staging, profile, "f1,f2", arch, scope ?? TraceScope.Whole, at);
    }

    private static TraceDataset Dataset(TempDirectory dir)
    {
        string ds = dir.Combine("ds");
        Directory.CreateDirectory(ds);
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetFiles.WriteParquetAtomic(connection, "SELECT range AS seq, range * 10 AS ts_ns, 0 AS cpu, 7 AS pid, 7 AS tgid, 'w' AS comm, 'tlb:tlb_flush' AS event, NULL::VARCHAR AS irq_flags, range AS src_pos FROM range(5)", Path.Combine(ds, DatasetFiles.EventsFile));
        }
        new DatasetMeta { TraceId = "ds", Events = 5 }.Write(ds);
        return DatasetCatalog.Resolve([ds]).Single();
    }

    private static List<string> Column(DuckDbConnection connection, string sql)
    {
        var values = new List<string>();
        using var reader = connection.Query(sql);
        while (reader.Read())
        {
            values.Add(reader.GetValue(0)?.ToString() ?? "NULL");
        }
        return values;
    }

    [SkippableFact]
    public void Commit_SameProfileAndArchAgain_ReplacesThatRunOnlyAndLeavesNoStaging()
    {
        using var dir = new TempDirectory();
        var ds = Dataset(dir);
        WriteRun(ds.Directory, "v5.13", "x86", "R1", s_t0);
        WriteRun(ds.Directory, "v5.13", "arm64", "R2", s_t0.AddSeconds(1));
        WriteRun(ds.Directory, "latest", "x86", "R3", s_t0.AddSeconds(2));

        var again = WriteRun(ds.Directory, "v5.13", "x86", "R4", s_t0.AddSeconds(3));

        Assert.Equal("v5.13@x86", again.Name);
        // Nothing else in the dataset: no staging directory, no old run set aside.
        Assert.Equal(["replay=latest@x86", "replay=v5.13@arm64", "replay=v5.13@x86"],
            Directory.GetDirectories(ds.Directory).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal));
        Assert.Equal(["v5.13@arm64", "latest@x86", "v5.13@x86"], ds.Runs().Select(r => r.Name));
        using var connection = DuckDbConnection.OpenInMemory();
        DatasetCatalog.CreateViews(connection, [ds]);
        Assert.Equal(["latest x86 R3", "v5.13 arm64 R2", "v5.13 x86 R4"], Column(connection, "SELECT profile || ' ' || arch || ' ' || race FROM findings ORDER BY ALL"));
        Assert.Equal(["f1,f2"], Column(connection, "SELECT DISTINCT fixes FROM findings"));
    }

    [SkippableFact]
    public void CreateViews_LatestOrProfileSelection_ShowsThatRunAndNamesTheRunsWhenAbsent()
    {
        using var dir = new TempDirectory();
        var ds = Dataset(dir);
        WriteRun(ds.Directory, "v5.13", "x86", "R1", s_t0.AddSeconds(5));
        WriteRun(ds.Directory, "latest", "x86", "R3", s_t0);

        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetCatalog.CreateViews(connection, [ds], RunSelection.Latest);
            // Latest by replayed_at, not by name or directory order.
            Assert.Equal(["v5.13 R1"], Column(connection, "SELECT profile || ' ' || race FROM findings"));
            Assert.Equal(["latest false", "v5.13 true"], Column(connection, "SELECT profile || ' ' || latest FROM replays ORDER BY profile"));
        }
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            DatasetCatalog.CreateViews(connection, [ds], RunSelection.OfProfile("latest"));
            Assert.Equal(["latest R3"], Column(connection, "SELECT profile || ' ' || race FROM findings"));
        }
        using (var connection = DuckDbConnection.OpenInMemory())
        {
            var e = Assert.Throws<InvalidDataException>(() => DatasetCatalog.CreateViews(connection, [ds], RunSelection.OfProfile("v6.1")));
            Assert.Equal("trace ds has no replay under --profile v6.1; its replays: latest (x86), v5.13 (x86).", e.Message);
        }
    }

    [SkippableFact]
    public void List_StagingLeftOfACrashedReplay_IsNoRunAndNoView()
    {
        using var dir = new TempDirectory();
        var ds = Dataset(dir);
        WriteRun(ds.Directory, "v5.13", "x86", "R1", s_t0);
        // A replay killed before its commit leaves its staging directory, tables and all.
        string staging = ReplayRuns.BeginRun(ds.Directory);
        File.Copy(Path.Combine(ds.Directory, "replay=v5.13@x86", "findings.parquet"), Path.Combine(staging, "findings.parquet"));

        Assert.Single(ds.Runs());
        using var connection = DuckDbConnection.OpenInMemory();
        DatasetCatalog.CreateViews(connection, [ds]);
        Assert.Equal(["1"], Column(connection, "SELECT count(*) FROM findings"));
    }

    [SkippableFact]
    public void BeginRun_LeftoversOfADeadReplay_StagingRemovedAndARunSetAsidePutBack()
    {
        using var dir = new TempDirectory();
        var ds = Dataset(dir);
        WriteRun(ds.Directory, "v5.13", "x86", "R1", s_t0);
        WriteRun(ds.Directory, "latest", "x86", "R3", s_t0);
        // A replay (pid 2^31-1: no such process) killed between Commit's renames: latest@x86 set aside, its
        // replacement still staged.
        string aside = Path.Combine(ds.Directory, ".replay-aside-2147483647-x");
        string staging = Path.Combine(ds.Directory, ".replay-staging-2147483647-y");
        Directory.Move(Path.Combine(ds.Directory, "replay=latest@x86"), aside);
        Directory.CreateDirectory(staging);

        string mine = ReplayRuns.BeginRun(ds.Directory);

        Assert.Equal(["latest@x86", "v5.13@x86"], ds.Runs().Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(new[] { mine, Path.Combine(ds.Directory, "replay=latest@x86"), Path.Combine(ds.Directory, "replay=v5.13@x86") }.Order(StringComparer.Ordinal),
            Directory.GetDirectories(ds.Directory).Order(StringComparer.Ordinal));
        ReplayRuns.Abandon(mine);
    }

    [SkippableFact]
    public void Read_RunWithoutOrWithBadRunJson_ErrorNamesTheFile()
    {
        using var dir = new TempDirectory();
        var ds = Dataset(dir);
        string run = Directory.CreateDirectory(Path.Combine(ds.Directory, "replay=v5.13@x86")).FullName;

        var missing = Assert.Throws<InvalidDataException>(() => ds.Runs());
        Assert.Contains(run, missing.Message, StringComparison.Ordinal);
        Assert.Contains("without run.json", missing.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(run, ReplayRuns.RunFile), "{\"profile\": \"v5.13\", \"arch\": \"x86\"}");
        var bad = Assert.Throws<InvalidDataException>(() => ds.Runs());
        Assert.Contains(Path.Combine(run, "run.json"), bad.Message, StringComparison.Ordinal);
        Assert.Contains("no string 'fixes'", bad.Message, StringComparison.Ordinal);

        // A key twice: the run would have been listed under the last profile, whichever run wrote the tables.
        File.WriteAllText(Path.Combine(run, ReplayRuns.RunFile),
            "{\"profile\": \"latest\", \"fixes\": \"\", \"arch\": \"x86\", \"replayed_at\": \"2026-12-07T06:35:37Z\", \"profile\": \"v5.13\"}");
        var twice = Assert.Throws<InvalidDataException>(() => ds.Runs());
        Assert.Contains(Path.Combine(run, "run.json"), twice.Message, StringComparison.Ordinal);
        Assert.Contains("profile", twice.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void DirectoryName_ManyFixAdjustments_StaysShortAndDistinct()
    {
        string many = "v5.13" + string.Concat(Enumerable.Repeat("+rmap-locks-pmd-move-table-free-ipi-sync", 8));
        string a = ReplayRuns.DirectoryName(many, "x86");
        string b = ReplayRuns.DirectoryName(many + "+ttu-sync", "x86");

        Assert.Equal("replay=v5.13+ttu-sync@arm64", ReplayRuns.DirectoryName("v5.13+ttu-sync", "arm64"));
        Assert.True(a.Length < 200, a);
        Assert.NotEqual(a, b);
        Assert.StartsWith("replay=v5.13+rmap-locks", a, StringComparison.Ordinal);
        Assert.EndsWith("@x86", a, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Scope_EventPredicate_SelectsThePidOrTgidWithinTheBounds()
    {
        using var connection = DuckDbConnection.OpenInMemory();
        connection.Execute("CREATE TABLE e AS SELECT * FROM (VALUES (1, 7, 7, 100), (2, 8, 7, 200), (3, 7, 7, 300), (4, 9, 9, 200)) t(seq, pid, tgid, ts_ns)");
        var scope = new TraceScope(7, 150, 300);

        Assert.Equal(["2", "3"], Column(connection, $"SELECT seq FROM e WHERE {scope.EventPredicate()} ORDER BY seq"));
        Assert.Equal(["2", "3"], Column(connection, $"SELECT x.seq FROM e x WHERE {scope.EventPredicate("x")} ORDER BY seq"));
        Assert.Equal("--pid 7 --from 0.000000150 --to 0.000000300", scope.ToString());
        Assert.Equal("true", TraceScope.Whole.EventPredicate());
    }
}
