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
    /// <inheritdoc />
    public string Format => "ftrace";

    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        diagnostics.Format ??= Format;
        var core = new FtraceTextCore(fileName, sink, diagnostics);
        var lines = new Utf8LineReader(input);
        while (lines.TryReadLine(out ReadOnlySpan<byte> line))
        {
            if ((lines.LineNumber & 0xFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (lines.LastLineTruncated)
            {
                core.Truncated(line, lines.LineNumber);
                continue;
            }
            TraceLineKind kind = core.Process(line, lines.LineNumber);
            if (kind == TraceLineKind.Unrecognized)
            {
                core.Malformed(lines.LineNumber, "an ftrace event line 'comm-pid [cpu] flags timestamp: event: payload' or a marker", line);
            }
            else if (kind is TraceLineKind.Blank or TraceLineKind.Header or TraceLineKind.Marker)
            {
                diagnostics.SkippedLines++;
            }
        }
        core.Flush();
        if (core.Events > 0)
        {
            // Kernel text prints %p hashed; trace-cmd (libtraceevent) reads the raw value and prints it as is.
            diagnostics.PointersHashed = !core.TraceCmd;
        }
    }
}
