using System.Text.RegularExpressions;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Analyze;

/// <summary>
/// Runs SQL over one or more trace datasets: every Parquet table the datasets hold becomes a view
/// (<c>events</c>, <c>ops</c>, <c>findings</c>, …) with a leading <c>trace</c> column naming the partition.
/// </summary>
public sealed partial class QueryRunner : IDisposable
{
    /// <summary>Tables a command writes into a dataset, and the command a user runs to get them.</summary>
    private static readonly Dictionary<string, string> s_writtenBy = new(StringComparer.Ordinal)
    {
        ["findings"] = "mmtrace replay",
        ["coverage"] = "mmtrace replay",
        ["ops"] = "mmtrace replay --keep-ops",
        ["explorations"] = "mmtrace explore",
        ["mremaps"] = "mmtrace replay",
        ["mremap_moves"] = "mmtrace replay",
        ["replays"] = "mmtrace replay",
    };

    /// <summary>Schema of the whole-trace views when a scope filters the views of <c>main</c>.</summary>
    public const string UnscopedSchema = "unscoped";

    private readonly DuckDbDatabase _database;
    private readonly DuckDbConnection _connection;

    private readonly bool _readOnly;

    private QueryRunner(DuckDbDatabase database, DuckDbConnection connection, IReadOnlyList<TraceDataset> datasets, IReadOnlyList<string> paths, IReadOnlyList<string> views, bool readOnly, IReadOnlyList<string> unfiltered)
    {
        UnfilteredViews = unfiltered;
        _database = database;
        _connection = connection;
        _readOnly = readOnly;
        Datasets = datasets;
        Paths = paths;
        Views = views;
    }

    /// <summary>The datasets the views span.</summary>
    public IReadOnlyList<TraceDataset> Datasets { get; }

    /// <summary>The paths as the caller gave them (for messages that say what to run).</summary>
    public IReadOnlyList<string> Paths { get; }

    /// <summary>The views in place: one per Parquet table, then <c>processes</c>, <c>threads</c> and the lookups.</summary>
    public IReadOnlyList<string> Views { get; }

    /// <summary>
    /// Views a scope (<c>--pid</c>, <c>--from</c>, <c>--to</c>) cannot filter: they have no event time, process or
    /// seq (coverage, replays, the lookups). Empty without a scope.
    /// </summary>
    public IReadOnlyList<string> UnfilteredViews { get; }

    /// <summary>The connection, for callers that run several statements.</summary>
    public DuckDbConnection Connection => _connection;

    /// <summary>Opens an in-memory DuckDB with views over <paramref name="paths"/>.</summary>
    /// <param name="paths">Datasets or roots of partitions.</param>
    /// <param name="readOnly">
    /// For SQL someone else wrote: only SELECT statements, and after the views are made DuckDB may read the
    /// datasets' Parquet files and nothing else — <c>enable_external_access=false</c> (no other file read or written, no COPY, ATTACH,
    /// INSTALL/LOAD, no network), <c>allowed_paths</c> the Parquet files, then <c>lock_configuration=true</c> so the
    /// SQL cannot set them back.
    /// </param>
    /// <param name="scope">
    /// Filter the views to a process and a time range: <c>events</c> by pid/tgid and ts_ns, every view with a
    /// <c>seq</c> (ops, mremaps, mremap_moves, …) to rows whose event is in scope, <c>findings</c> to those with a
    /// witness event in scope. The whole-trace views stay in schema <c>unscoped</c>.
    /// </param>
    /// <param name="runs">Which replay runs the replay tables show (every run by default; a report shows the latest).</param>
    /// <exception cref="InvalidDataException">A path is not a dataset or a root of partitions, or no run has the asked profile.</exception>
    public static QueryRunner Open(IEnumerable<string> paths, bool readOnly = false, TraceScope? scope = null, RunSelection? runs = null)
    {
        var given = paths.ToArray();
        var datasets = DatasetCatalog.Resolve(given);
        var database = DuckDbDatabase.Open();
        DuckDbConnection? connection = null;
        try
        {
            connection = database.Connect();
            var unfiltered = new List<string>();
            List<string> views;
            if (scope is null || scope.IsWhole)
            {
                views = [.. DatasetCatalog.CreateViews(connection, datasets, runs)];
            }
            else
            {
                connection.Execute($"CREATE SCHEMA {UnscopedSchema}");
                connection.Execute($"SET schema = '{UnscopedSchema}'");
                views = [.. DatasetCatalog.CreateViews(connection, datasets, runs)];
                connection.Execute("SET schema = 'main'");
                unfiltered.AddRange(CreateScopedViews(connection, views, scope));
            }
            views.AddRange(DerivedViews.Create(connection, views));
            views.Sort(StringComparer.Ordinal);
            if (readOnly)
            {
                var files = datasets.SelectMany(d => d.ParquetFiles().Select(f => DatasetFiles.SqlLiteral(Path.GetFullPath(f.Path))));
                connection.Execute($"SET allowed_paths = [{string.Join(", ", files)}]");
                connection.Execute("SET enable_external_access = false");
                connection.Execute("SET autoinstall_known_extensions = false");
                connection.Execute("SET autoload_known_extensions = false");
                connection.Execute("SET lock_configuration = true");
            }
            return new QueryRunner(database, connection, datasets, given, views, readOnly, unfiltered);
        }
        catch
        {
            connection?.Dispose();
            database.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates in <c>main</c> the views of <see cref="UnscopedSchema"/> filtered to <paramref name="scope"/>; returns
    /// the views passed through whole because nothing in them says what event they come from.
    /// </summary>
    private static List<string> CreateScopedViews(DuckDbConnection connection, IReadOnlyList<string> views, TraceScope scope)
    {
        var columns = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        using (var reader = connection.Query($"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = '{UnscopedSchema}'"))
        {
            while (reader.Read())
            {
                string table = reader.GetString(0);
                if (!columns.TryGetValue(table, out var set))
                {
                    columns[table] = set = new HashSet<string>(StringComparer.Ordinal);
                }
                set.Add(reader.GetString(1));
            }
        }
        var unfiltered = new List<string>();
        // events first: the others are filtered through it.
        foreach (string view in views.OrderBy(v => v == "events" ? 0 : 1))
        {
            string source = $"{UnscopedSchema}.{DatasetFiles.SqlIdentifier(view)}";
            var have = columns.GetValueOrDefault(view) ?? [];
            string select;
            if (view == "events")
            {
                select = $"SELECT * FROM {source} WHERE {scope.EventPredicate()}";
            }
            else if (have.Contains("trace") && have.Contains("seq"))
            {
                select = $"SELECT x.* FROM {source} x SEMI JOIN main.events e ON e.trace = x.trace AND e.seq = x.seq";
            }
            else if (have.Contains("trace") && have.Contains("seqs"))
            {
                // A finding is in scope when one event of its witness is.
                select = $"SELECT x.* FROM {source} x WHERE EXISTS (SELECT 1 FROM (SELECT unnest(x.seqs) AS s) w JOIN main.events e ON e.trace = x.trace AND e.seq = w.s)";
            }
            else
            {
                select = $"SELECT * FROM {source}";
                unfiltered.Add(view);
            }
            connection.Execute($"CREATE OR REPLACE VIEW main.{DatasetFiles.SqlIdentifier(view)} AS {select}");
        }
        return unfiltered;
    }

    /// <summary>
    /// Binds <paramref name="parameters"/> as DuckDB variables (read in SQL with <c>getvariable('name')</c>;
    /// values are bound through a prepared statement, never spliced into SQL) and runs <paramref name="sql"/>.
    /// </summary>
    public DuckDbReader Query(string sql, IReadOnlyDictionary<string, string>? parameters = null)
    {
        if (parameters is not null)
        {
            foreach (var (name, value) in parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!IsIdentifier(name))
                {
                    throw new ArgumentException($"Parameter name '{name}' is not an identifier (letters, digits and '_', not starting with a digit).", nameof(parameters));
                }
                _connection.Execute($"SET VARIABLE {name} = ?", value);
            }
        }
        try
        {
            // Read-only: external access is off, yet COPY ... TO one of the allowed Parquet files (USE_TMP_FILE false)
            // would still overwrite it, so only SELECT statements run.
            return _readOnly ? _connection.QuerySelectOnly(sql) : _connection.Query(sql);
        }
        catch (DuckDbException e) when (MissingTable().Match(e.Message) is { Success: true } m && !Views.Contains(m.Groups[1].Value))
        {
            throw new InvalidDataException(MissingViewMessage(m.Groups[1].Value), e);
        }
    }

    [GeneratedRegex("Table with name ([A-Za-z_0-9]+) does not exist")]
    private static partial Regex MissingTable();

    /// <summary>What to say instead of DuckDB's "did you mean sqlite_master" when a view is not there.</summary>
    public string MissingViewMessage(string name)
    {
        string datasets = string.Join(" ", Paths.Select(p => p.Contains(' ', StringComparison.Ordinal) ? $"'{p}'" : p));
        string have = $"the views here are {string.Join(", ", Views)}";
        return s_writtenBy.TryGetValue(name, out var command)
            ? $"no {name} yet: run `{command} {datasets}` first ({have})."
            : $"no view named '{name}': {have}.";
    }

    /// <summary>Runs a named query with its declared defaults overridden by <paramref name="parameters"/>.</summary>
    /// <exception cref="ArgumentException">A parameter the query does not declare.</exception>
    public DuckDbReader Query(NamedQuery query, IReadOnlyDictionary<string, string> parameters)
    {
        var values = query.Parameters.ToDictionary(p => p.Name, p => p.Default, StringComparer.Ordinal);
        foreach (var (name, value) in parameters)
        {
            if (!values.ContainsKey(name))
            {
                var known = query.Parameters.Count == 0 ? "it takes none" : "it takes " + string.Join(", ", query.Parameters.Select(p => p.Name));
                throw new ArgumentException($"Query '{query.Name}' has no parameter '{name}'; {known}.", nameof(parameters));
            }
            values[name] = value;
        }
        return Query(query.Sql, values);
    }

    /// <summary>Stops the running query from another thread (Ctrl-C): it fails with DuckDB's "Interrupted" error.</summary>
    public void Interrupt() => _connection.Interrupt();

    private static bool IsIdentifier(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <inheritdoc />
    public void Dispose()
    {
        _connection.Dispose();
        _database.Dispose();
    }
}
