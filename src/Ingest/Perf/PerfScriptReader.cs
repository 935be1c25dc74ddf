using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Pipeline.Ingest.Catalog;
using Pipeline.Ingest.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Perf;

/// <summary>
/// Reads <c>perf script</c> text (any <c>-F</c> selection, µs or <c>--ns</c> times, with or without
/// callchains) into events. A direct streaming parser over UTF-8 bytes; TraceEvent's
/// <c>LinuxPerfScriptEventParser</c> is its oracle in the tests (see TraceEventPerfScriptReader in tests/Ingest.Tests
/// for what TraceEvent cannot do on these inputs).
/// </summary>
/// <remarks>
/// Columns: tid → <c>pid</c>; with <c>-F pid,tid</c> the pid → <c>tgid</c>; a column perf did not print is
/// -1 (<c>pid</c>, <c>cpu</c>), NULL (<c>tgid</c>), <c>'&lt;...&gt;'</c> (<c>comm</c>) or 0 (<c>ts_ns</c>).
/// Events without a <c>system:</c> prefix (cpu-clock, page-faults) get an empty system (":cpu-clock") and
/// their sample period in <c>args.period</c>. Callchain lines and the inline <c>ip sym</c> column become
/// <see cref="EventRow.Stack"/>, innermost first, each frame as perf printed it ("addr sym+off (dso)").
/// </remarks>
public sealed class PerfScriptReader : ITraceReader
{
    private const int CancellationCheckInterval = 4096;

    /// <inheritdoc />
    public string Format => "perf";

    /// <summary>
    /// Keep the trace text whole in <c>args.payload</c> instead of splitting it into fields; the differential
    /// test compares raw text with TraceEvent's.
    /// </summary>
    internal bool RawPayloads { get; init; }

    /// <summary>
    /// Lines read on one thread before parsing fans out to <see cref="ParsingThreads"/> (small traces stay on one
    /// thread).
    /// </summary>
    internal int SequentialLines { get; init; } = 20_000;

    /// <summary>Threads that parse sample lines past <see cref="SequentialLines"/>; 1 or less parses on the caller's thread.</summary>
    internal int ParsingThreads { get; init; } = Environment.ProcessorCount;

    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(diagnostics);
        diagnostics.Format = "perf";

        var lines = new Utf8LineReader(input);
        var state = new LineHandler(this, fileName, sink, diagnostics, cancellationToken);
        bool more = false;
        while (lines.TryReadLine(out var line))
        {
            state.Line(line, lines.LineNumber, lines.LastLineTruncated, parsed: false, [], 0);
            if (ParsingThreads > 1 && lines.LineNumber >= SequentialLines)
            {
                more = true;
                break;
            }
        }
        if (more)
        {
            // Sample lines are parsed on worker threads (each with its own string caches); the order-dependent
            // part (callchain lines belong to the sample before them) stays on this thread, in LineHandler.
            // A sample followed by another sample has no callchain: runs of those go to the writer as segments the
            // parsing threads filled, when it takes them.
            int segmentLag = sink is IEventSegmentSink { TakesSegments: true } ? 1 : -1;
            using var parallel = new ParallelLineParser(lines, ParsingThreads, () => new SampleParser(this), "perf", segmentLag);
            parallel.Run(state);
        }
        state.Finish();
    }

    /// <summary>A sample line as <see cref="LineHandler"/> would make an event of it, on a parsing thread.</summary>
    private sealed class SampleParser(PerfScriptReader reader) : ParallelLineParser.IRowParser
    {
        private readonly Strings _strings = new();

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool TryParse(ReadOnlySpan<byte> line, long lineNumber, EventRow row)
        {
            if (line.IsEmpty || line[0] == (byte)'\t')
            {
                return false;
            }
            int first = line.IndexOfAnyExcept((byte)' ', (byte)'\t');
            if (first < 0 || line[first] == (byte)'#' || !PerfLine.TryParse(line, out var parsed, out _))
            {
                return false;
            }
            reader.Fill(row, in parsed, lineNumber, _strings);
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ParallelLineParser.Parsed TryWrite(ReadOnlySpan<byte> line, long lineNumber, EventSegment segment, EventRow row)
        {
            // The checks of TryParse, then the sample straight into the segment when it is the usual kind.
            if (line.IsEmpty || line[0] == (byte)'\t')
            {
                return ParallelLineParser.Parsed.No;
            }
            int first = line.IndexOfAnyExcept((byte)' ', (byte)'\t');
            if (first < 0 || line[first] == (byte)'#' || !PerfLine.TryParse(line, out var parsed, out _))
            {
                return ParallelLineParser.Parsed.No;
            }
            if (reader.TryWrite(segment, in parsed, lineNumber, _strings))
            {
                return ParallelLineParser.Parsed.IntoSegment;
            }
            reader.Fill(row, in parsed, lineNumber, _strings);
            return ParallelLineParser.Parsed.IntoRow;
        }
    }

    /// <summary>Every line in input order: samples, their callchain frames, headers, and what is wrong.</summary>
    private sealed class LineHandler(PerfScriptReader reader, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken)
        : ParallelLineParser.ILineSink
    {
        private readonly Strings _strings = new();
        private EventRow _row = new();
        private bool _pending;
        private bool _sawSample;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Line(ReadOnlySpan<byte> line, long lineNumber, bool truncated, bool parsed, EventRow[] rows, int index)
        {
            if (!_sawSample)
            {
                BinaryInput.Refuse(line, lineNumber, fileName, "perf script text");
            }
            if ((lineNumber % CancellationCheckInterval) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (truncated)
            {
                diagnostics.Malformed(fileName, lineNumber, "line", $"line longer than {Utf8LineReader.MaxLineLength} bytes; expected a perf script sample or stack line");
                return;
            }

            // perf prints callchain frames as "\t%16lx sym (dso)" under their sample.
            if (line.Length > 0 && line[0] == (byte)'\t')
            {
                var frame = line.Trim(" \t"u8);
                if (!_pending)
                {
                    diagnostics.Malformed(fileName, lineNumber, "line", $"stack frame '{PerfLine.Show(frame)}' without a sample line before it");
                    return;
                }
                _row.Stack ??= [];
                _row.Stack.Add(_strings.Frames.Get(frame));
                return;
            }

            if (_pending)
            {
                sink.Write(_row);
                _row.Clear();
                _pending = false;
            }

            if (parsed)
            {
                // The worker's row becomes the pending sample; the clean one takes its slot in the batch.
                (rows[index], _row) = (_row, rows[index]);
                _pending = true;
                _sawSample = true;
                return;
            }

            var trimmed = line.TrimStart(" \t"u8);
            if (trimmed.IsEmpty)
            {
                diagnostics.SkippedLines++;
                return;
            }
            if (trimmed[0] == (byte)'#')
            {
                diagnostics.SkippedLines++;
                ReadHeaderComment(trimmed, diagnostics);
                return;
            }

            if (!PerfLine.TryParse(line, out var sample, out var error))
            {
                diagnostics.Malformed(fileName, lineNumber, "line", $"{error}; line '{PerfLine.Show(trimmed)}'");
                return;
            }
            reader.Fill(_row, in sample, lineNumber, _strings);
            _pending = true;
            _sawSample = true;
        }

        public void Segment(EventSegment segment, ReadOnlySpan<byte> firstLine, long firstLineNumber)
        {
            // Only its first line can be the first sample (the check of Line).
            if (!_sawSample)
            {
                BinaryInput.Refuse(firstLine, firstLineNumber, fileName, "perf script text");
                _sawSample = true;
            }
            cancellationToken.ThrowIfCancellationRequested();
            Finish();
            ((IEventSegmentSink)sink).Write(segment);
        }

        /// <summary>Writes the last sample (with its callchain).</summary>
        public void Finish()
        {
            if (_pending)
            {
                sink.Write(_row);
                _row.Clear();
                _pending = false;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Fill(EventRow row, in PerfLine parsed, long lineNumber, Strings strings)
    {
        row.SrcPos = lineNumber;
        row.TsNs = parsed.HasTime ? parsed.TimeNs : 0;
        row.Cpu = parsed.HasCpu ? parsed.Cpu : -1;
        row.Pid = parsed.HasTid ? parsed.Tid : -1;
        row.Tgid = parsed.HasPid ? parsed.Pid : null;
        row.Comm = parsed.HasComm ? strings.Comms.Get(parsed.Comm) : "<...>";
        row.Event = CanonicalEvent(parsed.Event, strings.Events);
        if (!parsed.Period.IsEmpty)
        {
            row.AddArg("period", strings.Frames.Get(parsed.Period));
        }
        if (RawPayloads)
        {
            if (!parsed.Payload.IsEmpty)
            {
                row.AddArg(PayloadParser.WholePayloadKey, System.Text.Encoding.UTF8.GetString(parsed.Payload));
            }
        }
        else
        {
            strings.Payloads.Parse(row, parsed.Payload);
        }
        if (!parsed.InlineFrame.IsEmpty)
        {
            row.Stack = [strings.Frames.Get(parsed.InlineFrame)];
        }
    }

    /// <summary>
    /// Writes the sample straight into a new row of <paramref name="segment"/> when it is the usual kind: no period,
    /// no inline frame, payloads parsed, and a payload of its event's known shape
    /// (<see cref="PayloadParser.TryWriteKnownShape"/>). The row holds what <see cref="Fill"/> would put into an
    /// <see cref="EventRow"/>; false, with nothing written, otherwise.
    /// </summary>
    private bool TryWrite(EventSegment segment, in PerfLine parsed, long lineNumber, Strings strings)
    {
        if (RawPayloads || !parsed.Period.IsEmpty || !parsed.InlineFrame.IsEmpty)
        {
            return false;
        }
        string ev = CanonicalEvent(parsed.Event, strings.Events);
        var header = new SampleHeader(parsed.HasTime ? parsed.TimeNs : 0, lineNumber, parsed.HasCpu ? parsed.Cpu : -1, parsed.HasTid ? parsed.Tid : -1,
            parsed.HasPid ? parsed.Pid : null, parsed.HasComm ? parsed.Comm : default, parsed.HasComm, ev, strings.Comms);
        return strings.Payloads.TryWriteKnownShape(segment, ev, parsed.Payload, ref header);
    }

    /// <summary>A sample's header fields, for the segment's row once its payload matched.</summary>
    private readonly ref struct SampleHeader : PayloadParser.IRowStart
    {
        private readonly long _tsNs;
        private readonly long _lineNumber;
        private readonly int _cpu;
        private readonly int _tid;
        private readonly int? _pid;
        private readonly ReadOnlySpan<byte> _comm;
        private readonly bool _hasComm;
        private readonly string _event;
        private readonly Utf8Cache<string> _comms;

        public SampleHeader(long tsNs, long lineNumber, int cpu, int tid, int? pid, ReadOnlySpan<byte> comm, bool hasComm, string ev, Utf8Cache<string> comms)
        {
            _tsNs = tsNs;
            _lineNumber = lineNumber;
            _cpu = cpu;
            _tid = tid;
            _pid = pid;
            _comm = comm;
            _hasComm = hasComm;
            _event = ev;
            _comms = comms;
        }

        public void Begin(EventSegment segment) =>
            segment.BeginRow(_tsNs, _lineNumber, _cpu, _tid, _pid, _hasComm ? _comms.Get(_comm) : "<...>", _event, null);
    }

    private static string CanonicalEvent(ReadOnlySpan<byte> name, Utf8Cache<string> events)
    {
        if (name.Contains((byte)':'))
        {
            return events.Get(name);
        }
        Span<byte> prefixed = stackalloc byte[Math.Min(name.Length + 1, 256)];
        if (name.Length + 1 > prefixed.Length)
        {
            return ":" + events.Get(name);
        }
        prefixed[0] = (byte)':';
        name.CopyTo(prefixed[1..]);
        return events.Get(prefixed[..(name.Length + 1)]);
    }

    /// <summary>Per-read caches: one shared string per distinct comm, event name and frame.</summary>
    private sealed class Strings
    {
        public Utf8Cache<string> Comms { get; } = new(s => s, 1024, 64);

        public Utf8Cache<string> Events { get; } = new(s => s, 1024, 128);

        public Utf8Cache<string> Frames { get; } = new(s => s, 8192, 256);

        public PayloadParser Payloads { get; } = new();
    }

    /// <summary>Facts from <c>perf script --header</c> lines ("# os release : 4.13.0-rc1").</summary>
    private static void ReadHeaderComment(ReadOnlySpan<byte> line, IngestDiagnostics diagnostics)
    {
        if (TryHeaderValue(line, "# os release : "u8, out var release))
        {
            diagnostics.KernelRelease = release;
        }
        else if (TryHeaderValue(line, "# nrcpus online : "u8, out var cpus)
            && int.TryParse(cpus, NumberStyles.None, CultureInfo.InvariantCulture, out int count))
        {
            diagnostics.CpuCount = count;
        }
    }

    private static bool TryHeaderValue(ReadOnlySpan<byte> line, ReadOnlySpan<byte> prefix, [NotNullWhen(true)] out string? value)
    {
        if (line.StartsWith(prefix))
        {
            value = System.Text.Encoding.UTF8.GetString(line[prefix.Length..].Trim((byte)' '));
            return true;
        }
        value = null;
        return false;
    }
}
