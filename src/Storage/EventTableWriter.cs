using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// Writes <see cref="EventRow"/>s (<see cref="EventSchema"/>) column by column into DuckDB data chunks,
/// assigning <see cref="EventRow.Seq"/> 0, 1, 2, … in write order, and counts them. Two targets: a table
/// (the public constructor: an appender on a new table) or a stream that a query pulls chunks from
/// (<see cref="ForStream"/>: a table function, used to COPY straight to Parquet). Call <see cref="Complete"/>
/// to hand over the last chunk; disposing without it discards the rows not yet written (the error path).
/// </summary>
public sealed class EventTableWriter : IEventSink, IDisposable
{
    private readonly DuckDbAppender? _appender;
    private readonly ChunkStream? _stream;
    private readonly IChunkRows _rows;
    private readonly Int64ColumnWriter _seq;
    private readonly Int64ColumnWriter _tsNs;
    private readonly Int32ColumnWriter _cpu;
    private readonly Int32ColumnWriter _pid;
    private readonly Int32ColumnWriter _tgid;
    private readonly VarcharColumnWriter _comm;
    private readonly VarcharColumnWriter _event;
    private readonly VarcharColumnWriter _irqFlags;
    private readonly Int64ColumnWriter _srcPos;
    // Typed payload columns grouped by kind, so the per-row loop needs no switch or cast.
    private readonly (int Ordinal, Int64ColumnWriter Writer)[] _int64Fields;
    private readonly (int Ordinal, UInt64ColumnWriter Writer)[] _uint64Fields;
    private readonly (int Ordinal, Int32ColumnWriter Writer)[] _int32Fields;
    private readonly (int Ordinal, BoolColumnWriter Writer)[] _boolFields;
    private readonly (int Ordinal, VarcharColumnWriter Writer)[] _textFields;
    private readonly VarcharColumnWriter _args;
    private readonly VarcharListColumnWriter _stack;
    private readonly Utf8Cache _names = new();
    private readonly Utf8Cache _texts = new();
    private readonly JsonArgs _json = new();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private string? _lastEvent;
    private long _lastTsNs = long.MinValue;
    private long _lastEventPending;
    private bool _completed;

    /// <summary>Creates table <paramref name="table"/> in <paramref name="connection"/> and opens an appender on it.</summary>
    /// <exception cref="DuckDbException">The table exists already, or DuckDB refused it.</exception>
    public EventTableWriter(DuckDbConnection connection, string table = "events")
        : this(CreateTable(connection, table), table)
    {
    }

    private EventTableWriter(IChunkRows rows, string table)
    {
        Table = table;
        _rows = rows;
        _appender = rows as DuckDbAppender;
        _stream = rows as ChunkStream;
        _seq = (Int64ColumnWriter)rows.Writer(EventSchema.Seq);
        _tsNs = (Int64ColumnWriter)rows.Writer(EventSchema.TsNs);
        _cpu = (Int32ColumnWriter)rows.Writer(EventSchema.Cpu);
        _pid = (Int32ColumnWriter)rows.Writer(EventSchema.Pid);
        _tgid = (Int32ColumnWriter)rows.Writer(EventSchema.Tgid);
        _comm = (VarcharColumnWriter)rows.Writer(EventSchema.Comm);
        _event = (VarcharColumnWriter)rows.Writer(EventSchema.Event);
        _irqFlags = (VarcharColumnWriter)rows.Writer(EventSchema.IrqFlags);
        _srcPos = (Int64ColumnWriter)rows.Writer(EventSchema.SrcPos);
        _int64Fields = Fields<Int64ColumnWriter>(ColumnKind.Int64);
        _uint64Fields = Fields<UInt64ColumnWriter>(ColumnKind.UInt64);
        _int32Fields = Fields<Int32ColumnWriter>(ColumnKind.Int32);
        _boolFields = Fields<BoolColumnWriter>(ColumnKind.Bool);
        _textFields = Fields<VarcharColumnWriter>(ColumnKind.Text);
        _args = (VarcharColumnWriter)rows.Writer(EventSchema.Args);
        _stack = (VarcharListColumnWriter)rows.Writer(EventSchema.Stack);
    }

    /// <summary>Benchmarks only: fill chunks but do not hand them to DuckDB (our side alone).</summary>
    internal bool SkipNativeAppendForBenchmark
    {
        get => _appender?.SkipNativeAppendForBenchmark ?? _stream!.DropChunksForBenchmark;
        set
        {
            if (_appender is not null)
            {
                _appender.SkipNativeAppendForBenchmark = value;
            }
            else
            {
                _stream!.DropChunksForBenchmark = value;
            }
        }
    }

    /// <summary>The table written, or the table function streaming the rows.</summary>
    public string Table { get; }

    /// <summary>
    /// Whether every row came with a timestamp no smaller than the previous one, i.e. write (seq) order is
    /// already <c>(ts_ns, seq)</c> order and copying the table out needs no sort.
    /// </summary>
    public bool IsTimeOrdered { get; private set; } = true;

    /// <summary>Rows written so far.</summary>
    public long Count { get; private set; }

    /// <summary>Rows per canonical event name.</summary>
    public IReadOnlyDictionary<string, long> EventCounts
    {
        get
        {
            FlushEventCount();
            return _counts;
        }
    }

    /// <summary>Event counts sorted by name (ordinal), as they go into meta.json.</summary>
    public SortedDictionary<string, long> SortedEventCounts() => new(EventCounts.ToDictionary(), StringComparer.Ordinal);

    /// <summary>
    /// Creates a writer whose rows are pulled by table function <paramref name="function"/> (registered on
    /// <paramref name="connection"/>, schema <see cref="EventSchema"/>); <see cref="StartQuery"/> runs the
    /// query that scans it on a dedicated thread.
    /// </summary>
    internal static EventTableWriter ForStream(DuckDbConnection connection, string function)
    {
        var types = new IntPtr[EventSchema.Columns.Count];
        try
        {
            foreach (EventColumn column in EventSchema.Columns)
            {
                types[column.Ordinal] = LogicalTypeOf(column.Kind);
            }
        }
        catch
        {
            for (int i = 0; i < types.Length; i++)
            {
                if (types[i] != IntPtr.Zero)
                {
                    NativeMethods.DestroyLogicalType(ref types[i]);
                }
            }
            throw;
        }
        return new EventTableWriter(new ChunkStream(connection, function, [.. EventSchema.Columns.Select(c => c.Name)], types), function);
    }

    /// <summary>Stream writers: runs <paramref name="query"/> (which scans <see cref="Table"/>) on its own thread.</summary>
    internal void StartQuery(Action query) =>
        (_stream ?? throw new InvalidOperationException("This writer appends to a table; only stream writers run a query.")).Start(query);

    /// <summary>Appends one event; sets <c>row.Seq</c> to its row id.</summary>
    // Per-row paths are compiled fully optimized at once: an ingest of ~1 M events otherwise spends much of its
    // time in tier-0 and PGO-instrumented code before tier 1 arrives.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Write(EventRow row)
    {
        int r = _rows.CurrentRow;
        long seq = Count;
        row.Seq = seq;
        _seq.Set(r, seq);
        _tsNs.Set(r, row.TsNs);
        if (row.TsNs < _lastTsNs)
        {
            IsTimeOrdered = false;
        }
        _lastTsNs = row.TsNs;
        _cpu.Set(r, row.Cpu);
        _pid.Set(r, row.Pid);
        if (row.Tgid is int tgid)
        {
            _tgid.Set(r, tgid);
        }
        else
        {
            _tgid.SetNull(r);
        }
        _comm.Set(r, _names.Get(row.Comm));
        _event.Set(r, _names.Get(row.Event));
        if (row.IrqFlags is string flags)
        {
            _irqFlags.Set(r, _names.Get(flags));
        }
        else
        {
            _irqFlags.SetNull(r);
        }
        _srcPos.Set(r, row.SrcPos);
        WriteFields(row, r);
        if (row.Args.Count > 0)
        {
            _args.Set(r, _json.Serialize(row.Args));
        }
        else
        {
            _args.SetNull(r);
        }
        if (row.Stack is List<string> stack)
        {
            _stack.Set(r, stack);
        }
        else
        {
            _stack.SetNull(r);
        }
        CountEvent(row.Event);
        Count = seq + 1;
        _rows.CompleteRow();
    }

    /// <summary>
    /// Writes the buffered rows and closes the appender; for a stream, hands over the last rows, ends the
    /// stream and waits for the query that consumes it.
    /// </summary>
    /// <exception cref="DuckDbException">DuckDB refused the rows, or the consuming query failed.</exception>
    public void Complete()
    {
        if (_appender is not null)
        {
            _appender.Close();
        }
        else
        {
            _stream!.Complete();
        }
        _completed = true;
    }

    /// <summary>
    /// Releases the appender or stream; without <see cref="Complete"/>, buffered rows are discarded and a
    /// consuming query is made to fail (and waited for).
    /// </summary>
    public void Dispose()
    {
        if (_appender is not null)
        {
            if (!_completed)
            {
                _appender.Discard();
            }
            _appender.Dispose();
        }
        _stream?.Dispose();
        // Chunk entries point into the caches' memory: free it only once the appender (or the consumer) is gone.
        _names.Dispose();
        _texts.Dispose();
    }

    private (int Ordinal, T Writer)[] Fields<T>(ColumnKind kind)
        where T : ColumnWriter =>
        EventSchema.Columns
            .Where(c => c.Ordinal >= EventSchema.FirstField && c.Ordinal < EventSchema.Args && c.Kind == kind)
            .Select(c => (c.Ordinal, (T)_rows.Writer(c.Ordinal)))
            .ToArray();

    private static DuckDbAppender CreateTable(DuckDbConnection connection, string table)
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.Execute(EventSchema.CreateTableSql(table));
        return connection.CreateAppender(table);
    }

    private static IntPtr LogicalTypeOf(ColumnKind kind)
    {
        if (kind == ColumnKind.TextList)
        {
            using var child = new LogicalType(NativeMethods.CreateLogicalType(DuckDbType.Varchar));
            return NativeMethods.CreateListType(child.Handle);
        }
        return NativeMethods.CreateLogicalType(kind switch
        {
            ColumnKind.Int64 => DuckDbType.BigInt,
            ColumnKind.UInt64 => DuckDbType.UBigInt,
            ColumnKind.Int32 => DuckDbType.Integer,
            ColumnKind.Bool => DuckDbType.Boolean,
            ColumnKind.Text => DuckDbType.Varchar,
            _ => throw new InvalidOperationException($"Unknown column kind {kind}."),
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteFields(EventRow row, int r)
    {
        foreach (var (ordinal, writer) in _uint64Fields)
        {
            if (row.IsSet(ordinal))
            {
                writer.Set(r, row.GetUInt64(ordinal));
            }
            else
            {
                writer.SetNull(r);
            }
        }
        foreach (var (ordinal, writer) in _int64Fields)
        {
            if (row.IsSet(ordinal))
            {
                writer.Set(r, row.GetInt64(ordinal));
            }
            else
            {
                writer.SetNull(r);
            }
        }
        foreach (var (ordinal, writer) in _int32Fields)
        {
            if (row.IsSet(ordinal))
            {
                writer.Set(r, (int)row.GetInt64(ordinal));
            }
            else
            {
                writer.SetNull(r);
            }
        }
        foreach (var (ordinal, writer) in _boolFields)
        {
            if (row.IsSet(ordinal))
            {
                writer.Set(r, row.GetBool(ordinal));
            }
            else
            {
                writer.SetNull(r);
            }
        }
        foreach (var (ordinal, writer) in _textFields)
        {
            if (row.IsSet(ordinal))
            {
                writer.Set(r, _texts.Get(row.GetText(ordinal)!));
            }
            else
            {
                writer.SetNull(r);
            }
        }
    }

    private void CountEvent(string name)
    {
        // Parsers hand the same string instance for runs of one event; count those without hashing.
        if (ReferenceEquals(name, _lastEvent))
        {
            _lastEventPending++;
            return;
        }
        FlushEventCount();
        _lastEvent = name;
        _lastEventPending = 1;
    }

    private void FlushEventCount()
    {
        if (_lastEvent is not null && _lastEventPending > 0)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(_counts, _lastEvent, out _) += _lastEventPending;
            _lastEventPending = 0;
        }
    }
}
