using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// A connection to a <see cref="DuckDbDatabase"/>. Not thread-safe. A streaming <see cref="DuckDbReader"/>
/// holds the connection's active query: running another statement on the same connection while a reader is
/// open invalidates that reader (DuckDB closes it), so finish or dispose readers first.
/// </summary>
public sealed unsafe class DuckDbConnection : IDisposable
{
    private readonly ConnectionHandle _handle;
    private readonly DuckDbDatabase? _ownedDatabase;

    internal DuckDbConnection(ConnectionHandle handle, DuckDbDatabase? ownedDatabase)
    {
        _handle = handle;
        _ownedDatabase = ownedDatabase;
    }

    internal ConnectionHandle Handle
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle;
        }
    }

    /// <summary>Asks the query running on this connection to stop (callable from any thread); it then fails with DuckDB's "Interrupted" error.</summary>
    public void Interrupt()
    {
        if (!_handle.IsClosed)
        {
            NativeMethods.Interrupt(_handle);
        }
    }

    /// <summary>Opens an in-memory database with one connection that owns it.</summary>
    public static DuckDbConnection OpenInMemory(IReadOnlyDictionary<string, string>? config = null)
    {
        var database = DuckDbDatabase.Open(null, config);
        try
        {
            DuckDbConnection connection = database.Connect();
            return new DuckDbConnection(connection._handle, database);
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
        using DuckDbReader? reader = Run(sql, parameters, streamLast: false);
    }

    /// <summary>Runs statements and streams the result of the last one.</summary>
    /// <exception cref="DuckDbException">DuckDB's error.</exception>
    public DuckDbReader Query(string sql, params object?[] parameters) => Run(sql, parameters, streamLast: true)!;

    /// <summary>
    /// Like <see cref="Query(string, object?[])"/> without parameters, but every statement must be a SELECT (DuckDB's
    /// own statement type, after parsing): SQL someone else wrote may read, never COPY, ATTACH, SET or create.
    /// </summary>
    /// <exception cref="DuckDbException">A statement is not a SELECT (it and those after it do not run), or DuckDB's error.</exception>
    public DuckDbReader QuerySelectOnly(string sql) => Run(sql, [], streamLast: true, selectOnly: true)!;

    /// <summary>The first column of the first row of the last statement, or null when there is no row.</summary>
    public object? Scalar(string sql, params object?[] parameters)
    {
        using DuckDbReader reader = Query(sql, parameters);
        return reader.Read() && reader.FieldCount > 0 ? reader.GetValue(0) : null;
    }

    /// <summary>Prepares a single statement for repeated execution.</summary>
    public DuckDbPreparedStatement Prepare(string sql)
    {
        int state = NativeMethods.Prepare(Handle, sql, out PreparedHandle prepared);
        if (!NativeMethods.Ok(state))
        {
            string message = NativeMethods.Utf8(NativeMethods.PrepareError(prepared)) ?? "prepare failed";
            prepared.Dispose();
            throw new DuckDbException(message, sql);
        }
        return new DuckDbPreparedStatement(prepared, sql);
    }

    /// <summary>Creates an appender that writes whole data chunks into <paramref name="table"/> (optionally <c>schema.table</c>).</summary>
    public DuckDbAppender CreateAppender(string table) => new(this, table);

    /// <summary>Closes the connection (and its database when it was opened by <see cref="OpenInMemory"/>).</summary>
    public void Dispose()
    {
        _handle.Dispose();
        _ownedDatabase?.Dispose();
    }

    private DuckDbReader? Run(string sql, object?[] parameters, bool streamLast, bool selectOnly = false)
    {
        ArgumentNullException.ThrowIfNull(sql);
        // Query(sql, null) passes a null array: the caller meant one NULL parameter.
        parameters ??= [null];
        ConnectionHandle connection = Handle;
        ulong count = NativeMethods.ExtractStatements(connection, sql, out IntPtr extracted);
        try
        {
            if (count == 0)
            {
                string? error = NativeMethods.Utf8(NativeMethods.ExtractStatementsError(extracted));
                if (error is null)
                {
                    // Only comments or whitespace: nothing to run.
                    return streamLast ? throw new DuckDbException("No statement to run.", sql) : null;
                }
                throw new DuckDbException(error, sql);
            }
            if (parameters is { Length: > 0 } && count > 1)
            {
                throw new ArgumentException(
                    $"Parameters can be bound to a single statement only, but the SQL holds {count} statements.", nameof(parameters));
            }
            for (ulong i = 0; i < count; i++)
            {
                int state = NativeMethods.PrepareExtracted(connection, extracted, i, out PreparedHandle prepared);
                if (!NativeMethods.Ok(state))
                {
                    string message = NativeMethods.Utf8(NativeMethods.PrepareError(prepared)) ?? "prepare failed";
                    prepared.Dispose();
                    throw new DuckDbException(message, sql);
                }
                bool last = i == count - 1;
                try
                {
                    // Checked on the statement about to run (an extracted statement can be prepared once): the
                    // statements before it were SELECTs too, which change nothing.
                    if (selectOnly && NativeMethods.PreparedStatementType(prepared) is int type && type != NativeMethods.StatementTypeSelect)
                    {
                        throw new DuckDbException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"read-only mode runs SELECT statements only; statement {i + 1} is of DuckDB statement type {type}."), sql);
                    }
                    DuckDbPreparedStatement.Bind(prepared, parameters, sql);
                    if (last && streamLast)
                    {
                        DuckDbReader reader = DuckDbPreparedStatement.ExecuteStreaming(prepared, sql, ownsPrepared: true);
                        prepared = null!;
                        return reader;
                    }
                    DuckDbPreparedStatement.ExecuteMaterialized(prepared, sql);
                }
                finally
                {
                    prepared?.Dispose();
                }
            }
            return null;
        }
        finally
        {
            NativeMethods.DestroyExtracted(ref extracted);
        }
    }
}

/// <summary>A prepared statement; bind values anew on each execution.</summary>
public sealed unsafe class DuckDbPreparedStatement : IDisposable
{
    private readonly PreparedHandle _handle;
    private readonly string _sql;

    internal DuckDbPreparedStatement(PreparedHandle handle, string sql)
    {
        _handle = handle;
        _sql = sql;
    }

    /// <summary>Number of parameters the statement takes.</summary>
    public int ParameterCount => (int)NativeMethods.ParameterCount(_handle);

    /// <summary>Executes with the given parameters, discarding any result.</summary>
    public void Execute(params object?[] parameters)
    {
        Bind(_handle, parameters, _sql);
        ExecuteMaterialized(_handle, _sql);
    }

    /// <summary>Executes with the given parameters and streams the result. Dispose the reader before the next execution.</summary>
    public DuckDbReader Query(params object?[] parameters)
    {
        Bind(_handle, parameters, _sql);
        return ExecuteStreaming(_handle, _sql, ownsPrepared: false);
    }

    /// <summary>Destroys the statement.</summary>
    public void Dispose() => _handle.Dispose();

    internal static void Bind(PreparedHandle prepared, object?[]? parameters, string sql)
    {
        int expected = (int)NativeMethods.ParameterCount(prepared);
        int given = parameters?.Length ?? 0;
        if (expected != given)
        {
            throw new ArgumentException(
                $"The statement takes {expected} parameter(s) but {given} were given. SQL: {Abbreviate(sql)}", nameof(parameters));
        }
        for (int i = 0; i < given; i++)
        {
            ulong index = (ulong)i + 1;
            object? value = parameters![i];
            int state = value switch
            {
                null => NativeMethods.BindNull(prepared, index),
                DBNull => NativeMethods.BindNull(prepared, index),
                long v => NativeMethods.BindInt64(prepared, index, v),
                int v => NativeMethods.BindInt32(prepared, index, v),
                short v => NativeMethods.BindInt32(prepared, index, v),
                byte v => NativeMethods.BindInt32(prepared, index, v),
                uint v => NativeMethods.BindInt64(prepared, index, v),
                ulong v => NativeMethods.BindUInt64(prepared, index, v),
                bool v => NativeMethods.BindBoolean(prepared, index, v),
                double v => NativeMethods.BindDouble(prepared, index, v),
                float v => NativeMethods.BindDouble(prepared, index, v),
                string v => BindString(prepared, index, v),
                byte[] v => BindBlob(prepared, index, v),
                _ => ThrowUnsupportedParameter(i, value),
            };
            if (!NativeMethods.Ok(state))
            {
                string message = NativeMethods.Utf8(NativeMethods.PrepareError(prepared))
                    ?? string.Create(CultureInfo.InvariantCulture, $"DuckDB could not bind parameter {index} ({value?.GetType().Name ?? "null"}).");
                throw new DuckDbException(message, sql);
            }
        }
    }

    internal static void ExecuteMaterialized(PreparedHandle prepared, string sql)
    {
        using var result = new ResultHandle();
        int state = NativeMethods.ExecutePrepared(prepared, result.Pointer);
        if (!NativeMethods.Ok(state))
        {
            throw new DuckDbException(NativeMethods.Utf8(NativeMethods.ResultError(result.Pointer)) ?? "execution failed", sql);
        }
    }

    internal static DuckDbReader ExecuteStreaming(PreparedHandle prepared, string sql, bool ownsPrepared)
    {
        if (!NativeMethods.Ok(NativeMethods.PendingPreparedStreaming(prepared, out IntPtr pending)))
        {
            string message = NativeMethods.Utf8(NativeMethods.PendingError(pending))
                ?? NativeMethods.Utf8(NativeMethods.PrepareError(prepared)) ?? "execution failed";
            NativeMethods.DestroyPending(ref pending);
            throw new DuckDbException(message, sql);
        }
        var result = new ResultHandle();
        try
        {
            int state = NativeMethods.ExecutePending(pending, result.Pointer);
            if (!NativeMethods.Ok(state))
            {
                string message = NativeMethods.Utf8(NativeMethods.ResultError(result.Pointer))
                    ?? NativeMethods.Utf8(NativeMethods.PendingError(pending)) ?? "execution failed";
                throw new DuckDbException(message, sql);
            }
        }
        catch
        {
            result.Dispose();
            throw;
        }
        finally
        {
            NativeMethods.DestroyPending(ref pending);
        }
        return new DuckDbReader(result, ownsPrepared ? prepared : null, sql);
    }

    private static int BindString(PreparedHandle prepared, ulong index, string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        Span<byte> buffer = length <= 512 ? stackalloc byte[length] : new byte[length];
        Encoding.UTF8.GetBytes(value, buffer);
        fixed (byte* p = buffer)
        {
            // A non-null pointer even for "" so DuckDB binds an empty string, not NULL.
            byte empty = 0;
            return NativeMethods.BindVarcharLength(prepared, index, length == 0 ? &empty : p, (ulong)length);
        }
    }

    private static int BindBlob(PreparedHandle prepared, ulong index, byte[] value)
    {
        fixed (byte* p = value)
        {
            byte empty = 0;
            return NativeMethods.BindBlob(prepared, index, value.Length == 0 ? &empty : p, (ulong)value.Length);
        }
    }

    [DoesNotReturn]
    private static int ThrowUnsupportedParameter(int position, object value) =>
        throw new ArgumentException(
            $"Parameter {position + 1} has type {value.GetType().Name}; supported are long, int, ulong, bool, double, string, byte[] and null.");

    private static string Abbreviate(string sql) => sql.Length <= 200 ? sql : string.Concat(sql.AsSpan(0, 200), "…");
}
