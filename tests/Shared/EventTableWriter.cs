using System.Text;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Storage;

/// <summary>
/// Writes <see cref="EventRow"/>s (<see cref="EventSchema"/>) row by row through DuckDB.NET's appender,
/// assigning <see cref="EventRow.Seq"/> 0, 1, 2, … in write order, and counts them, through an appender on a new
/// DuckDB table (events to query in memory; datasets go through <see cref="Parquet.EventParquetWriter"/>).
/// Call <see cref="Complete"/> to hand over the last chunk; disposing without it discards the rows not yet
/// written (the error path).
/// </summary>
public sealed class EventTableWriter : IEventSink, IWrittenEvents, IDisposable
{
    private readonly DuckDbAppender _rows;
    private readonly JsonArgs _json = new();
    private readonly EventTally _tally = new();
    private bool _completed;

    /// <summary>Creates table <paramref name="table"/> in <paramref name="connection"/> and opens an appender on it.</summary>
    /// <exception cref="DuckDbException">The table exists already, or DuckDB refused it.</exception>
    public EventTableWriter(DuckDbConnection connection, string table = "events")
    {
        ArgumentNullException.ThrowIfNull(connection);
        connection.Execute(EventSchema.CreateTableSql(table));
        _rows = connection.CreateAppender(table);
        Table = table;
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
    public void Write(EventRow row)
    {
        long seq = _tally.Take(row);
        _rows.BeginRow()
            .Append(seq)
            .Append(row.TsNs)
            .Append(row.Cpu)
            .Append(row.Pid);
        if (row.Tgid is int tgid)
        {
            _rows.Append(tgid);
        }
        else
        {
            _rows.AppendNull();
        }
        _rows.Append(row.Comm).Append(row.Event).Append(row.IrqFlags).Append(row.SrcPos);
        for (int c = EventSchema.FirstField; c < EventSchema.Args; c++)
        {
            if (!row.IsSet(c))
            {
                _rows.AppendNull();
                continue;
            }
            switch (EventSchema.Columns[c].Kind)
            {
                case ColumnKind.UInt64:
                    _rows.Append(row.GetUInt64(c));
                    break;
                case ColumnKind.Int32:
                    _rows.Append((int)row.GetInt64(c));
                    break;
                case ColumnKind.Bool:
                    _rows.Append(row.GetBool(c));
                    break;
                case ColumnKind.Text:
                    _rows.Append(row.GetText(c));
                    break;
                default:
                    _rows.Append(row.GetInt64(c));
                    break;
            }
        }
        _rows.Append(row.Args.Count > 0 ? Encoding.UTF8.GetString(_json.Serialize(row.Args)) : null);
        _rows.Append(row.Stack);
        _rows.EndRow();
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
    }
}
