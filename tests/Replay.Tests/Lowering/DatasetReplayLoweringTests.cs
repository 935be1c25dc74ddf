using Pipeline.Ingest;
using Pipeline.Replay.Lowering;
using Pipeline.Replay.Runner;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Tests.Lowering;

/// <summary><c>mmtrace replay</c>'s glue on a real trace: lowering, ops.parquet, replay, findings.parquet.</summary>
public sealed class DatasetReplayLoweringTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lowering-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private TraceDataset IngestCorpusText()
    {
        string output = Path.Combine(_dir, "ds");
        TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/ftrace-text/mm_trace.txt")], Output = output });
        return DatasetCatalog.Resolve([output]).Single();
    }

    /// <summary>
    /// One recording (mm_v7_zstd_full.dat) printed by <c>trace-cmd report</c> five ways: the raw rendering (<c>-R</c>)
    /// prints gfp_flags and khugepaged's status as numbers (<c>0x1c24ca</c>, <c>status=1</c>), the others as the
    /// print format's symbols. The model must not depend on which: same counters, same ops, same coverage.
    /// </summary>
    [SkippableTheory]
    [InlineData("mm_report_R.txt")]
    [InlineData("mm_report_N.txt")]
    [InlineData("mm_report_l.txt")]
    [InlineData("mm_report_t.txt")]
    public void Run_EveryTraceCmdRenderingOfOneRecording_LowersAsTheSymbolicReport(string rendering)
    {
        var replays = new List<DatasetReplayResult>();
        foreach (string file in new[] { "mm_report.txt", rendering })
        {
            string output = Path.Combine(_dir, Path.GetFileNameWithoutExtension(file));
            TraceIngestor.Run(new IngestOptions { Inputs = [Real.TestEvents.CorpusFile("recorded/trace-cmd/" + file)], Output = output });
            replays.Add(DatasetReplay.Run(DatasetCatalog.Resolve([output]).Single(), KernelProfile.Parse("latest", []), Arch.X86));
        }

        var (symbolic, other) = (replays[0], replays[1]);
        Assert.Equal(1, symbolic.Lowering!.Collapses);
        Assert.Equal(symbolic.Lowering.ToString(), other.Lowering!.ToString());
        Assert.Equal(
            symbolic.Coverage.Select(c => (c.Race, c.VerdictName, string.Join(",", c.Actors.Select(a => a.Count)), c.Gaps.Count)),
            other.Coverage.Select(c => (c.Race, c.VerdictName, string.Join(",", c.Actors.Select(a => a.Count)), c.Gaps.Count)));
    }

    [SkippableFact]
    public void Run_RecordedTextTraceKeepOps_WritesOneOpsRowPerOpAndNoInconsistentFindings()
    {
        var dataset = IngestCorpusText();

        var result = DatasetReplay.Run(dataset, KernelProfile.Parse("latest", []), Arch.X86, new DatasetReplayOptions { KeepOps = true });

        Assert.NotNull(result.Lowering);
        Assert.Empty(result.Findings);
        Assert.Equal(result.Lowering!.Ops, result.OpCount);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        string ops = Path.Combine(result.Run!.Directory, LoweredOps.FileName).Replace("'", "''", StringComparison.Ordinal);
        using (var reader = connection.Query($"SELECT count(*), count(DISTINCT seq), min(op_index), max(op_index) FROM read_parquet('{ops}')"))
        {
            Assert.True(reader.Read());
            Assert.Equal(result.OpCount, reader.GetInt64(0));
            Assert.True(reader.GetInt64(1) > 1000);
            Assert.Equal((0L, result.OpCount - 1), (reader.GetInt64(2), reader.GetInt64(3)));
        }
        using (var reader = connection.Query($"SELECT op, fields FROM read_parquet('{ops}') WHERE op = 'pmd_set_huge'"))
        {
            Assert.True(reader.Read());
            Assert.Contains("mm=", reader.GetString(1), StringComparison.Ordinal);
            Assert.Contains("pfn=0x199e00", reader.GetString(1), StringComparison.Ordinal);
        }
        string findings = Path.Combine(result.Run.Directory, DatasetReplay.FindingsTable + ".parquet");
        Assert.True(File.Exists(findings));
    }

    [SkippableFact]
    public void Run_WithoutKeepOps_NoOpsParquetAndAnEarlierOneRemovedSameFindingsAndMremaps()
    {
        var dataset = IngestCorpusText();
        var latest = KernelProfile.Parse("latest", []);
        var kept = DatasetReplay.Run(dataset, latest, Arch.X86, new DatasetReplayOptions { KeepOps = true });
        string[] keptTables = Tables(kept.Run!.Directory, "findings", "mremaps", "mremap_moves");
        Assert.True(File.Exists(Path.Combine(kept.Run.Directory, LoweredOps.FileName)));

        var result = DatasetReplay.Run(dataset, latest, Arch.X86);

        Assert.Equal(kept.Run.Directory, result.Run!.Directory);
        Assert.False(File.Exists(Path.Combine(result.Run.Directory, LoweredOps.FileName)));
        Assert.False(result.OpsKept);
        Assert.Equal(kept.OpCount, result.OpCount);
        Assert.True(result.Mremaps > 0);
        Assert.Equal(keptTables, Tables(result.Run.Directory, "findings", "mremaps", "mremap_moves"));
    }

    /// <summary>Every row of the named tables of a replay run, as text, in file order.</summary>
    private static string[] Tables(string runDirectory, params string[] names)
    {
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var rows = new List<string>();
        foreach (string name in names)
        {
            string path = Path.Combine(runDirectory, name + ".parquet").Replace("'", "''", StringComparison.Ordinal);
            using var reader = connection.Query($"SELECT CAST(t AS VARCHAR) FROM read_parquet('{path}') t");
            while (reader.Read())
            {
                rows.Add(name + " " + reader.GetString(0));
            }
        }
        return [.. rows];
    }

    [SkippableFact]
    public void Run_RecordedTextTraceUnderBuggyProfile_FindingsParquetHoldsNoInconsistentRows()
    {
        var dataset = IngestCorpusText();

        var result = DatasetReplay.Run(dataset, KernelProfile.Parse("v5.13", []), Arch.X86);

        Assert.DoesNotContain(result.Findings, f => f.Class == FindingClass.Inconsistent);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        string findings = Path.Combine(result.Run!.Directory, DatasetReplay.FindingsTable + ".parquet").Replace("'", "''", StringComparison.Ordinal);
        using var reader = connection.Query($"SELECT count(*) FROM read_parquet('{findings}') WHERE class = 'inconsistent'");
        Assert.True(reader.Read());
        Assert.Equal(0L, reader.GetInt64(0));
    }
}
