using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Decodes the CPU streams of a trace.dat on worker threads, each stream into column segments
/// (<see cref="EventSegment"/>: rows as a row group holds them), so the merge by timestamp only picks the order and
/// hands the writer runs of one CPU's rows (<see cref="IEventSegmentSink.Write(EventSegment, int, int)"/>) instead of
/// decoding and copying every row on its own thread, whose time was the ingest's wall time (docs/benchmarks.md, s25).
/// </summary>
/// <remarks>
/// A worker reads, decompresses and decodes its streams' pages (stream <c>i</c> belongs to worker <c>i mod
/// workers</c>) and keeps each stream at most <see cref="Depth"/> batches ahead of the merge, so memory is bounded by
/// the number of streams, not by the trace. Everything a stream reports besides rows (lost events, corrupt pages,
/// damage, undecodable records, an I/O failure) is recorded in the batch with the number of the stream's records
/// read before it, and the merge reports it when it has taken that many of the stream's records: the same reports
/// in the same order as a merge that decodes each record itself (<see cref="EventMerger"/>), and the first one of
/// them throws in strict mode at the same place.
/// </remarks>
internal sealed class DecodeWorkers : IDisposable
{
    private readonly object _lock = new();
    private readonly List<Lane> _lanes = [];
    private readonly Thread[] _threads;
    private readonly int _capacity;
    private readonly int _depth;
    private readonly TimestampConverter _clock;
    private bool _stopping;
    private bool _started;

    /// <param name="streams">How many CPU streams will be added (sizes the batches and queues).</param>
    /// <param name="workers">Worker threads (at most one per stream).</param>
    /// <param name="clock">Ring-buffer time to ns, as the merge converts it.</param>
    /// <param name="batchRecords">Records per batch; 0 for the default.</param>
    public DecodeWorkers(int streams, int workers, TimestampConverter clock, int batchRecords = 0)
    {
        _clock = clock;
        // A few thousand rows per batch keep the hand-offs rare; many CPUs get smaller batches and shorter queues.
        _capacity = batchRecords > 0 ? batchRecords : streams <= 8 ? 2048 : 256;
        _depth = streams <= 8 ? 4 : 2;
        _threads = new Thread[Math.Clamp(workers, 1, Math.Max(1, streams))];
        for (int i = 0; i < _threads.Length; i++)
        {
            int worker = i;
            _threads[i] = new Thread(() => Run(worker)) { IsBackground = true, Name = $"trace.dat decode {i}" };
        }
    }

    /// <summary>Worker threads.</summary>
    public int Workers => _threads.Length;

    /// <summary>Batches a stream may have decoded ahead of the merge.</summary>
    public int Depth => _depth;

    /// <summary>Adds the next stream (its source reads through the worker <see cref="WorkerOf"/> gives); before <see cref="Start"/>.</summary>
    public void Add(CpuEventStream stream, StreamRecorder recorder)
    {
        if (_started)
        {
            throw new InvalidOperationException("streams are added before the workers start");
        }
        _lanes.Add(new Lane(stream, recorder, _lanes.Count % _threads.Length));
    }

    /// <summary>The worker that will decode the <paramref name="index"/>-th stream added.</summary>
    public int WorkerOf(int index) => index % _threads.Length;

    public void Start()
    {
        _started = true;
        foreach (Thread thread in _threads)
        {
            thread.Start();
        }
    }

    /// <summary>
    /// Merges the streams by (timestamp, CPU, order) into <paramref name="sink"/>, a run of one stream's rows at a
    /// time, reporting what the streams recorded at the places a record-by-record merge would. Returns the records
    /// taken (rows written and records dropped with a report), as <see cref="EventMerger.Run"/> does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public long Merge(ReadContext context, IEventSegmentSink sink, CancellationToken cancellationToken)
    {
        var heap = new Cursor[_lanes.Count];
        int count = 0;
        foreach (Lane lane in _lanes)
        {
            var cursor = new Cursor(lane);
            if (Settle(cursor, context))
            {
                heap[count++] = cursor;
            }
        }
        for (int i = count / 2 - 1; i >= 0; i--)
        {
            SiftDown(heap, count, i);
        }
        long taken = 0;
        while (count > 0)
        {
            Cursor top = heap[0];
            Cursor? second = count == 1 ? null : count == 2 ? heap[1] : (Less(heap[1], heap[2]) ? heap[1] : heap[2]);
            DecodedBatch batch = top.Batch!;
            int from = top.Index;
            // The run ends where another stream's head comes first, or where the stream reported something.
            int end = batch.Count;
            if (top.NoteIndex < batch.Notes.Count)
            {
                end = (int)Math.Min(end, batch.Notes[top.NoteIndex].After - batch.FirstEntry);
            }
            int to = from + 1;
            if (second is null)
            {
                to = end;
            }
            else
            {
                ulong[] timestamps = batch.Timestamps;
                ulong other = second.Timestamp;
                bool winsTies = MergeOrder.Less(0, top.Lane.Stream.Cpu, top.Lane.Stream.Order, 0, second.Lane.Stream.Cpu, second.Lane.Stream.Order);
                while (to < end && (timestamps[to] < other || (timestamps[to] == other && winsTies)))
                {
                    to++;
                }
            }
            int firstRow = batch.RowsBefore[from];
            int rows = batch.RowsBefore[to] - firstRow;
            if (rows > 0)
            {
                sink.Write(batch.Rows, firstRow, rows);
            }
            if (((taken + (to - from)) >> 12) != (taken >> 12))
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            taken += to - from;
            top.Index = to;
            if (!Settle(top, context))
            {
                heap[0] = heap[--count];
                heap[count] = null!;
            }
            if (count > 0)
            {
                SiftDown(heap, count, 0);
            }
        }
        return taken;
    }

    /// <summary>Stops the workers (they may be inside a read).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopping = true;
            Monitor.PulseAll(_lock);
        }
        if (_started)
        {
            foreach (Thread thread in _threads)
            {
                thread.Join();
            }
        }
    }

    /// <summary>
    /// Reports what the cursor's stream recorded up to the records taken, moving to the next batch when this one is
    /// done; false when the stream has ended.
    /// </summary>
    private bool Settle(Cursor cursor, ReadContext context)
    {
        while (true)
        {
            DecodedBatch? batch = cursor.Batch;
            if (batch is null)
            {
                batch = cursor.Batch = Take(cursor.Lane);
                cursor.Index = 0;
                cursor.NoteIndex = 0;
            }
            long taken = batch.FirstEntry + cursor.Index;
            List<StreamNote> notes = batch.Notes;
            while (cursor.NoteIndex < notes.Count && notes[cursor.NoteIndex].After <= taken)
            {
                notes[cursor.NoteIndex++].Report(context);
            }
            if (cursor.Index < batch.Count)
            {
                cursor.Timestamp = batch.Timestamps[cursor.Index];
                return true;
            }
            // Read before the batch goes back: the worker may refill it at once.
            bool last = batch.Last;
            cursor.Batch = null;
            Recycle(cursor.Lane, batch);
            if (last)
            {
                return false;
            }
        }
    }

    private DecodedBatch Take(Lane lane)
    {
        lock (_lock)
        {
            while (lane.Queued.Count == 0)
            {
                Monitor.Wait(_lock);
            }
            DecodedBatch batch = lane.Queued.Dequeue();
            // The worker may be waiting for room in this queue.
            Monitor.PulseAll(_lock);
            return batch;
        }
    }

    private void Recycle(Lane lane, DecodedBatch batch)
    {
        lock (_lock)
        {
            lane.Free.Push(batch);
        }
    }

    private void Run(int worker)
    {
        var row = new EventRow();
        while (true)
        {
            Lane? lane = null;
            DecodedBatch? batch;
            lock (_lock)
            {
                while (true)
                {
                    if (_stopping)
                    {
                        return;
                    }
                    // The worker's stream with the fewest batches ready, among those not ended and not full.
                    foreach (Lane candidate in _lanes)
                    {
                        if (candidate.Worker == worker && !candidate.Done && candidate.Queued.Count < _depth
                            && (lane is null || candidate.Queued.Count < lane.Queued.Count))
                        {
                            lane = candidate;
                        }
                    }
                    if (lane is not null)
                    {
                        break;
                    }
                    Monitor.Wait(_lock);
                }
                batch = lane.Free.Count > 0 ? lane.Free.Pop() : null;
            }
            batch ??= new DecodedBatch(_capacity);
            Fill(lane, batch, row);
            lock (_lock)
            {
                lane.Queued.Enqueue(batch);
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>Decodes the lane's next records into <paramref name="batch"/> (up to its capacity, or to the stream's end).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Fill(Lane lane, DecodedBatch batch, EventRow row)
    {
        CpuEventStream stream = lane.Stream;
        StreamRecorder recorder = lane.Recorder;
        batch.Reset(recorder.Records);
        recorder.Batch = batch;
        EventSegment segment = batch.Rows;
        ulong[] timestamps = batch.Timestamps;
        int[] rowsBefore = batch.RowsBefore;
        EventDecoder decoder = stream.Decoder;
        int i = 0;
        try
        {
            while (i < _capacity)
            {
                if (!stream.MoveNext())
                {
                    lane.Done = true;
                    batch.Last = true;
                    break;
                }
                timestamps[i] = stream.Timestamp;
                rowsBefore[i] = segment.Count;
                batch.Count = ++i;
                recorder.Records++;
                // As EventMerger.Emit does it, so the rows and reports are the same.
                if (EventMerger.Decode(stream, _clock, row, out string? problem))
                {
                    segment.Add(row);
                }
                row.Clear();
                if (problem is not null)
                {
                    recorder.Malformed(stream.SourcePosition, problem);
                }
            }
        }
#pragma warning disable CA1031 // An I/O failure (or any other) reaches the caller's thread where the merge meets it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            row.Clear();
            recorder.Fail(ExceptionDispatchInfo.Capture(e));
            lane.Done = true;
            batch.Last = true;
        }
        rowsBefore[batch.Count] = segment.Count;
    }

    private static bool Less(Cursor a, Cursor b) =>
        MergeOrder.Less(a.Timestamp, a.Lane.Stream.Cpu, a.Lane.Stream.Order, b.Timestamp, b.Lane.Stream.Cpu, b.Lane.Stream.Order);

    private static void SiftDown(Cursor[] heap, int count, int i) => MergeOrder.SiftDown<Cursor, CursorOrder>(heap, count, i);

    private readonly struct CursorOrder : IMergeOrder<Cursor>
    {
        public bool Less(Cursor a, Cursor b) => DecodeWorkers.Less(a, b);
    }

    /// <summary>One CPU stream, its worker and its batches (queued for the merge, and free for reuse).</summary>
    private sealed class Lane(CpuEventStream stream, StreamRecorder recorder, int worker)
    {
        public CpuEventStream Stream { get; } = stream;

        public StreamRecorder Recorder { get; } = recorder;

        public int Worker { get; } = worker;

        public Queue<DecodedBatch> Queued { get; } = new();

        public Stack<DecodedBatch> Free { get; } = new();

        /// <summary>The worker has read the stream to its end (guarded by the lock).</summary>
        public bool Done { get; set; }
    }

    /// <summary>Where the merge is in one stream: its batch, the next record, the next report.</summary>
    private sealed class Cursor(Lane lane)
    {
        public Lane Lane { get; } = lane;

        public DecodedBatch? Batch { get; set; }

        public int Index { get; set; }

        public int NoteIndex { get; set; }

        public ulong Timestamp { get; set; }
    }
}

/// <summary>A run of one CPU stream's records: raw timestamps, the rows decoded from them, and what was reported.</summary>
internal sealed class DecodedBatch
{
    public DecodedBatch(int capacity)
    {
        Rows = new EventSegment(capacity);
        Timestamps = new ulong[capacity];
        RowsBefore = new int[capacity + 1];
    }

    /// <summary>The rows of the records that gave one, in record order.</summary>
    public EventSegment Rows { get; }

    /// <summary>Per record, its ring-buffer timestamp (merge order), rows or not.</summary>
    public ulong[] Timestamps { get; }

    /// <summary>Per record, the rows of the records before it in this batch; at <see cref="Count"/>, all of them.</summary>
    public int[] RowsBefore { get; }

    /// <summary>Records in the batch.</summary>
    public int Count { get; set; }

    /// <summary>The stream's records before this batch.</summary>
    public long FirstEntry { get; private set; }

    /// <summary>What the stream reported while this batch was filled, in order.</summary>
    public List<StreamNote> Notes { get; } = [];

    /// <summary>The stream ends with this batch.</summary>
    public bool Last { get; set; }

    public void Reset(long firstEntry)
    {
        Rows.Clear();
        Count = 0;
        Notes.Clear();
        Last = false;
        FirstEntry = firstEntry;
    }
}

/// <summary>Something a stream reported, to be reported when the merge has taken <see cref="After"/> of its records.</summary>
internal sealed class StreamNote
{
    private readonly int _cpu;
    private readonly long _offset;
    private readonly string? _message;
    private readonly DataDamage? _damage;
    private readonly ExceptionDispatchInfo? _failure;

    private StreamNote(long after, int cpu, long offset, string? message, DataDamage? damage, ExceptionDispatchInfo? failure)
    {
        After = after;
        _cpu = cpu;
        _offset = offset;
        _message = message;
        _damage = damage;
        _failure = failure;
    }

    /// <summary>Records of the stream the merge takes before this is reported.</summary>
    public long After { get; }

    public static StreamNote Malformed(long after, long offset, string message) => new(after, 0, offset, message, null, null);

    public static StreamNote Damage(long after, DataDamage damage) => new(after, 0, 0, null, damage, null);

    public static StreamNote Lost(long after, int cpu, long count) => new(after, cpu, count, null, null, null);

    public static StreamNote Failure(long after, ExceptionDispatchInfo failure) => new(after, 0, 0, null, null, failure);

    /// <summary>Reports it (a failure is rethrown; strict mode throws at the first malformed record or damage).</summary>
    public void Report(ReadContext context)
    {
        if (_failure is not null)
        {
            _failure.Throw();
        }
        else if (_damage is not null)
        {
            context.Damage(_damage);
        }
        else if (_message is not null)
        {
            context.Malformed(_offset, _message);
        }
        else
        {
            context.Lost(_cpu, _offset);
        }
    }
}

/// <summary>A stream's <see cref="IStreamReport"/> on a decode worker: records into the batch being filled.</summary>
internal sealed class StreamRecorder : IStreamReport
{
    /// <summary>The stream's records read so far (each report is tagged with it).</summary>
    public long Records { get; set; }

    /// <summary>The batch being filled.</summary>
    public DecodedBatch? Batch { get; set; }

    public void Malformed(long offset, string message) => Batch!.Notes.Add(StreamNote.Malformed(Records, offset, message));

    public void Damage(DataDamage damage) => Batch!.Notes.Add(StreamNote.Damage(Records, damage));

    public void Lost(int cpu, long count) => Batch!.Notes.Add(StreamNote.Lost(Records, cpu, count));

    public void Fail(ExceptionDispatchInfo failure) => Batch!.Notes.Add(StreamNote.Failure(Records, failure));
}
