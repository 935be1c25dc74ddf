using System.Text;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>A trace dataset found on disk.</summary>
/// <param name="Id">Trace id: the partition id for <c>trace=&lt;id&gt;/</c>, else the directory name.</param>
/// <param name="Directory">The trace directory.</param>
/// <param name="Meta">Its meta.json.</param>
public sealed record TraceDataset(string Id, string Directory, DatasetMeta Meta)
{
    /// <summary>
    /// Parquet files of the trace by table name (<c>events</c>, <c>ops</c>, …), sorted: the top-level tables and
    /// those of every replay run (<see cref="ReplayRuns"/>).
    /// </summary>
    public IReadOnlyList<(string Table, string Path)> ParquetFiles() =>
        TopLevelFiles().Concat(Runs().SelectMany(RunFiles))
            .OrderBy(f => f.Table, StringComparer.Ordinal)
            .ThenBy(f => f.Path, StringComparer.Ordinal)
            .ToArray();

    /// <summary>The trace's <c>events.parquet</c>, checked to be a whole Parquet file with the event header columns.</summary>
    /// <exception cref="InvalidDataException">The file is missing, cut short, damaged or another table; names it.</exception>
    /// <param name="connection">A DuckDB connection, to read the file's schema.</param>
    public string EventsFile(DuckDbConnection connection)
    {
        string path = Path.Combine(Directory, DatasetFiles.EventsFile);
        EventsFileCheck.Check(path, connection);
        return path;
    }

    /// <summary>The replay runs of the trace, oldest first.</summary>
    /// <exception cref="InvalidDataException">A run's run.json is missing or bad.</exception>
    public IReadOnlyList<ReplayRun> Runs() => ReplayRuns.List(Directory);

    /// <summary>Parquet files at the top of the trace directory (events, explorations, and replay tables an older mmtrace wrote there).</summary>
    internal IEnumerable<(string Table, string Path)> TopLevelFiles() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.parquet").Select(p => (Table: Path.GetFileNameWithoutExtension(p), Path: p));

    /// <summary>Parquet files of one replay run.</summary>
    internal static IEnumerable<(string Table, string Path)> RunFiles(ReplayRun run) =>
        System.IO.Directory.EnumerateFiles(run.Directory, "*.parquet").Select(p => (Table: Path.GetFileNameWithoutExtension(p), Path: p));
}

/// <summary>Finds trace datasets and exposes their Parquet files as DuckDB views.</summary>
public static class DatasetCatalog
{
    /// <summary>
    /// Resolves each path to traces: a trace directory (has meta.json) or a root of <c>trace=&lt;id&gt;/</c>
    /// partitions (one level). Order: paths as given, partitions by id.
    /// </summary>
    /// <exception cref="InvalidDataException">A path is neither, a meta.json is bad, or two traces share an id; names the path.</exception>
    public static IReadOnlyList<TraceDataset> Resolve(IEnumerable<string> paths)
    {
        var traces = new List<TraceDataset>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string path in paths)
        {
            foreach (TraceDataset trace in ResolveOne(path))
            {
                if (seen.TryGetValue(trace.Id, out string? other))
                {
                    throw new InvalidDataException($"Trace id '{trace.Id}' appears twice: '{other}' and '{trace.Directory}'. Rename one directory.");
                }
                seen.Add(trace.Id, trace.Directory);
                traces.Add(trace);
            }
        }
        return traces;
    }

    /// <summary>
    /// Creates one view per Parquet file name found in any trace (<c>events</c>, <c>ops</c>, <c>findings</c>, …),
    /// with a leading <c>trace</c> VARCHAR column naming the trace, over read_parquet of the explicit file list
    /// (union_by_name, so traces written by different schema versions still combine). Tables a replay writes come
    /// from the replay runs <paramref name="selection"/> picks (every run by default), with the run's
    /// <c>profile</c>, <c>fixes</c> and <c>arch</c> after <c>trace</c>; <c>replays</c> lists the runs.
    /// </summary>
    /// <returns>The view names created, sorted.</returns>
    /// <exception cref="InvalidDataException">A run.json is bad, or no run has the profile <paramref name="selection"/> asks for.</exception>
    public static IReadOnlyList<string> CreateViews(DuckDbConnection connection, IReadOnlyList<TraceDataset> traces, RunSelection? selection = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        selection ??= RunSelection.All;
        var byTable = new SortedDictionary<string, List<ViewFile>>(StringComparer.Ordinal);
        var allRuns = new List<(TraceDataset Trace, ReplayRun Run, bool Latest)>();
        foreach (TraceDataset trace in traces)
        {
            trace.EventsFile(connection);
            var runs = trace.Runs();
            var chosen = selection.Choose(trace.Id, runs);
            allRuns.AddRange(runs.Select((r, i) => (trace, r, i == runs.Count - 1)));
            // Replay tables at the top are an older mmtrace's single run: shown as they are while the trace has no
            // runs (the next replay moves them into one), ignored once it has.
            var files = trace.TopLevelFiles()
                .Where(f => runs.Count == 0 || !ReplayRuns.IsRunTable(f.Table))
                .Select(f => new ViewFile(f.Table, f.Path, trace.Id, null))
                .Concat(chosen.SelectMany(r => TraceDataset.RunFiles(r).Select(f => new ViewFile(f.Table, f.Path, trace.Id, r))));
            foreach (var file in files)
            {
                if (file.Table != "events")
                {
                    EventsFileCheck.CheckParquet(file.Path, connection, file.Table == "explorations"
                        ? $"Run mmtrace explore {trace.Directory} again (it writes the file whole)."
                        : $"Run mmtrace replay {trace.Directory} again (it writes the run's tables whole).");
                }
                if (!byTable.TryGetValue(file.Table, out var list))
                {
                    list = [];
                    byTable.Add(file.Table, list);
                }
                list.Add(file with { Path = Path.GetFullPath(file.Path) });
            }
        }
        foreach (var (table, files) in byTable)
        {
            connection.Execute(ViewSql(table, files.OrderBy(f => f.Trace, StringComparer.Ordinal).ThenBy(f => f.Path, StringComparer.Ordinal).ToList()));
        }
        var views = byTable.Keys.ToList();
        if (allRuns.Count > 0)
        {
            connection.Execute(RunsViewSql(allRuns));
            views.Add(RunsView);
            views.Sort(StringComparer.Ordinal);
        }
        return views;
    }

    /// <summary>The view listing the replay runs of the traces.</summary>
    public const string RunsView = "replays";

    private sealed record ViewFile(string Table, string Path, string Trace, ReplayRun? Run);

    /// <summary>
    /// Columns the <c>events</c> view renames: a column named after an SQL reserved word has to be quoted in every
    /// query (<c>e."order"</c>). The Parquet file keeps the kernel's field name; the view gives the SQL name.
    /// </summary>
    public static IReadOnlyDictionary<string, string> EventViewRenames { get; } =
        new Dictionary<string, string>(StringComparer.Ordinal) { ["order"] = "page_order" };

    private static string ViewSql(string table, List<ViewFile> files)
    {
        var sql = new StringBuilder();
        sql.Append("CREATE OR REPLACE VIEW ").Append(DatasetFiles.SqlIdentifier(table)).Append(" AS SELECT ");
        Case(sql, files, f => f.Trace).Append(" AS trace, ");
        if (files.Any(f => f.Run is not null))
        {
            // The run's key, from run.json, in front of the file's own columns (findings and coverage also hold
            // profile and arch; the run's values are the same and hold for every table).
            Case(sql, files, f => f.Run?.Profile).Append(" AS profile, ");
            Case(sql, files, f => f.Run?.Fixes).Append(" AS fixes, ");
            Case(sql, files, f => f.Run?.Arch).Append(" AS arch, ");
            sql.Append("COLUMNS(lambda c: c NOT IN ('filename', 'profile', 'fixes', 'arch'))");
        }
        else
        {
            sql.Append("* EXCLUDE (filename)");
        }
        if (table == "events")
        {
            sql.Append(" RENAME (").AppendJoin(", ", EventViewRenames.Select(r => $"{DatasetFiles.SqlIdentifier(r.Key)} AS {r.Value}")).Append(')');
        }
        sql.Append(" FROM read_parquet([");
        sql.AppendJoin(", ", files.Select(f => DatasetFiles.SqlLiteral(f.Path)));
        // No hive partitioning: the trace=<id>/ directories would add a second 'trace' column (trace_1) to tables
        // whose files are not all alike; the CASE above names the trace.
        sql.Append("], union_by_name = true, filename = true, hive_partitioning = false)");
        return sql.ToString();
    }

    private static StringBuilder Case(StringBuilder sql, List<ViewFile> files, Func<ViewFile, string?> value)
    {
        sql.Append("CASE filename");
        foreach (var file in files)
        {
            sql.Append(" WHEN ").Append(DatasetFiles.SqlLiteral(file.Path)).Append(" THEN ");
            sql.Append(value(file) is { } v ? DatasetFiles.SqlLiteral(v) : "NULL");
        }
        return sql.Append(" END");
    }

    private static string RunsViewSql(List<(TraceDataset Trace, ReplayRun Run, bool Latest)> runs)
    {
        static string Literal(long? v) => v is long n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) + "::BIGINT" : "NULL::BIGINT";
        var rows = runs.Select(r => string.Join(", ",
            DatasetFiles.SqlLiteral(r.Trace.Id), DatasetFiles.SqlLiteral(r.Run.Profile), DatasetFiles.SqlLiteral(r.Run.Fixes),
            DatasetFiles.SqlLiteral(r.Run.Arch),
            DatasetFiles.SqlLiteral(r.Run.ReplayedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", System.Globalization.CultureInfo.InvariantCulture)) + "::TIMESTAMP",
            r.Latest ? "true" : "false",
            Literal(r.Run.Scope.Pid), Literal(r.Run.Scope.FromNs), Literal(r.Run.Scope.ToNs),
            DatasetFiles.SqlLiteral(r.Run.Directory)));
        return $"""
            CREATE OR REPLACE VIEW {RunsView} AS SELECT * FROM (VALUES ({string.Join("), (", rows)}))
                AS t(trace, profile, fixes, arch, replayed_at, latest, scope_pid, scope_from_ns, scope_to_ns, directory)
            """;
    }

    private static IEnumerable<TraceDataset> ResolveOne(string path)
    {
        string full = Path.GetFullPath(path);
        if (!Directory.Exists(full))
        {
            throw new InvalidDataException(File.Exists(full)
                ? $"'{path}' is a file; expected a trace dataset directory (with {DatasetMeta.FileName}) or a root of trace=<id>/ partitions."
                : $"'{path}' does not exist; expected a trace dataset directory or a root of trace=<id>/ partitions.");
        }
        if (File.Exists(Path.Combine(full, DatasetMeta.FileName)))
        {
            return [Load(full)];
        }
        string[] partitions = Partitions(full);
        if (partitions.Length == 0)
        {
            throw new InvalidDataException(
                $"'{path}' is neither a trace dataset (no {DatasetMeta.FileName}) nor a root of trace=<id>/ partitions. Run 'mmtrace ingest' to create one.");
        }
        return partitions.Select(Load);
    }

    /// <summary>
    /// Whether <paramref name="path"/> is what <see cref="Resolve"/> reads: a trace dataset directory (with meta.json) or
    /// a root of <c>trace=&lt;id&gt;/</c> partitions.
    /// </summary>
    public static bool IsDataset(string path) =>
        Directory.Exists(path) && (File.Exists(Path.Combine(path, DatasetMeta.FileName)) || Partitions(path).Length > 0);

    /// <summary>The <c>trace=&lt;id&gt;/</c> subdirectories of <paramref name="root"/> that hold a meta.json, by name.</summary>
    private static string[] Partitions(string root) =>
        Directory.EnumerateDirectories(root, DatasetWriter.PartitionPrefix + "*")
            .Where(d => File.Exists(Path.Combine(d, DatasetMeta.FileName)))
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static TraceDataset Load(string directory)
    {
        string name = Path.GetFileName(directory.TrimEnd(Path.DirectorySeparatorChar));
        string id = name.StartsWith(DatasetWriter.PartitionPrefix, StringComparison.Ordinal) ? name[DatasetWriter.PartitionPrefix.Length..] : name;
        return new TraceDataset(id, directory, DatasetMeta.Read(directory));
    }
}
