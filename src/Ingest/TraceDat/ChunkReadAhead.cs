using System.Runtime.ExceptionServices;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Reads and decompresses the chunks of every compressed CPU stream of a v7 trace.dat on one long-lived thread,
/// several chunks ahead of the merge, so the merge-and-decode thread (whose time is the ingest's wall time) does
/// not spend a fifth of it in zstd.
/// </summary>
/// <remarks>
/// Why one thread working ahead and not a hand-off per chunk: a per-chunk pool work item made the decode thread
/// wait for a pool thread to be scheduled on every 40 KB chunk, which under load cost more than the decompression
/// it moved (docs/benchmarks.md, 2026-12-05 night). Here each CPU has up to <c>depth</c> decompressed chunks
/// waiting; the worker refills a CPU only when it has drained to half, so the two threads meet about once per
/// half-queue, and the decode thread waits only when the worker has fallen a whole queue behind.
/// When a CPU's queue is empty and the worker is not reading that CPU's next chunk (it is on other CPUs, or waits
/// for a core while the encoders hold both, as on a loaded machine), the merge reads and decompresses the chunk
/// itself with a decompressor of its own rather than wait: the wait was 0.7-1.1 s of a 12 M-event ingest under load
/// (docs/benchmarks.md, s24). A CPU's chunks are read by one thread at a time (<c>Busy</c>), in order, so who read
/// a chunk changes nothing in the rows. The two threads then share the file stream: each seek and its read are
/// done under a gate. The caller uses the read-ahead only when every CPU stream is compressed (an uncompressed
/// buffer's pages are read from the same stream on the decode thread, without the gate). Each queued chunk owns
/// its buffer: the reading thread gives the source a recycled one before the next read.
/// The ingest's progress line still reads the file's position from the merge's thread: a read of a number that
/// may be a chunk off while the worker seeks, for display only.
/// </remarks>
internal sealed class ChunkReadAhead : IDisposable
{
    /// <summary>Decompressed bytes the queues of all CPUs may hold together (each CPU holds at least two chunks).</summary>
    private const long BudgetBytes = 16L << 20;

    private const int MaxDepth = 16;

    private readonly object _lock = new();
    private readonly object _streamGate = new();
    private readonly List<Lane> _lanes = [];
    private readonly Thread _thread;
    private readonly Func<ChunkDecompressor> _createDecompressor;
    private ChunkDecompressor? _consumerDecompressor;
    private int _depth = 2;
    private bool _stopping;
    private bool _workerWaiting;
    private bool _started;
    private long _workerChunks;

    /// <param name="createDecompressor">Makes the decompressor the merge's thread uses when it reads a chunk itself.</param>
    public ChunkReadAhead(Func<ChunkDecompressor> createDecompressor)
    {
        _createDecompressor = createDecompressor;
        _thread = new Thread(Run) { IsBackground = true, Name = "trace.dat read-ahead" };
    }

    /// <summary>
    /// Chunks the worker reads at most; past them it idles as if every queue were full. For tests: a worker that
    /// gets no core (a loaded machine) is the timing a test cannot arrange otherwise.
    /// </summary>
    internal long WorkerChunkLimit { get; init; } = long.MaxValue;

    /// <summary>A page source that hands out what the worker read from <paramref name="source"/>; call before <see cref="Start"/>.</summary>
    public PageSource Add(ChunkedPageSource source)
    {
        if (_started)
        {
            throw new InvalidOperationException("sources are added before the read-ahead starts");
        }
        var lane = new Lane(this, source);
        source.StreamGate = _streamGate;
        _lanes.Add(lane);
        return lane;
    }

    /// <summary>Starts the worker; <paramref name="chunkBytes"/> is a typical chunk's size, which sizes the queues.</summary>
    public void Start(int chunkBytes)
    {
        _started = true;
        long perLane = BudgetBytes / Math.Max(1, _lanes.Count) / Math.Max(1, chunkBytes);
        _depth = (int)Math.Clamp(perLane, 2, MaxDepth);
        _thread.Start();
    }

    /// <summary>Stops the worker and waits for it (it may be inside one chunk's read).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopping = true;
            Monitor.PulseAll(_lock);
        }
        if (_started)
        {
            _thread.Join();
        }
        _consumerDecompressor?.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            Lane lane;
            byte[]? recycled;
            lock (_lock)
            {
                Lane? next;
                while ((next = Pick()) is null)
                {
                    if (_stopping)
                    {
                        return;
                    }
                    _workerWaiting = true;
                    Monitor.Wait(_lock);
                    _workerWaiting = false;
                }
                if (_stopping)
                {
                    return;
                }
                lane = next;
                lane.Busy = true;
                _workerChunks++;
                recycled = lane.Free.Count > 0 ? lane.Free.Pop() : null;
            }
            bool ok = false;
            PageBlock block = default;
            Exception? error = null;
            try
            {
                // The block's buffer is the source's: give it another before reading, so a queued chunk is never overwritten.
                lane.Source.ReplacePages(recycled ?? []);
                ok = lane.Source.TryReadBlock(out block);
            }
            catch (Exception e)
            {
                error = e;
            }
            lock (_lock)
            {
                lane.Busy = false;
                if (ok)
                {
                    lane.Ready.Enqueue(block);
                }
                else
                {
                    lane.Done = true;
                    lane.Error = error;
                }
                if (lane.ConsumerWaiting)
                {
                    Monitor.PulseAll(_lock);
                }
            }
        }
    }

    /// <summary>
    /// The lane to read next: one the consumer waits for, else the emptiest that is not yet full. Filling stops at
    /// a full queue and starts again once a lane has drained to half (<see cref="Lane.TryReadBlock"/>).
    /// </summary>
    private Lane? Pick()
    {
        if (_workerChunks >= WorkerChunkLimit)
        {
            return null;
        }
        Lane? best = null;
        foreach (Lane lane in _lanes)
        {
            if (lane.Done || lane.Busy || lane.Ready.Count >= _depth)
            {
                continue;
            }
            if (lane.ConsumerWaiting)
            {
                return lane;
            }
            if (best is null || lane.Ready.Count < best.Ready.Count)
            {
                best = lane;
            }
        }
        return best;
    }

    /// <summary>One CPU stream's queue of decompressed chunks, read by the merge as its page source.</summary>
    private sealed class Lane(ChunkReadAhead owner, ChunkedPageSource source) : PageSource(source.PageSize, source.Section)
    {
        private byte[]? _handedOut;

        public ChunkedPageSource Source { get; } = source;

        public Queue<PageBlock> Ready { get; } = new();

        /// <summary>Buffers of chunks the merge has finished with.</summary>
        public Stack<byte[]> Free { get; } = new();

        public bool Done { get; set; }

        /// <summary>A thread (the worker, or the merge's own) is reading this lane's next chunk.</summary>
        public bool Busy { get; set; }

        public bool ConsumerWaiting { get; set; }

        public Exception? Error { get; set; }

        public override bool TryReadBlock(out PageBlock block)
        {
            if (!owner._started)
            {
                throw new InvalidOperationException("the read-ahead is read before it was started");
            }
            object gate = owner._lock;
            byte[]? recycled;
            lock (gate)
            {
                if (_handedOut is not null)
                {
                    // The previous block is valid until this call: its buffer can take a new chunk now.
                    Free.Push(_handedOut);
                    _handedOut = null;
                }
                // Wait only while the worker is reading this very lane: its chunk is about to arrive.
                while (Ready.Count == 0 && !Done && Busy)
                {
                    ConsumerWaiting = true;
                    Monitor.PulseAll(gate);
                    Monitor.Wait(gate);
                    ConsumerWaiting = false;
                }
                if (Ready.Count > 0)
                {
                    block = Ready.Dequeue();
                    _handedOut = block.Buffer;
                    if (owner._workerWaiting && Ready.Count <= owner._depth / 2)
                    {
                        Monitor.PulseAll(gate);
                    }
                    return true;
                }
                if (Done)
                {
                    block = default;
                    if (Error is not null)
                    {
                        ExceptionDispatchInfo.Capture(Error).Throw();
                    }
                    Damage = Source.Damage;
                    return false;
                }
                // Nothing queued and the worker is elsewhere: read the chunk here instead of waiting for it.
                Busy = true;
                recycled = Free.Count > 0 ? Free.Pop() : null;
                owner._consumerDecompressor ??= owner._createDecompressor();
            }
            bool ok = false;
            try
            {
                Source.ReplacePages(recycled ?? []);
                ok = Source.TryReadBlock(out block, owner._consumerDecompressor);
            }
            finally
            {
                lock (gate)
                {
                    Busy = false;
                    if (!ok)
                    {
                        // Damage (or an exception, which goes on to the caller) ends the lane, as when the worker meets it.
                        Done = true;
                        Damage = Source.Damage;
                    }
                    if (owner._workerWaiting)
                    {
                        Monitor.PulseAll(gate);
                    }
                }
            }
            if (ok)
            {
                _handedOut = block.Buffer;
            }
            return ok;
        }
    }
}
