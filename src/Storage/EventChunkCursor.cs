using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using DuckDB.NET.Native;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// Streams a query over events.parquet chunk by chunk through DuckDB's C API and fills <see cref="EventRow"/>s
/// straight from the result vectors. Replay reads every event of a trace, so this is its input's hot path:
/// DuckDB.NET's row reader cost ~40 ns per cell (47 columns, most NULL) and one managed string per text value,
/// more than the lowering and the engine together (docs/benchmarks.md). Here a NULL cell costs a bit test, a
/// number a load, and short repeated strings (comm, event, flags, args keys) come from a pool keyed by their
/// UTF-8 bytes, so they are not allocated per row.
/// </summary>
/// <remarks>
/// The query must produce the columns of <c>ordinals</c> (schema ordinal → result column, -1 when absent or not
/// in the projection <c>loaded</c>, which every row is marked with) with
/// the schema's types exactly (the caller casts). Vector layouts (DuckDB C API, <c>duckdb.h</c>): fixed-width
/// values packed; validity a bit per row in 64-bit words, null pointer when every row is valid; VARCHAR a
/// 16-byte <c>duckdb_string_t</c> (uint32 length, then up to 12 bytes inline, else a 4-byte prefix and a
/// pointer); LIST a 16-byte (offset, length) entry into the child vector. A chunk stays valid until disposed.
/// </remarks>
internal sealed unsafe class EventChunkCursor : IDisposable
{
    private readonly int[] _ordinals;
    private readonly ulong _loaded;
    private readonly string _path;
    private readonly string _sql;
    private readonly EventReader.StringPool _pool = new();
    // The events whose rows get args (EventProjection.WithArgsOnlyOf), null for every row; the answers for recent
    // event name instances, which the pool shares, so most rows cost a reference compare instead of a hash of the name.
    private readonly IReadOnlySet<string>? _argsEvents;
    private readonly string?[] _argsNames = new string?[32];
    private readonly bool[] _argsRead = new bool[32];
    private readonly nint[] _data;
    private readonly nint[] _validity;
    private readonly nint[] _listChild;
    private DuckDBPreparedStatement? _statement;
    private DuckDBResult _result;
    private bool _resultOpen;
    private DuckDBDataChunk? _chunk;
    private int _chunkSize;
    private int _row;

    public EventChunkCursor(DuckDbConnection connection, string sql, int[] ordinals, ulong loaded, string path, IReadOnlySet<string>? argsEvents = null)
    {
        _ordinals = ordinals;
        _loaded = loaded;
        _argsEvents = argsEvents;
        _path = path;
        _sql = sql;
        int columns = 0;
        foreach (int o in ordinals)
        {
            columns = Math.Max(columns, o + 1);
        }
        _data = new nint[columns];
        _validity = new nint[columns];
        _listChild = new nint[columns];
        if (NativeMethods.PreparedStatements.DuckDBPrepare(connection.Inner.NativeConnection, sql, out DuckDBPreparedStatement statement) != DuckDBState.Success)
        {
            string error = NativeMethods.PreparedStatements.DuckDBPrepareError(statement);
            statement.Dispose();
            throw new DuckDbException(error, sql);
        }
        _statement = statement;
        if (NativeMethods.PreparedStatements.DuckDBExecutePreparedStreaming(statement, out _result) != DuckDBState.Success)
        {
            string error = NativeMethods.Query.DuckDBResultError(ref _result);
            NativeMethods.Query.DuckDBDestroyResult(ref _result);
            Dispose();
            throw new DuckDbException(error, sql);
        }
        _resultOpen = true;
    }

    /// <summary>Clears and fills <paramref name="row"/> with the next event; false at the end.</summary>
    /// <exception cref="DuckDbException">The query failed while streaming.</exception>
    /// <exception cref="InvalidDataException">A required column is NULL, or args is not a JSON object of strings.</exception>
    public bool MoveNext(EventRow row)
    {
        while (_row >= _chunkSize)
        {
            if (!NextChunk())
            {
                return false;
            }
        }
        row.Clear();
        row.LoadedMask = _loaded;
        Fill(row, _row++);
        return true;
    }

    private bool NextChunk()
    {
        _chunk?.Dispose();
        _chunk = null;
        _chunkSize = 0;
        _row = 0;
        if (!_resultOpen)
        {
            return false;
        }
        DuckDBDataChunk chunk = NativeMethods.Query.DuckDBFetchChunk(_result);
        if (chunk.IsInvalid)
        {
            chunk.Dispose();
            string? error = NativeMethods.Query.DuckDBResultError(ref _result);
            CloseResult();
            if (!string.IsNullOrEmpty(error))
            {
                throw new DuckDbException(error, _sql);
            }
            return false;
        }
        _chunk = chunk;
        _chunkSize = checked((int)NativeMethods.DataChunks.DuckDBDataChunkGetSize(chunk));
        for (int c = 0; c < _data.Length; c++)
        {
            nint vector = NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, c);
            _data[c] = (nint)NativeMethods.Vectors.DuckDBVectorGetData(vector);
            _validity[c] = (nint)NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
            _listChild[c] = 0;
        }
        int stack = _ordinals[EventSchema.Stack];
        if (stack >= 0)
        {
            _listChild[stack] = NativeMethods.Vectors.DuckDBListVectorGetChild(NativeMethods.DataChunks.DuckDBDataChunkGetVector(chunk, stack));
        }
        return true;
    }

    private void Fill(EventRow row, int i)
    {
        int[] ordinals = _ordinals;
        row.Seq = Required<long>(ordinals[EventSchema.Seq], i, EventSchema.Seq, row);
        row.TsNs = Required<long>(ordinals[EventSchema.TsNs], i, EventSchema.TsNs, row);
        row.Cpu = Required<int>(ordinals[EventSchema.Cpu], i, EventSchema.Cpu, row);
        row.Pid = Required<int>(ordinals[EventSchema.Pid], i, EventSchema.Pid, row);
        int o = ordinals[EventSchema.Tgid];
        row.Tgid = o < 0 || IsNull(o, i) ? null : ((int*)_data[o])[i];
        o = ordinals[EventSchema.Comm];
        row.Comm = IsNull(o, i) ? ThrowNull<string>(EventSchema.Comm, row) : _pool.Get(Utf8(_data[o], i));
        o = ordinals[EventSchema.Event];
        row.Event = IsNull(o, i) ? ThrowNull<string>(EventSchema.Event, row) : _pool.Get(Utf8(_data[o], i));
        o = ordinals[EventSchema.IrqFlags];
        row.IrqFlags = o < 0 || IsNull(o, i) ? null : _pool.Get(Utf8(_data[o], i));
        o = ordinals[EventSchema.SrcPos];
        row.SrcPos = o < 0 || IsNull(o, i) ? 0 : ((long*)_data[o])[i];
        IReadOnlyList<EventColumn> columns = EventSchema.Columns;
        int args = EventSchema.Args;
        for (int c = EventSchema.FirstField; c < args; c++)
        {
            o = ordinals[c];
            if (o < 0 || IsNull(o, i))
            {
                continue;
            }
            switch (columns[c].Kind)
            {
                case ColumnKind.Bool:
                    row.SetBool(c, ((byte*)_data[o])[i] != 0);
                    break;
                case ColumnKind.Text:
                    row.SetText(c, _pool.Get(Utf8(_data[o], i)));
                    break;
                case ColumnKind.Int32:
                    row.SetInt64(c, ((int*)_data[o])[i]);
                    break;
                default: // BIGINT and UBIGINT: the same 64 bits
                    row.SetInt64(c, ((long*)_data[o])[i]);
                    break;
            }
        }
        o = ordinals[args];
        if (o >= 0 && _argsEvents is not null && !ArgsRead(row.Event))
        {
            // Not fetched for this event: reading this row's args throws, as for a column left out of the projection.
            row.LoadedMask = _loaded & ~(1UL << args);
        }
        else if (o >= 0 && !IsNull(o, i))
        {
            // Kept as JSON and parsed when read: replay reads the args of a few events only (EventRow.SetArgsJson).
            row.SetArgsJson(Utf8(_data[o], i), _path);
        }
        o = ordinals[EventSchema.Stack];
        if (o >= 0 && !IsNull(o, i))
        {
            ulong* entry = (ulong*)_data[o] + 2 * i;
            int offset = checked((int)entry[0]);
            int length = checked((int)entry[1]);
            nint child = _listChild[o];
            var childData = (nint)NativeMethods.Vectors.DuckDBVectorGetData(child);
            ulong* childValidity = NativeMethods.Vectors.DuckDBVectorGetValidity(child);
            var stack = new List<string>(length);
            for (int f = offset; f < offset + length; f++)
            {
                bool valid = childValidity == null || (childValidity[f >> 6] & (1UL << (f & 63))) != 0;
                stack.Add(valid ? Encoding.UTF8.GetString(Utf8(childData, f)) : "");
            }
            row.Stack = stack;
        }
    }

    private bool ArgsRead(string name)
    {
        int slot = RuntimeHelpers.GetHashCode(name) & 31;
        if (!ReferenceEquals(_argsNames[slot], name))
        {
            _argsNames[slot] = name;
            _argsRead[slot] = _argsEvents!.Contains(name);
        }
        return _argsRead[slot];
    }

    private T Required<T>(int column, int i, int ordinal, EventRow row)
        where T : unmanaged =>
        IsNull(column, i) ? ThrowNull<T>(ordinal, row) : ((T*)_data[column])[i];

    private T ThrowNull<T>(int ordinal, EventRow row) =>
        throw new InvalidDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{_path}: row after seq {row.Seq}: column {EventSchema.Columns[ordinal].Name} is NULL (expected a value in every row)."));

    private bool IsNull(int column, int i)
    {
        var validity = (ulong*)_validity[column];
        return validity != null && (validity[i >> 6] & (1UL << (i & 63))) == 0;
    }

    /// <summary>The bytes of VARCHAR value <paramref name="i"/> of a vector (valid until the chunk is disposed).</summary>
    private static ReadOnlySpan<byte> Utf8(nint data, int i)
    {
        byte* value = (byte*)data + 16 * i;
        int length = *(int*)value;
        return length <= 12 ? new ReadOnlySpan<byte>(value + 4, length) : new ReadOnlySpan<byte>(*(byte**)(value + 8), length);
    }

    private void CloseResult()
    {
        if (_resultOpen)
        {
            _resultOpen = false;
            NativeMethods.Query.DuckDBDestroyResult(ref _result);
        }
    }

    public void Dispose()
    {
        _chunk?.Dispose();
        _chunk = null;
        CloseResult();
        _statement?.Dispose();
        _statement = null;
    }
}
