using System.Text;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>A trace dataset found on disk.</summary>
/// <param name="Id">Trace id: the partition id for <c>trace=&lt;id&gt;/</c>, else the directory name.</param>
/// <param name="Directory">The trace directory.</param>
/// <param name="Meta">Its meta.json.</param>
public sealed record TraceDataset(string Id, string Directory, DatasetMeta Meta)
{
    /// <summary>Parquet files of the trace by table name (<c>events</c>, <c>ops</c>, …), sorted.</summary>
    public IReadOnlyList<(string Table, string Path)> ParquetFiles() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.parquet")
            .Select(p => (Table: Path.GetFileNameWithoutExtension(p), Path: p))
            .OrderBy(f => f.Table, StringComparer.Ordinal)
            .ToArray();
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
    /// (union_by_name, so traces written by different schema versions still combine).
    /// </summary>
    /// <returns>The view names created, sorted.</returns>
    public static IReadOnlyList<string> CreateViews(DuckDbConnection connection, IReadOnlyList<TraceDataset> traces)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var byTable = new SortedDictionary<string, List<(string Path, string Trace)>>(StringComparer.Ordinal);
        foreach (TraceDataset trace in traces)
        {
            foreach (var (table, path) in trace.ParquetFiles())
            {
                if (!byTable.TryGetValue(table, out var files))
                {
                    files = [];
                    byTable.Add(table, files);
                }
                files.Add((Path.GetFullPath(path), trace.Id));
            }
        }
        foreach (var (table, files) in byTable)
        {
            connection.Execute(ViewSql(table, files));
        }
        return byTable.Keys.ToArray();
    }

    /// <summary>
    /// Columns the <c>events</c> view renames: a column named after an SQL reserved word has to be quoted in every
    /// query (<c>e."order"</c>). The Parquet file keeps the kernel's field name; the view gives the SQL name.
    /// </summary>
    public static IReadOnlyDictionary<string, string> EventViewRenames { get; } =
        new Dictionary<string, string>(StringComparer.Ordinal) { ["order"] = "page_order" };

    private static string ViewSql(string table, List<(string Path, string Trace)> files)
    {
        var sql = new StringBuilder();
        sql.Append("CREATE OR REPLACE VIEW ").Append(DatasetFiles.SqlIdentifier(table)).Append(" AS SELECT ");
        sql.Append("CASE filename");
        foreach (var (path, trace) in files)
        {
            sql.Append(" WHEN ").Append(DatasetFiles.SqlLiteral(path)).Append(" THEN ").Append(DatasetFiles.SqlLiteral(trace));
        }
        sql.Append(" END AS trace, * EXCLUDE (filename)");
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
        string[] partitions = Directory.EnumerateDirectories(full, DatasetWriter.PartitionPrefix + "*")
            .Where(d => File.Exists(Path.Combine(d, DatasetMeta.FileName)))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (partitions.Length == 0)
        {
            throw new InvalidDataException(
                $"'{path}' is neither a trace dataset (no {DatasetMeta.FileName}) nor a root of trace=<id>/ partitions. Run 'mmtrace ingest' to create one.");
        }
        return partitions.Select(Load);
    }

    private static TraceDataset Load(string directory)
    {
        string name = Path.GetFileName(directory.TrimEnd(Path.DirectorySeparatorChar));
        string id = name.StartsWith(DatasetWriter.PartitionPrefix, StringComparison.Ordinal) ? name[DatasetWriter.PartitionPrefix.Length..] : name;
        return new TraceDataset(id, directory, DatasetMeta.Read(directory));
    }
}
