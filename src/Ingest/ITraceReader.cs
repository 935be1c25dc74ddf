using Pipeline.Storage;

namespace Pipeline.Ingest;

/// <summary>
/// Reads one trace format into events. Implementations stream: memory stays bounded by the
/// number of CPUs and the reader's own state, never by the size of the input.
/// </summary>
public interface ITraceReader
{
    /// <summary>The format name as <c>--format</c> spells it (ftrace, tracedat, perf, console).</summary>
    string Format { get; }

    /// <summary>
    /// Reads <paramref name="input"/> (already decompressed; seekable for binary formats) and writes every
    /// event to <paramref name="sink"/> in trace order. Unreadable records are counted through
    /// <paramref name="diagnostics"/> (which throws in strict mode); facts about the source (kernel release,
    /// CPU count, clock, lost events) are recorded there too.
    /// </summary>
    /// <param name="input">The trace bytes.</param>
    /// <param name="fileName">Name used in error messages.</param>
    /// <param name="sink">Receives the events.</param>
    /// <param name="diagnostics">Counts malformed and lost records.</param>
    /// <param name="cancellationToken">Stops the read between records.</param>
    /// <exception cref="TraceFormatException">The input is not of this format, or is damaged beyond recovery.</exception>
    void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default);
}
