using System.Runtime.CompilerServices;
using System.Text;
using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>What a text line turned out to be.</summary>
internal enum TraceLineKind
{
    Blank,
    Header,
    Marker,
    Event,
    StackFrame,
    Unrecognized,
}

/// <summary>
/// The line-level engine shared by <see cref="FtraceTextReader"/> and <see cref="ConsoleLogReader"/>: turns
/// ftrace text lines (any layout, see <see cref="FtraceLine"/>) into rows, attaches <c>&lt;stack trace&gt;</c>
/// blocks to the event they belong to, and records header facts and lost-event markers. Rows wait in a small
/// window so a stack that follows can still be attached; the window is written out in order.
/// </summary>
internal sealed class FtraceTextCore
{
    /// <summary>
    /// Rows that wait for a stack: a <c>&lt;stack trace&gt;</c> line goes to the latest of them on its CPU, so a row
    /// is final once this many event lines followed it.
    /// </summary>
    public const int Window = 32;

    private readonly string _fileName;
    private readonly IEventSink _sink;
    private readonly IngestDiagnostics _diagnostics;
    private readonly FtraceEventParser _parser = new();
    private readonly EventRow[] _rows = new EventRow[Window];
    private int _first;
    private int _count;
    private EventRow? _stackTarget;

    public FtraceTextCore(string fileName, IEventSink sink, IngestDiagnostics diagnostics)
    {
        _fileName = fileName;
        _sink = sink;
        _diagnostics = diagnostics;
        for (int i = 0; i < Window; i++)
        {
            _rows[i] = new EventRow();
        }
    }

    /// <summary>Whether a <c>cpus=</c>/<c>version =</c> header showed the text comes from <c>trace-cmd report</c>.</summary>
    public bool TraceCmd { get; private set; }

    /// <summary>Events produced so far.</summary>
    public long Events { get; private set; }

    /// <summary>Classifies one line and acts on it. Unrecognized lines are left to the caller to report.</summary>
    /// <param name="line">The line, without its end-of-line.</param>
    /// <param name="lineNumber">1-based, for <see cref="EventRow.SrcPos"/> and messages.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public TraceLineKind Process(ReadOnlySpan<byte> line, long lineNumber)
    {
        TraceLineKind kind = Classify(line, lineNumber);
        if (kind is not (TraceLineKind.StackFrame or TraceLineKind.Event))
        {
            // Only "=>" lines continue a stack block.
            _stackTarget = null;
        }
        return kind;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private TraceLineKind Classify(ReadOnlySpan<byte> line, long lineNumber)
    {
        int first = line.IndexOfAnyExcept((byte)' ', (byte)'\t');
        if (first < 0)
        {
            return TraceLineKind.Blank;
        }
        byte c = line[first];
        if (c == (byte)'#')
        {
            Header(line[first..]);
            return TraceLineKind.Header;
        }
        if (c == (byte)'=' && line.Length > first + 1 && line[first + 1] == (byte)'>')
        {
            StackFrame(line[(first + 2)..], lineNumber);
            return TraceLineKind.StackFrame;
        }
        if (first == 0 && (c == (byte)'C' || c == (byte)'c' || c == (byte)'v') && Marker(line))
        {
            return TraceLineKind.Marker;
        }
        if (!FtraceLine.TryParse(line, out var parsed))
        {
            return TraceLineKind.Unrecognized;
        }
        return Event(ref parsed, lineNumber) ? TraceLineKind.Event : TraceLineKind.Unrecognized;
    }

    /// <summary>Reports a malformed line through the diagnostics (throws in strict mode).</summary>
    public void Malformed(long lineNumber, string expected, ReadOnlySpan<byte> line)
    {
        _stackTarget = null;
        string found = Encoding.UTF8.GetString(line.Length > 120 ? line[..120] : line);
        _diagnostics.Malformed(_fileName, lineNumber, "line", $"expected {expected}, found '{found}'");
    }

    /// <summary>Counts a line cut at <see cref="Utf8LineReader.MaxLineLength"/> as malformed.</summary>
    public void Truncated(ReadOnlySpan<byte> line, long lineNumber) =>
        Malformed(lineNumber, $"a line shorter than {Utf8LineReader.MaxLineLength} bytes", line[..80]);

    /// <summary>Writes every waiting row.</summary>
    public void Flush()
    {
        while (_count > 0)
        {
            WriteOldest();
        }
        _stackTarget = null;
    }

    /// <summary>A row taken from the window for a non-ftrace event (console headers); it is written in order with the rest.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public EventRow NextRow()
    {
        if (_count == Window)
        {
            WriteOldest();
        }
        EventRow row = _rows[(_first + _count) % Window];
        _count++;
        Events++;
        return row;
    }

    /// <summary>Whether <paramref name="row"/> is still waiting in the window (not yet written and reused).</summary>
    public bool IsPending(EventRow row)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_rows[(_first + i) % Window], row))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Makes following <c>=&gt;</c> lines (or <see cref="AddFrame"/> calls) go to <paramref name="row"/>.</summary>
    public void SetStackTarget(EventRow? row) => _stackTarget = row;

    /// <summary>Appends a frame to the current stack target; false when there is none.</summary>
    public bool AddFrame(string frame)
    {
        if (_stackTarget is null)
        {
            return false;
        }
        (_stackTarget.Stack ??= []).Add(frame);
        return true;
    }

    /// <summary>The string for a UTF-8 span, shared when it repeats.</summary>
    public string Intern(ReadOnlySpan<byte> utf8) => _parser.Intern(utf8);

    // Gives back the row taken for a line that turned out not to be an event.
    private void DiscardNewest()
    {
        _count--;
        Events--;
        _rows[(_first + _count) % Window].Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteOldest()
    {
        EventRow row = _rows[_first];
        if (ReferenceEquals(row, _stackTarget))
        {
            _stackTarget = null;
        }
        _sink.Write(row);
        row.Clear();
        _first = (_first + 1) % Window;
        _count--;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool Event(ref FtraceLine line, long lineNumber)
    {
        ReadOnlySpan<byte> body = line.Body;
        if (FtraceEventParser.IsStackTrace(body))
        {
            // The kernel records the stack as its own entry right after the event, on the same CPU.
            _stackTarget = FindPending(line.Cpu);
            if (_stackTarget is null)
            {
                Malformed(lineNumber, $"an event on CPU {line.Cpu} before this stack trace", body);
            }
            return true;
        }
        if (!FtraceEventParser.LooksLikeEvent(body))
        {
            return false;
        }
        EventRow row = NextRow();
        _stackTarget = null;
        if (!_parser.Fill(ref line, lineNumber, row))
        {
            DiscardNewest();
            return false;
        }
        return true;
    }

    /// <summary>
    /// Takes an event line another thread already parsed into <paramref name="rows"/>[<paramref name="index"/>]
    /// (what <see cref="Process"/> would have made of it): the row joins the window and the slot gets a free row.
    /// </summary>
    public void AcceptParsed(EventRow[] rows, int index)
    {
        if (_count == Window)
        {
            WriteOldest();
        }
        int slot = (_first + _count) % Window;
        (_rows[slot], rows[index]) = (rows[index], _rows[slot]);
        _count++;
        Events++;
        _stackTarget = null;
    }

    /// <summary>
    /// Takes the events of lines other threads parsed and copied into <paramref name="segment"/>, each followed by at
    /// least <see cref="Window"/> event lines: what <see cref="AcceptParsed"/> of each would do. The waiting rows are
    /// written first (the segment's events would have pushed them out of the window, with no stack line between).
    /// </summary>
    public void AcceptSegment(EventSegment segment)
    {
        Flush();
        ((IEventSegmentSink)_sink).Write(segment);
        Events += segment.Count;
    }

    private EventRow? FindPending(int cpu)
    {
        for (int i = _count - 1; i >= 0; i--)
        {
            EventRow row = _rows[(_first + i) % Window];
            if (row.Cpu == cpu)
            {
                return row;
            }
        }
        return null;
    }

    private void StackFrame(ReadOnlySpan<byte> frame, long lineNumber)
    {
        frame = frame.Trim((byte)' ');
        if (!AddFrame(_parser.Intern(frame)))
        {
            Malformed(lineNumber, "a '<stack trace>' line before this frame", frame);
        }
    }

    private void Header(ReadOnlySpan<byte> line)
    {
        int entries = line.IndexOf("entries-in-buffer/entries-written: "u8);
        if (entries >= 0)
        {
            ReadOnlySpan<byte> rest = line[(entries + 35)..];
            int slash = rest.IndexOf((byte)'/');
            int end = rest.IndexOf((byte)' ');
            if (slash > 0 && end > slash
                && AsciiNumber.TryParseDecimal(rest[..slash], out ulong inBuffer)
                && AsciiNumber.TryParseDecimal(rest[(slash + 1)..end], out ulong written)
                && written > inBuffer)
            {
                // Events written since the reset but no longer in the buffer were overwritten.
                _diagnostics.LostEvents += (long)(written - inBuffer);
            }
        }
        int cpus = line.IndexOf("#P:"u8);
        if (cpus >= 0)
        {
            int p = cpus + 3;
            int s = p;
            while (p < line.Length && (uint)(line[p] - '0') <= 9)
            {
                p++;
            }
            if (AsciiNumber.TryParseDecimal(line[s..p], out ulong n) && n <= int.MaxValue)
            {
                _diagnostics.CpuCount = (int)n;
            }
        }
        int latency = line.IndexOf(" latency trace v"u8);
        if (latency >= 0)
        {
            int on = line.IndexOf(" on "u8);
            if (on > latency)
            {
                _diagnostics.KernelRelease = Encoding.UTF8.GetString(line[(on + 4)..].Trim((byte)' '));
            }
        }
    }

    // "CPU:1 [LOST 111 EVENTS]", "CPU:1 [LOST EVENTS]", "CPU:1 [15329 EVENTS DROPPED]", "CPU:0 [EVENTS DROPPED]",
    // "CPU:0 [SUBBUFFER START]", and trace-cmd's "cpus=2" / "version = 6" header.
    private bool Marker(ReadOnlySpan<byte> line)
    {
        if (line.StartsWith("cpus="u8))
        {
            TraceCmd = true;
            if (AsciiNumber.TryParseDecimal(line[5..].Trim((byte)' '), out ulong n) && n <= int.MaxValue)
            {
                _diagnostics.CpuCount = (int)n;
            }
            return true;
        }
        if (line.StartsWith("version = "u8))
        {
            TraceCmd = true;
            return true;
        }
        if (!line.StartsWith("CPU:"u8) && !line.StartsWith("CPU "u8))
        {
            return false;
        }
        int open = line.IndexOf(" ["u8);
        if (open < 0 || line[^1] != (byte)']')
        {
            return false;
        }
        ReadOnlySpan<byte> inner = line[(open + 2)..^1];
        if (inner.StartsWith("LOST "u8) && inner.EndsWith(" EVENTS"u8))
        {
            if (AsciiNumber.TryParseDecimal(inner[5..^7], out ulong lost))
            {
                _diagnostics.LostEvents += (long)lost;
            }
            return true;
        }
        if (inner.EndsWith(" EVENTS DROPPED"u8))
        {
            if (AsciiNumber.TryParseDecimal(inner[..^15], out ulong dropped))
            {
                _diagnostics.LostEvents += (long)dropped;
            }
            return true;
        }
        return inner.SequenceEqual("LOST EVENTS"u8) || inner.SequenceEqual("EVENTS DROPPED"u8) || inner.SequenceEqual("SUBBUFFER START"u8);
    }
}
