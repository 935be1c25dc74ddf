using System.Globalization;
using Pipeline.Replay.Lowering;
using Pipeline.Replay.Real;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Runner;

/// <summary>What replaying one trace dataset produced.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="Result">The engine's result (null when the trace held no ops).</param>
/// <param name="OpCount">Op lines (<c>mmop:*</c> events) replayed.</param>
/// <param name="IgnoredEvents">Events that are not ops (tracepoints of a real trace).</param>
/// <param name="MalformedOps">Op lines that could not be read (counted, with the first few in <paramref name="Diagnostics"/>).</param>
/// <param name="Mremaps">mremap calls analysed from syscall events (real traces).</param>
/// <param name="Diagnostics">Malformed op lines.</param>
public sealed record DatasetReplayResult(
    TraceDataset Dataset,
    ReplayResult? Result,
    long OpCount,
    long IgnoredEvents,
    long MalformedOps,
    int Mremaps,
    IngestDiagnostics Diagnostics)
{
    /// <summary>What the lowering of a real trace (tracepoint events) produced and skipped; null for op traces.</summary>
    public LoweringStatistics? Lowering { get; init; }

    /// <summary>mremap calls whose moves could not be decided (the mappings around them predate the trace).</summary>
    public int UndecidedMremaps { get; init; }

    /// <summary>Exposure windows found in a real trace (class <c>exposure</c>).</summary>
    public IReadOnlyList<Finding> Exposures { get; init; } = [];

    /// <summary>Findings (the engine's, then exposure windows), empty when nothing was replayed.</summary>
    public IReadOnlyList<Finding> Findings => Exposures.Count == 0 ? Result?.Findings ?? [] : [.. Result?.Findings ?? [], .. Exposures];
}

/// <summary>
/// Replays the datasets <c>mmtrace replay</c> names: op traces (<c>mmop:*</c> events) go through the engine and
/// their findings are written as <c>findings.parquet</c>; mremap calls of real traces are analysed into
/// <c>mremaps.parquet</c> and <c>mremap_moves.parquet</c> (the predicted page-table moves per extent).
/// Each file is replaced atomically.
/// </summary>
public static class DatasetReplay
{
    /// <summary>Findings table name (and file name without extension).</summary>
    public const string FindingsTable = "findings";

    /// <summary>Replays one dataset under <paramref name="profile"/> on <paramref name="arch"/> and writes its tables.</summary>
    /// <param name="dataset">The dataset to replay; its tables are replaced atomically.</param>
    /// <param name="profile">Kernel profile (fixes and features).</param>
    /// <param name="arch">Flush scope.</param>
    /// <param name="maps">A <c>/proc/PID/maps</c> snapshot taken before tracing: seeds the address space the mremap
    /// prediction starts from, so calls that depend on mappings made before the trace are decided.</param>
    /// <param name="cancellationToken">Stops between events.</param>
    public static DatasetReplayResult Run(TraceDataset dataset, KernelProfile profile, Arch arch, MapsSnapshot? maps = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(profile);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = Path.Combine(dataset.Directory, DatasetFiles.EventsFile);

        // Op traces stream straight into the engine (schedule = row order): memory is the engine's state, not the trace.
        var diagnostics = new IngestDiagnostics();
        var engine = new ReplayEngine(profile, arch);
        var named = new HashSet<int>();
        long opCount = 0;
        // meta.json's per-event counts say whether there are ops at all: a real trace is not read twice.
        bool hasOps = dataset.Meta.EventCounts.Keys.Any(k => k.StartsWith(OpSpec.EventSystem + ":", StringComparison.Ordinal));
        long ignoredEvents = !hasOps ? dataset.Meta.Events : OpTraceLoader.ForEach(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath, (in Op op, string comm) =>
        {
            if (named.Add(op.Tid))
            {
                engine.NameTask(op.Tid, comm);
            }
            engine.Execute(op);
            if ((++opCount & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        });
        cancellationToken.ThrowIfCancellationRequested();
        TraceLowering? lowering = null;
        ReplayResult? result;
        if (opCount == 0 && ignoredEvents > 0)
        {
            // A real trace: lower its tracepoint events into ops (docs/lowering.md), replayed as they are made and
            // kept as ops.parquet.
            // Its own connection: the events are still streaming from the first one while ops are appended.
            using var opsConnection = database.Connect();
            using var opsWriter = new LoweredOps.Writer(opsConnection);
            (result, lowering) = TraceLowering.LowerAndReplay(EventReader.ReadEvents(connection, eventsPath), profile, arch, opsWriter);
            cancellationToken.ThrowIfCancellationRequested();
            opsWriter.Complete(Path.Combine(dataset.Directory, LoweredOps.FileName));
            opCount = lowering.Statistics.Ops;
        }
        else
        {
            result = opCount > 0 ? engine.Finish() : null;
        }
        IReadOnlyList<Finding> exposures = lowering?.Exposures ?? [];
        IReadOnlyList<Finding> findings = [.. result?.Findings ?? [], .. exposures];
        WriteFindings(connection, findings, profile, arch, dataset.Directory);

        int mremaps = 0;
        int undecided = 0;
        long ignored = ignoredEvents;
        if (lowering is not null)
        {
            ignored = lowering.Statistics.Events;
            var (calls, extents) = MremapAnalyzer.Analyze(EventReader.ReadEvents(connection, eventsPath), ToPrediction(profile), seed: maps);
            WriteMremaps(connection, calls, extents, dataset.Directory);
            mremaps = calls.Count;
            undecided = calls.Count(c => c.Undecided);
        }
        return new DatasetReplayResult(dataset, result, opCount, ignored, diagnostics.MalformedCount, mremaps, diagnostics)
        {
            Lowering = lowering?.Statistics,
            UndecidedMremaps = undecided,
            Exposures = exposures,
        };
    }

    /// <summary>Loads the op trace of a dataset (its <c>mmop:*</c> events).</summary>
    public static OpTrace LoadOps(TraceDataset dataset, IngestDiagnostics diagnostics)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = Path.Combine(dataset.Directory, DatasetFiles.EventsFile);
        return OpTraceLoader.Load(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath);
    }

    /// <summary>Writes <c>findings.parquet</c> of a dataset (replacing it atomically).</summary>
    public static void WriteFindings(TraceDataset dataset, IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        WriteFindings(connection, findings, profile, arch, dataset.Directory);
    }

    /// <summary>The mremap prediction rules a kernel profile implies.</summary>
    public static PredictionProfile ToPrediction(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        bool multiVma = profile.Name == "latest" || VersionAtLeast(profile.Name, 6, 17);
        return new PredictionProfile(
            Realign: profile.Has(KernelFix.RealignPmd),
            RmapLocksOnPmdMove: profile.Has(KernelFix.RmapLocksPmdMove),
            SkipPmdMoveOnOverlap: profile.Has(KernelFix.SkipPmdMoveOnOverlap),
            MovePmd: profile.Has(KernelFeature.MovePmd),
            MovePud: profile.Has(KernelFeature.MovePud),
            PmdRecheckUnderLocks: profile.Has(KernelFix.PmdRecheckUnderLocks),
            MultiVmaMove: multiVma);
    }

    private static bool VersionAtLeast(string name, int major, int minor)
    {
        var parts = name.TrimStart('v').Split('.');
        return parts.Length >= 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int b)
            && (a > major || (a == major && b >= minor));
    }

    private static void WriteFindings(DuckDbConnection connection, IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch, string directory)
    {
        string path = Path.Combine(directory, FindingsTable + ".parquet");
        connection.Execute("""
            CREATE OR REPLACE TEMP TABLE staged_findings (
                finding_id BIGINT, profile VARCHAR, fixes VARCHAR, arch VARCHAR, checker VARCHAR, race VARCHAR, class VARCHAR,
                severity VARCHAR, cpus VARCHAR[], mm BIGINT, va UBIGINT, pfn UBIGINT, seqs VARCHAR[], message VARCHAR,
                witness VARCHAR, witness_json VARCHAR)
            """);
        using (var appender = connection.CreateAppender("staged_findings"))
        {
            string fixes = string.Join(",", KernelProfile.FixNamesOf(profile.Fixes));
            string archName = arch == Arch.X86 ? "x86" : "arm64";
            for (int i = 0; i < findings.Count; i++)
            {
                var f = findings[i];
                appender.BeginRow()
                    .Append((long)i)
                    .Append(profile.Name)
                    .Append(fixes)
                    .Append(archName)
                    .Append(f.Checker)
                    .Append(f.Race)
                    .Append(f.Class)
                    .Append(f.Severity)
                    .Append(f.Cpus.Select(c => (string?)c.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append((long)f.Mm)
                    .Append(f.Va)
                    .Append(f.Pfn)
                    .Append(f.Seqs.Select(s => (string?)s.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(f.Message)
                    .Append(WitnessRenderer.RenderTimeline(f))
                    .Append(f.ToJson())
                    .EndRow();
            }
            appender.Close();
        }
        DatasetFiles.WriteParquetAtomic(connection, """
            SELECT finding_id, profile, fixes, arch, checker, race, class, severity, CAST(cpus AS INTEGER[]) AS cpus, mm, va, pfn,
                   CAST(seqs AS BIGINT[]) AS seqs, message, witness, witness_json
            FROM staged_findings ORDER BY finding_id
            """, path);
    }

    private static void WriteMremaps(DuckDbConnection connection, IReadOnlyList<MremapCall> calls, IReadOnlyList<MremapExtent> extents, string directory)
    {
        connection.Execute("""
            CREATE OR REPLACE TEMP TABLE staged_mremaps (
                ts_ns BIGINT, seq BIGINT, pid INTEGER, old_addr UBIGINT, old_len UBIGINT, new_addr UBIGINT, new_len UBIGINT,
                flags UBIGINT, ret BIGINT, duration_ns BIGINT, result_addr UBIGINT, pud_moves INTEGER, pmd_moves INTEGER,
                pte_extents INTEGER, huge_moves INTEGER, moved_bytes UBIGINT, alignment VARCHAR, realigned BOOLEAN,
                need_rmap_locks BOOLEAN, undecided BOOLEAN, undecided_reason VARCHAR)
            """);
        using (var appender = connection.CreateAppender("staged_mremaps"))
        {
            foreach (var c in calls)
            {
                appender.BeginRow().Append(c.TsNs).Append(c.Seq).Append(c.Pid).Append(c.OldAddr).Append(c.OldLen).Append(c.NewAddr)
                    .Append(c.NewLen).Append(c.Flags);
                AppendNullable(appender, c.Ret);
                AppendNullable(appender, c.DurationNs);
                if (c.ResultAddr is { } result)
                {
                    appender.Append(result);
                }
                else
                {
                    appender.AppendNull();
                }
                appender.Append(c.PudMoves).Append(c.PmdMoves).Append(c.PteExtents).Append(c.HugeMoves).Append(c.MovedBytes)
                    .Append(c.Alignment).Append(c.Realigned).Append(c.NeedRmapLocks).Append(c.Undecided).Append(c.UndecidedReason)
                    .EndRow();
            }
            appender.Close();
        }
        connection.Execute("""
            CREATE OR REPLACE TEMP TABLE staged_moves (
                seq BIGINT, extent_index INTEGER, old_start UBIGINT, new_start UBIGINT, length UBIGINT, path VARCHAR, reason VARCHAR)
            """);
        using (var appender = connection.CreateAppender("staged_moves"))
        {
            foreach (var e in extents)
            {
                appender.BeginRow().Append(e.Seq).Append(e.ExtentIndex).Append(e.OldStart).Append(e.NewStart).Append(e.Length)
                    .Append(e.Path).Append(e.Reason).EndRow();
            }
            appender.Close();
        }
        DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM staged_mremaps ORDER BY seq", Path.Combine(directory, "mremaps.parquet"));
        DatasetFiles.WriteParquetAtomic(connection, "SELECT * FROM staged_moves ORDER BY seq, extent_index", Path.Combine(directory, "mremap_moves.parquet"));
    }

    private static void AppendNullable(DuckDbAppender appender, long? value)
    {
        if (value is { } v)
        {
            appender.Append(v);
        }
        else
        {
            appender.AppendNull();
        }
    }
}
