using System.Globalization;
using Pipeline.Replay.Coverage;
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

    /// <summary>Whether the lowered ops were written as ops.parquet (<see cref="DatasetReplayOptions.KeepOps"/>).</summary>
    public bool OpsKept { get; init; }

    /// <summary>What the trace could show of each race R1–R6 (docs/coverage.md), in race order.</summary>
    public IReadOnlyList<RaceCoverage> Coverage { get; init; } = [];

    /// <summary>
    /// For a recording that filtered the per-process events to its command (meta.json <c>process_filter</c>): the filter
    /// and the processes beside the command that were at work; null otherwise.
    /// </summary>
    public CommandFilter? CommandFilter { get; init; }

    /// <summary>mremap calls whose moves could not be decided (the mappings around them predate the trace).</summary>
    public int UndecidedMremaps { get; init; }

    /// <summary>Exposure windows found in a real trace (class <c>exposure</c>).</summary>
    public IReadOnlyList<Finding> Exposures { get; init; } = [];

    /// <summary>
    /// Findings (the engine's, then exposure windows) within <see cref="DatasetReplayOptions.Scope"/>, empty when
    /// nothing was replayed.
    /// </summary>
    public IReadOnlyList<Finding> Findings => InScope ?? (Exposures.Count == 0 ? Result?.Findings ?? [] : [.. Result?.Findings ?? [], .. Exposures]);

    /// <summary>The findings within the scope when one was given; null when the whole trace was reported.</summary>
    public IReadOnlyList<Finding>? InScope { get; init; }

    /// <summary>Findings the model made outside the scope (not reported, not written).</summary>
    public int OutOfScopeFindings { get; init; }

    /// <summary>mremap calls outside the scope (not written).</summary>
    public int OutOfScopeMremaps { get; init; }

    /// <summary>The run the tables were written to (<c>replay=PROFILE@ARCH/</c> in the dataset).</summary>
    public ReplayRun? Run { get; init; }

    /// <summary>Replay tables an older mmtrace left at the top of the dataset, moved into a run of their own by this replay.</summary>
    public ReplayRun? Adopted { get; init; }

    /// <summary>The verdict of each exposure window (<see cref="DatasetReplayOptions.ExploreWindows"/>), null when not explored.</summary>
    public Explore.RealTraceExploreResult? Windows { get; init; }
}

/// <summary>What <see cref="DatasetReplay.Run(TraceDataset, KernelProfile, Arch, DatasetReplayOptions, CancellationToken)"/> is asked to do beyond the replay itself.</summary>
public sealed record DatasetReplayOptions
{
    /// <summary>A <c>/proc/PID/maps</c> snapshot taken before tracing: seeds the address space the mremap prediction starts from.</summary>
    public MapsSnapshot? Maps { get; init; }

    /// <summary>
    /// Keep the ops lowered from a real trace as <c>ops.parquet</c> (<c>--keep-ops</c>). Off by default: about two
    /// ops per event, encoding them costs about as much CPU as the rest of the replay (on a thread of its own;
    /// docs/benchmarks.md, "--keep-ops (s35-keepops)"), and nothing in the replay reads them back; without it an
    /// <c>ops.parquet</c> of an earlier replay is removed, so the dataset never pairs findings with another run's ops.
    /// </summary>
    public bool KeepOps { get; init; }

    /// <summary>
    /// Report only within this process and time range (<c>--pid</c>, <c>--from</c>, <c>--to</c>). The model still
    /// replays the whole trace, because its state at <c>--from</c> (page tables, TLBs, locks, who holds what) is
    /// built by everything before it; findings and mremap calls are kept when one of their events is in scope.
    /// </summary>
    public TraceScope Scope { get; init; } = TraceScope.Whole;

    /// <summary>Told how many of the trace's events have been replayed, every 64 Ki events and at the end (a progress line).</summary>
    public IProgress<ReplayProgress>? Progress { get; init; }

    /// <summary>
    /// Explore each exposure window of a real trace for a verdict (confirmed / refuted / undecided) with these options
    /// (per-window budget), at most <see cref="MaxExploredWindows"/> windows; null skips it (<c>--no-explore</c>).
    /// </summary>
    public Explore.ExploreOptions? ExploreWindows { get; init; } = new() { Budget = 100 };

    /// <summary>Windows replay explores at most (the rest are left to <c>mmtrace explore</c>).</summary>
    public int MaxExploredWindows { get; init; } = 16;
}

/// <summary>How far a replay is: <paramref name="Events"/> of <paramref name="TotalEvents"/> read.</summary>
public sealed record ReplayProgress(string Trace, long Events, long TotalEvents);

/// <summary>
/// Replays the datasets <c>mmtrace replay</c> names: op traces (<c>mmop:*</c> events) go through the engine and
/// their findings are written as <c>findings.parquet</c>; mremap calls of real traces are analysed into
/// <c>mremaps.parquet</c> and <c>mremap_moves.parquet</c> (the predicted page-table moves per extent). The files
/// of one replay form a run, <c>replay=PROFILE@ARCH/</c> (<see cref="ReplayRuns"/>), staged and renamed into place
/// whole, replacing only the earlier run under the same profile and arch.
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
    public static DatasetReplayResult Run(TraceDataset dataset, KernelProfile profile, Arch arch, MapsSnapshot? maps = null, CancellationToken cancellationToken = default) =>
        Run(dataset, profile, arch, new DatasetReplayOptions { Maps = maps }, cancellationToken);

    /// <summary>Replays one dataset under <paramref name="profile"/> on <paramref name="arch"/> and writes its tables.</summary>
    /// <param name="dataset">The dataset to replay; its tables are replaced atomically.</param>
    /// <param name="profile">Kernel profile (fixes and features).</param>
    /// <param name="arch">Flush scope.</param>
    /// <param name="options">The maps seed and whether to keep ops.parquet.</param>
    /// <param name="cancellationToken">Stops between events.</param>
    public static DatasetReplayResult Run(TraceDataset dataset, KernelProfile profile, Arch arch, DatasetReplayOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        // Nothing replay keeps in DuckDB grows with the trace (ops.parquet is written beside it, LoweredOps.Writer):
        // a memory_limit and a spill directory still cap what a query of it may hold (the scope's seq table, say).
        string spill = Path.Combine(Path.GetTempPath(), "mmtrace-replay-" + Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal));
        try
        {
            var settings = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["memory_limit"] = "128MB",
                ["temp_directory"] = spill,
                // DuckDB keeps what it reads of a file in memory for later queries of it (up to memory_limit); replay
                // reads events.parquet once, so that cache only grew peak RSS with the file's size (docs/benchmarks.md, s25).
                ["enable_external_file_cache"] = "false",
                // One DuckDB thread, the one reading the rows: its scan of events.parquet keeps ahead of the lowering and
                // the engine alone, and a second scan thread's buffers and allocator caches were ~15-20 MiB of peak RSS
                // at 12 M events (docs/benchmarks.md, "Replay, 2026-12-06 (s29, memory)"). With --keep-ops too, since
                // ops.parquet no longer goes through a DuckDB COPY (s35-keepops).
                ["threads"] = "1",
            };
            using var database = DuckDbDatabase.Open(null, settings);
            return Run(database, dataset, profile, arch, options, cancellationToken);
        }
        finally
        {
            if (Directory.Exists(spill))
            {
                Directory.Delete(spill, recursive: true);
            }
        }
    }

    private static DatasetReplayResult Run(DuckDbDatabase database, TraceDataset dataset, KernelProfile profile, Arch arch, DatasetReplayOptions options, CancellationToken cancellationToken)
    {
        using var connection = database.Connect();
        var eventsPath = dataset.EventsFile(connection);
        var adopted = ReplayRuns.AdoptTopLevelTables(dataset.Directory, files => KeyOfOldTables(connection, files));
        string staging = ReplayRuns.BeginRun(dataset.Directory);
        try
        {
            var result = Run(connection, dataset, eventsPath, staging, profile, arch, options, cancellationToken);
            var run = ReplayRuns.Commit(staging, profile.Name, FixesOf(profile), ArchName(arch), options.Scope, DateTimeOffset.UtcNow);
            // Old tables of this very profile and arch were a run only until this one replaced it.
            return result with { Run = run, Adopted = adopted?.Directory == run.Directory ? null : adopted };
        }
        finally
        {
            ReplayRuns.Abandon(staging);
        }
    }

    private static DatasetReplayResult Run(
        DuckDbConnection connection, TraceDataset dataset, string eventsPath, string staging,
        KernelProfile profile, Arch arch, DatasetReplayOptions options, CancellationToken cancellationToken)
    {
        // Op traces stream straight into the engine (schedule = row order): memory is the engine's state, not the trace.
        var diagnostics = new IngestDiagnostics();
        var engine = new ReplayEngine(profile, arch);
        var named = new HashSet<int>();
        var opCoverage = new OpCoverage();
        long opCount = 0;
        // The events themselves say whether there are ops at all (a real trace is then not read twice): never
        // meta.json, a summary that can go stale or be edited. Both answers come from Parquet metadata and the
        // event column alone.
        string events = DatasetFiles.SqlLiteral(eventsPath);
        long total = Convert.ToInt64(connection.Scalar($"SELECT count(*) FROM read_parquet({events})"), CultureInfo.InvariantCulture);
        bool hasOps = total > 0 && Convert.ToBoolean(connection.Scalar(
            $"SELECT EXISTS (SELECT 1 FROM read_parquet({events}) WHERE starts_with(event, '{OpSpec.EventSystem}:'))"), CultureInfo.InvariantCulture);
        long ignoredEvents = !hasOps ? total : OpTraceLoader.ForEach(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath, (in Op op, string comm) =>
        {
            if (named.Add(op.Tid))
            {
                engine.NameTask(op.Tid, comm);
            }
            engine.Execute(op);
            opCoverage.Observe(op);
            if ((++opCount & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                options.Progress?.Report(new ReplayProgress(dataset.Id, opCount, total));
            }
        });
        cancellationToken.ThrowIfCancellationRequested();
        TraceLowering? lowering = null;
        ReplayResult? result;
        List<MremapCall> calls = [];
        List<MremapExtent> extents = [];
        if (opCount == 0 && ignoredEvents > 0)
        {
            // A real trace: lower its tracepoint events into ops (docs/lowering.md), replayed as they are made (and
            // kept as ops.parquet when asked). The mremap analysis (its own tracker: it starts from the maps seed,
            // the lowering does not) sees the same rows in the same pass, so the events are read once.
            var mremapTracker = new AddressSpaceTracker(ToPrediction(profile), seed: options.Maps)
            {
                MremapCompleted = (call, rows) =>
                {
                    calls.Add(call);
                    extents.AddRange(rows);
                },
            };
            using var opsWriter = options.KeepOps ? new LoweredOps.Writer(Path.Combine(staging, LoweredOps.FileName)) : null;
            // The mremap tracker sees each row on the reading thread, beside the lowering and the engine on this one
            // (its state is its own; its results are read once the rows are done and the reading thread has ended).
            var rows = EventReader.ReadEvents(connection, eventsPath, TraceLowering.Columns.Union(AddressSpaceTracker.Columns), mremapTracker.Process);
            (result, lowering) = TraceLowering.LowerAndReplay(Counted(rows, progress => options.Progress?.Report(new ReplayProgress(dataset.Id, progress, total)), cancellationToken), profile, arch, opsWriter);
            cancellationToken.ThrowIfCancellationRequested();
            mremapTracker.Finish();
            opsWriter?.Complete();
            opCount = lowering.Statistics.Ops;
        }
        else
        {
            result = opCount > 0 ? engine.Finish() : null;
        }
        IReadOnlyList<Finding> exposures = lowering?.Exposures ?? [];
        IReadOnlyList<Finding> findings = [.. result?.Findings ?? [], .. exposures];
        int allFindings = findings.Count;
        int allCalls = calls.Count;
        if (!options.Scope.IsWhole)
        {
            var inScope = SeqsInScope(connection, eventsPath, options.Scope, findings.SelectMany(f => f.Seqs).Concat(calls.Select(c => c.Seq)));
            findings = [.. findings.Where(f => f.Seqs.Any(inScope.Contains))];
            calls = [.. calls.Where(c => inScope.Contains(c.Seq))];
            extents = [.. extents.Where(e => inScope.Contains(e.Seq))];
        }
        WriteFindings(findings, profile, arch, staging);

        // A recording that filtered the per-process events to its command: which processes beside it were at work.
        var filter = lowering is null ? null : CommandFilter.Read(connection, eventsPath, dataset.Meta.ProcessFilter);
        IReadOnlyList<RaceCoverage> coverage = lowering is null
            ? opCoverage.Build()
            : lowering.Coverage.Build(e => lowering.EventsSeen.Contains(e) || dataset.Meta.EventCounts.ContainsKey(e)
                    || (dataset.Meta.EnabledEvents?.Contains(e, StringComparer.Ordinal) ?? false),
                CoverageTracker.LossText(dataset.Meta.LostEvents, dataset.Meta.Truncated), filter, lowering.ProcessOfMm);
        WriteCoverage(connection, coverage, profile, arch, staging);

        int mremaps = 0;
        int undecided = 0;
        long ignored = ignoredEvents;
        if (lowering is not null)
        {
            ignored = lowering.Statistics.Events;
            MremapAnalyzer.SortRows(calls, extents);
            WriteMremaps(calls, extents, staging);
            mremaps = calls.Count;
            undecided = calls.Count(c => c.Undecided);
        }
        // Each exposure window gets a verdict: a second lowering pass forks the model at each window's start and
        // explores its cone, with a budget per window, so the work stays bounded whatever the trace's size.
        var windows = lowering is not null && exposures.Count > 0 && options.ExploreWindows is { } explore
            ? Explore.DatasetExplore.ExploreExposures(dataset, profile, arch, explore, exposures, options.MaxExploredWindows, cancellationToken)
            : null;
        return new DatasetReplayResult(dataset, result, opCount, ignored, diagnostics.MalformedCount, mremaps, diagnostics)
        {
            Windows = windows,
            Lowering = lowering?.Statistics,
            OpsKept = lowering is not null && options.KeepOps,
            UndecidedMremaps = undecided,
            Exposures = exposures,
            Coverage = coverage,
            CommandFilter = filter,
            InScope = options.Scope.IsWhole ? null : findings,
            OutOfScopeFindings = allFindings - findings.Count,
            OutOfScopeMremaps = allCalls - calls.Count,
        };
    }

    /// <summary>The seqs among <paramref name="candidates"/> whose events are within <paramref name="scope"/>.</summary>
    private static HashSet<long> SeqsInScope(DuckDbConnection connection, string eventsPath, TraceScope scope, IEnumerable<long> candidates)
    {
        connection.Execute("CREATE OR REPLACE TEMP TABLE scope_candidates (seq BIGINT)");
        using (var appender = connection.CreateAppender("scope_candidates"))
        {
            foreach (long seq in candidates.Distinct())
            {
                appender.BeginRow().Append(seq).EndRow();
            }
            appender.Close();
        }
        var seqs = new HashSet<long>();
        using (var reader = connection.Query($"""
            SELECT e.seq FROM read_parquet({DatasetFiles.SqlLiteral(eventsPath)}) e SEMI JOIN scope_candidates c ON e.seq = c.seq
            WHERE {scope.EventPredicate("e")}
            """))
        {
            while (reader.Read())
            {
                seqs.Add(reader.GetInt64(0));
            }
        }
        connection.Execute("DROP TABLE scope_candidates");
        return seqs;
    }

    /// <summary>Profile, fixes and arch of replay tables an older mmtrace wrote at the top of a dataset, as they name them.</summary>
    private static (string Profile, string Fixes, string Arch)? KeyOfOldTables(DuckDbConnection connection, IReadOnlyDictionary<string, string> files)
    {
        foreach (string table in new[] { FindingsTable, CoverageTable })
        {
            if (!files.TryGetValue(table, out var path))
            {
                continue;
            }
            try
            {
                using var reader = connection.Query($"SELECT profile, arch FROM read_parquet({DatasetFiles.SqlLiteral(path)}) WHERE profile IS NOT NULL AND arch IS NOT NULL LIMIT 1");
                if (reader.Read())
                {
                    string name = reader.GetString(0);
                    // Fixes: a plain profile name has its own; one with +/- adjustments says them in its name.
                    string fixes = KernelProfile.Names.Contains(name, StringComparer.Ordinal) ? FixesOf(KernelProfile.Parse(name)) : "";
                    return (name, fixes, reader.GetString(1));
                }
            }
            catch (DuckDbException)
            {
                // A table without those columns (written before they existed): try the next, else "unknown".
            }
        }
        return null;
    }

    private static string FixesOf(KernelProfile profile) => string.Join(",", KernelProfile.FixNamesOf(profile.Fixes));

    private static string ArchName(Arch arch) => arch == Arch.X86 ? "x86" : "arm64";

    /// <summary>Passes the rows on; reports progress and checks for cancellation every 64 Ki rows.</summary>
    private static IEnumerable<EventRow> Counted(IEnumerable<EventRow> rows, Action<long> progress, CancellationToken cancellationToken)
    {
        long n = 0;
        foreach (EventRow row in rows)
        {
            yield return row;
            if ((++n & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress(n);
            }
        }
    }

    /// <summary>Coverage table name (and file name without extension).</summary>
    public const string CoverageTable = "coverage";

    /// <summary>Writes <c>coverage.parquet</c>: one row per race, its actors, gaps and record line (replaced atomically).</summary>
    private static void WriteCoverage(DuckDbConnection connection, IReadOnlyList<RaceCoverage> coverage, KernelProfile profile, Arch arch, string directory)
    {
        connection.Execute("""
            CREATE OR REPLACE TEMP TABLE staged_coverage (
                race VARCHAR, checker VARCHAR, profile VARCHAR, arch VARCHAR, verdict VARCHAR, why VARCHAR,
                actors VARCHAR[], actor_counts VARCHAR[], actor_example_seqs VARCHAR[], actor_mms VARCHAR[], actor_visible VARCHAR[],
                common_mms INTEGER, skip_reasons VARCHAR[], skip_counts VARCHAR[], skip_example_seqs VARCHAR[],
                missing_events VARCHAR[], record_command VARCHAR, note_texts VARCHAR[], note_counts VARCHAR[], note_example_seqs VARCHAR[])
            """);
        using (var appender = connection.CreateAppender("staged_coverage"))
        {
            string archName = arch == Arch.X86 ? "x86" : "arm64";
            foreach (var c in coverage)
            {
                appender.BeginRow()
                    .Append(c.Race).Append(c.Checker).Append(profile.Name).Append(archName).Append(c.VerdictName).Append(c.Why)
                    .Append(c.Actors.Select(a => (string?)a.Name).ToList())
                    .Append(c.Actors.Select(a => (string?)a.Count.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.Actors.Select(a => a.ExampleSeq < 0 ? null : (string?)a.ExampleSeq.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.Actors.Select(a => (string?)a.Mms.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.Actors.Select(a => (string?)(a.Visible ? "true" : "false")).ToList())
                    .Append(c.CommonMms)
                    .Append(c.Gaps.Select(g => (string?)g.Reason).ToList())
                    .Append(c.Gaps.Select(g => (string?)g.Count.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.Gaps.Select(g => (string?)g.ExampleSeq.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.MissingEvents.Select(e => (string?)e).ToList());
                if (c.RecordCommand is { } record)
                {
                    appender.Append(record);
                }
                else
                {
                    appender.AppendNull();
                }
                appender.Append(c.Notes.Select(n => (string?)n.Text).ToList())
                    .Append(c.Notes.Select(n => (string?)n.Count.ToString(CultureInfo.InvariantCulture)).ToList())
                    .Append(c.Notes.Select(n => (string?)n.ExampleSeq.ToString(CultureInfo.InvariantCulture)).ToList());
                appender.EndRow();
            }
            appender.Close();
        }
        DatasetFiles.WriteParquetAtomic(connection, """
            SELECT race, checker, profile, arch, verdict, why, actors, CAST(actor_counts AS BIGINT[]) AS actor_counts,
                   CAST(actor_example_seqs AS BIGINT[]) AS actor_example_seqs, CAST(actor_mms AS INTEGER[]) AS actor_mms,
                   CAST(actor_visible AS BOOLEAN[]) AS actor_visible, common_mms, skip_reasons,
                   CAST(skip_counts AS BIGINT[]) AS skip_counts, CAST(skip_example_seqs AS BIGINT[]) AS skip_example_seqs,
                   missing_events, record_command, note_texts, CAST(note_counts AS BIGINT[]) AS note_counts,
                   CAST(note_example_seqs AS BIGINT[]) AS note_example_seqs
            FROM staged_coverage ORDER BY race
            """, Path.Combine(directory, CoverageTable + ".parquet"));
    }

    /// <summary>Loads the op trace of a dataset (its <c>mmop:*</c> events).</summary>
    public static OpTrace LoadOps(TraceDataset dataset, IngestDiagnostics diagnostics)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = dataset.EventsFile(connection);
        return OpTraceLoader.Load(EventReader.ReadEvents(connection, eventsPath), diagnostics, eventsPath);
    }

    /// <summary>
    /// Writes <c>findings.parquet</c> of a dataset as the run of <paramref name="profile"/> on <paramref name="arch"/>
    /// (replacing that run whole, and no other).
    /// </summary>
    public static ReplayRun WriteFindings(TraceDataset dataset, IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(profile);
        string staging = ReplayRuns.BeginRun(dataset.Directory);
        try
        {
            WriteFindings(findings, profile, arch, staging);
            return ReplayRuns.Commit(staging, profile.Name, FixesOf(profile), ArchName(arch), TraceScope.Whole, DateTimeOffset.UtcNow);
        }
        finally
        {
            ReplayRuns.Abandon(staging);
        }
    }

    /// <summary>The mremap prediction rules a kernel profile implies.</summary>
    public static PredictionProfile ToPrediction(KernelProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return new PredictionProfile(
            Realign: profile.Has(KernelFix.RealignPmd),
            RmapLocksOnPmdMove: profile.Has(KernelFix.RmapLocksPmdMove),
            SkipPmdMoveOnOverlap: profile.Has(KernelFix.SkipPmdMoveOnOverlap),
            MovePmd: profile.Has(KernelFeature.MovePmd),
            MovePud: profile.Has(KernelFeature.MovePud),
            PmdRecheckUnderLocks: profile.Has(KernelFix.PmdRecheckUnderLocks),
            MultiVmaMove: profile.Has(KernelFeature.MultiVmaMremap));
    }

    private static void WriteFindings(IReadOnlyList<Finding> findings, KernelProfile profile, Arch arch, string directory)
    {
        string fixes = FixesOf(profile);
        string archName = ArchName(arch);
        new ParquetTable()
            .Int64("finding_id", findings.Select((_, i) => (long)i))
            .String("profile", findings.Select(_ => profile.Name))
            .String("fixes", findings.Select(_ => fixes))
            .String("arch", findings.Select(_ => archName))
            .String("checker", findings.Select(f => f.Checker))
            .String("race", findings.Select(f => f.Race))
            .String("class", findings.Select(f => f.Class))
            .String("severity", findings.Select(f => f.Severity))
            .Int32List("cpus", findings.Select(f => f.Cpus))
            .Int64("mm", findings.Select(f => (long)f.Mm))
            .UInt64("va", findings.Select(f => f.Va))
            .UInt64("pfn", findings.Select(f => f.Pfn))
            .Int64List("seqs", findings.Select(f => f.Seqs))
            .String("message", findings.Select(f => f.Message))
            .String("witness", findings.Select(WitnessRenderer.RenderTimeline))
            .String("witness_json", findings.Select(f => f.ToJson()))
            .Write(Path.Combine(directory, FindingsTable + ".parquet"));
    }

    private static void WriteMremaps(IReadOnlyList<MremapCall> unsortedCalls, IReadOnlyList<MremapExtent> unsortedExtents, string directory)
    {
        var calls = unsortedCalls.OrderBy(c => c.Seq).ToList();
        new ParquetTable()
            .Int64("ts_ns", calls.Select(c => c.TsNs))
            .Int64("seq", calls.Select(c => c.Seq))
            .Int32("pid", calls.Select(c => c.Pid))
            .UInt64("old_addr", calls.Select(c => c.OldAddr))
            .UInt64("old_len", calls.Select(c => c.OldLen))
            .UInt64("new_addr", calls.Select(c => c.NewAddr))
            .UInt64("new_len", calls.Select(c => c.NewLen))
            .UInt64("flags", calls.Select(c => c.Flags))
            .Int64("ret", calls.Select(c => c.Ret))
            .Int64("duration_ns", calls.Select(c => c.DurationNs))
            .UInt64("result_addr", calls.Select(c => c.ResultAddr))
            .Int32("pud_moves", calls.Select(c => c.PudMoves))
            .Int32("pmd_moves", calls.Select(c => c.PmdMoves))
            .Int32("pte_extents", calls.Select(c => c.PteExtents))
            .Int32("huge_moves", calls.Select(c => c.HugeMoves))
            .UInt64("moved_bytes", calls.Select(c => c.MovedBytes))
            .String("alignment", calls.Select(c => c.Alignment))
            .Boolean("realigned", calls.Select(c => c.Realigned))
            .Boolean("need_rmap_locks", calls.Select(c => c.NeedRmapLocks))
            .Boolean("undecided", calls.Select(c => c.Undecided))
            .String("undecided_reason", calls.Select(c => c.UndecidedReason))
            .Write(Path.Combine(directory, "mremaps.parquet"));
        var extents = unsortedExtents.OrderBy(e => e.Seq).ThenBy(e => e.ExtentIndex).ToList();
        new ParquetTable()
            .Int64("seq", extents.Select(e => e.Seq))
            .Int32("extent_index", extents.Select(e => e.ExtentIndex))
            .UInt64("old_start", extents.Select(e => e.OldStart))
            .UInt64("new_start", extents.Select(e => e.NewStart))
            .UInt64("length", extents.Select(e => e.Length))
            .String("path", extents.Select(e => e.Path))
            .String("reason", extents.Select(e => e.Reason))
            .Write(Path.Combine(directory, "mremap_moves.parquet"));
    }
}
