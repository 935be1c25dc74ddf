using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Pipeline.Storage.DuckDb;

/// <summary>A row-at-a-time chunk being filled through typed column writers (appender or stream).</summary>
internal interface IChunkRows
{
    /// <summary>Row of the current chunk being filled.</summary>
    int CurrentRow { get; }

    /// <summary>Typed writer of a column, bound to the current chunk.</summary>
    ColumnWriter Writer(int column);

    /// <summary>The current row is filled; moves on (handing over a full chunk).</summary>
    void CompleteRow();
}

/// <summary>
/// Streams rows into a DuckDB query without a table. The producer fills data chunks through column writers,
/// as <see cref="DuckDbAppender"/> does; a table function registered on the connection hands the full chunks
/// to DuckDB, which pulls them on the consumer thread that runs the query (a COPY to Parquet). Chunks travel
/// through a small bounded pool, so memory stays bounded whatever the number of rows, and parsing overlaps
/// DuckDB's encoding.
/// </summary>
/// <remarks>
/// The table function copies each chunk into DuckDB's output chunk: fixed-width data and validity with
/// memcpy, strings longer than 12 bytes with <c>duckdb_vector_assign_string_element_len</c>, so that DuckDB owns
/// them (the Parquet writer buffers whole row groups, long after our chunk is reused). Failure paths: if the
/// producer stops without <see cref="Complete"/> the scan reports an error, which ends the query; if the query
/// fails, the producer's next hand-over throws its error. Either way the consumer thread is joined.
/// </remarks>
internal sealed unsafe class ChunkStream : IChunkRows, IDisposable
{
    private const int SlotCount = 4;

    // Extra info handed to DuckDB is an id, not a GCHandle: the function stays in the catalog until the
    // database closes, and a stale id is detected where a freed GCHandle would crash.
    private static readonly ConcurrentDictionary<long, ChunkStream> s_streams = new();
    private static long s_nextId;

    private readonly object _lock = new();
    private readonly Slot[] _slots;
    private readonly Queue<Slot> _full = new();
    private readonly Stack<Slot> _free = new();
    private readonly ColumnWriter[] _writers;
    private readonly ColumnType[] _types;
    private readonly string[] _names;
    private readonly IntPtr[] _logicalTypes;
    private readonly int _capacity;
    private readonly long _id;
    private Slot _current;
    private int _row;
    private Thread? _consumer;
    private bool _producerDone;
    private string? _abortReason;
    private bool _consumerDone;
    private Exception? _consumerError;
    private bool _completed;
    private Exception? _failure;
    private bool _disposed;

    /// <summary>
    /// Registers table function <paramref name="function"/> on <paramref name="connection"/> with the given
    /// columns; takes ownership of <paramref name="logicalTypes"/>.
    /// </summary>
    public ChunkStream(DuckDbConnection connection, string function, IReadOnlyList<string> names, IntPtr[] logicalTypes)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Function = function;
        _names = [.. names];
        _logicalTypes = logicalTypes;
        _capacity = (int)NativeMethods.VectorSize();
        _types = new ColumnType[_names.Length];
        _writers = new ColumnWriter[_names.Length];
        _slots = new Slot[SlotCount];
        try
        {
            for (int s = 0; s < SlotCount; s++)
            {
                fixed (IntPtr* typeArray = _logicalTypes)
                {
                    _slots[s] = new Slot(NativeMethods.CreateDataChunk(typeArray, (ulong)_logicalTypes.Length));
                }
            }
            for (int s = SlotCount - 1; s > 0; s--)
            {
                _free.Push(_slots[s]);
            }
            _current = _slots[0];
            for (int i = 0; i < _names.Length; i++)
            {
                _types[i] = ColumnType.FromHandle(logicalTypes[i]);
                _writers[i] = ColumnWriter.Create(function, i, _names[i], _types[i], _current.Arena);
            }
            BindWriters();
            _id = Interlocked.Increment(ref s_nextId);
            s_streams[_id] = this;
            Register(connection);
        }
        catch
        {
            Release();
            throw;
        }
    }

    /// <summary>Name of the table function that yields the rows.</summary>
    public string Function { get; }

    /// <summary>Benchmarks only: full chunks are dropped instead of handed over (our side alone).</summary>
    internal bool DropChunksForBenchmark { get; set; }

    public int CurrentRow => _row;

    public ColumnWriter Writer(int column) => _writers[column];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void CompleteRow()
    {
        if (++_row == _capacity)
        {
            HandOver(last: false);
        }
    }

    /// <summary>Runs <paramref name="query"/> (which scans <see cref="Function"/>) on a dedicated thread.</summary>
    public void Start(Action query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (_consumer is not null)
        {
            throw new InvalidOperationException($"The stream '{Function}' is consumed already.");
        }
        _consumer = new Thread(() => Consume(query))
        {
            IsBackground = true,
            Name = "mmtrace " + Function,
        };
        _consumer.Start();
    }

    /// <summary>Hands over the last rows, ends the stream and waits for the query.</summary>
    /// <exception cref="DuckDbException">The query failed.</exception>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_completed)
        {
            _completed = true;
            if (_row > 0)
            {
                HandOver(last: true);
            }
            lock (_lock)
            {
                _producerDone = true;
                Monitor.PulseAll(_lock);
            }
            _consumer?.Join();
            if (_consumerError is not null)
            {
                _failure = new DuckDbException($"Streaming rows through '{Function}' failed: {_consumerError.Message}", _consumerError);
            }
        }
        if (_failure is not null)
        {
            // Also on a second call: the query's output is incomplete, whoever asks.
            throw _failure;
        }
    }

    /// <summary>Without <see cref="Complete"/>: makes the query fail, waits for it and frees the chunks.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        lock (_lock)
        {
            if (!_producerDone)
            {
                _abortReason = "the producer stopped before the end of the rows (error or cancellation)";
            }
            Monitor.PulseAll(_lock);
        }
        _consumer?.Join();
        Release();
    }

    private void Register(DuckDbConnection connection)
    {
        IntPtr function = NativeMethods.CreateTableFunction();
        try
        {
            NativeMethods.TableFunctionSetName(function, Function);
            NativeMethods.TableFunctionSetExtraInfo(function, (IntPtr)_id, IntPtr.Zero);
            NativeMethods.TableFunctionSetBind(function, &OnBind);
            NativeMethods.TableFunctionSetInit(function, &OnInit);
            NativeMethods.TableFunctionSetFunction(function, &OnScan);
            if (!NativeMethods.Ok(NativeMethods.RegisterTableFunction(connection.Handle, function)))
            {
                throw new DuckDbException($"DuckDB refused to register table function '{Function}' (is the name taken?).");
            }
        }
        finally
        {
            NativeMethods.DestroyTableFunction(ref function);
        }
    }

    private void Consume(Action query)
    {
        try
        {
            query();
        }
        catch (Exception e)
        {
            _consumerError = e;
        }
        finally
        {
            lock (_lock)
            {
                _consumerDone = true;
                Monitor.PulseAll(_lock);
            }
        }
    }

    private void HandOver(bool last)
    {
        _current.Rows = _row;
        if (DropChunksForBenchmark)
        {
            Recycle(_current);
            _row = 0;
            BindWriters();
            return;
        }
        lock (_lock)
        {
            if (_consumerDone || _consumer is null)
            {
                ThrowConsumerStopped();
            }
            _full.Enqueue(_current);
            Monitor.PulseAll(_lock);
            if (last)
            {
                return;
            }
            while (_free.Count == 0 && !_consumerDone)
            {
                Monitor.Wait(_lock);
            }
            if (_free.Count == 0)
            {
                ThrowConsumerStopped();
            }
            _current = _free.Pop();
        }
        _row = 0;
        BindWriters();
    }

    [DoesNotReturn]
    private void ThrowConsumerStopped()
    {
        _completed = true;
        _failure = _consumerError is not null
            ? new DuckDbException($"Streaming rows through '{Function}' failed: {_consumerError.Message}", _consumerError)
            : new InvalidOperationException(_consumer is null
                ? $"No query consumes the stream '{Function}'; call Start first."
                : $"The query consuming '{Function}' ended before the rows did.");
        throw _failure;
    }

    private void BindWriters()
    {
        for (int i = 0; i < _writers.Length; i++)
        {
            _writers[i].Arena = _current.Arena;
            _writers[i].Bind(NativeMethods.DataChunkGetVector(_current.Chunk, (ulong)i));
        }
    }

    /// <summary>Consumer side: the next full chunk, or null at the end of the stream.</summary>
    private Slot? Take()
    {
        lock (_lock)
        {
            while (_full.Count == 0 && !_producerDone && _abortReason is null)
            {
                Monitor.Wait(_lock);
            }
            if (_abortReason is not null)
            {
                throw new OperationCanceledException(_abortReason);
            }
            return _full.Count == 0 ? null : _full.Dequeue();
        }
    }

    private void Return(Slot slot)
    {
        Recycle(slot);
        lock (_lock)
        {
            _free.Push(slot);
            Monitor.PulseAll(_lock);
        }
    }

    private static void Recycle(Slot slot)
    {
        NativeMethods.DataChunkReset(slot.Chunk);
        slot.Arena.Reset();
        slot.Rows = 0;
    }

    private void Fill(IntPtr output)
    {
        Slot? slot = Take();
        if (slot is null)
        {
            NativeMethods.DataChunkSetSize(output, 0);
            return;
        }
        try
        {
            int rows = slot.Rows;
            for (int c = 0; c < _types.Length; c++)
            {
                CopyVector(_types[c], NativeMethods.DataChunkGetVector(slot.Chunk, (ulong)c), NativeMethods.DataChunkGetVector(output, (ulong)c), rows);
            }
            NativeMethods.DataChunkSetSize(output, (ulong)rows);
        }
        finally
        {
            Return(slot);
        }
    }

    private static void CopyVector(ColumnType type, IntPtr source, IntPtr target, int rows)
    {
        ulong* validity = NativeMethods.VectorGetValidity(source);
        if (!CopyValidity(validity, target, rows))
        {
            // Most typed payload columns are NULL throughout a chunk: the validity says it all.
            return;
        }
        void* from = NativeMethods.VectorGetData(source);
        void* to = NativeMethods.VectorGetData(target);
        switch (type.Id)
        {
            case DuckDbType.BigInt or DuckDbType.UBigInt or DuckDbType.Double:
                Buffer.MemoryCopy(from, to, (long)rows * 8, (long)rows * 8);
                break;
            case DuckDbType.Integer:
                Buffer.MemoryCopy(from, to, (long)rows * 4, (long)rows * 4);
                break;
            case DuckDbType.Boolean:
                Buffer.MemoryCopy(from, to, rows, rows);
                break;
            case DuckDbType.Varchar:
                CopyStrings(validity, from, target, to, rows);
                break;
            case DuckDbType.List:
            {
                long bytes = (long)rows * sizeof(DuckDbListEntry);
                Buffer.MemoryCopy(from, to, bytes, bytes);
                ulong size = NativeMethods.ListVectorGetSize(source);
                if (!NativeMethods.Ok(NativeMethods.ListVectorReserve(target, size)) || !NativeMethods.Ok(NativeMethods.ListVectorSetSize(target, size)))
                {
                    throw new DuckDbException(string.Create(CultureInfo.InvariantCulture, $"DuckDB could not reserve {size} list elements."));
                }
                IntPtr sourceChild = NativeMethods.ListVectorGetChild(source);
                IntPtr targetChild = NativeMethods.ListVectorGetChild(target);
                ulong* childValidity = NativeMethods.VectorGetValidity(sourceChild);
                if (CopyValidity(childValidity, targetChild, (int)size))
                {
                    CopyStrings(childValidity, NativeMethods.VectorGetData(sourceChild), targetChild, NativeMethods.VectorGetData(targetChild), (int)size);
                }
                break;
            }
            default:
                throw new NotSupportedException($"Streaming a {type.Name} column is not supported.");
        }
    }

    /// <summary>Copies the validity mask; false when no row is valid (nothing else to copy).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool CopyValidity(ulong* from, IntPtr target, int rows)
    {
        if (rows == 0)
        {
            return false;
        }
        if (from is null)
        {
            return true;
        }
        int words = (rows + 63) >> 6;
        ulong any = 0;
        ulong all = ulong.MaxValue;
        for (int w = 0; w < words - 1; w++)
        {
            any |= from[w];
            all &= from[w];
        }
        ulong lastMask = (rows & 63) == 0 ? ulong.MaxValue : (1UL << (rows & 63)) - 1;
        ulong last = from[words - 1] & lastMask;
        any |= last;
        ulong* to = NativeMethods.VectorGetValidity(target);
        if (all == ulong.MaxValue && last == lastMask)
        {
            // All valid: a reset output vector has no mask (null); only a mask left from earlier needs setting.
            if (to is not null)
            {
                new Span<ulong>(to, words).Fill(ulong.MaxValue);
            }
            return true;
        }
        if (to is null)
        {
            NativeMethods.VectorEnsureValidityWritable(target);
            to = NativeMethods.VectorGetValidity(target);
        }
        Buffer.MemoryCopy(from, to, words * 8L, words * 8L);
        return any != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CopyStrings(ulong* validity, void* from, IntPtr target, void* to, int rows)
    {
        const int CacheSize = 16;
        var source = (byte*)from;
        var entries = (byte*)to;
        // Names (comm, event, ...) come from a cache: one buffer per distinct string. Assign each buffer once
        // per chunk and give later rows a copy of DuckDB's entry, which points into the vector's own heap.
        byte** cachedText = stackalloc byte*[CacheSize];
        int* cachedRow = stackalloc int[CacheSize];
        new Span<nint>(cachedText, CacheSize).Clear();
        for (int r = 0; r < rows; r++)
        {
            if (validity is not null && (validity[r >> 6] & (1UL << (r & 63))) == 0)
            {
                continue;
            }
            byte* entry = source + ((long)r * 16);
            var value = (Int128*)(entries + ((long)r * 16));
            uint length = *(uint*)entry;
            if (length <= StringEntry.InlineLength)
            {
                // Inline strings hold no pointer: the 16 bytes are the whole value.
                *value = *(Int128*)entry;
                continue;
            }
            byte* text = *(byte**)(entry + 8);
            int slot = (int)(((nuint)text >> 4) & (CacheSize - 1));
            if (cachedText[slot] == text && *(uint*)(entries + ((long)cachedRow[slot] * 16)) == length)
            {
                *value = *(Int128*)(entries + ((long)cachedRow[slot] * 16));
                continue;
            }
            NativeMethods.VectorAssignStringElementLen(target, (ulong)r, text, length);
            cachedText[slot] = text;
            cachedRow[slot] = r;
        }
    }

    private void Release()
    {
        if (_id != 0)
        {
            s_streams.TryRemove(_id, out _);
        }
        foreach (Slot? slot in _slots)
        {
            slot?.Dispose();
        }
        for (int i = 0; i < _logicalTypes.Length; i++)
        {
            if (_logicalTypes[i] != IntPtr.Zero)
            {
                NativeMethods.DestroyLogicalType(ref _logicalTypes[i]);
            }
        }
    }

    private static ChunkStream? Lookup(IntPtr extraInfo) => s_streams.TryGetValue((long)extraInfo, out ChunkStream? stream) ? stream : null;

    [UnmanagedCallersOnly]
    private static void OnBind(IntPtr info)
    {
        try
        {
            ChunkStream? stream = Lookup(NativeMethods.BindGetExtraInfo(info));
            if (stream is null)
            {
                SetError(info, "the stream behind this table function is closed", bind: true);
                return;
            }
            for (int i = 0; i < stream._names.Length; i++)
            {
                NativeMethods.BindAddResultColumn(info, stream._names[i], stream._logicalTypes[i]);
            }
        }
        catch (Exception e)
        {
            SetError(info, e.Message, bind: true);
        }
    }

    [UnmanagedCallersOnly]
    private static void OnInit(IntPtr info) =>
        // One scanning thread: chunks must come out in the order they were written.
        NativeMethods.InitSetMaxThreads(info, 1);

    [UnmanagedCallersOnly]
    private static void OnScan(IntPtr info, IntPtr output)
    {
        try
        {
            ChunkStream? stream = Lookup(NativeMethods.FunctionGetExtraInfo(info));
            if (stream is null)
            {
                SetError(info, "the stream behind this table function is closed", bind: false);
                return;
            }
            stream.Fill(output);
        }
        catch (Exception e)
        {
            // Exceptions must not cross into native frames: report through DuckDB, which fails the query.
            NativeMethods.DataChunkSetSize(output, 0);
            SetError(info, e.Message, bind: false);
        }
    }

    private static void SetError(IntPtr info, string message, bool bind)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(message + "\0");
        fixed (byte* text = utf8)
        {
            if (bind)
            {
                NativeMethods.BindSetError(info, text);
            }
            else
            {
                NativeMethods.FunctionSetError(info, text);
            }
        }
    }

    private sealed class Slot(IntPtr chunk) : IDisposable
    {
        private IntPtr _chunk = chunk;

        public IntPtr Chunk => _chunk;

        public StringArena Arena { get; } = new();

        public int Rows { get; set; }

        public void Dispose()
        {
            if (_chunk != IntPtr.Zero)
            {
                NativeMethods.DestroyDataChunk(ref _chunk);
            }
            Arena.Dispose();
        }
    }
}
