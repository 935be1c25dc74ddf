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

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(diagnostics);
        diagnostics.Format = "perf";

        var lines = new Utf8LineReader(input);
        var strings = new Strings();
        var row = new EventRow();
        bool pending = false;

        while (lines.TryReadLine(out var line))
        {
            if ((lines.LineNumber % CancellationCheckInterval) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (lines.LastLineTruncated)
            {
                diagnostics.Malformed(fileName, lines.LineNumber, "line", $"line longer than {Utf8LineReader.MaxLineLength} bytes; expected a perf script sample or stack line");
                continue;
            }

            // perf prints callchain frames as "\t%16lx sym (dso)" under their sample.
            if (line.Length > 0 && line[0] == (byte)'\t')
            {
                var frame = line.Trim(" \t"u8);
                if (!pending)
                {
                    diagnostics.Malformed(fileName, lines.LineNumber, "line", $"stack frame '{PerfLine.Show(frame)}' without a sample line before it");
                    continue;
                }
                row.Stack ??= [];
                row.Stack.Add(strings.Frames.Get(frame));
                continue;
            }

            if (pending)
            {
                sink.Write(row);
                row.Clear();
                pending = false;
            }

            var trimmed = line.TrimStart(" \t"u8);
            if (trimmed.IsEmpty)
            {
                diagnostics.SkippedLines++;
                continue;
            }
            if (trimmed[0] == (byte)'#')
            {
                diagnostics.SkippedLines++;
                ReadHeaderComment(trimmed, diagnostics);
                continue;
            }

            if (!PerfLine.TryParse(line, out var parsed, out var error))
            {
                diagnostics.Malformed(fileName, lines.LineNumber, "line", $"{error}; line '{PerfLine.Show(trimmed)}'");
                continue;
            }
            Fill(row, in parsed, lines.LineNumber, strings);
            pending = true;
        }

        if (pending)
        {
            sink.Write(row);
            row.Clear();
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
