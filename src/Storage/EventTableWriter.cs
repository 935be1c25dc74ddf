using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// Writes <see cref="EventRow"/>s (<see cref="EventSchema"/>) column by column into DuckDB data chunks,
/// assigning <see cref="EventRow.Seq"/> 0, 1, 2, … in write order, and counts them, through an appender on a new
/// DuckDB table (events to query in memory; datasets go through <see cref="Parquet.EventParquetWriter"/>).
/// Call <see cref="Complete"/> to hand over the last chunk; disposing without it discards the rows not yet
/// written (the error path).
/// </summary>
public sealed class EventTableWriter : IEventSink, IWrittenEvents, IDisposable
{
    private readonly DuckDbAppender _rows;
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
    private readonly EventTally _tally = new();
    private bool _completed;

    /// <summary>Creates table <paramref name="table"/> in <paramref name="connection"/> and opens an appender on it.</summary>
    /// <exception cref="DuckDbException">The table exists already, or DuckDB refused it.</exception>
    public EventTableWriter(DuckDbConnection connection, string table = "events")
        : this(CreateTable(connection, table), table)
    {
    }

    private EventTableWriter(DuckDbAppender rows, string table)
    {
        Table = table;
        _rows = rows;
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
        get => _rows.SkipNativeAppendForBenchmark;
        set => _rows.SkipNativeAppendForBenchmark = value;
    }

    /// <summary>The table written.</summary>
    public string Table { get; }

    /// <inheritdoc/>
    public bool IsTimeOrdered => _tally.IsTimeOrdered;

    /// <inheritdoc/>
    public long Count => _tally.Count;

    /// <summary>Rows per canonical event name.</summary>
    public IReadOnlyDictionary<string, long> EventCounts => _tally.EventCounts;

    /// <inheritdoc/>
    public SortedDictionary<string, long> SortedEventCounts() => _tally.SortedEventCounts();

    /// <summary>Appends one event; sets <c>row.Seq</c> to its row id.</summary>
    // Per-row paths are compiled fully optimized at once: an ingest of ~1 M events otherwise spends much of its
    // time in tier-0 and PGO-instrumented code before tier 1 arrives.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Write(EventRow row)
    {
        int r = _rows.CurrentRow;
        long seq = _tally.Take(row);
        _seq.Set(r, seq);
        _tsNs.Set(r, row.TsNs);
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
        _rows.CompleteRow();
    }

    /// <summary>Writes the buffered rows and closes the appender.</summary>
    /// <exception cref="DuckDbException">DuckDB refused the rows.</exception>
    public void Complete()
    {
        _rows.Close();
        _completed = true;
    }

    /// <summary>Releases the appender; without <see cref="Complete"/>, buffered rows are discarded.</summary>
    public void Dispose()
    {
        if (!_completed)
        {
            _rows.Discard();
        }
        _rows.Dispose();
        // Chunk entries point into the caches' memory: free it only once the appender is gone.
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
}
