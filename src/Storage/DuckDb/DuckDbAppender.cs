using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using DuckDB.NET.Data;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Appends rows to a table through DuckDB.NET's appender (which fills DuckDB data chunks and hands each full one
/// to DuckDB). Row API: <see cref="BeginRow"/>, one <c>Append</c> per column, <see cref="EndRow"/>. Adds what the
/// callers rely on: integers go into any integer column they fit (an <c>int</c> into BIGINT, a non-negative
/// <c>long</c> into UBIGINT), a mismatch names the table and column, and a row with too few or too many values is
/// refused before DuckDB sees it.
/// </summary>
/// <remarks>
/// <see cref="Close"/> (or <see cref="Dispose"/>) writes the buffered rows; <see cref="Discard"/> drops the
/// rows not yet written to the table (use it when the caller is unwinding from an error).
/// </remarks>
public sealed class DuckDbAppender : IDisposable
{
    private readonly DuckDBAppender _appender;
    private readonly string[] _names;
    private readonly ColumnKind[] _kinds;
    private readonly string[] _types;
    private IDuckDBAppenderRow? _row;
    private int _column = -1;
    private bool _closed;
    private bool _faulted;
    private bool _released;
    private long _rowsAppended;

    internal DuckDbAppender(DuckDbConnection connection, string table)
    {
        ArgumentException.ThrowIfNullOrEmpty(table);
        Table = table;
        int dot = table.IndexOf('.', StringComparison.Ordinal);
        string? schema = dot < 0 ? null : table[..dot];
        string name = dot < 0 ? table : table[(dot + 1)..];
        (_names, _types) = Columns(connection, schema, name);
        if (_names.Length == 0)
        {
            throw new DuckDbException($"Cannot append to table '{table}': Catalog Error: Table with name {name} does not exist!");
        }
        _kinds = Array.ConvertAll(_types, Kind);
        try
        {
            _appender = schema is null ? connection.Inner.CreateAppender(name) : connection.Inner.CreateAppender(schema, name);
        }
        catch (DuckDBException e)
        {
            throw new DuckDbException($"Cannot append to table '{table}': {e.Message}");
        }
    }

    private enum ColumnKind
    {
        Other,
        Signed,
        Unsigned,
        Boolean,
        Double,
        Varchar,
        VarcharList,
    }

    /// <summary>The table rows go to.</summary>
    public string Table { get; }

    /// <summary>Number of columns of the table.</summary>
    public int ColumnCount => _names.Length;

    /// <summary>Rows completed so far (buffered or written).</summary>
    public long RowCount => _rowsAppended;

    /// <summary>Starts a row; values follow in column order.</summary>
    public DuckDbAppender BeginRow()
    {
        EnsureOpen();
        if (_column > 0)
        {
            ThrowIncompleteRow();
        }
        _row = _appender.CreateRow();
        _column = 0;
        return this;
    }

    /// <summary>Appends NULL to the next column.</summary>
    public DuckDbAppender AppendNull()
    {
        Next(out IDuckDBAppenderRow row);
        row.AppendNullValue();
        return this;
    }

    /// <summary>Appends to an integer column the value fits in (BIGINT, INTEGER, UBIGINT, ...).</summary>
    public DuckDbAppender Append(long value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        switch (_types[column])
        {
            case "BIGINT":
                row.AppendValue(value);
                break;
            case "INTEGER":
                row.AppendValue(value is >= int.MinValue and <= int.MaxValue ? (int)value : ThrowOverflow<int>(column, value));
                break;
            case "UBIGINT":
                row.AppendValue(value >= 0 ? (ulong)value : ThrowOverflow<ulong>(column, value));
                break;
            default:
                ThrowMismatch(column, "a BIGINT (long)");
                break;
        }
        return this;
    }

    /// <summary>Appends to an INTEGER or BIGINT column.</summary>
    public DuckDbAppender Append(int value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        switch (_types[column])
        {
            case "INTEGER":
                row.AppendValue(value);
                break;
            case "BIGINT":
                row.AppendValue((long)value);
                break;
            case "UBIGINT":
                row.AppendValue(value >= 0 ? (ulong)value : ThrowOverflow<ulong>(column, value));
                break;
            default:
                ThrowMismatch(column, "an INTEGER (int)");
                break;
        }
        return this;
    }

    /// <summary>Appends to a UBIGINT column (or BIGINT when the value fits).</summary>
    public DuckDbAppender Append(ulong value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        switch (_types[column])
        {
            case "UBIGINT":
                row.AppendValue(value);
                break;
            case "BIGINT":
                row.AppendValue(value <= long.MaxValue ? (long)value : ThrowOverflow<long>(column, value));
                break;
            default:
                ThrowMismatch(column, "a UBIGINT (ulong)");
                break;
        }
        return this;
    }

    /// <summary>Appends to a BOOLEAN column.</summary>
    public DuckDbAppender Append(bool value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        if (_kinds[column] != ColumnKind.Boolean)
        {
            ThrowMismatch(column, "a BOOLEAN (bool)");
        }
        row.AppendValue(value);
        return this;
    }

    /// <summary>Appends to a DOUBLE column.</summary>
    public DuckDbAppender Append(double value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        if (_kinds[column] != ColumnKind.Double)
        {
            ThrowMismatch(column, "a DOUBLE (double)");
        }
        row.AppendValue(value);
        return this;
    }

    /// <summary>Appends to a VARCHAR column; null appends NULL.</summary>
    public DuckDbAppender Append(string? value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        if (_kinds[column] != ColumnKind.Varchar)
        {
            ThrowMismatch(column, "a VARCHAR (string)");
        }
        if (value is null)
        {
            row.AppendNullValue();
        }
        else
        {
            row.AppendValue(value);
        }
        return this;
    }

    /// <summary>Appends to a VARCHAR[] column; null appends NULL, null elements are NULL elements.</summary>
    public DuckDbAppender Append(IReadOnlyList<string?>? value)
    {
        int column = Next(out IDuckDBAppenderRow row);
        if (_kinds[column] != ColumnKind.VarcharList)
        {
            ThrowMismatch(column, "a VARCHAR[] (list of strings)");
        }
        if (value is null)
        {
            row.AppendNullValue();
        }
        else
        {
            row.AppendValue<string?>(value);
        }
        return this;
    }

    /// <summary>Completes the row; every column must have had a value.</summary>
    public void EndRow()
    {
        EnsureOpen();
        if (_column != _names.Length)
        {
            ThrowIncompleteRow();
        }
        try
        {
            _row!.EndRow();
        }
        catch (DuckDBException e)
        {
            Fail("append a row to", e);
        }
        _row = null;
        _column = -1;
        _rowsAppended++;
    }

    /// <summary>Writes buffered rows to the table and closes the appender (DuckDB.NET flushes on close only).</summary>
    /// <exception cref="DuckDbException">DuckDB refused the rows (constraint violation, ...).</exception>
    public void Close()
    {
        if (_closed)
        {
            return;
        }
        if (_column > 0)
        {
            ThrowIncompleteRow();
        }
        _closed = true;
        try
        {
            _appender.Close();
        }
        catch (DuckDBException e)
        {
            Fail("close", e);
        }
    }

    /// <summary>Drops the rows not yet written to the table and releases the appender.</summary>
    public void Discard()
    {
        _faulted = true;
        Release();
    }

    /// <summary>
    /// Closes (writing buffered rows) unless the appender failed or was discarded; then releases it.
    /// Throws <see cref="DuckDbException"/> if the final write fails.
    /// </summary>
    public void Dispose()
    {
        try
        {
            if (!_closed && !_faulted)
            {
                Close();
            }
        }
        finally
        {
            Release();
        }
    }

    private void Release()
    {
        if (_released)
        {
            return;
        }
        _released = true;
        if (!_closed)
        {
            // Disposing DuckDB.NET's appender would otherwise write what is buffered.
            _closed = true;
            _appender.Clear();
        }
        _appender.Dispose();
    }

    private int Next(out IDuckDBAppenderRow row)
    {
        if (_column < 0)
        {
            BeginRow();
        }
        if (_column >= _names.Length)
        {
            ThrowTooManyValues();
        }
        row = _row!;
        return _column++;
    }

    private void EnsureOpen()
    {
        if (_closed)
        {
            throw new ObjectDisposedException(nameof(DuckDbAppender), $"The appender for table '{Table}' is closed.");
        }
    }

    private static ColumnKind Kind(string type) => type switch
    {
        "BIGINT" or "INTEGER" or "SMALLINT" or "TINYINT" => ColumnKind.Signed,
        "UBIGINT" or "UINTEGER" or "USMALLINT" or "UTINYINT" => ColumnKind.Unsigned,
        "BOOLEAN" => ColumnKind.Boolean,
        "DOUBLE" => ColumnKind.Double,
        "VARCHAR" => ColumnKind.Varchar,
        "VARCHAR[]" => ColumnKind.VarcharList,
        _ => ColumnKind.Other,
    };

    [DoesNotReturn]
    private void Fail(string what, DuckDBException error)
    {
        _faulted = true;
        throw new DuckDbException($"Could not {what} table '{Table}': {error.Message}");
    }

    [DoesNotReturn]
    private void ThrowMismatch(int column, string given) =>
        throw new InvalidCastException($"Column {column} '{_names[column]}' of table '{Table}' is {_types[column]}; cannot append {given}.");

    [DoesNotReturn]
    private T ThrowOverflow<T>(int column, object value) =>
        throw new OverflowException(string.Create(CultureInfo.InvariantCulture,
            $"Column {column} '{_names[column]}' of table '{Table}' is {_types[column]}; {value} does not fit."));

    [DoesNotReturn]
    private void ThrowIncompleteRow() =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Table '{Table}' has {_names.Length} columns, but the row being appended has {Math.Max(_column, 0)} value(s); expected a value for column {Math.Max(_column, 0)} '{_names[Math.Clamp(_column, 0, _names.Length - 1)]}'."));

    [DoesNotReturn]
    private void ThrowTooManyValues() =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Table '{Table}' has {_names.Length} columns, but value {_column + 1} was appended to the row; call EndRow after the last column."));

    private static (string[] Names, string[] Types) Columns(DuckDbConnection connection, string? schema, string table)
    {
        var names = new List<string>();
        var types = new List<string>();
        // A temporary table (database 'temp') shadows a table of the same name in the current database.
        using DuckDbReader reader = connection.Query(
            """
            SELECT database_name, column_name, data_type FROM duckdb_columns()
            WHERE table_name = ? AND schema_name = coalesce(?, 'main') AND database_name IN ('temp', current_database())
            ORDER BY database_name <> 'temp', column_index
            """,
            table, schema);
        string? database = null;
        while (reader.Read())
        {
            database ??= reader.GetString(0);
            if (reader.GetString(0) != database)
            {
                break;
            }
            names.Add(reader.GetString(1));
            types.Add(reader.GetString(2));
        }
        return (names.ToArray(), types.ToArray());
    }
}
