using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// Parses event lines of a text trace (ftrace, perf script) on several threads while one thread keeps the trace's
/// order and state. A reader thread cuts the input into batches of lines (blocks of whole lines as they stand in the
/// input, counted but not split: the worker finds where each line starts); worker threads parse every plain event
/// line of a batch into a row (an <see cref="IRowParser"/> per worker, pure apart from its own string caches); the
/// batches are walked in input order and each line goes to <see cref="ILineSink"/> with its row when a worker made
/// one. Lines a worker leaves alone (headers, markers, stack blocks, anything odd) are processed by the sink exactly
/// as in a sequential read, so the output does not depend on the number of threads.
/// Memory: a fixed pool of batches.
/// </summary>
/// <remarks>
/// The sink is called in input order, one batch at a time, by whichever worker finishes the next batch due (or the
/// caller's thread for what is left at the end), never by two threads at once. Before, the caller's thread walked
/// the batches and slept whenever the next one was still being parsed, once or twice per 256-line batch; now no
/// thread waits for a batch to be handed on, a segment is mostly copied into the writer on the core that filled it,
/// and the caller's thread only waits for the end (docs/benchmarks.md "Ingest, 2026-12-07 (s31, text, both cores)").
/// </remarks>
internal sealed class ParallelLineParser : IDisposable
{
    // Small enough that the rows in flight (a row per line in each of the pool's batches, about 1 KB of it touched
    // per parse) stay in the caches between a worker filling them and the feeding thread copying them into the row
    // group: at 1024 lines the ~6 MB of rows went through memory both ways and the copy (EventRowGroup.Add) was 14 %
    // of a text ingest's CPU. 128 is worse again (hand-offs); docs/benchmarks.md "Ingest, 2026-12-06 (s23)".
    private const int LinesPerBatch = 256;

    private readonly Utf8LineReader _lines;
    private readonly BlockingCollection<Batch> _toParse = new();
    private readonly BlockingCollection<Batch> _free = new();
    // Parsed batches not yet handed to the sink, by input order (a batch's Seq modulo the pool size: at most a
    // pool's worth are in flight, so no two share a slot).
    private readonly Batch?[] _parsed;
    private readonly object _doneGate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _reader;
    private readonly Thread[] _workers;
    private readonly Func<IRowParser> _newParser;
    private readonly int _segmentLag;
    private Exception? _readError;
    // Parses, on the feeding thread, the lines whose events a batch kept in its segment provisionally (Feed).
    private IRowParser? _ownParser;
    private volatile ILineSink? _sink;
    // 1 while a thread hands batches to the sink; _nextToFeed, _waiting and _ownParser belong to that thread.
    private int _feeding;
    private long _nextToFeed;
    private Batch? _waiting;
    private long _submitted;
    private volatile bool _readDone;
    private volatile Exception? _sinkError;

    /// <summary>
    /// Starts reading the rest of <paramref name="lines"/> with <paramref name="workers"/> ftrace parsing threads
    /// (<paramref name="segmentLag"/>: see the general constructor).
    /// </summary>
    public ParallelLineParser(Utf8LineReader lines, int workers, int segmentLag = -1)
        : this(lines, workers, () => new FtraceRowParser(), "ftrace", segmentLag)
    {
    }

    /// <summary>
    /// Starts reading the rest of <paramref name="lines"/> with <paramref name="workers"/> threads, each parsing
    /// with its own <paramref name="newParser"/>() (threads are named after <paramref name="format"/>). With
    /// <paramref name="segmentLag"/> 0 or more, a worker copies the events of a batch's first lines into the batch's
    /// <see cref="EventSegment"/> itself, each as long as the <paramref name="segmentLag"/> lines after it are events
    /// too (the lines that could still attach something to it, a stack, in the sink's order), and the sink gets them
    /// through <see cref="ILineSink.Segment"/>; -1: every line goes through <see cref="ILineSink.Line"/>.
    /// </summary>
    public ParallelLineParser(Utf8LineReader lines, int workers, Func<IRowParser> newParser, string format, int segmentLag = -1)
    {
        _lines = lines;
        _newParser = newParser;
        _segmentLag = segmentLag;
        // Batches in flight: with the workers feeding the sink, 12 (two workers) let the reader run far enough ahead
        // that a thread descheduled for a slice no longer stalls the others: on a quiet host 4.48 -> 4.14 s wall for
        // trace.txt against 6, for ~15 MiB more rows in flight; under load 16 or 32 showed no CPU gain
        // (docs/benchmarks.md "Ingest, 2026-12-07 (s31, text, both cores)" and the quiet check after it).
        _parsed = new Batch?[workers + 10];
        for (int i = 0; i < _parsed.Length; i++)
        {
            _free.Add(new Batch(segmentLag >= 0));
        }
        _workers = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            _workers[i] = new Thread(Parse) { IsBackground = true, Name = $"{format} parser {i}" };
            _workers[i].Start();
        }
        _reader = new Thread(Read) { IsBackground = true, Name = $"{format} lines" };
        _reader.Start();
    }

    /// <summary>Turns one line into an event on a worker thread; one instance per worker.</summary>
    public interface IRowParser
    {
        /// <summary>
        /// Fills the clean <paramref name="row"/> from <paramref name="line"/> exactly as a sequential read would, or
        /// returns false and leaves the row clean (the caller then processes the line itself, in order, and reports
        /// whatever is wrong with it). May throw: that counts as false.
        /// </summary>
        bool TryParse(ReadOnlySpan<byte> line, long lineNumber, EventRow row);

        /// <summary>
        /// Writes the event of <paramref name="line"/> straight into a new row of <paramref name="segment"/> when it
        /// can (<see cref="Parsed.IntoSegment"/>, <paramref name="row"/> untouched), else does what
        /// <see cref="TryParse"/> does (<see cref="Parsed.IntoRow"/> or <see cref="Parsed.No"/>). Either way the
        /// event is the one <see cref="TryParse"/> would make. May throw: that counts as <see cref="Parsed.No"/>.
        /// </summary>
        Parsed TryWrite(ReadOnlySpan<byte> line, long lineNumber, EventSegment segment, EventRow row);
    }

    /// <summary>Where <see cref="IRowParser.TryWrite"/> put a line's event.</summary>
    public enum Parsed
    {
        /// <summary>Not an event line (or one the caller must look at itself).</summary>
        No,

        /// <summary>Into the row.</summary>
        IntoRow,

        /// <summary>Straight into the segment, as its last row.</summary>
        IntoSegment,
    }

    /// <summary>What the caller does with each line, in input order.</summary>
    public interface ILineSink
    {
        /// <summary>
        /// One line. When <paramref name="parsed"/>, <paramref name="rows"/>[<paramref name="index"/>] holds the
        /// event a sequential read would make of it; the sink may swap a clean row into that slot.
        /// </summary>
        void Line(ReadOnlySpan<byte> line, long lineNumber, bool truncated, bool parsed, EventRow[] rows, int index);

        /// <summary>
        /// The events of the next <paramref name="segment"/>.Count lines, from <paramref name="firstLineNumber"/> on
        /// (<paramref name="firstLine"/> is the first of them): every one of them an event line a worker parsed, each
        /// followed by at least the constructor's segment lag of such lines. Only with a segment lag of 0 or more.
        /// </summary>
        void Segment(EventSegment segment, ReadOnlySpan<byte> firstLine, long firstLineNumber);
    }

    /// <summary>Feeds every remaining line to <paramref name="sink"/>; rethrows a read error after the lines before it.</summary>
    public void Run(ILineSink sink)
    {
        _sink = sink;
        // Batches the workers parsed before there was a sink.
        TryFeed();
        lock (_doneGate)
        {
            while (!Finished)
            {
                Monitor.Wait(_doneGate);
            }
        }
        if (_sinkError is Exception failed)
        {
            ExceptionDispatchInfo.Throw(failed);
        }
        if (_waiting is Batch last)
        {
            // At the end of the input nothing follows the last events, unless the input failed: then, as in a
            // sequential read, only the lines before the failure are processed and the events still waiting for
            // a stack stay unwritten.
            _waiting = null;
            Feed(last, sink, tailFinal: _readError is null);
        }
        if (_readError is Exception error)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    /// <summary>Every batch went to the sink (the last one perhaps to <see cref="_waiting"/>), or the sink failed.</summary>
    private bool Finished =>
        _sinkError is not null || (_readDone && Volatile.Read(ref _feeding) == 0 && Interlocked.Read(ref _nextToFeed) == Interlocked.Read(ref _submitted));

    /// <summary>
    /// Hands the parsed batches that are due to the sink, unless another thread is doing so (it then takes the
    /// ones this thread posted as well).
    /// </summary>
    private void TryFeed()
    {
        while (_sink is ILineSink sink && _sinkError is null && Interlocked.CompareExchange(ref _feeding, 1, 0) == 0)
        {
            try
            {
                if (_sinkError is null)
                {
                    FeedReady(sink);
                }
            }
#pragma warning disable CA1031 // Whatever the sink throws is rethrown by Run on the caller's thread.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _sinkError = e;
                _stop.Cancel();
            }
            finally
            {
                // A full fence: the look below must not move before the release.
                Interlocked.Exchange(ref _feeding, 0);
            }
            if (_readDone || _sinkError is not null)
            {
                lock (_doneGate)
                {
                    Monitor.PulseAll(_doneGate);
                }
            }
            // A batch posted while this thread fed, after its last look, found the role taken: look again.
            if (Volatile.Read(ref _parsed[(int)(Interlocked.Read(ref _nextToFeed) % _parsed.Length)]) is null)
            {
                return;
            }
        }
    }

    /// <summary>Hands the batches due, in input order, to <paramref name="sink"/> while they are parsed (the feeding thread only).</summary>
    private void FeedReady(ILineSink sink)
    {
        while (true)
        {
            int slot = (int)(_nextToFeed % _parsed.Length);
            Batch? batch = Volatile.Read(ref _parsed[slot]);
            if (batch is null)
            {
                return;
            }
            _parsed[slot] = null;
            // A batch whose lines are all events keeps its last ones in the segment too, provisionally: they are
            // final once the next batch starts with at least the segment lag of events (no line in between can
            // attach anything to them), which is known only when that batch is parsed. Such a batch waits here
            // until then.
            if (_waiting is Batch waiting)
            {
                _waiting = null;
                Feed(waiting, sink, tailFinal: batch.LeadingEvents >= _segmentLag);
            }
            if (batch.TailInSegment)
            {
                _waiting = batch;
            }
            else
            {
                Feed(batch, sink, tailFinal: false);
            }
            Interlocked.Increment(ref _nextToFeed);
        }
    }

    /// <summary>
    /// Takes the batch segment's rows from <paramref name="keep"/> on back out, their lines parsed again into the
    /// batch's rows (parsed once already; should one fail now, the sink meets the line as any other).
    /// </summary>
    private static void TakeBackToRows(Batch batch, int keep, IRowParser parser)
    {
        EventSegment segment = batch.Segment!;
        if (segment.Count <= keep)
        {
            return;
        }
        for (int j = keep; j < segment.Count; j++)
        {
            if (!TryParse(parser, batch.Line(j), batch.FirstLine + j, batch.Rows[j]))
            {
                batch.Flags[j] = 0;
            }
        }
        segment.TruncateTo(keep);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Feed(Batch batch, ILineSink sink, bool tailFinal)
    {
        if (batch.TailInSegment && !tailFinal)
        {
            // The segment's last rows go back to their lines' rows (parsed again here), where the sink expects
            // lines that a later one may still attach something to.
            TakeBackToRows(batch, Math.Max(0, batch.Count - _segmentLag), _ownParser ??= _newParser());
        }
        int first = 0;
        if (batch.Segment is { Count: > 0 } filled)
        {
            sink.Segment(filled, batch.Line(0), batch.FirstLine);
            first = filled.Count;
        }
        for (int i = first; i < batch.Count; i++)
        {
            byte flags = batch.Flags[i];
            sink.Line(batch.Line(i), batch.FirstLine + i, (flags & Batch.Truncated) != 0, (flags & Batch.ParsedRow) != 0, batch.Rows, i);
        }
        batch.Reset();
        _free.Add(batch);
    }

    /// <summary>Stops the threads (after an error in the caller, or at the end).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        // A reader blocked inside a read of a pipe that never delivers (trace_pipe on an idle system) cannot be
        // interrupted: after a while it is left behind (a background thread, with the collections it uses)
        // rather than hanging the caller.
        bool readerDone = _reader.Join(TimeSpan.FromSeconds(5));
        _toParse.CompleteAdding();
        foreach (Thread worker in _workers)
        {
            worker.Join();
        }
        if (readerDone)
        {
            _stop.Dispose();
            _toParse.Dispose();
            _free.Dispose();
        }
    }

    private void Read()
    {
        try
        {
            Batch batch = _free.Take(_stop.Token);
            try
            {
                while (true)
                {
                    // Whole lines go to a worker as they stand in the input, one copy of the block, and the worker
                    // finds where each starts: this thread only counts them (the line numbers), so it keeps up with
                    // the workers. A line the block cannot hold (cut at the length limit, the last one without its
                    // newline) is added on its own, as before.
                    if (_lines.TryReadBlock(LinesPerBatch - batch.Count, out ReadOnlySpan<byte> block, out int lines))
                    {
                        if (batch.Count == 0)
                        {
                            batch.FirstLine = _lines.LineNumber - lines + 1;
                        }
                        batch.AddBlock(block, lines);
                    }
                    else if (_lines.TryReadLine(out ReadOnlySpan<byte> line))
                    {
                        if (batch.Count == 0)
                        {
                            batch.FirstLine = _lines.LineNumber;
                        }
                        batch.Add(line, _lines.LastLineTruncated);
                    }
                    else
                    {
                        break;
                    }
                    if (batch.Count == LinesPerBatch)
                    {
                        Submit(batch);
                        batch = _free.Take(_stop.Token);
                    }
                }
            }
#pragma warning disable CA1031 // Whatever the input stream throws (a damaged .gz, say) is rethrown by Run on the caller's thread.
            catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
#pragma warning restore CA1031
            {
                // As in a one-thread read, the lines read before the failure are still processed first.
                _readError = e;
            }
            Submit(batch);
        }
        catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or InvalidOperationException)
        {
            // The caller stopped (and may have closed the queues).
        }
        finally
        {
            _toParse.CompleteAdding();
            _readDone = true;
            lock (_doneGate)
            {
                Monitor.PulseAll(_doneGate);
            }
        }
    }

    private void Submit(Batch batch)
    {
        // Once the caller stopped, the queues may be closed: leave through the cancellation path.
        _stop.Token.ThrowIfCancellationRequested();
        batch.Seq = Interlocked.Read(ref _submitted);
        _toParse.Add(batch, _stop.Token);
        Interlocked.Increment(ref _submitted);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Parse()
    {
        IRowParser parser = _newParser();
        // The row a line of a batch's leading run is parsed into when the parser cannot write it straight into the
        // segment: copied into the segment and cleared while still in this thread's cache.
        var scratch = new EventRow();
        try
        {
            foreach (Batch batch in _toParse.GetConsumingEnumerable(_stop.Token))
            {
                batch.SplitBlocks();
                if (batch.Segment is null)
                {
                    ParseBatch(parser, batch);
                }
                else
                {
                    ParseBatch(parser, batch, scratch, _segmentLag);
                }
                // A full fence, so the looks in TryFeed cannot move before the post (else this thread and a feeder
                // that is just letting go could both miss the batch).
                Interlocked.Exchange(ref _parsed[(int)(batch.Seq % _parsed.Length)], batch);
                TryFeed();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // The caller stopped.
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ParseBatch(IRowParser parser, Batch batch)
    {
        for (int i = 0; i < batch.Count; i++)
        {
            if (batch.Flags[i] == 0 && TryParse(parser, batch.Line(i), batch.FirstLine + i, batch.Rows[i]))
            {
                batch.Flags[i] = Batch.ParsedRow;
            }
        }
    }

    /// <summary>
    /// Parses the batch and puts the events of its leading run of event lines into its segment: the event of line
    /// <c>i</c> when line <c>i + <paramref name="lag"/></c> is an event too. The run is parsed straight into the
    /// segment (<see cref="IRowParser.TryWrite"/>). When it ends inside the batch (a line that is not an event), the
    /// segment's last rows, those of the <paramref name="lag"/> lines before that line, are taken back out and parsed
    /// again into the batch's rows, where the sink expects them (a stack may follow); the later lines are parsed into
    /// their rows. When it fills the batch, the segment keeps every line's event, the last ones provisionally
    /// (<see cref="Batch.TailInSegment"/>, settled by <see cref="Feed"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ParseBatch(IRowParser parser, Batch batch, EventRow scratch, int lag)
    {
        EventSegment segment = batch.Segment!;
        segment.Clear();
        EventRow[] rows = batch.Rows;
        int i = 0;
        while (i < batch.Count && batch.Flags[i] == 0)
        {
            Parsed parsed = TryWrite(parser, batch.Line(i), batch.FirstLine + i, segment, scratch);
            if (parsed == Parsed.No)
            {
                break;
            }
            if (parsed == Parsed.IntoRow)
            {
                segment.Add(scratch);
                scratch.Clear();
            }
            batch.Flags[i] = Batch.ParsedRow;
            i++;
        }
        batch.LeadingEvents = i;
        if (i == batch.Count)
        {
            batch.TailInSegment = i > 0;
            return;
        }
        // The run is lines 0 to i - 1: only the events of its lines before i - lag stay in the segment.
        int keep = Math.Max(0, i - lag);
        TakeBackToRows(batch, keep, parser);
        for (i++; i < batch.Count; i++)
        {
            if (batch.Flags[i] == 0 && TryParse(parser, batch.Line(i), batch.FirstLine + i, rows[i]))
            {
                batch.Flags[i] = Batch.ParsedRow;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Parsed TryWrite(IRowParser parser, ReadOnlySpan<byte> line, long lineNumber, EventSegment segment, EventRow row)
    {
        try
        {
            Parsed parsed = parser.TryWrite(line, lineNumber, segment, row);
            if (parsed != Parsed.No)
            {
                return parsed;
            }
        }
#pragma warning disable CA1031 // Any failure: the caller parses the line again and meets the same problem, in order.
        catch (Exception)
#pragma warning restore CA1031
        {
            segment.AbortRow();
        }
        row.Clear();
        return Parsed.No;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool TryParse(IRowParser parser, ReadOnlySpan<byte> line, long lineNumber, EventRow row)
    {
        try
        {
            if (parser.TryParse(line, lineNumber, row))
            {
                return true;
            }
        }
#pragma warning disable CA1031 // Any failure: the caller parses the line again and meets the same problem, in order.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        row.Clear();
        return false;
    }

    /// <summary>An event line as <see cref="FtraceTextCore"/> would route it to an event; anything else is left to it.</summary>
    private sealed class FtraceRowParser : IRowParser
    {
        private readonly FtraceEventParser _parser = new();

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool TryParse(ReadOnlySpan<byte> line, long lineNumber, EventRow row)
        {
            int first = line.IndexOfAnyExcept((byte)' ', (byte)'\t');
            if (first < 0)
            {
                return false;
            }
            byte c = line[first];
            if (c is (byte)'#' or (byte)'=' || (first == 0 && c is (byte)'C' or (byte)'c' or (byte)'v'))
            {
                return false;
            }
            if (!FtraceLine.TryParse(line, out FtraceLine parsed)
                || FtraceEventParser.IsStackTrace(parsed.Body) || !FtraceEventParser.LooksLikeEvent(parsed.Body))
            {
                return false;
            }
            return _parser.Fill(ref parsed, lineNumber, row);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public Parsed TryWrite(ReadOnlySpan<byte> line, long lineNumber, EventSegment segment, EventRow row)
        {
            // The checks of TryParse, then the line's event straight into the segment when it is the usual kind.
            // The padding is searched once: the first byte that is not a space is also the first that is neither
            // a space nor a tab unless it is a tab, and FtraceLine starts from it too.
            int start = line.IndexOfAnyExcept((byte)' ');
            int first = start >= 0 && line[start] == (byte)'\t' ? line.IndexOfAnyExcept((byte)' ', (byte)'\t') : start;
            if (first < 0)
            {
                return Parsed.No;
            }
            byte c = line[first];
            if (c is (byte)'#' or (byte)'=' || (first == 0 && c is (byte)'C' or (byte)'c' or (byte)'v'))
            {
                return Parsed.No;
            }
            if (!FtraceLine.TryParse(line, start, out FtraceLine parsed))
            {
                return Parsed.No;
            }
            // A body that does not start with '<' is no stack entry, and one that holds ": " looks like an event;
            // FtraceEventParser.TryWrite writes only such bodies, so the usual line skips both checks and any other
            // goes through them as before.
            ReadOnlySpan<byte> body = parsed.Body;
            if (!body.IsEmpty && body[0] != (byte)'<' && _parser.TryWrite(ref parsed, lineNumber, segment))
            {
                return Parsed.IntoSegment;
            }
            if (FtraceEventParser.IsStackTrace(body) || !FtraceEventParser.LooksLikeEvent(body))
            {
                return Parsed.No;
            }
            return _parser.Fill(ref parsed, lineNumber, row) ? Parsed.IntoRow : Parsed.No;
        }
    }

    private sealed class Batch
    {
        public const byte Truncated = 1;
        public const byte ParsedRow = 2;

        private byte[] _bytes = new byte[1 << 20];
        private int _used;
        // The first line (and its byte offset) of the blocks not yet split into lines, -1 when none.
        private int _unsplit = -1;
        private int _unsplitAt;

        public Batch(bool segment)
        {
            for (int i = 0; i < LinesPerBatch; i++)
            {
                Rows[i] = new EventRow();
            }
            Segment = segment ? new EventSegment(LinesPerBatch) : null;
        }

        /// <summary>The events of the batch's first lines, copied by the worker (null when the sink takes no segments).</summary>
        public EventSegment? Segment { get; }

        /// <summary>How many of the batch's first lines are events (with a segment only).</summary>
        public int LeadingEvents { get; set; }

        /// <summary>
        /// Every line is an event and the segment holds them all, the last segment lag of them provisionally: they
        /// stay only if the next batch starts with that many events (<see cref="Feed"/>).
        /// </summary>
        public bool TailInSegment { get; set; }

        public long FirstLine { get; set; }

        /// <summary>The batch's place in the input (0 for the first batch).</summary>
        public long Seq { get; set; }

        public int Count { get; private set; }

        public int[] Starts { get; } = new int[LinesPerBatch];

        public int[] Lengths { get; } = new int[LinesPerBatch];

        public byte[] Flags { get; } = new byte[LinesPerBatch];

        public EventRow[] Rows { get; } = new EventRow[LinesPerBatch];

        public ReadOnlySpan<byte> Line(int i) => new(_bytes, Starts[i], Lengths[i]);

        public void Add(ReadOnlySpan<byte> line, bool truncated)
        {
            Append(line);
            Starts[Count] = _used - line.Length;
            Lengths[Count] = line.Length;
            Flags[Count] = truncated ? Truncated : (byte)0;
            Count++;
        }

        /// <summary>
        /// Adds <paramref name="lines"/> whole lines as they stand in the input (each ending in <c>\n</c>); where each
        /// starts is found by <see cref="SplitBlocks"/>, on the worker.
        /// </summary>
        public void AddBlock(ReadOnlySpan<byte> block, int lines)
        {
            if (_unsplit < 0)
            {
                _unsplit = Count;
                _unsplitAt = _used;
            }
            Append(block);
            Lengths.AsSpan(Count, lines).Fill(-1);
            Count += lines;
        }

        /// <summary>Finds the lines of the blocks added since the last call (<c>\r\n</c> endings lose their <c>\r</c>, as <see cref="Utf8LineReader"/> returns them).</summary>
        public void SplitBlocks()
        {
            if (_unsplit < 0)
            {
                return;
            }
            int at = _unsplitAt;
            for (int i = _unsplit; i < Count; i++)
            {
                if (Lengths[i] >= 0)
                {
                    // A line added on its own between blocks.
                    at = Starts[i] + Lengths[i];
                    continue;
                }
                int newline = _bytes.AsSpan(at, _used - at).IndexOf((byte)'\n');
                int length = newline > 0 && _bytes[at + newline - 1] == (byte)'\r' ? newline - 1 : newline;
                Starts[i] = at;
                Lengths[i] = length;
                at += newline + 1;
            }
            _unsplit = -1;
        }

        private void Append(ReadOnlySpan<byte> bytes)
        {
            if (_used + bytes.Length > _bytes.Length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _used + bytes.Length));
            }
            bytes.CopyTo(_bytes.AsSpan(_used));
            _used += bytes.Length;
        }

        /// <summary>
        /// Empties the batch. Its rows are clean: the worker cleared the ones it moved into the segment, the sink
        /// swapped a clean row in for every other parsed one, and a failed parse clears its row. The segment is
        /// emptied by the worker that fills it next.
        /// </summary>
        public void Reset()
        {
            Array.Clear(Flags, 0, Count);
            Count = 0;
            LeadingEvents = 0;
            TailInSegment = false;
            _used = 0;
            _unsplit = -1;
        }
    }
}
