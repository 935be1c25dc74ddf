using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Pipeline.Storage.Parquet;

/// <summary>Settings of an <see cref="EventParquetWriter"/>.</summary>
public sealed record EventParquetOptions
{
    /// <summary>Rows per row group (DuckDB's default, so readers split work the same way).</summary>
    public int RowGroupSize { get; init; } = 122_880;

    /// <summary>Encoder threads; null for one per core.</summary>
    public int? Threads { get; init; }

    /// <summary>
    /// zstd level of the pages: 3, zstd's default. On 10.5 M recorded events it gives files a third smaller
    /// than level 1 (text 31 MB instead of 46 MB, DuckDB's writer: 67 MB) at the same ingest time, since the
    /// encoders are not what limits it; level -1 was no faster and 60 % bigger.
    /// </summary>
    public int CompressionLevel { get; init; } = 3;

    /// <summary>
    /// Full row groups held back, unencoded, behind the one being filled: the reorder window. A row whose timestamp
    /// is smaller than an earlier row's is put in its place when it is no earlier than every row already handed to
    /// the encoders, i.e. when it is late by less than this many groups (at least 122,880 rows; a few ms of a busy
    /// trace). Later rows leave the file out of order and <see cref="TraceWriter"/> sorts it as a whole. Costs
    /// nothing per row on ordered input: the held groups are sorted only when a late row landed in them.
    /// </summary>
    public int ReorderGroups { get; init; } = 1;
}

/// <summary>
/// Writes events to a zstd Parquet file (<c>events.parquet</c>) in <see cref="EventSchema"/> order, assigning
/// <see cref="EventRow.Seq"/> 0, 1, 2, … The parser's thread only copies each row into the current row group
/// (a few stores); full groups go to encoder threads, and each encoded group is appended to the file in order,
/// so memory holds a handful of row groups whatever the trace size. Rows that arrive slightly late (perf's
/// ordered-events flush, a text trace cut and merged by hand) are put in time order by the reorder window
/// (<see cref="EventParquetOptions.ReorderGroups"/>; counted in <see cref="Order"/>); <c>seq</c> is the row's
/// position after that window. DuckDB reads the result
/// (<c>read_parquet</c>); docs/schema.md describes the physical layout.
/// </summary>
/// <remarks>
/// Why not DuckDB's own writer (<c>COPY … TO (FORMAT parquet)</c>), which this replaced: fed from a C-API table
/// function it encodes on one thread at ~0.5 µs per 47-column row, a third of the ingest target; Parquet.Net and
/// Apache.Arrow are not available here. Disposing without <see cref="Complete"/> stops the encoders and deletes
/// the file.
/// </remarks>
public sealed class EventParquetWriter : IEventSegmentSink, IEventColumnSink, IWrittenEvents, IDisposable
{
    private static readonly string s_createdBy =
        $"mmtrace {typeof(EventParquetWriter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0"}";

    private readonly string _path;
    private readonly FileStream _file;
    private readonly EventParquetOptions _options;
    private readonly EventTally _tally = new(countEvents: false);
    private readonly Dictionary<string, long> _eventCounts = new(StringComparer.Ordinal);
    private readonly BlockingCollection<EventRowGroup> _queue;
    private readonly ConcurrentBag<EventRowGroup> _freeGroups = [];
    private readonly ConcurrentBag<EncodedRowGroup> _freeEncoded = [];
    private readonly Thread[] _workers;
    private readonly object _fileLock = new();
    private readonly SortedDictionary<long, EncodedRowGroup> _ready = [];
    private readonly List<WrittenRowGroup> _written = [];
    private readonly List<EventRowGroup> _held = [];
    private long _maxTsNs = long.MinValue;
    private long _handedMaxTsNs = long.MinValue;
    private bool _heldUnordered;
    private long _reordered;
    private long _reorderedMaxNs;
    private long _beyondWindow;
    private long _beyondWindowMaxNs;
    private long _rowsRewritten;
    private EventRowGroup _current;
    private EventColumnWriter? _columnWriter;
    private long _nextToWrite;
    private long _groups;
    private volatile Exception? _failure;
    private volatile bool _aborted;
    private bool _completed;
    private bool _disposed;

    /// <summary>Creates <paramref name="path"/> (it must not exist) and starts the encoder threads.</summary>
    public EventParquetWriter(string path, EventParquetOptions? options = null)
    {
        _path = path;
        _options = options ?? new EventParquetOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.RowGroupSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(_options.ReorderGroups, nameof(options));
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        _file.Write("PAR1"u8);
        int threads = Math.Max(1, _options.Threads ?? Environment.ProcessorCount);
        _queue = new BlockingCollection<EventRowGroup>(threads);
        _current = new EventRowGroup(_options.RowGroupSize);
        _current.Start(0, 0);
        _workers = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            _workers[i] = new Thread(Encode) { IsBackground = true, Name = $"parquet encoder {i}" };
            _workers[i].Start();
        }
    }

    /// <inheritdoc/>
    public long Count => _tally.Count;

    /// <inheritdoc/>
    public bool IsTimeOrdered => _beyondWindow == 0;

    /// <inheritdoc/>
    public EventOrder Order => new(_reordered, _reorderedMaxNs, _beyondWindow, _beyondWindowMaxNs);

    /// <summary>
    /// Rows the reorder window wrote to a new position while putting late rows in place (a diagnostic: it shows
    /// that the window's work follows the disorder, not the size of the window).
    /// </summary>
    internal long RowsRewrittenByWindow => _rowsRewritten;

    /// <summary>Rows per canonical event name (counted by the encoders, so known once <see cref="Complete"/> returned).</summary>
    /// <exception cref="InvalidOperationException">The writer is not complete.</exception>
    public IReadOnlyDictionary<string, long> EventCounts => CompletedCounts;

    /// <inheritdoc/>
    public SortedDictionary<string, long> SortedEventCounts() => new(CompletedCounts, StringComparer.Ordinal);

    private Dictionary<string, long> CompletedCounts =>
        _completed ? _eventCounts : throw new InvalidOperationException("Event counts are known once the writer is complete.");

    /// <summary>
    /// Appends one event; sets <c>row.Seq</c> to its arrival index, which is its row id unless the reorder window
    /// moves it.
    /// </summary>
    /// <exception cref="IOException">An earlier row group could not be encoded or written.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Write(EventRow row)
    {
        ThrowIfNotWritable();
        _tally.Take(row);
        long ts = row.TsNs;
        if (ts < _maxTsNs)
        {
            NoteLate(ts);
        }
        else
        {
            _maxTsNs = ts;
        }
        _current.Add(row);
        if (_current.IsFull)
        {
            HandOver();
        }
    }

    /// <inheritdoc/>
    public bool TakesSegments => true;

    /// <summary>
    /// Appends the segment's rows as that many <see cref="Write(EventRow)"/> calls would (same row groups, same
    /// reorder window), copying column ranges instead of rows.
    /// </summary>
    /// <exception cref="IOException">An earlier row group could not be encoded or written.</exception>
    public void Write(EventSegment segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        ThrowIfNotWritable();
        EventRowGroup rows = segment.Columns;
        int at = 0;
        while (at < rows.Rows)
        {
            // The rows up to where the current group fills (its row count or its text), then the next group.
            int take = _current.RowsUntilFull(rows, at, Math.Min(_options.RowGroupSize - _current.Rows, rows.Rows - at));
            ReadOnlySpan<long> ts = rows.TsNs.AsSpan(at, take);
            _tally.TakeMany(ts, rows.Event.AsSpan(at, take));
            foreach (long t in ts)
            {
                if (t < _maxTsNs)
                {
                    NoteLate(t);
                }
                else
                {
                    _maxTsNs = t;
                }
            }
            _current.Append(rows, at, take);
            if (_current.IsFull)
            {
                HandOver();
            }
            at += take;
        }
    }

    /// <inheritdoc/>
    public EventColumnWriter ColumnWriter => _columnWriter ??= new EventColumnWriter(this);

    /// <summary>The group being filled (a throwaway one once the writer is complete or disposed).</summary>
    internal EventRowGroup Current => _current;

    /// <summary>Counts a row the column writer is ending, as <see cref="Write(EventRow)"/> counts a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void BeginColumnRow(long tsNs, string eventName)
    {
        if (_disposed || _completed)
        {
            _columnWriter?.DiscardRow();
            ObjectDisposedException.ThrowIf(_disposed, this);
            throw new InvalidOperationException("The writer is complete.");
        }
        _tally.Take(tsNs, eventName);
        if (tsNs < _maxTsNs)
        {
            NoteLate(tsNs);
        }
        else
        {
            _maxTsNs = tsNs;
        }
    }

    /// <summary>After the column writer ended a row in <see cref="Current"/>: hands a full group over; returns the row count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long EndColumnRow()
    {
        if (_current.IsFull)
        {
            HandOver();
        }
        return _tally.Count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfNotWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            throw new InvalidOperationException("The writer is complete.");
        }
        if (_columnWriter is { IsRowOpen: true })
        {
            throw new InvalidOperationException("A row is open in the column writer: end it (EndRow) before writing rows another way.");
        }
    }

    /// <summary>Writes the last row group and the footer and closes the file.</summary>
    /// <exception cref="IOException">Encoding or writing failed.</exception>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed)
        {
            return;
        }
        ThrowIfFailed();
        if (_columnWriter is { IsRowOpen: true })
        {
            throw new InvalidOperationException("A row is open in the column writer: end it (EndRow) or discard it before completing.");
        }
        if (_current.Rows > 0)
        {
            _held.Add(_current);
        }
        if (_heldUnordered)
        {
            SortHeld();
        }
        foreach (EventRowGroup group in _held)
        {
            _queue.Add(group);
        }
        _held.Clear();
        // Values the column writer sets from now on land in a group nobody encodes (its EndRow then throws).
        _current = new EventRowGroup(1);
        _queue.CompleteAdding();
        foreach (Thread worker in _workers)
        {
            worker.Join();
        }
        ThrowIfFailed();
        var footer = new ByteBuffer(1 << 16);
        EventParquetLayout.WriteFooter(new ThriftCompactWriter(footer), _written, s_createdBy);
        _file.Write(footer.Written);
        Span<byte> tail = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(tail, footer.Length);
        "PAR1"u8.CopyTo(tail[4..]);
        _file.Write(tail);
        _file.Flush(flushToDisk: false);
        _file.Dispose();
        _completed = true;
    }

    /// <summary>Stops the encoders; without <see cref="Complete"/> the file is deleted.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!_completed)
        {
            _aborted = true;
            _current = new EventRowGroup(1);
            if (!_queue.IsAddingCompleted)
            {
                _queue.CompleteAdding();
            }
            foreach (Thread worker in _workers)
            {
                worker.Join();
            }
            _file.Dispose();
            File.Delete(_path);
        }
        _queue.Dispose();
    }

    private void HandOver()
    {
        ThrowIfFailed();
        EventRowGroup full = _current;
        _groups++;
        if (!_freeGroups.TryTake(out EventRowGroup? next))
        {
            next = new EventRowGroup(_options.RowGroupSize);
        }
        next.Start(_groups, _tally.Count);
        _current = next;
        _held.Add(full);
        if (_held.Count > _options.ReorderGroups)
        {
            if (_heldUnordered)
            {
                SortHeld();
            }
            EventRowGroup oldest = _held[0];
            _held.RemoveAt(0);
            _handedMaxTsNs = Math.Max(_handedMaxTsNs, oldest.MaxTsNs());
            _queue.Add(oldest);
        }
    }

    /// <summary>A row earlier than one before it: in the window if no handed-over row is later than it.</summary>
    private void NoteLate(long ts)
    {
        long late = _maxTsNs - ts;
        if (_options.ReorderGroups > 0 && ts >= _handedMaxTsNs)
        {
            _reordered++;
            _reorderedMaxNs = Math.Max(_reorderedMaxNs, late);
            _heldUnordered = true;
        }
        else
        {
            // Without a window (ReorderGroups 0) every late row is left for the whole-file sort.
            _beyondWindow++;
            _beyondWindowMaxNs = Math.Max(_beyondWindowMaxNs, late);
            _heldUnordered |= _options.ReorderGroups > 0;
        }
    }

    /// <summary>
    /// Puts the held groups' rows in (timestamp, arrival) order where they are, keeping each group's size, index
    /// and first seq (<see cref="EventRowGroup.SortInPlace"/>): only the rows between a late row's place and its
    /// arrival are rewritten, so a few late events cost a few rows and no extra row group. Only after a late row,
    /// so ordered input never pays for it.
    /// </summary>
    private void SortHeld()
    {
        _rowsRewritten += EventRowGroup.SortInPlace(_held);
        _heldUnordered = false;
    }

    private void Encode()
    {
        using var encoder = new EventRowGroupEncoder(_options.CompressionLevel);
        foreach (EventRowGroup group in _queue.GetConsumingEnumerable())
        {
            if (_aborted || _failure is not null)
            {
                continue;
            }
            try
            {
                if (!_freeEncoded.TryTake(out EncodedRowGroup? encoded))
                {
                    encoded = new EncodedRowGroup();
                }
                encoder.Encode(group, encoded);
                group.Clear();
                _freeGroups.Add(group);
                WriteInOrder(encoded);
            }
#pragma warning disable CA1031 // Any failure (a full disk, say) is rethrown on the writer's thread by the next Write or Complete.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _failure ??= e;
            }
        }
    }

    /// <summary>Appends <paramref name="encoded"/> and every group after it that is ready, in index order.</summary>
    private void WriteInOrder(EncodedRowGroup encoded)
    {
        lock (_fileLock)
        {
            _ready.Add(encoded.Index, encoded);
            while (_ready.Remove(_nextToWrite, out EncodedRowGroup? next))
            {
                long offset = _file.Position;
                _file.Write(next.Data.Written);
                _written.Add(new WrittenRowGroup(offset, next.Rows, next.Chunks));
                foreach (KeyValuePair<string, long> count in next.EventCounts)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(_eventCounts, count.Key, out _) += count.Value;
                }
                _nextToWrite++;
                _freeEncoded.Add(next);
            }
        }
    }

    private void ThrowIfFailed()
    {
        if (_failure is Exception failure)
        {
            throw new IOException($"Writing '{_path}' failed: {failure.Message}", failure);
        }
    }
}
