using System.Globalization;
using Pipeline.Replay.Runner;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Replay.Explore;

/// <summary>What exploring one dataset produced.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="Result">The exploration.</param>
/// <param name="MalformedOps">Op lines that could not be read (they are not part of the programs).</param>
public sealed record DatasetExploreResult(TraceDataset Dataset, ExploreResult Result, long MalformedOps);

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
        if (trace.Count == 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{dataset.Directory}: no op trace (mmop_* events) to explore ({dataset.Meta.Events:N0} events of other kinds). Explore runs on op traces: 'mmtrace synth', or a lab's op trace ingested with 'mmtrace ingest'."));
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

    /// <summary>Writes <c>explorations.parquet</c> of a dataset (replacing it atomically).</summary>
    public static void Write(TraceDataset dataset, ExploreResult result)
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
                preemptions INTEGER, found_in_schedule BIGINT, message VARCHAR, witness VARCHAR, witness_json VARCHAR, schedule VARCHAR)
            """);
        using (var appender = connection.CreateAppender("staged_explorations"))
        {
            var o = result.Options;
            int rows = Math.Max(1, result.Violations.Count);
            for (int i = 0; i < rows; i++)
            {
                appender.BeginRow()
                    .Append((long)i)
                    .Append(result.Profile.Name)
                    .Append(string.Join(",", KernelProfile.FixNamesOf(result.Profile.Fixes)))
                    .Append(result.Arch == Arch.X86 ? "x86" : "arm64")
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
                appender.Append(result.Tasks).Append(result.ProgramOps).Append(result.Schedules).Append(result.Infeasible)
                    .Append(result.Deadlocked).Append(result.DistinctTraces).Append(result.Exhaustive);
                if (result.StoppedBy is { } stop)
                {
                    appender.Append(stop);
                }
                else
                {
                    appender.AppendNull();
                }
                appender.Append(result.PendingAlternatives).Append(result.PctRunProbability).Append(result.Elapsed.TotalMilliseconds)
                    .Append(result.Coverage());
                if (i < result.Violations.Count)
                {
                    var v = result.Violations[i];
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
