using System.Globalization;
using Pipeline.Replay.Runner;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Explore;

/// <summary>What exploring one dataset produced.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="Result">The exploration.</param>
/// <param name="MalformedOps">Op lines that could not be read (they are not part of the programs).</param>
public sealed record DatasetExploreResult(TraceDataset Dataset, ExploreResult Result, long MalformedOps)
{
    /// <summary>For a real (lowered) trace: its exposure windows and their verdicts; null for op traces.</summary>
    public RealTraceExploreResult? Windows { get; init; }

    /// <summary>For an op trace explored by windows (<see cref="ExploreOptions.Windows"/>): one line per window; null otherwise.</summary>
    public IReadOnlyList<string>? OpWindows { get; init; }
}

/// <summary>
/// What <c>mmtrace explore</c> does to a dataset: loads its op trace (the per-task programs and the recorded order),
/// explores other schedules of the same programs, and writes <c>explorations.parquet</c> (a row per violation with
/// the run's parameters and counts; one row with empty violation columns when there is none), replaced atomically.
/// </summary>
public static class DatasetExplore
{
    /// <summary>Table name (and file name without extension).</summary>
    public const string Table = "explorations";

    /// <summary>Explores one dataset.</summary>
    /// <exception cref="InvalidDataException">The dataset holds no op trace, or too many tasks for one exploration.</exception>
    public static DatasetExploreResult Run(TraceDataset dataset, KernelProfile profile, Arch arch, ExploreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(options);
        var diagnostics = new IngestDiagnostics();
        var trace = DatasetReplay.LoadOps(dataset, diagnostics);
        if (trace.Count == 0 && dataset.Meta.Events > 0 && diagnostics.MalformedCount == 0)
        {
            // A real trace: explore its exposure windows (docs/exploration.md, "Real traces").
            var windows = RunWindows(dataset, profile, arch, options, null, cancellationToken);
            var aggregate = Aggregate(windows, profile, arch, options);
            Write(dataset, aggregate, windows);
            return new DatasetExploreResult(dataset, aggregate, 0) { Windows = windows };
        }
        if (trace.Count == 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{dataset.Directory}: no op trace (mmop_* events) to explore ({dataset.Meta.Events:N0} events of other kinds). Explore runs on op traces: 'mmtrace synth', or a lab's op trace ingested with 'mmtrace ingest'."));
        }
        if (options.Windows)
        {
            var (opWindows, sum) = OpTraceWindows.Run(trace, profile, arch, options, cancellationToken);
            Write(dataset, sum);
            return new DatasetExploreResult(dataset, sum, diagnostics.MalformedCount) { OpWindows = [.. OpTraceWindows.Lines(opWindows, trace)] };
        }
        if (trace.Tasks.Count > 64)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{dataset.Directory}: the op trace has {trace.Tasks.Count} tasks; one exploration handles at most 64."));
        }
        var result = new Explorer(trace, profile, arch, options).Run(cancellationToken);
        Write(dataset, result);
        return new DatasetExploreResult(dataset, result, diagnostics.MalformedCount);
    }

    /// <summary>
    /// Explores the exposure windows of a real trace dataset (<paramref name="exposures"/>: replay's, or null to find
    /// them); the events are streamed from <c>events.parquet</c> twice.
    /// </summary>
    public static RealTraceExploreResult RunWindows(TraceDataset dataset, KernelProfile profile, Arch arch, ExploreOptions options,
        IReadOnlyList<Finding>? exposures, CancellationToken cancellationToken = default, int maxWindows = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = dataset.EventsFile(connection);
        return RealTraceExplore.Run(() => EventReader.ReadEvents(connection, eventsPath), profile, arch, options, exposures, maxWindows, cancellationToken);
    }

    /// <summary>
    /// What replay does with the exposure windows it found (docs/exploration.md, "Real traces"): explores the first
    /// <paramref name="maxWindows"/> with <paramref name="options"/> (its own, smaller per-window budget) and writes
    /// <c>explorations.parquet</c>.
    /// </summary>
    public static RealTraceExploreResult ExploreExposures(TraceDataset dataset, KernelProfile profile, Arch arch, ExploreOptions options,
        IReadOnlyList<Finding> exposures, int maxWindows, CancellationToken cancellationToken = default)
    {
        var windows = RunWindows(dataset, profile, arch, options, exposures, cancellationToken, maxWindows);
        Write(dataset, Aggregate(windows, profile, arch, options), windows);
        return windows;
    }

    /// <summary>Writes the witness of <paramref name="window"/> (confirmed) as an op trace that reproduces it.</summary>
    public static void EmitWindowSchedule(TraceDataset dataset, KernelProfile profile, ExploredWindow window, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        var eventsPath = dataset.EventsFile(connection);
        RealTraceExplore.EmitSchedule(() => EventReader.ReadEvents(connection, eventsPath), profile, window, writer);
    }

    /// <summary>The windows' explorations summed as one run (exit code, counts); violations in window order.</summary>
    private static ExploreResult Aggregate(RealTraceExploreResult windows, KernelProfile profile, Arch arch, ExploreOptions options)
    {
        // A window that repeats another's search shares its result: count each search once.
        var runs = windows.Windows.Where(w => w.Result is not null && w.RepeatOf is null).Select(w => w.Result!).ToList();
        var sum = ExploreResult.Sum(runs, options, profile, arch, windows.Windows.Select(w => w.ConeTasks).DefaultIfEmpty(0).Max(), windows.Windows.Sum(w => w.ConeOps));
        sum.Exhaustive = windows.Windows.All(w => w.Verdict != WindowVerdicts.Undecided);
        sum.Elapsed = windows.Elapsed;
        sum.Violations = [.. runs.SelectMany(r => r.Violations)];
        return sum;
    }

    /// <summary>Writes <c>explorations.parquet</c> of a dataset (replacing it atomically).</summary>
    public static void Write(TraceDataset dataset, ExploreResult result) => Write(dataset, result, null);

    /// <summary>
    /// Writes <c>explorations.parquet</c> (replacing it atomically): for an op trace a row per violation; for a real
    /// trace (<paramref name="windows"/>) a row per violation of each window, or one row for a window without any,
    /// each with the window's columns and verdict.
    /// </summary>
    public static void Write(TraceDataset dataset, ExploreResult result, RealTraceExploreResult? windows)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(result);
        using var database = DuckDbDatabase.Open();
        using var connection = database.Connect();
        connection.Execute("""
            CREATE OR REPLACE TEMP TABLE staged_explorations (
                row_id BIGINT, profile VARCHAR, fixes VARCHAR, arch VARCHAR, strategy VARCHAR, bound INTEGER, seed UBIGINT,
                budget BIGINT, time_limit_s DOUBLE, tasks INTEGER, program_ops INTEGER, schedules BIGINT, infeasible BIGINT,
                deadlocked BIGINT, interleavings BIGINT, exhaustive BOOLEAN, stopped_by VARCHAR, pending_alternatives BIGINT,
                pct_run_probability DOUBLE, elapsed_ms DOUBLE, coverage VARCHAR,
                violation INTEGER, checker VARCHAR, race VARCHAR, severity VARCHAR, cpus VARCHAR[], mm BIGINT, va UBIGINT, pfn UBIGINT,
                preemptions INTEGER, found_in_schedule BIGINT, message VARCHAR, witness VARCHAR, witness_json VARCHAR, schedule VARCHAR,
                window_index INTEGER, window_checker VARCHAR, window_race VARCHAR, window_mm BIGINT, window_start_seq BIGINT, window_end_seq BIGINT,
                cone_tasks INTEGER, cone_ops INTEGER, forced_orders INTEGER, verdict VARCHAR, verdict_reason VARCHAR, exposure VARCHAR)
            """);
        using (var appender = connection.CreateAppender("staged_explorations"))
        {
            // One row per violation of each run: the whole trace's for an op trace, each window's for a real trace.
            var rows = new List<(ExploreResult Run, int Violation, ExploredWindow? Window)>();
            if (windows is null)
            {
                for (int i = 0; i < Math.Max(1, result.Violations.Count); i++)
                {
                    rows.Add((result, i, null));
                }
            }
            else
            {
                foreach (var w in windows.Windows)
                {
                    var run = w.Result ?? new ExploreResult(result.Options, result.Profile, result.Arch, w.ConeTasks, w.ConeOps);
                    for (int i = 0; i < Math.Max(1, run.Violations.Count); i++)
                    {
                        rows.Add((run, i, w));
                    }
                }
            }
            long rowId = 0;
            foreach (var (run, i, window) in rows)
            {
                var o = run.Options;
                appender.BeginRow()
                    .Append(rowId++)
                    .Append(run.Profile.Name)
                    .Append(string.Join(",", KernelProfile.FixNamesOf(run.Profile.Fixes)))
                    .Append(run.Arch == Arch.X86 ? "x86" : "arm64")
                    .Append(o.StrategyName)
                    .Append(o.Bound)
                    .Append(o.Seed);
                Nullable(appender, o.Budget);
                if (o.Time is { } time)
                {
                    appender.Append(time.TotalSeconds);
                }
                else
                {
                    appender.AppendNull();
                }
                appender.Append(run.Tasks).Append(run.ProgramOps).Append(run.Schedules).Append(run.Infeasible)
                    .Append(run.Deadlocked).Append(run.DistinctTraces).Append(run.Exhaustive);
                if (run.StoppedBy is { } stop)
                {
                    appender.Append(stop);
                }
                else
                {
                    appender.AppendNull();
                }
                appender.Append(run.PendingAlternatives).Append(run.PctRunProbability).Append(run.Elapsed.TotalMilliseconds)
                    .Append(run.Coverage());
                if (i < run.Violations.Count)
                {
                    var v = run.Violations[i];
                    var f = v.Finding;
                    appender.Append(i).Append(f.Checker).Append(f.Race).Append(f.Severity)
                        .Append(f.Cpus.Select(c => (string?)c.ToString(CultureInfo.InvariantCulture)).ToList())
                        .Append((long)f.Mm).Append(f.Va).Append(f.Pfn).Append(v.Preemptions).Append(v.FoundInSchedule)
                        .Append(f.Message).Append(WitnessRenderer.RenderTimeline(f)).Append(f.ToJson()).Append(v.ScheduleText());
                }
                else
                {
                    for (int c = 0; c < 14; c++)
                    {
                        appender.AppendNull();
                    }
                }
                if (window is { } w)
                {
                    appender.Append(w.Index).Append(w.Exposure.Checker).Append(w.Exposure.Race).Append((long)w.Exposure.Mm)
                        .Append(w.StartSeq).Append(w.EndSeq).Append(w.ConeTasks).Append(w.ConeOps).Append(w.ForcedOrders)
                        .Append(w.Verdict).Append(w.Reason).Append(w.Exposure.Message);
                }
                else
                {
                    for (int c = 0; c < 12; c++)
                    {
                        appender.AppendNull();
                    }
                }
                appender.EndRow();
            }
            appender.Close();
        }
        DatasetFiles.WriteParquetAtomic(connection, """
            SELECT * EXCLUDE (row_id, cpus), CAST(cpus AS INTEGER[]) AS cpus FROM staged_explorations ORDER BY row_id
            """, Path.Combine(dataset.Directory, Table + ".parquet"));
    }

    private static void Nullable(DuckDbAppender appender, long? value)
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
