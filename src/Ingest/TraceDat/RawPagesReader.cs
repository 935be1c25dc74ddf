using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.TraceDat;

/// <summary>One CPU's raw ring-buffer capture (<c>per_cpu/cpuN/trace_pipe_raw</c> bytes).</summary>
/// <param name="Cpu">CPU number.</param>
/// <param name="Data">The page stream (read sequentially; need not be seekable).</param>
/// <param name="Name">Name for messages (e.g. the file name).</param>
public sealed record RawCpuCapture(int Cpu, Stream Data, string Name);

/// <summary>Facts about a raw capture the formats cannot tell.</summary>
public sealed class RawPagesOptions
{
    /// <summary>Text of <c>saved_cmdlines</c> for comms (else every pid but 0 is <c>&lt;...&gt;</c>).</summary>
    public string? SavedCmdlines { get; init; }

    /// <summary>
    /// Text of <c>saved_tgids</c> ("PID TGID" lines): gives each event the thread group of its pid, so replay can tell the
    /// threads of one process apart from separate processes (the raw pages carry no tgid).
    /// </summary>
    public string? SavedTgids { get; init; }

    /// <summary>Trace clock of the buffer (<c>trace_clock</c>'s bracketed word), recorded in the diagnostics.</summary>
    public string? Clock { get; init; }

    /// <summary>Kernel release (<c>uname -r</c>): picks the irq_flags rules of that kernel.</summary>
    public string? KernelRelease { get; init; }

    /// <summary>Instance name: when set, events carry it as the first arg, <c>instance</c>.</summary>
    public string? InstanceName { get; init; }

    /// <summary>Sub-buffer size; default from header_page (data offset + data size).</summary>
    public int? PageSize { get; init; }

    /// <summary>
    /// Events (<c>system:name</c>) recorded only for the comms they name (<c>task:task_newtask</c>,
    /// <c>task:task_rename</c> added by <c>mmtrace record</c>): they set the comms of later events and give no row.
    /// </summary>
    public IReadOnlySet<string>? CommOnlyEvents { get; init; }
}

/// <summary>What a raw-pages read produced.</summary>
/// <param name="EventCount">Events written.</param>
/// <param name="LostEventsByCpu">Lost events per CPU from the pages' missed-events flags.</param>
public sealed record RawPagesSummary(long EventCount, IReadOnlyDictionary<int, LostEventsSummary> LostEventsByCpu);

/// <summary>
/// Reads raw per-CPU ring-buffer captures (<c>trace_pipe_raw</c>) with the header_page and format files of the
/// same kernel, and writes the events merged by timestamp, exactly as <see cref="TraceDatReader"/> does for the
/// CPU data of a trace.dat. Timestamps are the raw ring-buffer values (ns for the ns clocks).
/// </summary>
public sealed class RawPagesReader
{
    private readonly TraceEventFormats _formats;
    private readonly RawPagesOptions _options;

    /// <summary>Creates a reader for captures of the kernel whose formats are given.</summary>
    public RawPagesReader(TraceEventFormats formats, RawPagesOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(formats);
        _formats = formats;
        _options = options ?? new RawPagesOptions();
        int pageSize = _options.PageSize ?? formats.HeaderPage.PageSize;
        if (pageSize < formats.HeaderPage.DataOffset + 8 || pageSize > HeaderPage.MaxPageSize)
        {
            throw new ArgumentOutOfRangeException(nameof(options), pageSize, "Page size must hold a page header and at most 128 MiB.");
        }
    }

    /// <summary>Reads the captures and writes their events to <paramref name="sink"/>.</summary>
    /// <param name="captures">One entry per CPU.</param>
    /// <param name="sourceName">Name used in messages (e.g. the capture directory).</param>
    /// <param name="sink">Receives the events.</param>
    /// <param name="diagnostics">Counts malformed pages and lost events; partial trailing pages set <see cref="IngestDiagnostics.Truncated"/>.</param>
    /// <param name="cancellationToken">Stops the read between records.</param>
    /// <exception cref="TraceFormatException">Strict mode: the first corrupt page or partial page.</exception>
    public RawPagesSummary Read(IReadOnlyList<RawCpuCapture> captures, string sourceName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captures);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(diagnostics);
        var context = new ReadContext(sourceName, diagnostics);
        var comms = _options.SavedCmdlines is null ? new CommTable() : CommTable.Parse(Encoding.UTF8.GetBytes(_options.SavedCmdlines));
        var decoder = new EventDecoder(_formats, comms, _options.KernelRelease)
        {
            InstanceName = _options.InstanceName,
            CommOnlyEvents = _options.CommOnlyEvents,
        };
        int pageSize = _options.PageSize ?? _formats.HeaderPage.PageSize;
        var streams = new List<CpuEventStream>();
        try
        {
            int order = 0;
            foreach (var capture in captures.OrderBy(c => c.Cpu))
            {
                var source = new RawStreamPageSource(capture.Data, pageSize, $"CPU {capture.Cpu} ({capture.Name})");
                streams.Add(new CpuEventStream(source, capture.Cpu, order++, _formats, context, decoder));
            }
            diagnostics.Format = "trace_pipe_raw";
            diagnostics.PointersHashed = false;
            diagnostics.Clock = _options.Clock ?? diagnostics.Clock;
            diagnostics.KernelRelease = _options.KernelRelease ?? diagnostics.KernelRelease;
            diagnostics.CpuCount = captures.Count == 0 ? 0 : captures.Max(c => c.Cpu) + 1;
            var tgids = ParseTgids(_options.SavedTgids);
            long count = EventMerger.Run([.. streams], new TimestampConverter(0, 0, 0), context, tgids.Count == 0 ? sink : new TgidSink(sink, tgids), cancellationToken);
            return new RawPagesSummary(count, context.LostByCpu);
        }
        finally
        {
            foreach (var s in streams)
            {
                s.Dispose();
            }
        }
    }

    /// <summary>Parses <c>saved_tgids</c>; lines that are not two integers are skipped (the file has no other content).</summary>
    private static Dictionary<int, int> ParseTgids(string? text)
    {
        var map = new Dictionary<int, int>();
        if (text is null)
        {
            return map;
        }
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid)
                && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int tgid) && pid > 0 && tgid > 0)
            {
                map[pid] = tgid;
            }
        }
        return map;
    }

    /// <summary>Fills in the tgid of rows whose pid <c>saved_tgids</c> names.</summary>
    private sealed class TgidSink(IEventSink inner, Dictionary<int, int> tgids) : IEventSink
    {
        public void Write(EventRow row)
        {
            if (row.Tgid is null && tgids.TryGetValue(row.Pid, out int tgid))
            {
                row.Tgid = tgid;
            }
            inner.Write(row);
        }
    }
}
