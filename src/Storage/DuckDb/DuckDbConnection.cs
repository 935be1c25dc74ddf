using System.Data;
using DuckDB.NET.Data;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// A connection to a <see cref="DuckDbDatabase"/>, over DuckDB.NET's <see cref="DuckDBConnection"/>. Not
/// thread-safe. A <see cref="DuckDbReader"/> streams (DuckDB.NET's streaming mode): running another statement on
/// the same connection while a reader is open invalidates that reader, so finish or dispose readers first.
/// Errors surface as <see cref="DuckDbException"/> carrying DuckDB's message.
/// </summary>
public sealed class DuckDbConnection : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly DuckDbDatabase? _ownedDatabase;

    internal DuckDbConnection(DuckDBConnection connection, DuckDbDatabase? ownedDatabase)
    {
        _connection = connection;
        _ownedDatabase = ownedDatabase;
    }

    /// <summary>The underlying DuckDB.NET connection (for its own API: appenders, Arrow streams, functions).</summary>
    public DuckDBConnection Inner
    {
        get
        {
            ObjectDisposedException.ThrowIf(_connection.State != ConnectionState.Open, this);
            return _connection;
        }
    }

    /// <summary>
    /// Asks the query running on this connection to stop (callable from any thread); it then fails with DuckDB's
    /// "Interrupted" error. DuckDB.NET's <see cref="DuckDBCommand.Cancel"/> calls <c>duckdb_interrupt</c> on the
    /// command's connection, which is this one.
    /// </summary>
    public void Interrupt()
    {
        if (_connection.State == ConnectionState.Open)
        {
            using DuckDBCommand command = _connection.CreateCommand();
            command.Cancel();
        }
    }

    /// <summary>Opens an in-memory database with one connection that owns it.</summary>
    public static DuckDbConnection OpenInMemory(IReadOnlyDictionary<string, string>? config = null)
    {
        var database = DuckDbDatabase.Open(null, config);
        try
        {
            DuckDbConnection connection = database.Connect();
            return new DuckDbConnection(connection._connection, database);
        }
        catch
        {
            database.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs one or more statements; parameters (<c>?</c> or <c>$1</c>: long, int, ulong, bool, double, string,
    /// byte[] or null) are bound to a single statement, never spliced into the SQL.
    /// </summary>
    /// <exception cref="DuckDbException">DuckDB's error (parser, binder, catalog, constraint...).</exception>
    public void Execute(string sql, params object?[] parameters)
    {
        using DuckDBCommand command = Command(sql, parameters, streaming: false);
        if (IsEmpty(sql))
        {
            return;
        }
        try
        {
            command.ExecuteNonQuery();
        }
        catch (DuckDBException e)
        {
            throw DuckDbException.From(e, sql);
        }
        catch (InvalidOperationException e) when (IsParameterCount(e))
        {
            throw ParameterCount(e, sql);
        }
    }

    /// <summary>Runs statements and streams the result of the last one.</summary>
    /// <exception cref="DuckDbException">DuckDB's error.</exception>
    public DuckDbReader Query(string sql, params object?[] parameters)
    {
        if (IsEmpty(sql))
        {
            throw new DuckDbException("No statement to run.", sql);
        }
        DuckDBCommand command = Command(sql, parameters, streaming: true);
        try
        {
            return new DuckDbReader(command, command.ExecuteReader(), sql);
        }
        catch (DuckDBException e)
        {
            command.Dispose();
            throw DuckDbException.From(e, sql);
        }
        catch (InvalidOperationException e) when (IsParameterCount(e))
        {
            command.Dispose();
            throw ParameterCount(e, sql);
        }
        catch
        {
            command.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Like <see cref="Query(string, object?[])"/> without parameters, but every statement must be a SELECT: SQL
    /// someone else wrote may read, never COPY, ATTACH, SET or create. DuckDB's own parser decides, before anything
    /// runs: <c>json_serialize_sql</c> serializes SELECT statements only and reports an error for any other kind.
    /// </summary>
    /// <exception cref="DuckDbException">A statement is not a SELECT (nothing runs), or DuckDB's error.</exception>
    public DuckDbReader QuerySelectOnly(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        if (IsEmpty(sql))
        {
            throw new DuckDbException("No statement to run.", sql);
        }
        string serialized = Scalar("SELECT json_serialize_sql(?::VARCHAR)", sql) as string ?? "";
        using (var json = System.Text.Json.JsonDocument.Parse(serialized))
        {
            var root = json.RootElement;
            if (root.TryGetProperty("error", out var error) && error.ValueKind == System.Text.Json.JsonValueKind.True)
            {
                string message = root.TryGetProperty("error_message", out var m) ? m.GetString() ?? "" : "";
                throw new DuckDbException(
                    message.Contains("SELECT", StringComparison.Ordinal)
                        ? "read-only mode runs SELECT statements only, and this SQL holds another kind of statement; nothing was run"
                        : message, sql);
            }
        }
        return Query(sql);
    }

    /// <summary>The first column of the first row of the last statement, or null when there is no row.</summary>
    public object? Scalar(string sql, params object?[] parameters)
    {
        using DuckDbReader reader = Query(sql, parameters);
        return reader.Read() && reader.FieldCount > 0 ? reader.GetValue(0) : null;
    }

    /// <summary>Prepares a single statement for repeated execution.</summary>
    public DuckDbPreparedStatement Prepare(string sql)
    {
        DuckDBCommand command = Command(sql, [], streaming: true);
        try
        {
            command.Prepare();
        }
        catch (DuckDBException e)
        {
            command.Dispose();
            throw DuckDbException.From(e, sql);
        }
        return new DuckDbPreparedStatement(command, sql);
    }

    /// <summary>Creates an appender on <paramref name="table"/> (optionally <c>schema.table</c>).</summary>
    /// <exception cref="DuckDbException">The table does not exist.</exception>
    public DuckDbAppender CreateAppender(string table) => new(this, table);

    /// <summary>Closes the connection (and its database when it was opened by <see cref="OpenInMemory"/>).</summary>
    public void Dispose()
    {
        _connection.Dispose();
        _ownedDatabase?.Dispose();
    }

    internal DuckDBCommand Command(string sql, object?[]? parameters, bool streaming)
    {
        ArgumentNullException.ThrowIfNull(sql);
        DuckDBCommand command = Inner.CreateCommand();
        command.CommandText = sql;
        command.UseStreamingMode = streaming;
        // Query(sql, null) passes a null array: the caller meant one NULL parameter.
        Bind(command, parameters ?? [null]);
        return command;
    }

    internal static void Bind(DuckDBCommand command, object?[] parameters)
    {
        command.Parameters.Clear();
        for (int i = 0; i < parameters.Length; i++)
        {
            object value = parameters[i] switch
            {
                null or DBNull => DBNull.Value,
                long or int or short or byte or uint or ulong or bool or double or float or string or byte[] => parameters[i]!,
                _ => throw new ArgumentException(
                    $"Parameter {i + 1} has type {parameters[i]!.GetType().Name}; supported are long, int, ulong, bool, double, string, byte[] and null."),
            };
            command.Parameters.Add(new DuckDBParameter(value));
        }
    }

    /// <summary>DuckDB.NET reports a parameter count mismatch as an invalid operation; to callers it is a bad argument.</summary>
    internal static bool IsParameterCount(InvalidOperationException error) =>
        error.Message.StartsWith("Invalid number of parameters", StringComparison.Ordinal);

    internal static ArgumentException ParameterCount(InvalidOperationException error, string sql) =>
        new($"{error.Message} SQL: {(sql.Length <= 200 ? sql : string.Concat(sql.AsSpan(0, 200), "…"))}", "parameters", error);

    /// <summary>True when the SQL holds only whitespace and comments (DuckDB has no statement to run).</summary>
    internal static bool IsEmpty(string sql)
    {
        ReadOnlySpan<char> rest = sql;
        while (true)
        {
            rest = rest.TrimStart();
            if (rest.StartsWith("--", StringComparison.Ordinal))
            {
                int end = rest.IndexOf('\n');
                rest = end < 0 ? [] : rest[(end + 1)..];
            }
            else if (rest.StartsWith("/*", StringComparison.Ordinal))
            {
                int end = rest.IndexOf("*/", StringComparison.Ordinal);
                rest = end < 0 ? [] : rest[(end + 2)..];
            }
            else
            {
                return rest.IsEmpty || rest.Trim(';').Trim().IsEmpty;
            }
        }
    }
}

/// <summary>A prepared statement; bind values anew on each execution.</summary>
public sealed class DuckDbPreparedStatement : IDisposable
{
    private readonly DuckDBCommand _command;
    private readonly string _sql;

    internal DuckDbPreparedStatement(DuckDBCommand command, string sql)
    {
        _command = command;
        _sql = sql;
    }

    /// <summary>Executes with the given parameters, discarding any result.</summary>
    public void Execute(params object?[] parameters)
    {
        DuckDbConnection.Bind(_command, parameters ?? [null]);
        try
        {
            _command.ExecuteNonQuery();
        }
        catch (DuckDBException e)
        {
            throw DuckDbException.From(e, _sql);
        }
    }

    /// <summary>Executes with the given parameters and streams the result. Dispose the reader before the next execution.</summary>
    public DuckDbReader Query(params object?[] parameters)
    {
        DuckDbConnection.Bind(_command, parameters ?? [null]);
        try
        {
            return new DuckDbReader(null, _command.ExecuteReader(), _sql);
        }
        catch (DuckDBException e)
        {
            throw DuckDbException.From(e, _sql);
        }
    }

    /// <summary>Destroys the statement.</summary>
    public void Dispose() => _command.Dispose();
}
