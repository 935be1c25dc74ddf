using System.Runtime.CompilerServices;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// Reads ftrace text: the kernel's <c>trace</c> and <c>trace_pipe</c> files (with or without the header, the
/// irq-info flags column, the record-tgid column; latency format; raw-counter clocks), <c>trace-cmd report</c>
/// output (default, <c>-t</c>, <c>-l</c>, <c>-R</c>, <c>-N</c>, instance prefixes) and the replay engine's
/// <c>mmop_*</c> op traces. Lost-event markers and the header's overwritten count go to
/// <see cref="IngestDiagnostics.LostEvents"/>; <c>&lt;stack trace&gt;</c> blocks become <see cref="EventRow.Stack"/>.
/// </summary>
public sealed class FtraceTextReader : ITraceReader
{
    // Enough to get past any preamble, few enough to fail fast on a file of another format.
    private const int NotTextAfter = 100;

    /// <inheritdoc />
    public string Format => "ftrace";

    /// <summary>
    /// Lines read on one thread before parsing fans out to <see cref="ParsingThreads"/> (small traces stay on one
    /// thread; the format checks of the first lines run as they always did).
    /// </summary>
    internal int SequentialLines { get; init; } = 20_000;

    /// <summary>Threads that parse event lines past <see cref="SequentialLines"/>; 1 or less parses on the caller's thread.</summary>
    internal int ParsingThreads { get; init; } = Environment.ProcessorCount;

    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        diagnostics.Format ??= Format;
        var core = new FtraceTextCore(fileName, sink, diagnostics);
        var lines = new Utf8LineReader(input);
        var state = new LineHandler(core, fileName, diagnostics, cancellationToken);
        bool more = false;
        while (lines.TryReadLine(out ReadOnlySpan<byte> line))
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
            // Whole runs of events go to the writer as segments the parsing threads filled, when it takes them.
            using var parallel = new ParallelLineParser(lines, ParsingThreads, sink is IEventSegmentSink { TakesSegments: true } ? FtraceTextCore.Window : -1);
            parallel.Run(state);
        }
        core.Flush();
        if (core.Events > 0)
        {
            // Kernel text prints %p hashed; trace-cmd (libtraceevent) reads the raw value and prints it as is.
            diagnostics.PointersHashed = !core.TraceCmd;
        }
    }

    /// <summary>What happens to each line, whichever thread parsed it.</summary>
    private sealed class LineHandler(FtraceTextCore core, string fileName, IngestDiagnostics diagnostics, CancellationToken cancellationToken)
        : ParallelLineParser.ILineSink
    {
        private int _unrecognizedBeforeFirstEvent;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Line(ReadOnlySpan<byte> line, long lineNumber, bool truncated, bool parsed, EventRow[] rows, int index)
        {
            RefuseBinary(line, lineNumber);
            if ((lineNumber & 0xFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (truncated)
            {
                core.Truncated(line, lineNumber);
                return;
            }
            if (parsed)
            {
                core.AcceptParsed(rows, index);
                return;
            }
            TraceLineKind kind = core.Process(line, lineNumber);
            if (kind == TraceLineKind.Unrecognized)
            {
                if (core.Events == 0 && ++_unrecognizedBeforeFirstEvent == NotTextAfter)
                {
                    throw new TraceFormatException(fileName, lineNumber, "line", $"expected ftrace text, found no event line in the first {NotTextAfter} unrecognized lines");
                }
                core.Malformed(lineNumber, "an ftrace event line 'comm-pid [cpu] flags timestamp: event: payload' or a marker", line);
            }
            else if (kind is TraceLineKind.Blank or TraceLineKind.Header or TraceLineKind.Marker)
            {
                diagnostics.SkippedLines++;
            }
        }

        public void Segment(EventSegment segment, ReadOnlySpan<byte> firstLine, long firstLineNumber)
        {
            // Only its first line can be the first event (the check of Line).
            RefuseBinary(firstLine, firstLineNumber);
            cancellationToken.ThrowIfCancellationRequested();
            core.AcceptSegment(segment);
        }

        private void RefuseBinary(ReadOnlySpan<byte> line, long lineNumber)
        {
            if (core.Events == 0)
            {
                BinaryInput.Refuse(line, lineNumber, fileName, "ftrace text");
            }
        }
    }
}
