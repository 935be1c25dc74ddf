namespace Pipeline.Ingest.Live;

/// <summary>Settings of a private tracefs instance. Defaults suit an mm recording of a short workload.</summary>
public sealed record TraceFsOptions
{
    /// <summary>Per-CPU ring buffer size (<c>buffer_size_kb</c>).</summary>
    public int BufferSizeKb { get; init; } = 4096;

    /// <summary>Trace clock (<c>trace_clock</c>); must be one the kernel lists.</summary>
    public string Clock { get; init; } = "local";

    /// <summary>Option <c>record-tgid</c>: the text output gets a TGID column.</summary>
    public bool RecordTgid { get; init; } = true;

    /// <summary>Option <c>irq-info</c>: the text output gets the 5-character flags column.</summary>
    public bool IrqInfo { get; init; } = true;

    /// <summary>
    /// When false (default) an event this kernel lacks is an error naming it; when true it is left out and
    /// listed in <see cref="TraceFsInstance.MissingEvents"/>.
    /// </summary>
    public bool SkipMissingEvents { get; init; }
}

/// <summary>One CPU's <c>per_cpu/cpuN/stats</c>.</summary>
/// <param name="Cpu">CPU number.</param>
/// <param name="Entries">Events in the buffer.</param>
/// <param name="Overrun">Events overwritten because the buffer was full (lost).</param>
/// <param name="CommitOverrun">Events lost while nested writers filled a page.</param>
/// <param name="Bytes">Bytes in the buffer.</param>
/// <param name="DroppedEvents">Events dropped (non-overwrite mode).</param>
/// <param name="ReadEvents">Events already consumed by readers.</param>
public sealed record TraceCpuStats(int Cpu, long Entries, long Overrun, long CommitOverrun, long Bytes, long DroppedEvents, long ReadEvents)
{
    /// <summary>Events the kernel lost on this CPU.</summary>
    public long Lost => Overrun + CommitOverrun + DroppedEvents;
}

/// <summary>Where <see cref="TraceFsInstance.Capture"/> put each part of a recording.</summary>
/// <param name="Directory">The capture directory.</param>
/// <param name="TraceTextPath">The instance's <c>trace</c> text (read before the raw buffers, which consume it).</param>
/// <param name="RawCpuPaths">One <c>trace_pipe_raw</c> dump per CPU, index = CPU.</param>
/// <param name="HeaderPagePath"><c>events/header_page</c>.</param>
/// <param name="HeaderEventPath"><c>events/header_event</c>.</param>
/// <param name="FormatPaths">Format file of every enabled event, keyed by <c>system:name</c>.</param>
/// <param name="SavedCmdlinesPath">Top-level <c>saved_cmdlines</c> (instances share it).</param>
/// <param name="SavedTgidsPath">Top-level <c>saved_tgids</c>, null when the kernel has none.</param>
/// <param name="Stats">Per-CPU stats read after recording stopped.</param>
public sealed record TraceFsCapture(
    string Directory,
    string TraceTextPath,
    IReadOnlyList<string> RawCpuPaths,
    string HeaderPagePath,
    string HeaderEventPath,
    IReadOnlyDictionary<string, string> FormatPaths,
    string SavedCmdlinesPath,
    string? SavedTgidsPath,
    IReadOnlyList<TraceCpuStats> Stats);

/// <summary>Where <see cref="TraceFsInstance.SaveMetadata"/> put what reading raw pages needs besides the pages.</summary>
/// <param name="HeaderPagePath"><c>events/header_page</c>.</param>
/// <param name="HeaderEventPath"><c>events/header_event</c>.</param>
/// <param name="FormatPaths">Format file of every saved event, keyed by <c>system:name</c>.</param>
/// <param name="SavedCmdlinesPath">Top-level <c>saved_cmdlines</c>.</param>
/// <param name="SavedTgidsPath">Top-level <c>saved_tgids</c>, null when the kernel has none.</param>
public sealed record TraceFsMetadata(
    string HeaderPagePath,
    string HeaderEventPath,
    IReadOnlyDictionary<string, string> FormatPaths,
    string SavedCmdlinesPath,
    string? SavedTgidsPath);
