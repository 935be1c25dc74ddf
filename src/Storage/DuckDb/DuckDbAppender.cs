using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Pipeline.Storage.DuckDb;

/// <summary>
/// Appends rows to a table by filling whole data chunks (<c>duckdb_vector_size()</c> rows) directly in vector
/// memory and handing each full chunk to <c>duckdb_append_data_chunk</c>: no C call per value (strings
/// longer than 12 bytes point into a native arena that lives until the chunk is appended). Row API: <see cref="BeginRow"/>, one <c>Append</c> per column, <see cref="EndRow"/>.
/// </summary>
/// <remarks>
/// <see cref="Close"/> (or <see cref="Dispose"/>) writes the buffered rows; <see cref="Discard"/> drops the
/// rows not yet written to the table (use it when the caller is unwinding from an error).
/// </remarks>
public sealed unsafe class DuckDbAppender : IDisposable
{
    private readonly AppenderHandle _handle;
    private readonly IntPtr _chunk;
    private readonly ColumnWriter[] _writers;
    private readonly int _capacity;
    private readonly StringArena _arena = new();
    private int _row;
    private int _column = -1;
    private bool _closed;
    private bool _faulted;
    private long _rowsAppended;

    internal DuckDbAppender(DuckDbConnection connection, string table)
    {
        ArgumentException.ThrowIfNullOrEmpty(table);
        Table = table;
        (string? schema, string name) = SplitName(table);
        if (!NativeMethods.Ok(NativeMethods.AppenderCreateExt(connection.Handle, null, schema, name, out _handle)))
        {
            string message = NativeMethods.Utf8(NativeMethods.AppenderError(_handle)) ?? "appender creation failed";
            _handle.Dispose();
            throw new DuckDbException($"Cannot append to table '{table}': {message}");
        }
        try
        {
            int count = (int)NativeMethods.AppenderColumnCount(_handle);
            string[] names = ColumnNames(connection, schema, name, count);
            _writers = new ColumnWriter[count];
            var types = new IntPtr[count];
            try
            {
                for (int i = 0; i < count; i++)
                {
                    types[i] = NativeMethods.AppenderColumnType(_handle, (ulong)i);
                    _writers[i] = ColumnWriter.Create(table, i, names[i], ColumnType.FromHandle(types[i]), _arena);
                }
                fixed (IntPtr* typeArray = types)
                {
                    _chunk = NativeMethods.CreateDataChunk(typeArray, (ulong)count);
                }
            }
            finally
            {
                for (int i = 0; i < count; i++)
                {
                    if (types[i] != IntPtr.Zero)
                    {
                        NativeMethods.DestroyLogicalType(ref types[i]);
                    }
                }
            }
            _capacity = (int)NativeMethods.VectorSize();
            BindWriters();
        }
        catch
        {
            _handle.Dispose();
            throw;
        }
    }

    /// <summary>The table rows go to.</summary>
    public string Table { get; }

    /// <summary>Number of columns of the table.</summary>
    public int ColumnCount => _writers.Length;

    /// <summary>Rows completed so far (buffered or written).</summary>
    public long RowCount => _rowsAppended;

    /// <summary>
    /// Benchmarks only: fill chunks but do not hand them to DuckDB, to separate our cost from DuckDB's
    /// table ingestion.
    /// </summary>
    internal bool SkipNativeAppendForBenchmark { get; set; }

    /// <summary>Row of the current chunk being filled (fast path for typed writers).</summary>
    internal int CurrentRow => _row;

    /// <summary>Typed writer of a column (fast path: callers cast to the concrete writer once).</summary>
    internal ColumnWriter Writer(int column) => _writers[column];

    /// <summary>Starts a row; values follow in column order.</summary>
    public DuckDbAppender BeginRow()
    {
        EnsureOpen();
        if (_column > 0)
        {
            ThrowIncompleteRow();
        }
        _column = 0;
        return this;
    }

    /// <summary>Appends NULL to the next column.</summary>
    public DuckDbAppender AppendNull()
    {
        NextWriter().SetNull(_row);
        return this;
    }

    /// <summary>Appends to a BIGINT column (or UBIGINT/INTEGER when the value fits).</summary>
    public DuckDbAppender Append(long value)
    {
        NextWriter().WriteInt64(_row, value);
        return this;
    }

    /// <summary>Appends to an INTEGER or BIGINT column.</summary>
    public DuckDbAppender Append(int value)
    {
        NextWriter().WriteInt32(_row, value);
        return this;
    }

    /// <summary>Appends to a UBIGINT column (or BIGINT when the value fits).</summary>
    public DuckDbAppender Append(ulong value)
    {
        NextWriter().WriteUInt64(_row, value);
        return this;
    }

    /// <summary>Appends to a BOOLEAN column.</summary>
    public DuckDbAppender Append(bool value)
    {
        NextWriter().WriteBool(_row, value);
        return this;
    }

    /// <summary>Appends to a DOUBLE column.</summary>
    public DuckDbAppender Append(double value)
    {
        NextWriter().WriteDouble(_row, value);
        return this;
    }

    /// <summary>Appends to a VARCHAR column; null appends NULL.</summary>
    public DuckDbAppender Append(string? value)
    {
        ColumnWriter writer = NextWriter();
        if (value is null)
        {
            writer.SetNull(_row);
        }
        else
        {
            writer.WriteString(_row, value);
        }
        return this;
    }

    /// <summary>Appends to a VARCHAR[] column; null appends NULL, null elements are NULL elements.</summary>
    public DuckDbAppender Append(IReadOnlyList<string?>? value)
    {
        ColumnWriter writer = NextWriter();
        if (value is null)
        {
            writer.SetNull(_row);
        }
        else
        {
            writer.WriteStringList(_row, value);
        }
        return this;
    }

    /// <summary>Completes the row; every column must have had a value.</summary>
    public void EndRow()
    {
        EnsureOpen();
        if (_column != _writers.Length)
        {
            ThrowIncompleteRow();
        }
        _column = -1;
        CompleteRow();
    }

    /// <summary>Fast path: the current row was filled through the typed writers; move on (flushing a full chunk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void CompleteRow()
    {
        _rowsAppended++;
        if (++_row == _capacity)
        {
            AppendChunk();
        }
    }

    /// <summary>Writes buffered rows to the table.</summary>
    /// <exception cref="DuckDbException">DuckDB refused the rows (constraint violation, ...).</exception>
    public void Flush()
    {
        EnsureOpen();
        if (_column > 0)
        {
            ThrowIncompleteRow();
        }
        AppendChunk();
        if (!NativeMethods.Ok(NativeMethods.AppenderFlush(_handle)))
        {
            Fail("flush");
        }
    }

    /// <summary>Writes buffered rows and closes the appender.</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }
        Flush();
        _closed = true;
        if (!NativeMethods.Ok(NativeMethods.AppenderClose(_handle)))
        {
            Fail("close");
        }
    }

    /// <summary>Drops the rows not yet written to the table and releases the appender.</summary>
    public void Discard()
    {
        _closed = true;
        _faulted = true;
        Release();
    }

    /// <summary>
    /// Closes (writing buffered rows) unless the appender failed or was discarded; then releases native memory.
    /// Throws <see cref="DuckDbException"/> if the final write fails.
    /// </summary>
    public void Dispose()
    {
        try
        {
            if (!_closed && !_faulted && !_handle.IsClosed)
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
        if (_handle.IsClosed)
        {
            return;
        }
        if (_faulted)
        {
            // Destroy would otherwise try to flush what is buffered.
            NativeMethods.AppenderClear(_handle);
        }
        _handle.Dispose();
        IntPtr chunk = _chunk;
        if (chunk != IntPtr.Zero)
        {
            NativeMethods.DestroyDataChunk(ref chunk);
        }
        _arena.Dispose();
    }

    private void AppendChunk()
    {
        if (_row == 0)
        {
            return;
        }
        NativeMethods.DataChunkSetSize(_chunk, (ulong)_row);
        if (!SkipNativeAppendForBenchmark && !NativeMethods.Ok(NativeMethods.AppendDataChunk(_handle, _chunk)))
        {
            Fail("append a chunk to");
        }
        NativeMethods.DataChunkReset(_chunk);
        _arena.Reset();
        _row = 0;
        BindWriters();
    }

    private void BindWriters()
    {
        for (int i = 0; i < _writers.Length; i++)
        {
            _writers[i].Bind(NativeMethods.DataChunkGetVector(_chunk, (ulong)i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ColumnWriter NextWriter()
    {
        if (_column < 0)
        {
            BeginRow();
        }
        if (_column >= _writers.Length)
        {
            ThrowTooManyValues();
        }
        return _writers[_column++];
    }

    private void EnsureOpen()
    {
        if (_closed || _handle.IsClosed)
        {
            throw new ObjectDisposedException(nameof(DuckDbAppender), $"The appender for table '{Table}' is closed.");
        }
    }

    [DoesNotReturn]
    private void Fail(string what)
    {
        _faulted = true;
        string message = NativeMethods.Utf8(NativeMethods.AppenderError(_handle)) ?? "unknown error";
        throw new DuckDbException($"Could not {what} table '{Table}': {message}");
    }

    [DoesNotReturn]
    private void ThrowIncompleteRow() =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Table '{Table}' has {_writers.Length} columns, but the row being appended has {Math.Max(_column, 0)} value(s); expected a value for column {Math.Max(_column, 0)} '{_writers[Math.Clamp(_column, 0, _writers.Length - 1)].Name}'."));

    [DoesNotReturn]
    private void ThrowTooManyValues() =>
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
            $"Table '{Table}' has {_writers.Length} columns, but value {_column + 1} was appended to the row; call EndRow after the last column."));

    private static (string? Schema, string Name) SplitName(string table)
    {
        int dot = table.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? (null, table) : (table[..dot], table[(dot + 1)..]);
    }

    private static string[] ColumnNames(DuckDbConnection connection, string? schema, string table, int count)
    {
        var names = new string[count];
        for (int i = 0; i < count; i++)
        {
            names[i] = string.Create(CultureInfo.InvariantCulture, $"#{i}");
        }
        using DuckDbReader reader = connection.Query(
            "SELECT column_index, column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = coalesce(?, current_schema()) AND database_name = current_database() ORDER BY column_index",
            table, schema);
        while (reader.Read())
        {
            int index = (int)reader.GetInt64(0) - 1;
            if (index >= 0 && index < count)
            {
                names[index] = reader.GetString(1);
            }
        }
        return names;
    }
}
